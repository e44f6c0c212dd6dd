//! What the owning agency does to end a pass of its step: complete it with
//! its outputs, return the case to an earlier step, or refuse.

use serde_json::Value;

use super::{require_reason, Decision};
use crate::case::error::CaseError;
use crate::case::event::{CancelReason, Change};
use crate::case::state::StepState;
use crate::value_type::{check_object_on, normalise_identities};
use crate::workflow::{CheckStage, StepKind};

impl Decision<'_> {
    pub(super) fn complete(&mut self, step: &str, outputs: &Value) -> Result<(), CaseError> {
        let step_definition = self.owned_running_step(step, "complete", false)?;
        self.check_reports_in(step)?;
        if step_definition.kind == StepKind::Payment {
            return Err(CaseError::PaymentStep {
                step: step.to_string(),
            });
        }
        let mut outputs = if outputs.is_null() {
            Value::Object(Default::default())
        } else {
            outputs.clone()
        };
        normalise_identities(&step_definition.outputs, &mut outputs);
        let mut problems = check_object_on(&step_definition.outputs, &outputs, Some(self.today()));
        let outputs_are_sound = problems.is_empty();
        // An instance's checks are those after its step, over its own outputs.
        let mut bindings = self.bindings(step_definition);
        bindings.add_step(
            &step_definition.id,
            &step_definition.outputs,
            Some(&outputs),
        );
        self.check_rules(
            &CheckStage::AfterStep {
                step: step_definition.id.clone(),
            },
            &bindings,
            outputs_are_sound,
            &mut problems,
        );
        if !problems.is_empty() {
            return Err(CaseError::InvalidOutputs {
                step: step.to_string(),
                problems,
            });
        }
        self.emit(Change::StepCompleted {
            step: step.to_string(),
            outputs,
        });
        self.advance()
    }

    /// Sends the case back from `step` to the earlier step `to`: it and every
    /// step after it that has started run again.
    pub(super) fn return_step(
        &mut self,
        step: &str,
        to: &str,
        reason: &str,
    ) -> Result<(), CaseError> {
        let step_definition = self.owned_running_step(step, "return", true)?;
        require_reason(reason)?;
        // A multi-instance target is named by one instance, which alone
        // goes back, with the steps after its step.
        let target_step = self.definition.step(to).map(|target| target.id.as_str());
        if !step_definition
            .returns_to
            .iter()
            .any(|target| Some(target.as_str()) == target_step)
        {
            return Err(CaseError::NotAReturnTarget {
                step: step.to_string(),
                to: to.to_string(),
                allowed: step_definition.returns_to.clone(),
            });
        }
        let target = self.step_definition(to)?;
        let file = self.file();
        // A skipped step did nothing to do again: returning to it would only
        // start the returning step anew, with a new clock.
        if file.step(to).expect("seeded").state == StepState::Skipped {
            return Err(CaseError::ReturnToSkippedStep {
                step: step.to_string(),
                to: to.to_string(),
            });
        }
        // Returning to a branch of a choice decides the choice again:
        // every branch goes back, not only the one named.
        let targets: Vec<&str> = match target.choice.as_deref() {
            Some(choice) => self
                .definition
                .choices
                .iter()
                .filter(|c| c.id == choice)
                .flat_map(|c| c.branches.iter().map(String::as_str))
                .collect(),
            None => vec![target.id.as_str()],
        };
        let mut reset: Vec<String> = vec![to.to_string()];
        for candidate in &self.definition.steps {
            if reset.contains(&candidate.id) {
                continue;
            }
            let is_target = targets.contains(&candidate.id.as_str()) && target.id == to;
            let follows = self
                .definition
                .ancestors(&candidate.id)
                .iter()
                .any(|ancestor| targets.contains(ancestor));
            if (is_target || follows)
                && file.step(&candidate.id).expect("seeded").state != StepState::Waiting
            {
                reset.push(candidate.id.clone());
            }
        }
        if let Some(paid) = file
            .payments
            .iter()
            .find(|p| reset.contains(&p.step) && p.paid && p.bill.total > 0)
        {
            return Err(CaseError::ReturnPastPayment {
                step: paid.step.clone(),
            });
        }
        self.emit(Change::StepReturned {
            step: step.to_string(),
            to: to.to_string(),
            reason: reason.to_string(),
            reset,
        });
        self.advance()
    }

    /// Refuses the step; whatever waits on it can no longer run.
    pub(super) fn refuse(&mut self, step: &str, reason: &str) -> Result<(), CaseError> {
        self.owned_running_step(step, "refuse", true)?;
        require_reason(reason)?;
        self.emit(Change::StepRefused {
            step: step.to_string(),
            reason: reason.to_string(),
        });
        self.cancel_dependants(step);
        self.advance()
    }

    /// Cancels every live step that waits on `step`, directly or through
    /// others: it can no longer run.
    pub(super) fn cancel_dependants(&mut self, step: &str) {
        let dependants: Vec<String> = self
            .definition
            .steps
            .iter()
            .filter(|candidate| {
                self.definition.ancestors(&candidate.id).contains(&step)
                    && self
                        .file()
                        .step(&candidate.id)
                        .expect("seeded")
                        .state
                        .is_live()
            })
            .map(|candidate| candidate.id.clone())
            .collect();
        for dependant in dependants {
            self.emit(Change::StepCancelled {
                step: dependant,
                reason: CancelReason::UpstreamRefused,
            });
        }
    }
}
