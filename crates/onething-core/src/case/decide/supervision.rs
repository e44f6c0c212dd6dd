//! Supervision notices (督办通知): electronic supervision tells the agency of
//! a late step (warned or overdue) to act, and the agency answers. Both are
//! events of the case, so the notice, the answer and their times are in the
//! audited history; one notice waits for its answer at a time per step.

use super::{forbidden, require_reason, Decision};
use crate::calendar::{TimeSpan, TimeUnit};
use crate::case::clock::deadline;
use crate::case::command::SUPERVISION_AGENCY;
use crate::case::error::CaseError;
use crate::case::event::Change;

/// The working days an agency has to answer a supervision notice.
pub const SUPERVISION_ANSWER_WORKING_DAYS: u32 = 2;

impl Decision<'_> {
    pub(super) fn supervise(&mut self, step: &str, notice: &str) -> Result<(), CaseError> {
        if self.actor().agency() != Some(SUPERVISION_AGENCY) {
            return Err(forbidden(
                self.actor(),
                "supervise",
                "supervision notices come from electronic supervision",
            ));
        }
        let file = self.open_case()?;
        self.step_definition(step)?;
        let record = file.step(step).expect("seeded");
        if !record.state.is_started() || !(record.warned || record.overdue) {
            return Err(CaseError::NotLate {
                step: step.to_string(),
            });
        }
        if file
            .supervision
            .iter()
            .any(|n| n.step == step && n.answer.is_none())
        {
            return Err(CaseError::SupervisionPending {
                step: step.to_string(),
            });
        }
        require_reason(notice)?;
        let answer = deadline(
            self.calendar,
            self.now(),
            &[],
            TimeSpan {
                amount: SUPERVISION_ANSWER_WORKING_DAYS,
                unit: TimeUnit::WorkingDays,
            },
            None,
        )?;
        self.emit(Change::SupervisionNoticeIssued {
            step: step.to_string(),
            notice: notice.trim().to_string(),
            answer_by: answer.due,
            provisional_years: answer.provisional_years,
        });
        Ok(())
    }

    /// The answer may follow the step's end: the notice asked about it.
    pub(super) fn answer_supervision(&mut self, step: &str, answer: &str) -> Result<(), CaseError> {
        self.opened()?;
        self.owned_step(step, "answer a supervision notice")?;
        let waiting = self
            .file()
            .supervision
            .iter()
            .any(|n| n.step == step && n.answer.is_none());
        if !waiting {
            return Err(CaseError::NoSupervisionNotice {
                step: step.to_string(),
            });
        }
        require_reason(answer)?;
        self.emit(Change::SupervisionAnswered {
            step: step.to_string(),
            answer: answer.trim().to_string(),
        });
        Ok(())
    }
}
