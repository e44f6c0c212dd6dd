//! Deciding: given a case, the definition it runs on, the calendar and a
//! command, either the events that follow or the reasons for refusing.
//! Pure and synchronous: no clock, no store, no randomness.
//!
//! This module holds the [`Decision`] under way, the checks every action
//! shares and the dispatcher; each action is decided in the submodule of its
//! concern.

mod checks;
mod claims;
mod closing;
mod deadlines;
mod dispatch;
mod documents;
mod extensions;
mod flow;
mod inputs;
mod instances;
mod opening;
mod payments;
mod steps;
mod supervision;
mod supplements;

use chrono::{DateTime, Utc};

use super::command::{Action, Actor, CaseCommand, WINDOW_AGENCY};
use super::error::CaseError;
use super::event::{CaseEvent, Change};
use super::state::{Case, CaseFile, CaseStatus, StepState};
use crate::calendar::Calendar;
use crate::expression::Bindings;
use crate::workflow::{Definition, Step};

pub use closing::FOLLOW_UP_WORKING_DAYS;

/// Decides a command. An empty list means "already applied, nothing to do".
pub fn decide(
    case: &Case,
    definition: &Definition,
    calendar: &Calendar,
    command: &CaseCommand,
) -> Result<Vec<CaseEvent>, CaseError> {
    let in_time_order;
    let command = match case.file() {
        Some(file) if file.applied.contains_key(&command.command_id) => return Ok(Vec::new()),
        Some(file) if command.at < file.last_event_at => {
            in_time_order = in_time_order_of(command, file.last_event_at)?;
            &in_time_order
        }
        _ => command,
    };
    let mut decision = Decision {
        case: case.clone(),
        events: Vec::new(),
        command,
        definition,
        calendar,
    };
    decision.run()?;
    Ok(decision.events)
}

/// A command dated before the case's last event: refused, unless it is the
/// scheduler's (a deadline check, a revision after a calendar changed),
/// which is taken at the last event's time. The scheduler's clock may be
/// behind a time given by hand (`--now`) or by another node; it asks what
/// is due by now, and nothing can have become due before the last event
/// that was not already due then.
fn in_time_order_of(
    command: &CaseCommand,
    last_event_at: DateTime<Utc>,
) -> Result<CaseCommand, CaseError> {
    match command.action {
        Action::CheckDeadlines | Action::ReviseDeadlines { .. } => Ok(CaseCommand {
            at: last_event_at,
            ..command.clone()
        }),
        _ => Err(CaseError::BeforeLastEvent {
            at: command.at,
            last_event_at,
        }),
    }
}

struct Decision<'a> {
    /// A scratch copy that every emitted event is applied to, so that later
    /// decisions in the same command see earlier ones.
    case: Case,
    events: Vec<CaseEvent>,
    command: &'a CaseCommand,
    definition: &'a Definition,
    calendar: &'a Calendar,
}

fn forbidden(actor: &Actor, action: &str, reason: impl Into<String>) -> CaseError {
    CaseError::Forbidden {
        actor: actor.to_string(),
        action: action.to_string(),
        reason: reason.into(),
    }
}

fn require_reason(reason: &str) -> Result<(), CaseError> {
    if reason.trim().is_empty() {
        Err(CaseError::MissingReason)
    } else {
        Ok(())
    }
}

/// Whether the applicant acts, directly or through the comprehensive window.
fn is_applicant_or_window(actor: &Actor) -> bool {
    matches!(actor, Actor::Applicant { .. }) || actor.is_window()
}

impl<'a> Decision<'a> {
    /// Hands the command to the one function that decides its action.
    fn run(&mut self) -> Result<(), CaseError> {
        // Borrowed from the command, not from `self`, so that each arm may
        // take `&mut self`.
        let command: &'a CaseCommand = self.command;
        match &command.action {
            Action::Open {
                case_id,
                workflow: _,
                form,
                materials,
                opted_in,
                channel,
            } => self.open(case_id, form, materials, opted_in, *channel),
            Action::Complete { step, outputs } => self.complete(step, outputs),
            Action::Return { step, to, reason } => self.return_step(step, to, reason),
            Action::Refuse { step, reason } => self.refuse(step, reason),
            Action::RequestSupplement {
                step,
                items,
                reason,
            } => self.request_supplement(step, items, reason),
            Action::Supplement { items, materials } => self.supplement(items, materials),
            Action::Extend {
                step,
                length,
                reason,
            } => self.request_extension(step, length.as_deref(), reason),
            Action::DecideExtension {
                step,
                approve,
                reason,
            } => self.decide_extension(step, *approve, reason),
            Action::Suspend {
                step,
                procedure,
                reason,
            } => self.suspend(step, procedure, reason),
            Action::Resume { step } => self.resume(step),
            Action::Pay {
                payer,
                amount,
                receipt,
            } => self.pay(payer, *amount, receipt),
            Action::Withdraw { reason } => self.withdraw(reason),
            Action::Rate {
                score,
                comment,
                aspects,
            } => self.rate(*score, comment.as_deref(), aspects),
            Action::RateByDefault { score, after_days } => {
                self.rate_by_default(*score, *after_days)
            }
            Action::AttachDocument { document } => self.attach_document(document),
            Action::RecordFollowUp { result, resolved } => self.record_follow_up(result, *resolved),
            Action::Supervise { step, notice } => self.supervise(step, notice),
            Action::AnswerSupervision { step, answer } => self.answer_supervision(step, answer),
            Action::ClaimTask { step } => self.claim_task(step),
            Action::Dispatch { step, to, with } => self.dispatch(step, to, with),
            Action::SendBack {
                step,
                reason,
                basis,
            } => self.send_back(step, reason, basis.as_deref()),
            Action::Report {
                step,
                text,
                outputs,
            } => self.report(step, text, outputs),
            Action::CheckDeadlines => self.check_deadlines(),
            Action::ReviseDeadlines { reason } => self.revise_deadlines(reason),
        }
    }

    fn actor(&self) -> &'a Actor {
        &self.command.actor
    }

    fn file(&self) -> &CaseFile {
        self.case.file().expect("checked opened")
    }

    /// The date of the command on the bundle's calendar (local time).
    fn today(&self) -> chrono::NaiveDate {
        self.local_date(self.now())
    }

    /// The date of a time on the bundle's calendar (local time).
    fn local_date(&self, at: DateTime<Utc>) -> chrono::NaiveDate {
        let offset = chrono::FixedOffset::east_opt(self.calendar.utc_offset_minutes * 60)
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("UTC"));
        at.with_timezone(&offset).date_naive()
    }

    fn now(&self) -> DateTime<Utc> {
        self.command.at
    }

    fn emit(&mut self, change: Change) {
        let event = CaseEvent {
            command_id: self.command.command_id.clone(),
            actor: self.command.actor.clone(),
            at: self.command.at,
            change,
        };
        self.case.apply_event(event.clone());
        self.events.push(event);
    }

    fn opened(&self) -> Result<&CaseFile, CaseError> {
        self.case.file().ok_or(CaseError::NotOpened)
    }

    fn open_case(&self) -> Result<&CaseFile, CaseError> {
        let file = self.opened()?;
        if file.status != CaseStatus::Open {
            return Err(CaseError::CaseEnded {
                status: file.status.name().to_string(),
            });
        }
        Ok(file)
    }

    /// The definition of the step a command names. A multi-instance step
    /// is named by one of its instances (`vehicle_permit.2`), which must be
    /// one its list gave in this case.
    fn step_definition(&self, step: &str) -> Result<&'a Step, CaseError> {
        let found = self
            .definition
            .step(step)
            .ok_or_else(|| CaseError::UnknownStep {
                step: step.to_string(),
            })?;
        let Some(file) = self.case.file() else {
            return Ok(found);
        };
        match file.step(step) {
            Some(record) if record.runs_instances() => Err(CaseError::InstanceRequired {
                step: step.to_string(),
                instances: self.instance_ids(step),
            }),
            Some(_) => Ok(found),
            None => Err(CaseError::UnknownInstance {
                step: found.id.clone(),
                instance: step.to_string(),
                instances: self.instance_ids(&found.id),
            }),
        }
    }

    /// The step, checked to belong to the acting agency.
    fn owned_step(&self, step: &str, action: &str) -> Result<&'a Step, CaseError> {
        let step_definition = self.step_definition(step)?;
        if let Some(agency) = self.actor().agency() {
            // The window takes part in every bundle, named in it or not.
            if agency != WINDOW_AGENCY && self.definition.agency(agency).is_none() {
                return Err(CaseError::UnknownAgency {
                    agency: agency.to_string(),
                    workflow: self.definition.id.clone(),
                    known: self
                        .definition
                        .agencies
                        .iter()
                        .map(|known| known.id.clone())
                        .collect(),
                });
            }
        }
        if step_definition.dispatch.is_some() {
            self.check_dispatched_lead(step_definition, action)?;
            return Ok(step_definition);
        }
        if self.actor().agency() != Some(step_definition.agency.as_str()) {
            return Err(forbidden(
                self.actor(),
                action,
                format!(
                    "step `{step}` belongs to agency `{}`",
                    step_definition.agency
                ),
            ));
        }
        Ok(step_definition)
    }

    /// The step, checked to be owned by the acting agency and running.
    fn owned_running_step(
        &self,
        step: &str,
        action: &str,
        allow_paused: bool,
    ) -> Result<&'a Step, CaseError> {
        let file = self.open_case()?;
        let step_definition = self.owned_step(step, action)?;
        let state = file.step(step).expect("seeded").state;
        let running = state == StepState::Active || (allow_paused && state.is_started());
        if !running {
            return Err(CaseError::StepNotActive {
                step: step.to_string(),
                state: state.name().to_string(),
            });
        }
        Ok(step_definition)
    }

    /// The form and the outputs of the step's completed ancestors, as an
    /// expression on the step sees them.
    fn bindings(&self, step: &Step) -> Bindings {
        let file = self.file();
        let mut bindings = Bindings::new(&self.definition.form, &file.form)
            .on(Some(self.local_date(file.opened_at)));
        for ancestor in self.definition.ancestors(&step.id) {
            if let Some(ancestor_definition) = self.definition.step(ancestor) {
                let record = file.step(ancestor).expect("seeded");
                let outputs = match record.state {
                    StepState::Completed => record.outputs.as_ref(),
                    _ => None,
                };
                bindings.add_step(ancestor, ancestor_definition.outputs_seen_later(), outputs);
            }
        }
        bindings
    }
}
