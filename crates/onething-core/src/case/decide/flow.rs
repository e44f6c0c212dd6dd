//! What runs next: after every decision the steps whose turn has come are
//! started or skipped (by opt-in, condition or choice), and a case with
//! nothing left to run ends.

use super::Decision;
use crate::case::error::CaseError;
use crate::case::event::{CaseOutcome, Change, InputValue, SkipReason};
use crate::case::state::{CaseStatus, HeldClock, StatutoryClock, StepState};
use crate::expression;
use crate::workflow::{Step, StepKind};

impl Decision<'_> {
    /// Starts or skips every step whose turn has come, until nothing changes;
    /// then ends the case if nothing is left to run.
    pub(super) fn advance(&mut self) -> Result<(), CaseError> {
        loop {
            let mut progressed = false;
            for step in &self.definition.steps {
                if !self.is_ready(step) {
                    continue;
                }
                progressed = true;
                if let Some(choice) = &step.choice {
                    self.resolve_choice(choice)?;
                } else {
                    self.start_or_skip(step)?;
                }
            }
            progressed |= self.advance_instances()?;
            if !progressed {
                break;
            }
        }
        if self.file().status == CaseStatus::Open
            && self.file().steps.iter().all(|step| !step.state.is_live())
        {
            let partial = self
                .file()
                .steps
                .iter()
                .any(|step| matches!(step.state, StepState::Refused | StepState::Cancelled));
            self.end(if partial {
                CaseOutcome::PartiallyCompleted
            } else {
                CaseOutcome::Completed
            });
        }
        Ok(())
    }

    /// Evaluates a step's `when`: `Ok(true)` when it has none.
    fn condition_holds(&self, step: &Step) -> Result<bool, String> {
        let Some(when) = &step.when else {
            return Ok(true);
        };
        let program =
            expression::compiled(when).ok_or_else(|| format!("`{when}` does not parse"))?;
        match self.bindings(step).evaluate(&program) {
            Ok(cel::Value::Bool(holds)) => Ok(holds),
            Ok(_) => Err(format!("`{when}` did not give true or false")),
            Err(error) => Err(format!("`{when}` could not be evaluated: {error}")),
        }
    }

    fn is_ready(&self, step: &Step) -> bool {
        let file = self.file();
        file.step(&step.id).expect("seeded").state == StepState::Waiting
            && step
                .after
                .iter()
                .all(|after| !file.step(after).expect("seeded").state.is_live())
    }

    /// Whether the step is skipped with the steps it follows: all of them
    /// were skipped and it does not run once they are settled (`join`).
    fn upstream_all_skipped(&self, step: &Step) -> bool {
        let file = self.file();
        step.join == crate::workflow::Join::SkipWithPredecessors
            && !step.after.is_empty()
            && step
                .after
                .iter()
                .all(|after| file.step(after).expect("seeded").state == StepState::Skipped)
    }

    pub(super) fn skip(&mut self, step: &str, reason: SkipReason, note: Option<String>) {
        self.emit(Change::StepSkipped {
            step: step.to_string(),
            reason,
            note,
        });
    }

    fn start_or_skip(&mut self, step: &Step) -> Result<(), CaseError> {
        if step.opt_in && !self.file().opted_in.contains(&step.id) {
            self.skip(&step.id, SkipReason::NotOptedIn, None);
            return Ok(());
        }
        if self.upstream_all_skipped(step) {
            self.skip(&step.id, SkipReason::UpstreamSkipped, None);
            return Ok(());
        }
        match self.condition_holds(step) {
            Ok(true) => self.activate(step),
            Ok(false) => {
                self.skip(&step.id, SkipReason::ConditionFalse, None);
                Ok(())
            }
            Err(note) => {
                self.skip(&step.id, SkipReason::ConditionFalse, Some(note));
                Ok(())
            }
        }
    }

    /// Runs the first branch of the choice whose condition holds (the last
    /// branch has none and runs when no other does) and skips the others.
    fn resolve_choice(&mut self, choice: &str) -> Result<(), CaseError> {
        let definition = self.definition;
        let branches: Vec<&Step> = definition
            .choices
            .iter()
            .find(|c| c.id == choice)
            .map(|c| {
                c.branches
                    .iter()
                    .filter_map(|b| definition.step(b))
                    .collect()
            })
            .unwrap_or_default();
        let Some(first) = branches.first() else {
            return Ok(());
        };
        if self.upstream_all_skipped(first) {
            for branch in &branches {
                self.skip(&branch.id, SkipReason::UpstreamSkipped, None);
            }
            return Ok(());
        }
        let mut chosen = None;
        for (position, branch) in branches.iter().enumerate() {
            let last = position + 1 == branches.len();
            if chosen.is_none() && (last || self.condition_holds(branch) == Ok(true)) {
                chosen = Some(branch.id.clone());
            }
        }
        for branch in branches {
            if Some(&branch.id) == chosen.as_ref() {
                self.activate(branch)?;
            } else {
                self.skip(&branch.id, SkipReason::OtherBranch, None);
            }
        }
        Ok(())
    }

    /// Starts the step's clock now, or takes up the clock a return by its
    /// own agency held; a payment step issues its bills at once.
    fn activate(&mut self, step: &Step) -> Result<(), CaseError> {
        if let Some(for_each) = &step.for_each {
            return self.start_instances(step, for_each);
        }
        let inputs = self.step_inputs(step)?;
        // A dispatched step's clock starts when it is dispatched.
        let activated =
            if step.dispatch.is_some() && self.held_clock_to_continue(step, &step.id).is_none() {
                Change::StepActivated {
                    step: step.id.clone(),
                    due: None,
                    warn_at: None,
                    provisional_years: Vec::new(),
                    continued: false,
                    statutory: None,
                    inputs,
                }
            } else {
                self.activation(step, &step.id, inputs)?
            };
        self.emit(activated);
        if step.kind == StepKind::Payment {
            let bills = self.compute_bills(step)?;
            self.emit(Change::BillsIssued {
                step: step.id.clone(),
                bills,
            });
            self.complete_payment_if_paid(&step.id);
        }
        Ok(())
    }

    /// `record` (the step, or one of its instances) starts: with the clock
    /// a return by its own agency held, or with a new one counted from now.
    pub(super) fn activation(
        &self,
        step: &Step,
        record: &str,
        inputs: Vec<InputValue>,
    ) -> Result<Change, CaseError> {
        Ok(match self.held_clock_to_continue(step, record) {
            Some(held) => Change::StepActivated {
                step: record.to_string(),
                due: held.due,
                warn_at: held.warn_at,
                provisional_years: held.provisional_years,
                continued: true,
                statutory: held.statutory.as_ref().map(StatutoryClock::deadline),
                inputs,
            },
            None => {
                let counted = self.step_deadline(step, self.now(), &[])?;
                Change::StepActivated {
                    step: record.to_string(),
                    due: counted.due,
                    warn_at: counted.warn_at,
                    provisional_years: counted.provisional_years,
                    continued: false,
                    statutory: counted.statutory,
                    inputs,
                }
            }
        })
    }

    /// The clock a return by the step's own agency held, if nothing but that
    /// agency's own work brought the case back to the step: a step of
    /// another agency it waits on, sent back and completed again, gives it
    /// a new clock.
    pub(super) fn held_clock_to_continue(&self, step: &Step, record: &str) -> Option<HeldClock> {
        let file = self.file();
        // A dispatched step starts again awaiting dispatch, without a clock.
        if step.dispatch.is_some() {
            return None;
        }
        let held = file.step(record).expect("seeded").held_clock.clone()?;
        let redone_by_another = self.definition.ancestors(&step.id).iter().any(|ancestor| {
            let record = file.step(ancestor).expect("seeded");
            // An instance sent back stands for its step.
            held.reset.iter().any(|id| {
                crate::workflow::split_instance_id(id).map_or(id.as_str(), |(of, _)| of)
                    == *ancestor
            }) && record.agency != step.agency
                && record.state == StepState::Completed
        });
        (!redone_by_another).then_some(held)
    }
}
