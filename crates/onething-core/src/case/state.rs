//! The state of a case: nothing but the fold of its events.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::command::Channel;
use super::event::{CaseEvent, CaseOutcome, Change, IssuedBill, MaterialRecord};
pub use super::step_record::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    Waiting,
    Active,
    /// Active, with the clock stopped for a supplement (补正).
    Paused,
    /// Active, with the clock stopped for a special procedure (特别程序).
    Suspended,
    Completed,
    Skipped,
    Refused,
    Cancelled,
}

impl StepState {
    /// Still to run or running.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            StepState::Waiting | StepState::Active | StepState::Paused | StepState::Suspended
        )
    }

    /// Started and not finished: the clock may be running or stopped.
    pub fn is_started(self) -> bool {
        matches!(
            self,
            StepState::Active | StepState::Paused | StepState::Suspended
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            StepState::Waiting => "waiting",
            StepState::Active => "active",
            StepState::Paused => "paused",
            StepState::Suspended => "suspended",
            StepState::Completed => "completed",
            StepState::Skipped => "skipped",
            StepState::Refused => "refused",
            StepState::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentRecord {
    pub step: String,
    pub bill: IssuedBill,
    pub paid: bool,
    pub receipt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    pub step: String,
    pub payer: String,
    pub payee: String,
    pub amount: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Open,
    Completed,
    PartiallyCompleted,
    Withdrawn,
    Terminated,
}

impl CaseStatus {
    pub fn name(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Completed => "completed",
            CaseStatus::PartiallyCompleted => "partially_completed",
            CaseStatus::Withdrawn => "withdrawn",
            CaseStatus::Terminated => "terminated",
        }
    }
}

impl From<CaseOutcome> for CaseStatus {
    fn from(outcome: CaseOutcome) -> CaseStatus {
        match outcome {
            CaseOutcome::Completed => CaseStatus::Completed,
            CaseOutcome::PartiallyCompleted => CaseStatus::PartiallyCompleted,
            CaseOutcome::Withdrawn => CaseStatus::Withdrawn,
            CaseOutcome::Terminated => CaseStatus::Terminated,
        }
    }
}

/// A command already applied: repeating its id changes nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedCommand {
    pub first_sequence: u64,
    pub last_sequence: u64,
}

pub use super::rating::Rating;

/// An opened case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseFile {
    pub id: String,
    pub workflow: String,
    pub version: u32,
    pub hash: String,
    pub channel: Channel,
    pub opened_at: DateTime<Utc>,
    pub status: CaseStatus,
    pub ended_at: Option<DateTime<Utc>>,
    /// The number of events applied; the sequence of the last one.
    pub sequence: u64,
    /// The time of the last event applied: no later command may be dated
    /// before it.
    #[serde(default)]
    pub last_event_at: DateTime<Utc>,
    pub form: Value,
    pub materials: Vec<MaterialRecord>,
    /// Promised materials supplied since opening.
    pub supplied_materials: Vec<String>,
    pub opted_in: Vec<String>,
    pub steps: Vec<StepRecord>,
    pub payments: Vec<PaymentRecord>,
    pub refunds: Vec<Refund>,
    pub delivered: Vec<String>,
    pub not_delivered: Vec<String>,
    pub rating: Option<Rating>,
    pub returns: u32,
    pub supplements: u32,
    pub applied: BTreeMap<String, AppliedCommand>,
    /// When the bundle's promised limit runs out for this case.
    #[serde(default)]
    pub promised_by: Option<DateTime<Utc>>,
    #[serde(default)]
    pub promise_provisional_years: Vec<i32>,
    /// Scanned documents attached, in order.
    #[serde(default)]
    pub documents: Vec<super::event::DocumentRecord>,
    #[serde(default)]
    pub supervision: Vec<super::supervision::SupervisionRecord>,
}

impl CaseFile {
    pub fn step(&self, id: &str) -> Option<&StepRecord> {
        self.steps.iter().find(|step| step.id == id)
    }

    /// The instances of a multi-instance step, in order.
    pub fn instances_of<'f>(&'f self, step: &'f str) -> impl Iterator<Item = &'f StepRecord> + 'f {
        self.steps.iter().filter(move |record| {
            crate::workflow::split_instance_id(&record.id).is_some_and(|(of, _)| of == step)
        })
    }

    /// A multi-instance step starts: its records of the instances, waiting,
    /// after it (those of an earlier pass are gone with the return).
    fn start_instances(&mut self, step: &str, items: Vec<serde_json::Value>, at: DateTime<Utc>) {
        self.steps.retain(|record| {
            crate::workflow::split_instance_id(&record.id).is_none_or(|(of, _)| of != step)
        });
        let position = self
            .steps
            .iter()
            .position(|record| record.id == step)
            .expect("events name steps seeded by case_opened");
        let record = &mut self.steps[position];
        let mut held = std::mem::take(&mut record.held_instance_clocks).into_iter();
        record.state = StepState::Active;
        record.passes += 1;
        record.activated_at = Some(at);
        record.instances = items.len();
        record.outputs = None;
        let agency = record.agency.clone();
        let instances = items
            .into_iter()
            .enumerate()
            .map(|(index, item)| StepRecord {
                item: Some(item),
                held_clock: held.next().flatten(),
                ..StepRecord::waiting(
                    crate::workflow::instance_id(step, index + 1),
                    agency.clone(),
                )
            });
        self.steps.splice(position + 1..position + 1, instances);
    }

    fn step_mut(&mut self, id: &str) -> &mut StepRecord {
        self.steps
            .iter_mut()
            .find(|step| step.id == id)
            .expect("events name steps seeded by case_opened")
    }
}

/// The case aggregate: not yet opened, or opened with its file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub enum Case {
    #[default]
    Unopened,
    Opened(Box<CaseFile>),
}

impl Case {
    pub fn file(&self) -> Option<&CaseFile> {
        match self {
            Case::Unopened => None,
            Case::Opened(file) => Some(file),
        }
    }

    /// Folds one event into the state.
    pub fn apply_event(&mut self, event: CaseEvent) {
        let CaseEvent {
            command_id,
            at,
            change,
            ..
        } = event;
        if let Change::CaseOpened {
            case_id,
            workflow,
            version,
            hash,
            channel,
            form,
            materials,
            opted_in,
            steps,
            promised_by,
            promise_provisional_years,
        } = change
        {
            let mut applied = BTreeMap::new();
            applied.insert(
                command_id,
                AppliedCommand {
                    first_sequence: 1,
                    last_sequence: 1,
                },
            );
            *self = Case::Opened(Box::new(CaseFile {
                id: case_id,
                workflow,
                version,
                hash,
                channel,
                opened_at: at,
                status: CaseStatus::Open,
                ended_at: None,
                sequence: 1,
                last_event_at: at,
                form,
                materials,
                supplied_materials: Vec::new(),
                opted_in,
                steps: steps
                    .into_iter()
                    .map(|seed| StepRecord::waiting(seed.id, seed.agency))
                    .collect(),
                payments: Vec::new(),
                refunds: Vec::new(),
                delivered: Vec::new(),
                not_delivered: Vec::new(),
                rating: None,
                returns: 0,
                supplements: 0,
                applied,
                promised_by,
                promise_provisional_years,
                documents: Vec::new(),
                supervision: Vec::new(),
            }));
            return;
        }
        let Case::Opened(file) = self else {
            // Events of a case always start with case_opened; anything else
            // before it would be a corrupted stream, which audit reports.
            return;
        };
        file.sequence += 1;
        file.last_event_at = at;
        let sequence = file.sequence;
        file.applied
            .entry(command_id)
            .and_modify(|applied| applied.last_sequence = sequence)
            .or_insert(AppliedCommand {
                first_sequence: sequence,
                last_sequence: sequence,
            });
        match change {
            Change::CaseOpened { .. } => unreachable!("handled above"),
            Change::StepActivated {
                step,
                due,
                warn_at,
                provisional_years,
                continued,
                statutory,
                inputs,
            } => {
                let record = file.step_mut(&step);
                let held = record.held_clock.take();
                record.inputs = inputs;
                record.state = StepState::Active;
                record.due = due;
                record.warn_at = warn_at;
                record.provisional_years = provisional_years;
                record.passes += 1;
                record.claimed_by = None;
                match held.filter(|_| continued) {
                    Some(held) => {
                        record.clock = held.clock;
                        record.warned = held.warned;
                        record.overdue = held.overdue;
                        record.activated_at = held.activated_at;
                        record.extension = held.extension;
                        record.statutory = held.statutory;
                        record.escalations = held.escalations;
                    }
                    None => {
                        record.clock.clear();
                        record.warned = false;
                        record.overdue = false;
                        record.activated_at = Some(at);
                        record.extension = None;
                        record.statutory = StatutoryClock::started(statutory);
                        record.escalations.clear();
                    }
                }
            }
            Change::StepInstancesStarted { step, items } => file.start_instances(&step, items, at),
            Change::StepSkipped { step, .. } => file.step_mut(&step).state = StepState::Skipped,
            Change::BillsIssued { step, bills } => {
                file.payments.retain(|payment| payment.step != step);
                for bill in bills {
                    let paid = bill.total == 0;
                    file.payments.push(PaymentRecord {
                        step: step.clone(),
                        bill,
                        paid,
                        receipt: None,
                    });
                }
            }
            Change::PaymentReceived {
                step,
                payer,
                receipt,
                ..
            } => {
                if let Some(payment) = file
                    .payments
                    .iter_mut()
                    .find(|p| p.step == step && p.bill.payer == payer)
                {
                    payment.paid = true;
                    payment.receipt = Some(receipt);
                }
            }
            Change::StepCompleted { step, outputs } => {
                let record = file.step_mut(&step);
                record.state = StepState::Completed;
                record.outputs = Some(outputs);
                record.completed_at = Some(at);
                record.lapse_waiting_extension();
            }
            Change::StepReturned { step, reset, .. } => {
                file.returns += 1;
                let returning = file.step_mut(&step);
                returning.returns_made += 1;
                let returning_agency = returning.agency.clone();
                for id in &reset {
                    let record = file.step_mut(id);
                    record.hold_clock(&returning_agency, &reset);
                    // The instances go with their step; their clocks are
                    // held on it until it starts them again.
                    if record.runs_instances() {
                        let held: Vec<Option<HeldClock>> = file
                            .steps
                            .iter_mut()
                            .filter(|instance| {
                                crate::workflow::split_instance_id(&instance.id)
                                    .is_some_and(|(of, _)| of == id)
                            })
                            .map(|instance| {
                                instance.hold_clock(&returning_agency, &reset);
                                instance.held_clock.take()
                            })
                            .collect();
                        file.step_mut(id).held_instance_clocks = held;
                    }
                }
                for id in reset {
                    let record = file.step_mut(&id);
                    record.undispatched(false);
                    record.state = StepState::Waiting;
                    record.outputs = None;
                    record.inputs.clear();
                    record.due = None;
                    record.warn_at = None;
                    record.paused_since = None;
                    record.requested_items.clear();
                    record.extension = None;
                    record.clock.clear();
                    record.provisional_years.clear();
                    record.statutory = None;
                    record.escalations.clear();
                    record.claimed_by = None;
                    record.instances = 0;
                    file.payments.retain(|payment| payment.step != id);
                    // An instance sent back reopens its step; a step sent
                    // back starts its instances anew from its list.
                    match crate::workflow::split_instance_id(&id) {
                        Some((of, _)) if file.step(of).is_some() => {
                            let parent = file.step_mut(of);
                            parent.state = StepState::Active;
                            parent.outputs = None;
                            parent.completed_at = None;
                        }
                        _ => file.steps.retain(|record| {
                            crate::workflow::split_instance_id(&record.id)
                                .is_none_or(|(of, _)| of != id)
                        }),
                    }
                }
            }
            Change::StepRefused { step, .. } => {
                let record = file.step_mut(&step);
                record.state = StepState::Refused;
                record.lapse_waiting_extension();
            }
            Change::StepCancelled { step, .. } => {
                let record = file.step_mut(&step);
                record.state = StepState::Cancelled;
                record.lapse_waiting_extension();
            }
            Change::SupplementRequested { step, items, .. } => {
                file.supplements += 1;
                let record = file.step_mut(&step);
                record.state = StepState::Paused;
                record.paused_since = Some(at);
                record.requested_items = items;
            }
            Change::SupplementProvided {
                materials, resumed, ..
            } => {
                file.supplied_materials.extend(materials);
                for resumed in resumed {
                    file.step_mut(&resumed.step).restart_clock(
                        at,
                        ClockStop::Applicant,
                        resumed.due,
                        resumed.warn_at,
                        resumed.provisional_years,
                        resumed.statutory,
                    );
                }
            }
            Change::ExtensionRequested { step, length, .. } => {
                file.step_mut(&step).extension = Some(ExtensionRecord {
                    length,
                    state: ExtensionState::Requested,
                });
            }
            Change::StepExtended {
                step,
                length,
                due,
                warn_at,
                provisional_years,
                statutory,
                ..
            } => {
                let record = file.step_mut(&step);
                record.statutory =
                    StatutoryClock::moved(record.statutory.as_ref(), statutory, at, false);
                if let Some(clock) = &mut record.statutory {
                    // Like the promise's: the new limit gets its own warning.
                    if !clock.overdue {
                        clock.warned = false;
                    }
                }
                record.clock.push(ClockMove::Extended { length });
                record.provisional_years = provisional_years;
                record.extension = Some(ExtensionRecord {
                    length,
                    state: ExtensionState::Granted,
                });
                record.due = Some(due);
                record.warn_at = warn_at;
                // The new limit gets its own warning; a step already marked
                // overdue (approved late) stays marked: it was late.
                if !record.overdue {
                    record.warned = false;
                }
            }
            Change::ExtensionDenied { step, .. } => {
                if let Some(extension) = &mut file.step_mut(&step).extension {
                    extension.state = ExtensionState::Denied;
                }
            }
            Change::StepSuspended { step, .. } => {
                let record = file.step_mut(&step);
                record.state = StepState::Suspended;
                record.paused_since = Some(at);
            }
            Change::StepResumed {
                step,
                due,
                warn_at,
                provisional_years,
                statutory,
            } => {
                file.step_mut(&step).restart_clock(
                    at,
                    ClockStop::Agency,
                    due,
                    warn_at,
                    provisional_years,
                    statutory,
                );
            }
            Change::DeadlineRevised {
                step,
                due,
                warn_at,
                provisional_years,
                overdue_cleared,
                warning_cleared,
                statutory,
                statutory_overdue_cleared,
                statutory_warning_cleared,
                escalations_cleared,
                ..
            } => {
                let record = file.step_mut(&step);
                record.statutory = statutory.map(|deadline| {
                    let (warned, overdue) = record
                        .statutory
                        .as_ref()
                        .map_or((false, false), |clock| (clock.warned, clock.overdue));
                    StatutoryClock {
                        due: deadline.due,
                        warn_at: deadline.warn_at,
                        provisional_years: deadline.provisional_years,
                        warned: warned && !statutory_warning_cleared,
                        overdue: overdue && !statutory_overdue_cleared,
                    }
                });
                record
                    .escalations
                    .retain(|reached| !escalations_cleared.contains(&reached.id));
                record.due = due;
                record.warn_at = warn_at;
                record.provisional_years = provisional_years;
                if overdue_cleared {
                    record.overdue = false;
                }
                if warning_cleared {
                    record.warned = false;
                }
            }
            Change::StepWarned { step } => file.step_mut(&step).warned = true,
            Change::StepOverdue { step } => file.step_mut(&step).overdue = true,
            Change::StepStatutoryWarned { step } => {
                if let Some(clock) = &mut file.step_mut(&step).statutory {
                    clock.warned = true;
                }
            }
            Change::StepStatutoryOverdue { step } => {
                if let Some(clock) = &mut file.step_mut(&step).statutory {
                    clock.overdue = true;
                }
            }
            Change::StepEscalated {
                step,
                escalation,
                name,
            } => file.step_mut(&step).escalations.push(EscalationRecord {
                id: escalation,
                name,
                at,
            }),
            Change::MaterialDeadlineMissed { .. } | Change::CaseWithdrawn { .. } => {}
            Change::RefundOwed {
                step,
                payer,
                payee,
                amount,
            } => file.refunds.push(Refund {
                step,
                payer,
                payee,
                amount,
            }),
            Change::CaseEnded {
                outcome,
                delivered,
                not_delivered,
            } => {
                file.status = outcome.into();
                file.ended_at = Some(at);
                file.delivered = delivered;
                file.not_delivered = not_delivered;
            }
            Change::DocumentAttached { document } => file.documents.push(document),
            Change::CaseRated {
                score,
                comment,
                aspects,
                by_default,
            } => {
                file.rating = Some(Rating {
                    score,
                    comment,
                    aspects,
                    by_default,
                    follow_up_due: None,
                    follow_up: None,
                });
            }
            Change::PromiseRevised {
                promised_by,
                provisional_years,
                ..
            } => {
                file.promised_by = promised_by;
                file.promise_provisional_years = provisional_years;
            }
            Change::FollowUpOpened { due, .. } => {
                if let Some(rating) = &mut file.rating {
                    rating.follow_up_due = Some(due);
                }
            }
            Change::FollowUpRecorded { result, resolved } => {
                if let Some(rating) = &mut file.rating {
                    rating.follow_up = Some(super::rating::FollowUp {
                        result,
                        resolved,
                        at,
                    });
                }
            }
            Change::TaskClaimed { step, by } => file.step_mut(&step).claimed_by = Some(by),
            Change::StepDispatched {
                step,
                lead,
                co_handlers,
                due,
                warn_at,
                provisional_years,
                statutory,
            } => file.step_mut(&step).dispatched(
                at,
                lead,
                co_handlers,
                (due, warn_at, provisional_years),
                statutory,
            ),
            Change::StepSentBack { step, .. } => {
                let record = file.step_mut(&step);
                record.sent_back += 1;
                record.undispatched(true);
            }
            Change::CoHandlerReported { step, agency, .. } => {
                if let Some(dispatch) = &mut file.step_mut(&step).dispatch {
                    dispatch.reported.push(agency);
                }
            }
            supervision @ (Change::SupervisionNoticeIssued { .. }
            | Change::SupervisionAnswered { .. }) => {
                super::supervision::apply(&mut file.supervision, supervision, at)
            }
        }
    }
}
