//! Deciding: given a case, the definition it runs on, the calendar and a
//! command, either the events that follow or the reasons for refusing.
//! Pure and synchronous: no clock, no store, no randomness.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::clock::{deadline, Deadline};
use super::command::{Action, Actor, CaseCommand, MaterialDeclaration, MaterialProvision};
use super::error::CaseError;
use super::event::*;
use super::state::{
    Case, CaseFile, CaseStatus, ClockMove, ClockStop, ExtensionState, StepRecord, StepState,
};
use crate::calendar::{Calendar, TimeSpan, TimeUnit};
use crate::expression::{self, Bindings};
use crate::value_type::{check_bounds, check_object_on, normalise_identities, ValueProblem};
use crate::workflow::{Definition, Step, StepKind};

/// Working days within which a bad rating must be followed up.
pub const FOLLOW_UP_WORKING_DAYS: u32 = 15;

/// Decides a command. An empty list means "already applied, nothing to do".
pub fn decide(
    case: &Case,
    definition: &Definition,
    calendar: &Calendar,
    command: &CaseCommand,
) -> Result<Vec<CaseEvent>, CaseError> {
    if let Some(file) = case.file() {
        if file.applied.contains_key(&command.command_id) {
            return Ok(Vec::new());
        }
    }
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

/// A step's due time, warning point and the provisional years they depend on.
struct Counted {
    due: Option<DateTime<Utc>>,
    warn_at: Option<DateTime<Utc>>,
    provisional_years: Vec<i32>,
}

impl From<Option<Deadline>> for Counted {
    fn from(deadline: Option<Deadline>) -> Counted {
        match deadline {
            Some(deadline) => Counted {
                due: Some(deadline.due),
                warn_at: deadline.warn_at,
                provisional_years: deadline.provisional_years,
            },
            None => Counted {
                due: None,
                warn_at: None,
                provisional_years: Vec::new(),
            },
        }
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

impl<'a> Decision<'a> {
    fn file(&self) -> &CaseFile {
        self.case.file().expect("checked opened")
    }

    /// The date of the command on the bundle's calendar (local time).
    fn today(&self) -> chrono::NaiveDate {
        let offset = chrono::FixedOffset::east_opt(self.calendar.utc_offset_minutes * 60)
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("UTC"));
        self.now().with_timezone(&offset).date_naive()
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

    fn step_definition(&self, step: &str) -> Result<&'a Step, CaseError> {
        self.definition
            .step(step)
            .ok_or_else(|| CaseError::UnknownStep {
                step: step.to_string(),
            })
    }

    /// The step, checked to be owned by the acting agency and running.
    fn owned_running_step(
        &self,
        step: &str,
        action: &str,
        allow_paused: bool,
    ) -> Result<&'a Step, CaseError> {
        let file = self.open_case()?;
        let step_definition = self.step_definition(step)?;
        if self.command.actor.agency() != Some(step_definition.agency.as_str()) {
            return Err(forbidden(
                &self.command.actor,
                action,
                format!(
                    "step `{step}` belongs to agency `{}`",
                    step_definition.agency
                ),
            ));
        }
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

    fn run(&mut self) -> Result<(), CaseError> {
        let command = self.command;
        let actor = &command.actor;
        match &command.action {
            Action::Open {
                case_id,
                workflow: _,
                form,
                materials,
                opted_in,
                channel,
            } => {
                if self.case.file().is_some() {
                    return Err(CaseError::AlreadyOpened);
                }
                let may_open = match actor {
                    Actor::Applicant { .. } => true,
                    Actor::Agency { agency, .. } => {
                        actor.is_window()
                            || self
                                .definition
                                .steps
                                .iter()
                                .any(|step| step.after.is_empty() && &step.agency == agency)
                    }
                    Actor::System => false,
                };
                if !may_open {
                    return Err(forbidden(
                        actor,
                        "open",
                        "cases are opened by the comprehensive window, the applicant, or an agency that owns a first step",
                    ));
                }
                let mut form = form.clone();
                normalise_identities(&self.definition.form, &mut form);
                let materials = self.check_application(&form, materials, opted_in)?;
                let promise = self.promise(self.now())?;
                self.emit(Change::CaseOpened {
                    case_id: case_id.clone(),
                    workflow: self.definition.id.clone(),
                    version: self.definition.version,
                    hash: self.definition.hash.clone(),
                    channel: *channel,
                    form,
                    materials,
                    opted_in: opted_in.clone(),
                    steps: self
                        .definition
                        .steps
                        .iter()
                        .map(|step| StepSeed {
                            id: step.id.clone(),
                            agency: step.agency.clone(),
                        })
                        .collect(),
                    promised_by: promise.due,
                    promise_provisional_years: promise.provisional_years,
                });
                self.advance()
            }
            Action::Complete { step, outputs } => {
                let step_definition = self.owned_running_step(step, "complete", false)?;
                if step_definition.kind == StepKind::Payment {
                    return Err(CaseError::PaymentStep { step: step.clone() });
                }
                let mut outputs = if outputs.is_null() {
                    Value::Object(Default::default())
                } else {
                    outputs.clone()
                };
                normalise_identities(&step_definition.outputs, &mut outputs);
                let problems =
                    check_object_on(&step_definition.outputs, &outputs, Some(self.today()));
                if !problems.is_empty() {
                    return Err(CaseError::InvalidOutputs {
                        step: step.clone(),
                        problems,
                    });
                }
                self.emit(Change::StepCompleted {
                    step: step.clone(),
                    outputs,
                });
                self.advance()
            }
            Action::Return { step, to, reason } => {
                let step_definition = self.owned_running_step(step, "return", true)?;
                require_reason(reason)?;
                if !step_definition.returns_to.contains(to) {
                    return Err(CaseError::NotAReturnTarget {
                        step: step.clone(),
                        to: to.clone(),
                        allowed: step_definition.returns_to.clone(),
                    });
                }
                let file = self.file();
                // Returning to a branch of a choice decides the choice again:
                // every branch goes back, not only the one named.
                let targets: Vec<&str> = match self.step_definition(to)?.choice.as_deref() {
                    Some(choice) => self
                        .definition
                        .choices
                        .iter()
                        .filter(|c| c.id == choice)
                        .flat_map(|c| c.branches.iter().map(String::as_str))
                        .collect(),
                    None => vec![to.as_str()],
                };
                let mut reset: Vec<String> = vec![to.clone()];
                for candidate in &self.definition.steps {
                    if reset.contains(&candidate.id) {
                        continue;
                    }
                    let is_target = targets.contains(&candidate.id.as_str());
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
                    step: step.clone(),
                    to: to.clone(),
                    reason: reason.clone(),
                    reset,
                });
                self.advance()
            }
            Action::Refuse { step, reason } => {
                self.owned_running_step(step, "refuse", true)?;
                require_reason(reason)?;
                self.emit(Change::StepRefused {
                    step: step.clone(),
                    reason: reason.clone(),
                });
                let dependants: Vec<String> = self
                    .definition
                    .steps
                    .iter()
                    .filter(|candidate| {
                        self.definition
                            .ancestors(&candidate.id)
                            .contains(&step.as_str())
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
                self.advance()
            }
            Action::RequestSupplement {
                step,
                items,
                reason,
            } => {
                let step_definition =
                    self.owned_running_step(step, "request a supplement", false)?;
                if !step_definition.supplements {
                    return Err(CaseError::SupplementNotAllowed { step: step.clone() });
                }
                require_reason(reason)?;
                let items: Vec<String> = items
                    .iter()
                    .map(|item| item.trim().to_string())
                    .filter(|item| !item.is_empty())
                    .collect();
                if items.is_empty() {
                    return Err(CaseError::NoSupplementItems);
                }
                self.emit(Change::SupplementRequested {
                    step: step.clone(),
                    items,
                    reason: reason.clone(),
                });
                Ok(())
            }
            Action::Extend {
                step,
                length,
                reason,
            } => {
                let step_definition = self.owned_running_step(step, "extend", false)?;
                let Some(extension) = &step_definition.extension else {
                    return Err(CaseError::ExtensionNotAllowed { step: step.clone() });
                };
                require_reason(reason)?;
                let record = self.file().step(step).expect("seeded");
                if let Some(used) = &record.extension {
                    return Err(CaseError::ExtensionUsed {
                        step: step.clone(),
                        state: used.state.name().to_string(),
                    });
                }
                let Some(due) = record.due else {
                    // Only a case whose limit rules all fail and whose step
                    // has no limit gets here: nothing runs out, nothing to extend.
                    return Err(CaseError::ExtensionNotAllowed { step: step.clone() });
                };
                if due <= self.now() {
                    return Err(CaseError::ExtensionTooLate {
                        step: step.clone(),
                        due: due.to_rfc3339(),
                    });
                }
                let length = match length.as_deref().map(str::trim) {
                    None | Some("") => extension.limit,
                    Some(text) => TimeSpan::parse(text)
                        .filter(|span| {
                            span.unit == extension.limit.unit
                                && span.amount > 0
                                && span.amount <= extension.limit.amount
                        })
                        .ok_or_else(|| CaseError::InvalidExtensionLength {
                            step: step.clone(),
                            length: text.to_string(),
                            limit: extension.limit.to_string(),
                        })?,
                };
                if extension.approved_by.is_none() {
                    self.extend(step_definition, length, reason)
                } else {
                    self.emit(Change::ExtensionRequested {
                        step: step.clone(),
                        length,
                        reason: reason.clone(),
                    });
                    Ok(())
                }
            }
            Action::DecideExtension {
                step,
                approve,
                reason,
            } => {
                let file = self.open_case()?;
                let step_definition = self.step_definition(step)?;
                let Some(extension) = &step_definition.extension else {
                    return Err(CaseError::ExtensionNotAllowed { step: step.clone() });
                };
                let approver = extension.approver(step_definition);
                if actor.agency() != Some(approver) {
                    return Err(forbidden(
                        actor,
                        "decide an extension",
                        format!("extensions of `{step}` are decided by `{approver}`"),
                    ));
                }
                let record = file.step(step).expect("seeded");
                if !record.state.is_started() {
                    return Err(CaseError::StepNotActive {
                        step: step.clone(),
                        state: record.state.name().to_string(),
                    });
                }
                let Some(requested) = record
                    .extension
                    .as_ref()
                    .filter(|e| e.state == ExtensionState::Requested)
                    .map(|e| e.length)
                else {
                    return Err(CaseError::NoExtensionRequested { step: step.clone() });
                };
                require_reason(reason)?;
                if *approve {
                    self.extend(step_definition, requested, reason)
                } else {
                    self.emit(Change::ExtensionDenied {
                        step: step.clone(),
                        reason: reason.clone(),
                    });
                    Ok(())
                }
            }
            Action::Suspend {
                step,
                procedure,
                reason,
            } => {
                let step_definition = self.owned_running_step(step, "suspend", false)?;
                if !step_definition.special_procedures {
                    return Err(CaseError::SpecialProceduresNotAllowed { step: step.clone() });
                }
                if procedure.trim().is_empty() {
                    return Err(CaseError::MissingProcedure);
                }
                require_reason(reason)?;
                self.emit(Change::StepSuspended {
                    step: step.clone(),
                    procedure: procedure.trim().to_string(),
                    reason: reason.clone(),
                });
                Ok(())
            }
            Action::Resume { step } => {
                self.open_case()?;
                let step_definition = self.step_definition(step)?;
                if actor.agency() != Some(step_definition.agency.as_str()) {
                    return Err(forbidden(
                        actor,
                        "resume",
                        format!(
                            "step `{step}` belongs to agency `{}`",
                            step_definition.agency
                        ),
                    ));
                }
                let record = self.file().step(step).expect("seeded");
                if record.state != StepState::Suspended {
                    return Err(CaseError::NotSuspended {
                        step: step.clone(),
                        state: record.state.name().to_string(),
                    });
                }
                let counted = self.resumed_due(step_definition, record, ClockStop::Agency)?;
                self.emit(Change::StepResumed {
                    step: step.clone(),
                    due: counted.due,
                    warn_at: counted.warn_at,
                    provisional_years: counted.provisional_years,
                });
                Ok(())
            }
            Action::Supplement { items, materials } => {
                if !matches!(actor, Actor::Applicant { .. }) && !actor.is_window() {
                    return Err(forbidden(
                        actor,
                        "supplement",
                        "supplements come from the applicant, directly or through the window",
                    ));
                }
                let file = self.open_case()?;
                let out_of_bounds: Vec<ValueProblem> = items
                    .iter()
                    .filter_map(|(name, value)| check_bounds(&format!("items.{name}"), value))
                    .collect();
                if !out_of_bounds.is_empty() {
                    return Err(CaseError::InvalidSupplement {
                        problems: out_of_bounds,
                    });
                }
                let paused: Vec<_> = file
                    .steps
                    .iter()
                    .filter(|step| step.state == StepState::Paused)
                    .collect();
                if paused.is_empty() && materials.is_empty() {
                    return Err(CaseError::NothingToSupplement);
                }
                let mut missing: Vec<String> = Vec::new();
                for step in &paused {
                    for item in &step.requested_items {
                        if !items.contains_key(item)
                            && !materials.contains(item)
                            && !missing.contains(item)
                        {
                            missing.push(item.clone());
                        }
                    }
                }
                if !missing.is_empty() {
                    return Err(CaseError::MissingSupplementItems { items: missing });
                }
                let not_promised: Vec<String> = materials
                    .iter()
                    .filter(|material| {
                        let promised = file.materials.iter().any(|record| {
                            &record.material == *material
                                && matches!(record.provision, MaterialProvision::Promised { .. })
                        });
                        let requested = paused
                            .iter()
                            .any(|step| step.requested_items.contains(material));
                        (!promised && !requested) || file.supplied_materials.contains(material)
                    })
                    .cloned()
                    .collect();
                if !not_promised.is_empty() {
                    return Err(CaseError::NotPromised {
                        materials: not_promised,
                    });
                }
                let mut resumed = Vec::new();
                for step in paused {
                    let step_definition = self.step_definition(&step.id)?;
                    let counted = self.resumed_due(step_definition, step, ClockStop::Applicant)?;
                    resumed.push(ResumedStep {
                        step: step.id.clone(),
                        due: counted.due,
                        warn_at: counted.warn_at,
                        provisional_years: counted.provisional_years,
                    });
                }
                self.emit(Change::SupplementProvided {
                    items: items.clone(),
                    materials: materials.clone(),
                    resumed,
                });
                Ok(())
            }
            Action::Pay {
                payer,
                amount,
                receipt,
            } => {
                let file = self.open_case()?;
                if receipt.trim().is_empty() {
                    return Err(CaseError::MissingReceipt);
                }
                let Some(payment) = file.payments.iter().find(|payment| {
                    &payment.bill.payer == payer
                        && !payment.paid
                        && file
                            .step(&payment.step)
                            .is_some_and(|s| s.state == StepState::Active)
                }) else {
                    return Err(CaseError::NoSuchBill {
                        payer: payer.clone(),
                    });
                };
                let step = payment.step.clone();
                let collector = &self.step_definition(&step)?.agency;
                if actor.agency() != Some(collector.as_str()) && !actor.is_window() {
                    return Err(forbidden(
                        actor,
                        "record a payment",
                        format!(
                            "payments for `{step}` are recorded by `{collector}` or the window"
                        ),
                    ));
                }
                if *amount != payment.bill.total {
                    return Err(CaseError::WrongAmount {
                        payer: payer.clone(),
                        expected: payment.bill.total,
                        given: *amount,
                    });
                }
                self.emit(Change::PaymentReceived {
                    step: step.clone(),
                    payer: payer.clone(),
                    amount: *amount,
                    receipt: receipt.clone(),
                });
                self.complete_payment_if_paid(&step);
                self.advance()
            }
            Action::Withdraw { reason } => {
                if !matches!(actor, Actor::Applicant { .. }) && !actor.is_window() {
                    return Err(forbidden(
                        actor,
                        "withdraw",
                        "only the applicant withdraws, directly or through the window",
                    ));
                }
                self.open_case()?;
                require_reason(reason)?;
                self.emit(Change::CaseWithdrawn {
                    reason: reason.clone(),
                });
                self.cancel_live_steps(CancelReason::Withdrawn);
                let refunds: Vec<(String, String, String, i64)> = self
                    .file()
                    .payments
                    .iter()
                    .filter(|payment| payment.paid && payment.bill.total > 0)
                    .flat_map(|payment| {
                        payment
                            .bill
                            .items
                            .iter()
                            .filter(|item| item.amount > 0)
                            .map(|item| {
                                (
                                    payment.step.clone(),
                                    payment.bill.payer.clone(),
                                    item.payee.clone(),
                                    item.amount,
                                )
                            })
                    })
                    .collect();
                for (step, payer, payee, amount) in refunds {
                    self.emit(Change::RefundOwed {
                        step,
                        payer,
                        payee,
                        amount,
                    });
                }
                self.end(CaseOutcome::Withdrawn);
                Ok(())
            }
            Action::Rate { score, comment } => {
                if !matches!(actor, Actor::Applicant { .. }) && !actor.is_window() {
                    return Err(forbidden(actor, "rate", "ratings come from the applicant"));
                }
                let file = self.opened()?;
                if file.status == CaseStatus::Open {
                    return Err(CaseError::CaseNotEnded);
                }
                if file.rating.is_some() {
                    return Err(CaseError::AlreadyRated);
                }
                if !(1..=5).contains(score) {
                    return Err(CaseError::InvalidScore { score: *score });
                }
                self.emit(Change::CaseRated {
                    score: *score,
                    comment: comment.clone(),
                });
                if *score <= 2 {
                    let follow_up = deadline(
                        self.calendar,
                        self.now(),
                        &[],
                        TimeSpan {
                            amount: FOLLOW_UP_WORKING_DAYS,
                            unit: TimeUnit::WorkingDays,
                        },
                        None,
                    )?;
                    self.emit(Change::FollowUpOpened {
                        due: follow_up.due,
                        provisional_years: follow_up.provisional_years,
                    });
                }
                Ok(())
            }
            Action::ReviseDeadlines { reason } => {
                if *actor != Actor::System {
                    return Err(forbidden(
                        actor,
                        "revise_deadlines",
                        "deadlines are revised by the scheduler when the calendar changes",
                    ));
                }
                if self.opened()?.status != CaseStatus::Open {
                    return Ok(());
                }
                self.revise_deadlines(reason)
            }
            Action::CheckDeadlines => {
                let file = self.opened()?;
                if file.status != CaseStatus::Open {
                    return Ok(());
                }
                let now = self.now();
                let mut changes = Vec::new();
                for step in &file.steps {
                    if step.state != StepState::Active {
                        continue;
                    }
                    if step.warn_at.is_some_and(|warn_at| warn_at <= now) && !step.warned {
                        changes.push(Change::StepWarned {
                            step: step.id.clone(),
                        });
                    }
                    if step.due.is_some_and(|due| due <= now) && !step.overdue {
                        changes.push(Change::StepOverdue {
                            step: step.id.clone(),
                        });
                    }
                }
                let missed: Vec<String> = file
                    .materials
                    .iter()
                    .filter(|record| match record.provision {
                        MaterialProvision::Promised { deadline } => {
                            deadline <= now && !file.supplied_materials.contains(&record.material)
                        }
                        _ => false,
                    })
                    .map(|record| record.material.clone())
                    .collect();
                for change in changes {
                    self.emit(change);
                }
                if !missed.is_empty() {
                    for material in missed {
                        self.emit(Change::MaterialDeadlineMissed { material });
                    }
                    self.cancel_live_steps(CancelReason::Terminated);
                    self.end(CaseOutcome::Terminated);
                }
                Ok(())
            }
        }
    }

    /// The step's deadline counted on the current calendar from its start
    /// and `moves`, or `None` for a step without a time limit.
    fn count(
        &self,
        step: &Step,
        record: &StepRecord,
        moves: &[ClockMove],
    ) -> Result<Option<Deadline>, CaseError> {
        let (limit, warn_before) = self.limits_for(step);
        match (limit, record.activated_at) {
            (Some(limit), Some(started)) => Ok(Some(deadline(
                self.calendar,
                started,
                moves,
                limit,
                warn_before,
            )?)),
            _ => Ok(None),
        }
    }

    /// Moves the step's due time `length` further on.
    fn extend(&mut self, step: &Step, length: TimeSpan, reason: &str) -> Result<(), CaseError> {
        let record = self.file().step(&step.id).expect("seeded");
        let mut moves = record.clock.clone();
        moves.push(ClockMove::Extended { length });
        let extended = self
            .count(step, record, &moves)?
            .expect("an extended step has a time limit");
        self.emit(Change::StepExtended {
            step: step.id.clone(),
            length,
            reason: reason.to_string(),
            due: extended.due,
            warn_at: extended.warn_at,
            provisional_years: extended.provisional_years,
        });
        Ok(())
    }

    /// The due time and warning of a step whose clock starts again now: moved
    /// on by the time it stood still.
    fn resumed_due(
        &self,
        step: &Step,
        record: &StepRecord,
        stopped_by: ClockStop,
    ) -> Result<Counted, CaseError> {
        if record.due.is_none() {
            return Ok(Counted::from(None));
        }
        let mut moves = record.clock.clone();
        moves.push(ClockMove::Stopped {
            from: record.paused_since.unwrap_or(self.now()),
            to: self.now(),
            by: stopped_by,
        });
        Ok(Counted::from(self.count(step, record, &moves)?))
    }

    /// The promised date of a case applied for at `opened_at`.
    fn promise(&self, opened_at: DateTime<Utc>) -> Result<Counted, CaseError> {
        Ok(Counted::from(match self.definition.promised_limit {
            Some(limit) => Some(deadline(self.calendar, opened_at, &[], limit, None)?),
            None => None,
        }))
    }

    /// Counts every running step's deadline again on the current calendar;
    /// a step whose times or provisional years differ from the recorded ones
    /// is revised.
    fn revise_deadlines(&mut self, reason: &str) -> Result<(), CaseError> {
        let now = self.now();
        let mut revisions = Vec::new();
        for record in &self.file().steps {
            if !record.state.is_started() || record.due.is_none() {
                continue;
            }
            let step = self.step_definition(&record.id)?;
            let counted = Counted::from(self.count(step, record, &record.clock)?);
            if (counted.due, counted.warn_at, &counted.provisional_years)
                == (record.due, record.warn_at, &record.provisional_years)
            {
                continue;
            }
            // A server still holding an older calendar must not undo the
            // revision of one that has the official table: a deadline never
            // comes to depend on a provisional year it did not depend on.
            if counted
                .provisional_years
                .iter()
                .any(|year| !record.provisional_years.contains(year))
            {
                continue;
            }
            revisions.push(Change::DeadlineRevised {
                step: record.id.clone(),
                previous_due: record.due,
                due: counted.due,
                previous_warn_at: record.warn_at,
                warn_at: counted.warn_at,
                provisional_years: counted.provisional_years,
                reason: reason.to_string(),
                overdue_cleared: record.overdue && counted.due.is_some_and(|due| due > now),
                warning_cleared: record.warned
                    && counted.warn_at.is_some_and(|warn_at| warn_at > now),
            });
        }
        let file = self.file();
        if file.promised_by.is_some() {
            let promise = self.promise(file.opened_at)?;
            let changed = (promise.due, &promise.provisional_years)
                != (file.promised_by, &file.promise_provisional_years);
            let newly_provisional = promise
                .provisional_years
                .iter()
                .any(|year| !file.promise_provisional_years.contains(year));
            if changed && !newly_provisional {
                revisions.push(Change::PromiseRevised {
                    previous: file.promised_by,
                    promised_by: promise.due,
                    provisional_years: promise.provisional_years,
                    reason: reason.to_string(),
                });
            }
        }
        for revision in revisions {
            self.emit(revision);
        }
        Ok(())
    }

    fn check_application(
        &self,
        form: &Value,
        declarations: &[MaterialDeclaration],
        opted_in: &[String],
    ) -> Result<Vec<MaterialRecord>, CaseError> {
        let mut problems: Vec<ValueProblem> =
            check_object_on(&self.definition.form, form, Some(self.today()))
                .into_iter()
                .map(|problem| ValueProblem {
                    field: format!("form.{}", problem.field),
                    message: problem.message,
                })
                .collect();
        let mut material_problem = |material: &str, message: String| {
            problems.push(ValueProblem {
                field: format!("materials.{material}"),
                message,
            })
        };
        let promise_limit = match self.definition.promised_limit {
            Some(limit) => Some(self.calendar.due(self.now(), limit)?),
            None => None,
        };
        let mut records = Vec::new();
        let mut seen = BTreeSet::new();
        for declaration in declarations {
            let Some(material) = self
                .definition
                .materials
                .iter()
                .find(|m| m.id == declaration.material)
            else {
                let known: Vec<&str> = self
                    .definition
                    .materials
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect();
                material_problem(
                    &declaration.material,
                    format!(
                        "is not a material of this bundle (known: {})",
                        known.join(", ")
                    ),
                );
                continue;
            };
            if !seen.insert(declaration.material.as_str()) {
                material_problem(&declaration.material, "is declared twice".into());
                continue;
            }
            match &declaration.provision {
                MaterialProvision::Promised { deadline } => {
                    if !material.deficiency_allowed {
                        material_problem(&material.id, "cannot be promised for later: accepting with deficiency (容缺受理) is not allowed for it".into());
                    } else if *deadline <= self.now() {
                        material_problem(
                            &material.id,
                            format!("the promised deadline {deadline} is not in the future"),
                        );
                    } else if promise_limit.is_some_and(|limit| *deadline > limit) {
                        material_problem(&material.id, format!("the promised deadline {deadline} is after the bundle's promised time limit"));
                    }
                }
                MaterialProvision::Commitment if !material.commitment_allowed => {
                    material_problem(
                        &material.id,
                        "cannot be replaced by a commitment (告知承诺) for this bundle".into(),
                    );
                }
                MaterialProvision::Waived if material.required => {
                    material_problem(&material.id, "is required and cannot be waived".into());
                }
                MaterialProvision::Shared if !material.source.is_shared() => {
                    material_problem(
                        &material.id,
                        "is submitted by the applicant; it cannot be shared".into(),
                    );
                }
                _ => {}
            }
            records.push(MaterialRecord {
                material: material.id.clone(),
                provision: declaration.provision.clone(),
                from_applicant: declaration.provision == MaterialProvision::Submitted,
            });
        }
        for material in &self.definition.materials {
            if seen.contains(material.id.as_str()) {
                continue;
            }
            if material.source.is_shared() {
                records.push(MaterialRecord {
                    material: material.id.clone(),
                    provision: MaterialProvision::Shared,
                    from_applicant: false,
                });
            } else if material.required {
                material_problem(
                    &material.id,
                    format!("{} ({}) is missing", material.name.zh, material.name.en),
                );
            }
        }
        let optional: Vec<&str> = self
            .definition
            .steps
            .iter()
            .filter(|step| step.opt_in)
            .map(|step| step.id.as_str())
            .collect();
        for step in opted_in {
            if !optional.contains(&step.as_str()) {
                problems.push(ValueProblem {
                    field: "opted_in".into(),
                    message: format!(
                        "`{step}` is not a service that can be chosen (choices: {})",
                        if optional.is_empty() {
                            "none".to_string()
                        } else {
                            optional.join(", ")
                        }
                    ),
                });
            }
        }
        if problems
            .iter()
            .all(|problem| !problem.field.starts_with("form."))
        {
            self.check_bills_computable(form, &mut problems);
        }
        if problems.is_empty() {
            Ok(records)
        } else {
            Err(CaseError::InvalidApplication { problems })
        }
    }

    fn bindings(&self, step: &Step) -> Bindings {
        let file = self.file();
        let mut bindings = Bindings::new(&self.definition.form, &file.form);
        for ancestor in self.definition.ancestors(&step.id) {
            if let Some(ancestor_definition) = self.definition.step(ancestor) {
                let record = file.step(ancestor).expect("seeded");
                let outputs = match record.state {
                    StepState::Completed => record.outputs.as_ref(),
                    _ => None,
                };
                bindings.add_step(ancestor, &ancestor_definition.outputs, outputs);
            }
        }
        bindings
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

    fn upstream_all_skipped(&self, step: &Step) -> bool {
        let file = self.file();
        !step.after.is_empty()
            && step
                .after
                .iter()
                .all(|after| file.step(after).expect("seeded").state == StepState::Skipped)
    }

    /// Starts or skips every step whose turn has come, until nothing changes;
    /// then ends the case if nothing is left to run.
    fn advance(&mut self) -> Result<(), CaseError> {
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

    fn skip(&mut self, step: &str, reason: SkipReason, note: Option<String>) {
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

    /// The time limit and warning that apply to this case: the first rule
    /// whose condition holds, or the step's own.
    fn limits_for(&self, step: &Step) -> (Option<TimeSpan>, Option<TimeSpan>) {
        if !step.time_limits.is_empty() {
            let bindings = self.bindings(step);
            for rule in &step.time_limits {
                let holds = expression::compiled(&rule.when)
                    .and_then(|program| bindings.evaluate(&program).ok())
                    .is_some_and(|value| value == cel::Value::Bool(true));
                if holds {
                    return (Some(rule.limit), rule.warn_before);
                }
            }
        }
        (step.time_limit, step.warn_before)
    }

    fn activate(&mut self, step: &Step) -> Result<(), CaseError> {
        let (limit, warn_before) = self.limits_for(step);
        let counted = Counted::from(match limit {
            Some(limit) => Some(deadline(
                self.calendar,
                self.now(),
                &[],
                limit,
                warn_before,
            )?),
            None => None,
        });
        self.emit(Change::StepActivated {
            step: step.id.clone(),
            due: counted.due,
            warn_at: counted.warn_at,
            provisional_years: counted.provisional_years,
        });
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

    fn compute_bills(&self, step: &Step) -> Result<Vec<IssuedBill>, CaseError> {
        bills_for(step, &self.bindings(step))
    }

    /// Tries, when a case is opened, every bill of the bundle with this form
    /// (outputs of steps not yet done taken as typical values inside their
    /// bounds), so that a form no bill can be computed for is refused at
    /// once, never a case left stuck at its payment step.
    fn check_bills_computable(&self, form: &Value, problems: &mut Vec<ValueProblem>) {
        for step in &self.definition.steps {
            if step.kind != StepKind::Payment {
                continue;
            }
            let mut bindings = Bindings::new(&self.definition.form, form);
            for ancestor in self.definition.ancestors(&step.id) {
                if let Some(ancestor_definition) = self.definition.step(ancestor) {
                    let outputs = expression::sample_object(&ancestor_definition.outputs);
                    bindings.add_step(ancestor, &ancestor_definition.outputs, Some(&outputs));
                }
            }
            if let Err(error) = bills_for(step, &bindings) {
                let message = match error {
                    CaseError::Expression { message, .. } => message,
                    other => other.to_string(),
                };
                problems.push(ValueProblem {
                    field: format!("bills.{}", step.id),
                    message: format!("cannot be computed for this form: {message}"),
                });
            }
        }
    }

    fn complete_payment_if_paid(&mut self, step: &str) {
        let file = self.file();
        let all_paid = file
            .payments
            .iter()
            .filter(|payment| payment.step == step)
            .all(|payment| payment.paid);
        if all_paid
            && file
                .step(step)
                .is_some_and(|s| s.state == StepState::Active)
        {
            self.emit(Change::StepCompleted {
                step: step.to_string(),
                outputs: Value::Object(Default::default()),
            });
        }
    }

    fn cancel_live_steps(&mut self, reason: CancelReason) {
        let live: Vec<String> = self
            .file()
            .steps
            .iter()
            .filter(|step| step.state.is_live())
            .map(|step| step.id.clone())
            .collect();
        for step in live {
            self.emit(Change::StepCancelled { step, reason });
        }
    }

    fn end(&mut self, outcome: CaseOutcome) {
        let file = self.file();
        let mut delivered = Vec::new();
        let mut not_delivered = Vec::new();
        for step in &self.definition.steps {
            let state = file.step(&step.id).expect("seeded").state;
            let list = match state {
                StepState::Completed => &mut delivered,
                StepState::Refused | StepState::Cancelled => &mut not_delivered,
                _ => continue,
            };
            list.extend(step.deliverables.iter().map(|d| d.id.clone()));
        }
        self.emit(Change::CaseEnded {
            outcome,
            delivered,
            not_delivered,
        });
    }
}

/// The largest amount a decimal expression may give and still be exact to
/// the fen: every integer up to 2^53 is a double.
const EXACT_FEN_LIMIT: f64 = 9_007_199_254_740_992.0;

/// A payment step's bills for these values: whole-number amounts are taken
/// as they are (never through a double); a decimal amount is rounded once by
/// the step's rule and must lie where doubles are exact.
fn bills_for(step: &Step, bindings: &Bindings) -> Result<Vec<IssuedBill>, CaseError> {
    let rounding = step.rounding.unwrap_or(crate::workflow::Rounding::HalfUp);
    let fail = |message: String| CaseError::Expression {
        step: step.id.clone(),
        message,
    };
    let mut bills = Vec::new();
    for bill in &step.bills {
        let mut items = Vec::new();
        for item in &bill.items {
            let program = expression::compiled(&item.amount)
                .ok_or_else(|| fail(format!("the amount `{}` does not parse", item.amount)))?;
            let value = bindings.evaluate(&program).map_err(|error| {
                fail(format!(
                    "the amount `{}` could not be computed: {error}",
                    item.amount
                ))
            })?;
            let out_of_range = |shown: String| {
                fail(format!(
                    "the amount `{}` gives {shown}, not a whole number of fen from 0 up",
                    item.amount
                ))
            };
            let fen: i64 = match value {
                cel::Value::Int(fen) => fen,
                cel::Value::UInt(fen) => {
                    i64::try_from(fen).map_err(|_| out_of_range(fen.to_string()))?
                }
                cel::Value::Float(fen) => {
                    let rounded = rounding.apply(fen);
                    if !rounded.is_finite() || rounded.abs() > EXACT_FEN_LIMIT {
                        return Err(out_of_range(fen.to_string()));
                    }
                    rounded as i64
                }
                _ => {
                    return Err(fail(format!(
                        "the amount `{}` is not a number",
                        item.amount
                    )))
                }
            };
            if fen < 0 {
                return Err(out_of_range(fen.to_string()));
            }
            items.push(IssuedBillItem {
                payee: item.payee.clone(),
                label: item.label.clone(),
                amount: fen,
            });
        }
        let total = items
            .iter()
            .try_fold(0i64, |total, item| total.checked_add(item.amount))
            .ok_or_else(|| {
                fail(format!(
                    "the bill of `{}` adds up to more than any amount of fen",
                    bill.payer
                ))
            })?;
        bills.push(IssuedBill {
            payer: bill.payer.clone(),
            items,
            total,
        });
    }
    Ok(bills)
}
