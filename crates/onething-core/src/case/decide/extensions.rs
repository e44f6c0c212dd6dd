//! Moving a step's limit: an extension (延期), requested once per pass and
//! approved where the workflow says so, and a special procedure (特别程序)
//! that stops the step's clock until the agency resumes it.

use super::{forbidden, require_reason, Decision};
use crate::calendar::TimeSpan;
use crate::case::error::CaseError;
use crate::case::event::Change;
use crate::case::state::{ClockMove, ClockStop, ExtensionState, StepState};
use crate::workflow::Step;

impl Decision<'_> {
    /// The owning agency asks for `length` more (by default the longest the
    /// workflow allows); without an approver the limit moves at once.
    pub(super) fn request_extension(
        &mut self,
        step: &str,
        length: Option<&str>,
        reason: &str,
    ) -> Result<(), CaseError> {
        let step_definition = self.owned_running_step(step, "extend", false)?;
        let not_allowed = || CaseError::ExtensionNotAllowed {
            step: step.to_string(),
        };
        let Some(extension) = &step_definition.extension else {
            return Err(not_allowed());
        };
        require_reason(reason)?;
        let record = self.file().step(step).expect("seeded");
        if let Some(used) = &record.extension {
            return Err(CaseError::ExtensionUsed {
                step: step.to_string(),
                state: used.state.name().to_string(),
            });
        }
        let Some(due) = record.due else {
            // Only a case whose limit rules all fail and whose step
            // has no limit gets here: nothing runs out, nothing to extend.
            return Err(not_allowed());
        };
        if due <= self.now() {
            return Err(CaseError::ExtensionTooLate {
                step: step.to_string(),
                due: due.to_rfc3339(),
            });
        }
        let length = match length.map(str::trim) {
            None | Some("") => extension.limit,
            Some(text) => TimeSpan::parse(text)
                .filter(|span| {
                    span.unit == extension.limit.unit
                        && span.amount > 0
                        && span.amount <= extension.limit.amount
                })
                .ok_or_else(|| CaseError::InvalidExtensionLength {
                    step: step.to_string(),
                    length: text.to_string(),
                    limit: extension.limit.to_string(),
                })?,
        };
        if extension.approved_by.is_none() {
            self.extend(step_definition, length, reason)
        } else {
            self.emit(Change::ExtensionRequested {
                step: step.to_string(),
                length,
                reason: reason.to_string(),
            });
            Ok(())
        }
    }

    /// The approving agency grants the requested extension or denies it.
    pub(super) fn decide_extension(
        &mut self,
        step: &str,
        approve: bool,
        reason: &str,
    ) -> Result<(), CaseError> {
        let file = self.open_case()?;
        let step_definition = self.step_definition(step)?;
        let Some(extension) = &step_definition.extension else {
            return Err(CaseError::ExtensionNotAllowed {
                step: step.to_string(),
            });
        };
        let approver = extension.approver(step_definition);
        if self.actor().agency() != Some(approver) {
            return Err(forbidden(
                self.actor(),
                "decide an extension",
                format!("extensions of `{step}` are decided by `{approver}`"),
            ));
        }
        let record = file.step(step).expect("seeded");
        if !record.state.is_started() {
            return Err(CaseError::StepNotActive {
                step: step.to_string(),
                state: record.state.name().to_string(),
            });
        }
        let Some(requested) = record
            .extension
            .as_ref()
            .filter(|e| e.state == ExtensionState::Requested)
            .map(|e| e.length)
        else {
            return Err(CaseError::NoExtensionRequested {
                step: step.to_string(),
            });
        };
        require_reason(reason)?;
        if approve {
            self.extend(step_definition, requested, reason)
        } else {
            self.emit(Change::ExtensionDenied {
                step: step.to_string(),
                reason: reason.to_string(),
            });
            Ok(())
        }
    }

    /// Moves the step's due time `length` further on.
    fn extend(&mut self, step: &Step, length: TimeSpan, reason: &str) -> Result<(), CaseError> {
        let record = self.file().step(&step.id).expect("seeded");
        let mut moves = record.clock.clone();
        moves.push(ClockMove::Extended { length });
        let extended = self.recounted_deadline(step, record, &moves)?;
        self.emit(Change::StepExtended {
            step: step.id.clone(),
            length,
            reason: reason.to_string(),
            due: extended.due.expect("an extended step has a time limit"),
            warn_at: extended.warn_at,
            provisional_years: extended.provisional_years,
            statutory: extended.statutory,
        });
        Ok(())
    }

    /// Stops the step's clock for a special procedure.
    pub(super) fn suspend(
        &mut self,
        step: &str,
        procedure: &str,
        reason: &str,
    ) -> Result<(), CaseError> {
        let step_definition = self.owned_running_step(step, "suspend", false)?;
        if !step_definition.special_procedures {
            return Err(CaseError::SpecialProceduresNotAllowed {
                step: step.to_string(),
            });
        }
        if procedure.trim().is_empty() {
            return Err(CaseError::MissingProcedure);
        }
        require_reason(reason)?;
        self.emit(Change::StepSuspended {
            step: step.to_string(),
            procedure: procedure.trim().to_string(),
            reason: reason.to_string(),
        });
        Ok(())
    }

    /// The special procedure is over: the clock runs again, its limit moved
    /// on by the time it stood still.
    pub(super) fn resume(&mut self, step: &str) -> Result<(), CaseError> {
        self.open_case()?;
        let step_definition = self.owned_step(step, "resume")?;
        let record = self.file().step(step).expect("seeded");
        if record.state != StepState::Suspended {
            return Err(CaseError::NotSuspended {
                step: step.to_string(),
                state: record.state.name().to_string(),
            });
        }
        let counted = self.resumed_deadline(step_definition, record, ClockStop::Agency)?;
        self.emit(Change::StepResumed {
            step: step.to_string(),
            due: counted.due,
            warn_at: counted.warn_at,
            provisional_years: counted.provisional_years,
            statutory: counted.statutory,
        });
        Ok(())
    }
}
