//! What the case tests share: the library of test bundles, times in local
//! time, command builders, and given / when / then over event summaries.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use onething_core::case::*;
use onething_core::registry::Registry;
use onething_core::workflow::parse_workflow;
use serde_json::{json, Value};

use crate::common::AGENCIES;

pub const APPLICANT_ID: &str = "11010519491231002X";

pub fn library() -> Arc<Library> {
    let mut registry = Registry::default();
    registry.add_agencies(AGENCIES).unwrap();
    registry
        .add_calendar(include_str!("../../../../workflows/calendars/cn.toml"))
        .unwrap();
    let definition = parse_workflow(include_str!("../data_test_bundle.toml"), &registry).unwrap();
    let choice = parse_workflow(include_str!("../data_choice_bundle.toml"), &registry).unwrap();
    let extension =
        parse_workflow(include_str!("../data_extension_bundle.toml"), &registry).unwrap();
    let join = parse_workflow(include_str!("../data_join_bundle.toml"), &registry).unwrap();
    let limits = parse_workflow(include_str!("../data_limits_bundle.toml"), &registry).unwrap();
    let checks = parse_workflow(include_str!("../data_checks_bundle.toml"), &registry).unwrap();
    let inputs = parse_workflow(include_str!("../data_inputs_bundle.toml"), &registry).unwrap();
    let instances =
        parse_workflow(include_str!("../data_instances_bundle.toml"), &registry).unwrap();
    let own_return = parse_workflow(
        include_str!("../data_instances_own_return_bundle.toml"),
        &registry,
    )
    .unwrap();
    let dispatch = parse_workflow(include_str!("../data_dispatch_bundle.toml"), &registry).unwrap();
    let library = Library::new();
    library.add_calendar(registry.calendars["cn"].clone());
    library.set_current(join);
    library.set_current(limits);
    library.set_current(checks);
    library.set_current(inputs);
    library.set_current(instances);
    library.set_current(own_return);
    library.set_current(dispatch);
    library.set_current(definition);
    library.set_current(choice);
    library.set_current(extension);
    Arc::new(library)
}

/// A local (UTC+8) time in June 2025: `local(3, 9)` is Tuesday 3 June, 09:00.
pub fn local(day: u32, hour: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2025, 6, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

pub fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

pub fn applicant() -> Actor {
    Actor::Applicant { id: None }
}

pub fn command(id: &str, actor: Actor, at: DateTime<Utc>, action: Action) -> CaseCommand {
    CaseCommand {
        command_id: id.into(),
        actor,
        at,
        action,
    }
}

pub fn open_with(
    price: i64,
    opted_in: &[&str],
    materials: Vec<MaterialDeclaration>,
) -> CaseCommand {
    command(
        "open",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: "C1".into(),
            workflow: "test".into(),
            form: json!({ "applicant_id": APPLICANT_ID, "price": price }),
            materials,
            opted_in: opted_in.iter().map(|s| s.to_string()).collect(),
            channel: Channel::Window,
        },
    )
}

/// Opens case `case_id` of `workflow` at the window: `form` with `changes`
/// written over it.
pub fn open_bundle(
    workflow: &str,
    case_id: &str,
    mut form: Value,
    changes: Value,
    materials: Vec<MaterialDeclaration>,
) -> CaseCommand {
    for (name, value) in changes.as_object().unwrap() {
        form[name] = value.clone();
    }
    command(
        "open",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: case_id.into(),
            workflow: workflow.into(),
            form,
            materials,
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

pub fn submitted(material: &str) -> MaterialDeclaration {
    MaterialDeclaration {
        material: material.into(),
        provision: MaterialProvision::Submitted,
    }
}

pub fn open(price: i64) -> CaseCommand {
    open_with(price, &[], vec![submitted("contract"), submitted("permit")])
}

pub fn complete(id: &str, by: &str, step: &str, outputs: Value, at: DateTime<Utc>) -> CaseCommand {
    command(
        id,
        agency(by),
        at,
        Action::Complete {
            step: step.into(),
            outputs,
        },
    )
}

/// The events that a sequence of accepted commands produces.
pub fn history(commands: &[CaseCommand]) -> Vec<CaseEvent> {
    let library = library();
    let mut case = Case::default();
    let mut events = Vec::new();
    for command in commands {
        let new = decide_with_library(&case, &library, command)
            .unwrap_or_else(|error| panic!("{} was refused: {error}", command.command_id));
        for event in new {
            case.apply_event(event.clone());
            events.push(event);
        }
    }
    events
}

pub fn state(events: &[CaseEvent]) -> CaseFile {
    let mut case = Case::default();
    for event in events {
        case.apply_event(event.clone());
    }
    match case {
        Case::Opened(file) => *file,
        Case::Unopened => panic!("not opened"),
    }
}

/// One line per event, enough to read what happened.
pub fn one_line(event: &CaseEvent) -> String {
    match &event.change {
        Change::CaseOpened { .. } => "case_opened".into(),
        Change::StepActivated { step, due, .. } => match due {
            Some(due) => format!("step_activated {step} due {}", due.to_rfc3339()),
            None => format!("step_activated {step}"),
        },
        Change::StepInstancesStarted { step, items } => {
            format!(
                "step_instances_started {step} {}",
                Value::from(items.clone())
            )
        }
        Change::StepSkipped { step, reason, .. } => format!("step_skipped {step} {reason:?}"),
        Change::BillsIssued { step, bills } => format!(
            "bills_issued {step} {}",
            bills
                .iter()
                .map(|bill| format!(
                    "{}={}({})",
                    bill.payer,
                    bill.total,
                    bill.items
                        .iter()
                        .map(|i| format!("{}:{}", i.payee, i.amount))
                        .collect::<Vec<_>>()
                        .join(",")
                ))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Change::PaymentReceived { payer, amount, .. } => {
            format!("payment_received {payer} {amount}")
        }
        Change::StepCompleted { step, .. } => format!("step_completed {step}"),
        Change::StepReturned {
            step, to, reset, ..
        } => format!("step_returned {step}->{to} reset {}", reset.join(",")),
        Change::StepRefused { step, .. } => format!("step_refused {step}"),
        Change::StepCancelled { step, reason } => format!("step_cancelled {step} {reason:?}"),
        Change::SupplementRequested { step, items, .. } => {
            format!("supplement_requested {step} {}", items.join(","))
        }
        Change::SupplementProvided { resumed, .. } => format!(
            "supplement_provided {}",
            resumed
                .iter()
                .map(|r| format!(
                    "{} due {}",
                    r.step,
                    r.due.map(|d| d.to_rfc3339()).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(",")
        ),
        Change::ExtensionRequested { step, length, .. } => {
            format!("extension_requested {step} {length}")
        }
        Change::StepExtended {
            step, length, due, ..
        } => format!("step_extended {step} by {length} due {}", due.to_rfc3339()),
        Change::ExtensionDenied { step, .. } => format!("extension_denied {step}"),
        Change::StepSuspended {
            step, procedure, ..
        } => format!("step_suspended {step} {procedure}"),
        Change::StepResumed { step, due, .. } => format!(
            "step_resumed {step} due {}",
            due.map(|d| d.to_rfc3339()).unwrap_or_default()
        ),
        Change::StepWarned { step } => format!("step_warned {step}"),
        Change::StepOverdue { step } => format!("step_overdue {step}"),
        Change::StepStatutoryWarned { step } => format!("step_statutory_warned {step}"),
        Change::StepStatutoryOverdue { step } => format!("step_statutory_overdue {step}"),
        Change::StepEscalated {
            step, escalation, ..
        } => format!("step_escalated {step} {escalation}"),
        Change::MaterialDeadlineMissed { material } => {
            format!("material_deadline_missed {material}")
        }
        Change::CaseWithdrawn { .. } => "case_withdrawn".into(),
        Change::RefundOwed {
            payer,
            payee,
            amount,
            ..
        } => format!("refund_owed {payer} {payee} {amount}"),
        Change::CaseEnded {
            outcome,
            delivered,
            not_delivered,
        } => format!(
            "case_ended {outcome:?} delivered [{}] not [{}]",
            delivered.join(","),
            not_delivered.join(",")
        ),
        Change::CaseRated {
            score, by_default, ..
        } => {
            if *by_default {
                format!("case_rated {score} by default")
            } else {
                format!("case_rated {score}")
            }
        }
        Change::DocumentAttached { document } => format!(
            "document_attached {} {} {} {}",
            document.material.as_deref().unwrap_or("-"),
            document.media_type,
            document.size,
            &document.sha256[..8]
        ),
        Change::FollowUpOpened { due, .. } => {
            format!("follow_up_opened due {}", due.to_rfc3339())
        }
        Change::SupervisionNoticeIssued {
            step,
            notice,
            answer_by,
            ..
        } => format!(
            "supervision_notice_issued {step} {notice:?} answer by {}",
            answer_by.to_rfc3339()
        ),
        Change::FollowUpRecorded { resolved, .. } => format!("follow_up_recorded {resolved}"),
        Change::StepDispatched {
            step,
            lead,
            co_handlers,
            due,
            ..
        } => format!(
            "step_dispatched {step} to {lead}{} due {}",
            if co_handlers.is_empty() {
                String::new()
            } else {
                format!(" with {}", co_handlers.join(","))
            },
            due.map(|d| d.to_rfc3339()).unwrap_or_default()
        ),
        Change::StepSentBack { step, by, to, .. } => {
            format!("step_sent_back {step} by {by} to {to}")
        }
        Change::CoHandlerReported { step, agency, .. } => {
            format!("co_handler_reported {step} {agency}")
        }
        Change::SupervisionAnswered { step, answer } => {
            format!("supervision_answered {step} {answer:?}")
        }
        Change::TaskClaimed { step, by } => format!("task_claimed {step} {by}"),
        Change::PromiseRevised { promised_by, .. } => format!(
            "promise_revised {}",
            promised_by.map(|d| d.to_rfc3339()).unwrap_or_default()
        ),
        Change::DeadlineRevised {
            step,
            previous_due,
            due,
            ..
        } => format!(
            "deadline_revised {step} {} -> {}",
            previous_due.map(|d| d.to_rfc3339()).unwrap_or_default(),
            due.map(|d| d.to_rfc3339()).unwrap_or_default()
        ),
    }
}

pub fn when(given: &[CaseCommand], command: CaseCommand) -> Result<Vec<String>, CaseError> {
    TestFramework::<Case>::with(library())
        .given(history(given))
        .when(command)
        .inspect_result()
        .map(|events| events.iter().map(one_line).collect())
}

pub fn then_refused(given: &[CaseCommand], command: CaseCommand, expected: CaseError) {
    TestFramework::<Case>::with(library())
        .given(history(given))
        .when(command)
        .then_expect_error(expected);
}

pub fn intake_done() -> Vec<CaseCommand> {
    vec![
        open(200_000),
        complete(
            "c-intake",
            "a",
            "intake",
            json!({ "number": "N1" }),
            local(3, 10),
        ),
    ]
}

pub fn paid_and_finished() -> Vec<CaseCommand> {
    let mut commands = intake_done();
    commands.push(complete("c-left", "a", "left", json!({}), local(3, 11)));
    commands.push(complete("c-right", "b", "right", json!({}), local(3, 12)));
    commands.push(command(
        "p-buyer",
        agency("tax"),
        local(3, 13),
        Action::Pay {
            payer: "buyer".into(),
            amount: 11_000,
            receipt: "R-1".into(),
        },
    ));
    commands
}

pub fn request_supplement(at: DateTime<Utc>) -> CaseCommand {
    command(
        "s",
        agency("a"),
        at,
        Action::RequestSupplement {
            step: "intake".into(),
            items: vec!["contract page 2".into(), "permit".into()],
            reason: "unreadable copies".into(),
        },
    )
}

pub fn open_extension() -> CaseCommand {
    command(
        "open",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: "C2".into(),
            workflow: "extension".into(),
            form: json!({ "applicant_id": APPLICANT_ID }),
            materials: vec![],
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

pub fn extend(
    id: &str,
    by: &str,
    step: &str,
    length: Option<&str>,
    at: DateTime<Utc>,
) -> CaseCommand {
    command(
        id,
        agency(by),
        at,
        Action::Extend {
            step: step.into(),
            length: length.map(String::from),
            reason: "site inspection needed".into(),
        },
    )
}

pub fn check(id: &str, at: DateTime<Utc>) -> CaseCommand {
    command(id, Actor::System, at, Action::CheckDeadlines)
}
