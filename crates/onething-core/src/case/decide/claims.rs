//! Claiming a task (认领/签收): a named person of the step's agency takes a
//! started step on as its 承办人. The claim is an event of its own and is
//! never implied by another command: completing or asking for a supplement
//! records who acted, not who holds the task.

use super::Decision;
use crate::case::command::Actor;
use crate::case::error::CaseError;
use crate::case::event::Change;

impl Decision<'_> {
    /// Claiming a task someone else of the agency holds re-assigns it (a new
    /// event); claiming it again as its holder is idempotent (no event), as
    /// task lists of mature workflow engines treat a repeated claim by the
    /// same person.
    pub(super) fn claim_task(&mut self, step: &str) -> Result<(), CaseError> {
        self.owned_running_step(step, "claim the task", true)?;
        let by = match self.actor() {
            Actor::Agency {
                operator: Some(operator),
                ..
            } if !operator.trim().is_empty() => operator.trim().to_string(),
            _ => {
                return Err(CaseError::ClaimWithoutOperator {
                    step: step.to_string(),
                })
            }
        };
        let record = self.file().step(step).expect("seeded");
        if record.claimed_by.as_deref() == Some(by.as_str()) {
            return Ok(());
        }
        self.emit(Change::TaskClaimed {
            step: step.to_string(),
            by,
        });
        Ok(())
    }
}
