//! Dispatched steps (派单): the dispatcher chooses the lead (主办) and the
//! co-handlers (协办) from the step's declared set, the co-handlers report
//! their parts, and the lead completes the step or sends it back (退单) to
//! be dispatched again.

use serde_json::Value;

use super::{forbidden, require_reason, Decision};
use crate::case::error::CaseError;
use crate::case::event::Change;
use crate::case::state::{DispatchRecord, StepRecord};
use crate::workflow::{Dispatch, Step};

impl Decision<'_> {
    /// The step's declared dispatch, or the refusal for a step whose agency
    /// is fixed.
    fn declared_dispatch(&self, step: &str) -> Result<(&Step, &Dispatch), CaseError> {
        let step_definition = self.step_definition(step)?;
        match &step_definition.dispatch {
            Some(dispatch) => Ok((step_definition, dispatch)),
            None => Err(CaseError::NotDispatchable {
                step: step.to_string(),
                agency: step_definition.agency.clone(),
            }),
        }
    }

    fn record(&self, step: &str) -> &StepRecord {
        self.file().step(step).expect("seeded")
    }

    /// The dispatcher chooses `to` as the lead and `with` as co-handlers;
    /// the step's clock starts now.
    pub(super) fn dispatch(
        &mut self,
        step: &str,
        to: &str,
        with: &[String],
    ) -> Result<(), CaseError> {
        self.open_case()?;
        let (step_definition, dispatch) = self.declared_dispatch(step)?;
        if self.actor().agency() != Some(step_definition.agency.as_str()) {
            return Err(forbidden(
                self.actor(),
                "dispatch",
                format!(
                    "step `{step}` is dispatched by `{}`",
                    step_definition.agency
                ),
            ));
        }
        let record = self.record(step);
        if let Some(current) = &record.dispatch {
            return Err(CaseError::AlreadyDispatched {
                step: step.to_string(),
                lead: current.lead.clone(),
            });
        }
        if !record.state.is_started() {
            return Err(CaseError::StepNotActive {
                step: step.to_string(),
                state: record.state.name().to_string(),
            });
        }
        let named: Vec<&str> = std::iter::once(to)
            .chain(with.iter().map(String::as_str))
            .collect();
        let outside: Vec<String> = named
            .iter()
            .filter(|agency| !dispatch.any_of.iter().any(|allowed| allowed == *agency))
            .map(|agency| agency.to_string())
            .collect();
        if !outside.is_empty() {
            return Err(CaseError::OutsideDispatchSet {
                step: step.to_string(),
                agencies: outside,
                allowed: dispatch.any_of.clone(),
            });
        }
        if with.len() > dispatch.co_handlers as usize {
            return Err(CaseError::TooManyCoHandlers {
                step: step.to_string(),
                count: with.len(),
                allowed: dispatch.co_handlers,
            });
        }
        for (position, agency) in named.iter().enumerate() {
            if named[..position].contains(agency) {
                return Err(CaseError::NamedTwice {
                    step: step.to_string(),
                    agency: agency.to_string(),
                });
            }
        }
        let counted = self.step_deadline(step_definition, self.now(), &[])?;
        self.emit(Change::StepDispatched {
            step: step.to_string(),
            lead: to.to_string(),
            co_handlers: with.to_vec(),
            due: counted.due,
            warn_at: counted.warn_at,
            provisional_years: counted.provisional_years,
            statutory: counted.statutory,
        });
        Ok(())
    }

    /// The lead sends the step back to its dispatcher (退单).
    pub(super) fn send_back(
        &mut self,
        step: &str,
        reason: &str,
        basis: Option<&str>,
    ) -> Result<(), CaseError> {
        self.declared_dispatch(step)?;
        self.owned_running_step(step, "send back", true)?;
        require_reason(reason)?;
        let dispatch = self
            .record(step)
            .dispatch
            .clone()
            .expect("checked dispatched");
        self.emit(Change::StepSentBack {
            step: step.to_string(),
            by: dispatch.lead,
            to: dispatch.dispatcher,
            reason: reason.to_string(),
            basis: basis
                .map(str::trim)
                .filter(|basis| !basis.is_empty())
                .map(str::to_string),
        });
        Ok(())
    }

    /// A co-handler reports its part, once per dispatch.
    pub(super) fn report(
        &mut self,
        step: &str,
        text: &str,
        outputs: &Value,
    ) -> Result<(), CaseError> {
        self.open_case()?;
        let (step_definition, _) = self.declared_dispatch(step)?;
        let record = self.record(step);
        let Some(dispatch) = &record.dispatch else {
            return Err(CaseError::AwaitingDispatch {
                step: step.to_string(),
                dispatcher: step_definition.agency.clone(),
            });
        };
        let agency = self.actor().agency().unwrap_or_default();
        if !dispatch.co_handlers.iter().any(|c| c == agency) {
            return Err(CaseError::NotACoHandler {
                step: step.to_string(),
                agency: self.actor().to_string(),
                lead: Some(dispatch.lead.clone()),
            });
        }
        if dispatch.reported.iter().any(|r| r == agency) {
            return Err(CaseError::AlreadyReported {
                step: step.to_string(),
                agency: agency.to_string(),
            });
        }
        if !record.state.is_started() {
            return Err(CaseError::StepNotActive {
                step: step.to_string(),
                state: record.state.name().to_string(),
            });
        }
        if text.trim().is_empty() {
            return Err(CaseError::EmptyReport);
        }
        self.emit(Change::CoHandlerReported {
            step: step.to_string(),
            agency: agency.to_string(),
            text: text.trim().to_string(),
            outputs: outputs.clone(),
        });
        Ok(())
    }

    /// Who may act on a dispatched step as its agency: its lead, once it is
    /// dispatched; a co-handler only reports.
    pub(super) fn check_dispatched_lead(&self, step: &Step, action: &str) -> Result<(), CaseError> {
        let Some(record) = self.case.file().and_then(|file| file.step(&step.id)) else {
            return Ok(());
        };
        if !record.state.is_started() {
            return Err(CaseError::StepNotActive {
                step: step.id.clone(),
                state: record.state.name().to_string(),
            });
        }
        let Some(DispatchRecord {
            lead, co_handlers, ..
        }) = &record.dispatch
        else {
            return Err(CaseError::AwaitingDispatch {
                step: step.id.clone(),
                dispatcher: step.agency.clone(),
            });
        };
        let agency = self.actor().agency();
        if agency == Some(lead.as_str()) {
            return Ok(());
        }
        let reason = match agency {
            Some(agency) if co_handlers.iter().any(|c| c == agency) => format!(
                "`{agency}` co-handles step `{}` and reports its part; only its lead `{lead}` may {action} it",
                step.id
            ),
            _ => format!("step `{}` is dispatched to `{lead}`", step.id),
        };
        Err(forbidden(self.actor(), action, reason))
    }

    /// The lead's completion waits for every co-handler's report.
    pub(super) fn check_reports_in(&self, step: &str) -> Result<(), CaseError> {
        let missing = self
            .record(step)
            .dispatch
            .as_ref()
            .map(DispatchRecord::missing_reports)
            .unwrap_or_default();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(CaseError::ReportsMissing {
                step: step.to_string(),
                missing,
            })
        }
    }
}
