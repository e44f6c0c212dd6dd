//! Given / when / then for every case command, rejections included, on a
//! small bundle (`data_test_bundle.toml`) that uses every construct.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use cqrs_es::test::TestFramework;
use onething_core::case::*;
use onething_core::registry::Registry;
use onething_core::value_type::ValueProblem;
use onething_core::workflow::parse_workflow;
use serde_json::{json, Value};

mod common;
use common::AGENCIES;

const APPLICANT_ID: &str = "11010519491231002X";

fn library() -> Arc<Library> {
    let mut registry = Registry::default();
    registry.add_agencies(AGENCIES).unwrap();
    registry
        .add_calendar(include_str!("../../../workflows/calendars/cn.toml"))
        .unwrap();
    let definition = parse_workflow(include_str!("data_test_bundle.toml"), &registry).unwrap();
    let choice = parse_workflow(include_str!("data_choice_bundle.toml"), &registry).unwrap();
    let extension = parse_workflow(include_str!("data_extension_bundle.toml"), &registry).unwrap();
    let library = Library::new();
    library.add_calendar(registry.calendars["cn"].clone());
    library.set_current(definition);
    library.set_current(choice);
    library.set_current(extension);
    Arc::new(library)
}

/// A local (UTC+8) time in June 2025: `local(3, 9)` is Tuesday 3 June, 09:00.
fn local(day: u32, hour: u32) -> DateTime<Utc> {
    chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2025, 6, day, hour, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

fn applicant() -> Actor {
    Actor::Applicant { id: None }
}

fn command(id: &str, actor: Actor, at: DateTime<Utc>, action: Action) -> CaseCommand {
    CaseCommand {
        command_id: id.into(),
        actor,
        at,
        action,
    }
}

fn open_with(price: i64, opted_in: &[&str], materials: Vec<MaterialDeclaration>) -> CaseCommand {
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

fn submitted(material: &str) -> MaterialDeclaration {
    MaterialDeclaration {
        material: material.into(),
        provision: MaterialProvision::Submitted,
    }
}

fn open(price: i64) -> CaseCommand {
    open_with(price, &[], vec![submitted("contract"), submitted("permit")])
}

fn complete(id: &str, by: &str, step: &str, outputs: Value, at: DateTime<Utc>) -> CaseCommand {
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
fn history(commands: &[CaseCommand]) -> Vec<CaseEvent> {
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

fn state(events: &[CaseEvent]) -> CaseFile {
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
fn describe(event: &CaseEvent) -> String {
    match &event.change {
        Change::CaseOpened { .. } => "case_opened".into(),
        Change::StepActivated { step, due, .. } => match due {
            Some(due) => format!("step_activated {step} due {}", due.to_rfc3339()),
            None => format!("step_activated {step}"),
        },
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
        Change::CaseRated { score, .. } => format!("case_rated {score}"),
        Change::FollowUpOpened { due, .. } => {
            format!("follow_up_opened due {}", due.to_rfc3339())
        }
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

fn when(given: &[CaseCommand], command: CaseCommand) -> Result<Vec<String>, CaseError> {
    TestFramework::<Case>::with(library())
        .given(history(given))
        .when(command)
        .inspect_result()
        .map(|events| events.iter().map(describe).collect())
}

fn then_refused(given: &[CaseCommand], command: CaseCommand, expected: CaseError) {
    TestFramework::<Case>::with(library())
        .given(history(given))
        .when(command)
        .then_expect_error(expected);
}

fn intake_done() -> Vec<CaseCommand> {
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

fn paid_and_finished() -> Vec<CaseCommand> {
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

// ---- open -------------------------------------------------------------------

#[test]
fn opening_starts_the_steps_without_dependencies_with_due_times_in_working_days() {
    let events = when(&[], open(200_000)).unwrap();
    // Tuesday 3 June + 2 working days = end of Thursday 5 June, local time.
    assert_eq!(
        events,
        [
            "case_opened",
            "step_activated intake due 2025-06-05T16:00:00+00:00"
        ]
    );
    let file = state(&history(&[open(200_000)]));
    assert_eq!(file.step("intake").unwrap().warn_at, Some(local(5, 0)));
    assert_eq!(file.hash.len(), 71);
    let idcard = file
        .materials
        .iter()
        .find(|m| m.material == "idcard")
        .unwrap();
    assert_eq!(idcard.provision, MaterialProvision::Shared);
    assert!(!idcard.from_applicant);
}

#[test]
fn a_time_limit_rule_picks_the_limit_for_the_case() {
    // 2 000 000 fen is a large case: 5 working days from Tuesday 3 June end on
    // Tuesday 10 June, with the warning 2 working days before.
    let events = when(&[], open(2_000_000)).unwrap();
    assert_eq!(
        events[1],
        "step_activated intake due 2025-06-10T16:00:00+00:00"
    );
    let file = state(&history(&[open(2_000_000)]));
    // Two working days left: from the start of Monday 9 June.
    assert_eq!(file.step("intake").unwrap().warn_at, Some(local(9, 0)));
}

#[test]
fn working_days_skip_the_dragon_boat_holiday() {
    // Friday 30 May 2025 + 2 working days: 31 May – 2 June is the Dragon Boat
    // break, so the limit ends on Wednesday 4 June.
    let mut opening = open(1);
    opening.at = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2025, 5, 30, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let events = when(&[], opening).unwrap();
    assert_eq!(
        events[1],
        "step_activated intake due 2025-06-04T16:00:00+00:00"
    );
}

#[test]
fn an_application_is_refused_with_every_problem_at_once() {
    let mut bad = open_with(
        -5,
        &["left", "nothing"],
        vec![
            MaterialDeclaration {
                material: "permit".into(),
                provision: MaterialProvision::Promised {
                    deadline: local(4, 9),
                },
            },
            submitted("unknown_material"),
        ],
    );
    if let Action::Open { form, .. } = &mut bad.action {
        form["applicant_id"] = json!("110105194912310021");
        form["colour"] = json!("red");
    }
    let problems = |list: &[(&str, &str)]| -> Vec<ValueProblem> {
        list.iter()
            .map(|(field, message)| ValueProblem {
                field: field.to_string(),
                message: message.to_string(),
            })
            .collect()
    };
    then_refused(
        &[],
        bad,
        CaseError::InvalidApplication {
            problems: problems(&[
                ("form.applicant_id", "not a valid citizen ID number: the check character is '1', expected 'X'"),
                ("form.price", "must not be negative"),
                ("form.colour", "is not a field here (known: applicant_id, price)"),
                ("materials.permit", "cannot be promised for later: accepting with deficiency (容缺受理) is not allowed for it"),
                ("materials.unknown_material", "is not a material of this bundle (known: contract, permit, idcard)"),
                ("materials.contract", "合同 (Contract) is missing"),
                ("opted_in", "`left` is not a service that can be chosen (choices: extra)"),
                ("opted_in", "`nothing` is not a service that can be chosen (choices: extra)"),
            ]),
        },
    );
}

#[test]
fn materials_may_be_promised_or_replaced_by_a_commitment_where_the_bundle_allows() {
    let opening = open_with(
        1,
        &["extra"],
        vec![
            MaterialDeclaration {
                material: "contract".into(),
                provision: MaterialProvision::Promised {
                    deadline: local(10, 18),
                },
            },
            MaterialDeclaration {
                material: "permit".into(),
                provision: MaterialProvision::Commitment,
            },
        ],
    );
    assert!(when(&[], opening).is_ok());
}

#[test]
fn only_the_window_the_applicant_or_a_first_step_owner_opens_a_case() {
    let mut by_b = open(1);
    by_b.actor = agency("b");
    then_refused(
        &[],
        by_b,
        CaseError::Forbidden {
            actor: "b".into(),
            action: "open".into(),
            reason: "cases are opened by the comprehensive window, the applicant, or an agency that owns a first step".into(),
        },
    );
    let mut by_a = open(1);
    by_a.actor = agency("a");
    assert!(when(&[], by_a).is_ok());
    let mut online = open(1);
    online.actor = applicant();
    assert!(when(&[], online).is_ok());
}

#[test]
fn repeating_the_open_command_changes_nothing_and_another_open_is_refused() {
    assert_eq!(when(&[open(1)], open(1)).unwrap(), Vec::<String>::new());
    let mut again = open(1);
    again.command_id = "open-2".into();
    then_refused(&[open(1)], again, CaseError::AlreadyOpened);
}

#[test]
fn commands_on_a_case_never_opened_are_refused() {
    then_refused(
        &[],
        complete("c", "a", "intake", json!({}), local(3, 10)),
        CaseError::NotOpened,
    );
}

// ---- complete ------------------------------------------------------------------

#[test]
fn completing_fans_out_skips_unwanted_services_and_waits_at_the_join() {
    let events = when(
        &[open(200_000)],
        complete(
            "c-intake",
            "a",
            "intake",
            json!({ "number": "N1" }),
            local(3, 10),
        ),
    )
    .unwrap();
    assert_eq!(
        events,
        [
            "step_completed intake",
            "step_activated left",
            "step_activated right",
            "step_skipped extra NotOptedIn",
        ]
    );
    // The join `pay` waits for both branches.
    let events = when(
        &intake_done(),
        complete("c-left", "a", "left", json!({}), local(3, 11)),
    )
    .unwrap();
    assert_eq!(events, ["step_completed left"]);
}

#[test]
fn a_false_condition_skips_the_step_and_the_join_still_runs() {
    let given = [
        open(0),
        complete(
            "c-intake",
            "a",
            "intake",
            json!({ "number": "N1" }),
            local(3, 10),
        ),
    ];
    assert_eq!(
        when(&[open(0)], given[1].clone()).unwrap(),
        [
            "step_completed intake",
            "step_activated left",
            "step_skipped right ConditionFalse",
            "step_skipped extra NotOptedIn",
        ]
    );
    let events = when(
        &given,
        complete("c-left", "a", "left", json!({}), local(3, 11)),
    )
    .unwrap();
    assert_eq!(
        events,
        [
            "step_completed left",
            "step_activated pay",
            "bills_issued pay buyer=8000(tax:0,finance:8000)",
        ]
    );
}

#[test]
fn only_the_owning_agency_completes_a_step() {
    then_refused(
        &[open(1)],
        complete("c", "b", "intake", json!({ "number": "N1" }), local(3, 10)),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "complete".into(),
            reason: "step `intake` belongs to agency `a`".into(),
        },
    );
}

#[test]
fn a_step_that_is_not_active_cannot_be_completed() {
    then_refused(
        &[open(1)],
        complete("c", "a", "left", json!({}), local(3, 10)),
        CaseError::StepNotActive {
            step: "left".into(),
            state: "waiting".into(),
        },
    );
    then_refused(
        &[open(1)],
        complete("c", "a", "nowhere", json!({}), local(3, 10)),
        CaseError::UnknownStep {
            step: "nowhere".into(),
        },
    );
}

#[test]
fn outputs_are_checked_with_every_problem_at_once() {
    then_refused(
        &[open(1)],
        complete("c", "a", "intake", json!({ "numbr": 5 }), local(3, 10)),
        CaseError::InvalidOutputs {
            step: "intake".into(),
            problems: vec![
                ValueProblem {
                    field: "number".into(),
                    message: "is required".into(),
                },
                ValueProblem {
                    field: "numbr".into(),
                    message: "is not a field here (known: number)".into(),
                },
            ],
        },
    );
}

#[test]
fn repeating_a_command_id_changes_nothing() {
    let given = intake_done();
    let repeat = given[1].clone();
    assert_eq!(when(&given, repeat).unwrap(), Vec::<String>::new());
}

// ---- payments ---------------------------------------------------------------

#[test]
fn bills_are_computed_once_in_whole_fen_and_paying_completes_the_step() {
    // 1.5% of 200 000 fen = 3 000 fen; with the 8 000 fen fee, 11 000.
    let mut given = intake_done();
    given.push(complete("c-left", "a", "left", json!({}), local(3, 11)));
    let events = when(
        &given,
        complete("c-right", "b", "right", json!({}), local(3, 12)),
    )
    .unwrap();
    assert_eq!(
        events,
        [
            "step_completed right",
            "step_activated pay",
            "bills_issued pay buyer=11000(tax:3000,finance:8000)",
        ]
    );
    let mut given_bills = given.clone();
    given_bills.push(complete("c-right", "b", "right", json!({}), local(3, 12)));
    let pay = command(
        "p",
        agency("window"),
        local(3, 13),
        Action::Pay {
            payer: "buyer".into(),
            amount: 11_000,
            receipt: "R-1".into(),
        },
    );
    assert_eq!(
        when(&given_bills, pay).unwrap(),
        [
            "payment_received buyer 11000",
            "step_completed pay",
            "step_activated finish"
        ]
    );
}

#[test]
fn half_fen_amounts_round_half_up() {
    // 1.5% of 100 001 fen = 1 500.015 fen → 1 500; of 100 033 = 1 500.495 → 1 500;
    // of 100 034 = 1 500.51 → 1 501.
    for (price, tax) in [(100_001, 1500), (100_033, 1500), (100_034, 1501)] {
        let given = [
            open(price),
            complete(
                "c-intake",
                "a",
                "intake",
                json!({ "number": "N" }),
                local(3, 10),
            ),
            complete("c-left", "a", "left", json!({}), local(3, 11)),
        ];
        let events = when(
            &given,
            complete("c-right", "b", "right", json!({}), local(3, 12)),
        )
        .unwrap();
        assert_eq!(
            events[2],
            format!(
                "bills_issued pay buyer={}(tax:{tax},finance:8000)",
                tax + 8000
            )
        );
    }
}

#[test]
fn a_payment_must_match_the_bill_and_come_from_the_collector() {
    let mut given = intake_done();
    given.push(complete("c-left", "a", "left", json!({}), local(3, 11)));
    given.push(complete("c-right", "b", "right", json!({}), local(3, 12)));
    let pay = |by: &str, payer: &str, amount: i64, receipt: &str| {
        command(
            "p",
            agency(by),
            local(3, 13),
            Action::Pay {
                payer: payer.into(),
                amount,
                receipt: receipt.into(),
            },
        )
    };
    then_refused(
        &given,
        pay("tax", "buyer", 10_999, "R"),
        CaseError::WrongAmount {
            payer: "buyer".into(),
            expected: 11_000,
            given: 10_999,
        },
    );
    then_refused(
        &given,
        pay("tax", "seller", 11_000, "R"),
        CaseError::NoSuchBill {
            payer: "seller".into(),
        },
    );
    then_refused(
        &given,
        pay("tax", "buyer", 11_000, " "),
        CaseError::MissingReceipt,
    );
    then_refused(
        &given,
        pay("a", "buyer", 11_000, "R"),
        CaseError::Forbidden {
            actor: "a".into(),
            action: "record a payment".into(),
            reason: "payments for `pay` are recorded by `tax` or the window".into(),
        },
    );
    then_refused(
        &given,
        complete("c", "tax", "pay", json!({}), local(3, 13)),
        CaseError::PaymentStep { step: "pay".into() },
    );
}

// ---- choice -------------------------------------------------------------------

#[test]
fn exactly_one_branch_of_a_choice_runs() {
    let mut given = paid_and_finished();
    given.push(complete("c-finish", "b", "finish", json!({}), local(3, 14)));
    // price 200 000 is not < 100 000: the default branch `slow` runs.
    let state = state(&history(&given));
    assert_eq!(state.step("fast").unwrap().state, StepState::Skipped);
    assert_eq!(state.step("slow").unwrap().state, StepState::Active);
    let events = when(
        &given,
        complete("c-slow", "b", "slow", json!({}), local(3, 15)),
    )
    .unwrap();
    assert_eq!(
        events,
        [
            "step_completed slow",
            "case_ended Completed delivered [left_licence,right_licence,certificate] not []",
        ]
    );
}

// ---- return -------------------------------------------------------------------

#[test]
fn a_return_resets_the_target_and_everything_after_it() {
    let given = intake_done();
    let back = command(
        "r",
        agency("a"),
        local(3, 12),
        Action::Return {
            step: "left".into(),
            to: "intake".into(),
            reason: "wrong number".into(),
        },
    );
    // `right` runs in parallel after `intake`; it goes back too.
    let events = when(&given, back.clone()).unwrap();
    assert_eq!(
        events,
        [
            "step_returned left->intake reset intake,left,right,extra",
            "step_activated intake due 2025-06-05T16:00:00+00:00",
        ]
    );
    // Only a running step sends the case back.
    let mut finished = given.clone();
    finished.push(complete("c-left", "a", "left", json!({}), local(3, 11)));
    then_refused(
        &finished,
        back,
        CaseError::StepNotActive {
            step: "left".into(),
            state: "completed".into(),
        },
    );
}

#[test]
fn returning_to_a_branch_of_a_choice_decides_the_choice_again() {
    let open = command(
        "open",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: "C2".into(),
            workflow: "choice-return".into(),
            form: json!({ "applicant_id": APPLICANT_ID, "price": 1 }),
            materials: vec![],
            opted_in: vec![],
            channel: Channel::Window,
        },
    );
    let given = [
        open,
        complete(
            "c-start",
            "a",
            "start",
            json!({ "route": "slow" }),
            local(3, 10),
        ),
        complete("c-slow", "b", "slow", json!({}), local(3, 11)),
    ];
    let back = command(
        "r",
        agency("a"),
        local(3, 12),
        Action::Return {
            step: "close".into(),
            to: "slow".into(),
            reason: "redo".into(),
        },
    );
    // Both branches go back, the choice is decided again (still `slow`).
    assert_eq!(
        when(&given, back).unwrap(),
        [
            "step_returned close->slow reset slow,fast,close",
            "step_skipped fast OtherBranch",
            "step_activated slow",
        ]
    );
    // Back to the start, a different route can be taken: `fast` runs this time.
    let mut again = given.to_vec();
    again.push(command(
        "r2",
        agency("a"),
        local(3, 12),
        Action::Return {
            step: "close".into(),
            to: "start".into(),
            reason: "wrong route".into(),
        },
    ));
    again.push(complete(
        "c-start-2",
        "a",
        "start",
        json!({ "route": "fast" }),
        local(3, 13),
    ));
    let file = state(&history(&again));
    assert_eq!(file.step("fast").unwrap().state, StepState::Active);
    assert_eq!(file.step("slow").unwrap().state, StepState::Skipped);
}

#[test]
fn the_history_keeps_both_passes_of_a_returned_step() {
    let mut commands = intake_done();
    commands.push(command(
        "r",
        agency("a"),
        local(3, 12),
        Action::Return {
            step: "left".into(),
            to: "intake".into(),
            reason: "wrong number".into(),
        },
    ));
    commands.push(complete(
        "c-intake-2",
        "a",
        "intake",
        json!({ "number": "N2" }),
        local(4, 9),
    ));
    let events = history(&commands);
    let file = state(&events);
    assert_eq!(file.step("intake").unwrap().passes, 2);
    assert_eq!(
        file.step("intake").unwrap().outputs,
        Some(json!({ "number": "N2" }))
    );
    let completions: Vec<_> = events
        .iter()
        .filter(|e| matches!(&e.change, Change::StepCompleted { step, .. } if step == "intake"))
        .collect();
    assert_eq!(completions.len(), 2);
    assert_eq!(file.returns, 1);
}

#[test]
fn a_return_must_name_an_allowed_target_and_not_undo_a_payment() {
    let given = intake_done();
    then_refused(
        &given,
        command(
            "r",
            agency("b"),
            local(3, 12),
            Action::Return {
                step: "right".into(),
                to: "intake".into(),
                reason: "x".into(),
            },
        ),
        CaseError::NotAReturnTarget {
            step: "right".into(),
            to: "intake".into(),
            allowed: vec![],
        },
    );
    then_refused(
        &given,
        command(
            "r",
            agency("a"),
            local(3, 12),
            Action::Return {
                step: "left".into(),
                to: "intake".into(),
                reason: "  ".into(),
            },
        ),
        CaseError::MissingReason,
    );
    let paid = paid_and_finished();
    then_refused(
        &paid,
        command(
            "r",
            agency("b"),
            local(3, 14),
            Action::Return {
                step: "finish".into(),
                to: "left".into(),
                reason: "redo".into(),
            },
        ),
        CaseError::ReturnPastPayment { step: "pay".into() },
    );
}

// ---- refuse -------------------------------------------------------------------

#[test]
fn a_refusal_cancels_what_depends_on_it_and_the_case_ends_partially_completed() {
    let given = intake_done();
    let refuse = command(
        "x",
        agency("b"),
        local(3, 12),
        Action::Refuse {
            step: "right".into(),
            reason: "不予许可".into(),
        },
    );
    let events = when(&given, refuse).unwrap();
    assert_eq!(
        events,
        [
            "step_refused right",
            "step_cancelled pay UpstreamRefused",
            "step_cancelled finish UpstreamRefused",
            "step_cancelled fast UpstreamRefused",
            "step_cancelled slow UpstreamRefused",
        ]
    );
    // The independent branch `left` goes on; when it is done, the case ends.
    let mut given = given;
    given.push(command(
        "x",
        agency("b"),
        local(3, 12),
        Action::Refuse {
            step: "right".into(),
            reason: "不予许可".into(),
        },
    ));
    let events = when(
        &given,
        complete("c-left", "a", "left", json!({}), local(3, 13)),
    )
    .unwrap();
    assert_eq!(
        events,
        [
            "step_completed left",
            "case_ended PartiallyCompleted delivered [left_licence] not [right_licence,certificate]",
        ]
    );
    then_refused(
        &given,
        complete("c-late", "a", "intake", json!({}), local(3, 14)),
        CaseError::StepNotActive {
            step: "intake".into(),
            state: "completed".into(),
        },
    );
}

// ---- supplements --------------------------------------------------------------

fn request_supplement(at: DateTime<Utc>) -> CaseCommand {
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

#[test]
fn a_supplement_pauses_the_clock_until_everything_asked_for_is_supplied() {
    assert_eq!(
        when(&[open(1)], request_supplement(local(3, 10))).unwrap(),
        ["supplement_requested intake contract page 2,permit"]
    );
    let given = [open(1), request_supplement(local(3, 10))];
    then_refused(
        &given,
        complete("c", "a", "intake", json!({ "number": "N" }), local(3, 11)),
        CaseError::StepNotActive {
            step: "intake".into(),
            state: "paused".into(),
        },
    );
    let partial = command(
        "sup",
        applicant(),
        local(9, 10),
        Action::Supplement {
            items: serde_json::Map::from_iter([(
                "contract page 2".to_string(),
                json!("scan-2.pdf"),
            )]),
            materials: vec![],
        },
    );
    then_refused(
        &given,
        partial,
        CaseError::MissingSupplementItems {
            items: vec!["permit".into()],
        },
    );
    let full = command(
        "sup",
        applicant(),
        local(9, 10),
        Action::Supplement {
            items: serde_json::Map::from_iter([(
                "contract page 2".to_string(),
                json!("scan-2.pdf"),
            )]),
            materials: vec!["permit".into()],
        },
    );
    // Paused from Tuesday 3 June to Monday 9 June: the working days 3, 4, 5
    // and 6 June do not count, so the limit that ended on Thursday 5 June
    // now ends four working days later, on Wednesday 11 June.
    assert_eq!(
        when(&given, full).unwrap(),
        ["supplement_provided intake due 2025-06-11T16:00:00+00:00"]
    );
}

#[test]
fn supplements_are_refused_where_the_bundle_does_not_allow_them_or_nothing_is_asked() {
    let given = intake_done();
    then_refused(
        &given,
        command(
            "s",
            agency("a"),
            local(3, 12),
            Action::RequestSupplement {
                step: "left".into(),
                items: vec!["x".into()],
                reason: "r".into(),
            },
        ),
        CaseError::SupplementNotAllowed {
            step: "left".into(),
        },
    );
    then_refused(
        &[open(1)],
        command(
            "s",
            agency("a"),
            local(3, 12),
            Action::RequestSupplement {
                step: "intake".into(),
                items: vec![" ".into()],
                reason: "r".into(),
            },
        ),
        CaseError::NoSupplementItems,
    );
    then_refused(
        &[open(1)],
        command(
            "s",
            applicant(),
            local(3, 12),
            Action::Supplement {
                items: Default::default(),
                materials: vec![],
            },
        ),
        CaseError::NothingToSupplement,
    );
    then_refused(
        &[open(1)],
        command(
            "s",
            applicant(),
            local(3, 12),
            Action::Supplement {
                items: Default::default(),
                materials: vec!["contract".into()],
            },
        ),
        CaseError::NotPromised {
            materials: vec!["contract".into()],
        },
    );
    then_refused(
        &[open(1), request_supplement(local(3, 10))],
        command(
            "s2",
            agency("b"),
            local(3, 12),
            Action::Supplement {
                items: Default::default(),
                materials: vec![],
            },
        ),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "supplement".into(),
            reason: "supplements come from the applicant, directly or through the window".into(),
        },
    );
}

// ---- extensions (延期) --------------------------------------------------------

fn open_extension() -> CaseCommand {
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

fn extend(id: &str, by: &str, step: &str, length: Option<&str>, at: DateTime<Utc>) -> CaseCommand {
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

fn decide_extension(id: &str, by: &str, approve: bool, at: DateTime<Utc>) -> CaseCommand {
    command(
        id,
        agency(by),
        at,
        Action::DecideExtension {
            step: "handle".into(),
            approve,
            reason: "agreed at the weekly review".into(),
        },
    )
}

#[test]
fn an_agency_extends_its_own_limit_once_up_to_what_the_workflow_allows() {
    // Review: 20 working days from Tuesday 3 June 2025 end on Tuesday 1 July;
    // 10 more run to Tuesday 15 July, 5 more to Tuesday 8 July.
    assert_eq!(
        when(
            &[open_extension()],
            extend("e", "a", "review", None, local(10, 9))
        )
        .unwrap(),
        ["step_extended review by 10 working days due 2025-07-15T16:00:00+00:00"]
    );
    assert_eq!(
        when(
            &[open_extension()],
            extend("e", "a", "review", Some("5 working days"), local(10, 9))
        )
        .unwrap(),
        ["step_extended review by 5 working days due 2025-07-08T16:00:00+00:00"]
    );
    let extended = [
        open_extension(),
        extend("e", "a", "review", Some("5个工作日"), local(10, 9)),
    ];
    let file = state(&history(&extended));
    let review = file.step("review").unwrap();
    assert_eq!(review.due, Some(local(8, 0) + chrono::Duration::days(31)));
    // The warning moves with the limit: 5 working days left from 2 July.
    assert_eq!(
        review.warn_at,
        Some(local(2, 0) + chrono::Duration::days(30))
    );
    then_refused(
        &extended,
        extend("e2", "a", "review", Some("1 working day"), local(11, 9)),
        CaseError::ExtensionUsed {
            step: "review".into(),
            state: "granted".into(),
        },
    );
}

#[test]
fn an_extension_is_refused_when_late_too_long_unreasoned_or_not_in_the_workflow() {
    let given = [open_extension()];
    for length in ["11 working days", "3 days", "0 working days", "soon"] {
        then_refused(
            &given,
            extend("e", "a", "review", Some(length), local(10, 9)),
            CaseError::InvalidExtensionLength {
                step: "review".into(),
                length: length.into(),
                limit: "10 working days".into(),
            },
        );
    }
    then_refused(
        &given,
        extend(
            "e",
            "a",
            "review",
            None,
            local(10, 9) + chrono::Duration::days(22),
        ),
        CaseError::ExtensionTooLate {
            step: "review".into(),
            due: "2025-07-01T16:00:00+00:00".into(),
        },
    );
    then_refused(
        &given,
        extend("e", "a", "notify", None, local(3, 10)),
        CaseError::ExtensionNotAllowed {
            step: "notify".into(),
        },
    );
    then_refused(
        &given,
        extend("e", "b", "review", None, local(3, 10)),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "extend".into(),
            reason: "step `review` belongs to agency `a`".into(),
        },
    );
    let mut unreasoned = extend("e", "a", "review", None, local(3, 10));
    if let Action::Extend { reason, .. } = &mut unreasoned.action {
        *reason = " ".into();
    }
    then_refused(&given, unreasoned, CaseError::MissingReason);
    // A paused clock needs no extension.
    let paused = [
        open_extension(),
        command(
            "s",
            agency("b"),
            local(3, 10),
            Action::RequestSupplement {
                step: "handle".into(),
                items: vec!["photos".into()],
                reason: "the address is unclear".into(),
            },
        ),
    ];
    then_refused(
        &paused,
        extend("e", "b", "handle", None, local(3, 11)),
        CaseError::StepNotActive {
            step: "handle".into(),
            state: "paused".into(),
        },
    );
}

#[test]
fn an_extension_that_needs_approval_waits_for_the_approving_agency() {
    let requested = [
        open_extension(),
        extend("e", "b", "handle", None, local(4, 9)),
    ];
    assert_eq!(
        when(
            &[open_extension()],
            extend("e", "b", "handle", None, local(4, 9))
        )
        .unwrap(),
        ["extension_requested handle 5 working days"]
    );
    // Handle: 3 working days from 3 June end on Friday 6 June; 5 more on Friday 13 June.
    assert_eq!(
        when(
            &requested,
            decide_extension("d", "window", true, local(5, 9))
        )
        .unwrap(),
        ["step_extended handle by 5 working days due 2025-06-13T16:00:00+00:00"]
    );
    assert_eq!(
        when(
            &requested,
            decide_extension("d", "window", false, local(5, 9))
        )
        .unwrap(),
        ["extension_denied handle"]
    );
    then_refused(
        &requested,
        decide_extension("d", "b", true, local(5, 9)),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "decide an extension".into(),
            reason: "extensions of `handle` are decided by `window`".into(),
        },
    );
    then_refused(
        &[open_extension()],
        decide_extension("d", "window", true, local(5, 9)),
        CaseError::NoExtensionRequested {
            step: "handle".into(),
        },
    );
    then_refused(
        &requested,
        extend("e2", "b", "handle", Some("1 working day"), local(4, 10)),
        CaseError::ExtensionUsed {
            step: "handle".into(),
            state: "requested".into(),
        },
    );
    let denied = [
        open_extension(),
        extend("e", "b", "handle", None, local(4, 9)),
        decide_extension("d", "window", false, local(5, 9)),
    ];
    then_refused(
        &denied,
        extend("e2", "b", "handle", None, local(5, 10)),
        CaseError::ExtensionUsed {
            step: "handle".into(),
            state: "denied".into(),
        },
    );
    then_refused(
        &denied,
        decide_extension("d2", "window", true, local(5, 10)),
        CaseError::NoExtensionRequested {
            step: "handle".into(),
        },
    );
    assert_eq!(
        state(&history(&denied)).step("handle").unwrap().due,
        Some(local(7, 0))
    );
}

#[test]
fn an_extended_limit_warns_again_and_is_not_overdue_at_the_old_time() {
    let extended = [
        open_extension(),
        check("t1", local(6, 9)),
        extend("e", "b", "handle", None, local(6, 10)),
        decide_extension("d", "window", true, local(6, 11)),
    ];
    let events: Vec<String> = history(&extended).iter().map(describe).collect();
    assert_eq!(
        events[4..],
        [
            "step_warned handle",
            "step_overdue notify",
            "extension_requested handle 5 working days",
            "step_extended handle by 5 working days due 2025-06-13T16:00:00+00:00",
        ]
    );
    // Past the old limit (end of 6 June), before the new warning (13 June).
    assert_eq!(
        when(&extended, check("t2", local(9, 9))).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        when(&extended, check("t2", local(13, 9))).unwrap(),
        ["step_warned handle"]
    );
    assert_eq!(
        when(&extended, check("t2", local(14, 9))).unwrap(),
        ["step_warned handle", "step_overdue handle"]
    );
}

#[test]
fn a_late_approval_moves_the_limit_but_the_step_stays_marked_overdue() {
    // Asked for on the last day; the limit runs out before the hotline decides.
    let given = [
        open_extension(),
        extend("e", "b", "handle", None, local(6, 9)),
        check("t", local(7, 9)),
        decide_extension("d", "window", true, local(9, 9)),
    ];
    let file = state(&history(&given));
    let handle = file.step("handle").unwrap();
    assert_eq!(handle.due, Some(local(14, 0)));
    assert!(
        handle.overdue,
        "it was late; the approval does not undo that"
    );
    assert_eq!(
        when(&given, check("t2", local(16, 9))).unwrap(),
        Vec::<String>::new(),
        "marked once"
    );
}

#[test]
fn a_request_nobody_decided_lapses_when_the_step_ends() {
    let given = [
        open_extension(),
        extend("e", "b", "handle", None, local(4, 9)),
        complete("c", "b", "handle", json!({}), local(5, 9)),
    ];
    let file = state(&history(&given));
    assert_eq!(
        file.step("handle")
            .unwrap()
            .extension
            .as_ref()
            .unwrap()
            .state,
        ExtensionState::Lapsed
    );
    then_refused(
        &given,
        decide_extension("d", "window", true, local(5, 10)),
        CaseError::StepNotActive {
            step: "handle".into(),
            state: "completed".into(),
        },
    );
}

#[test]
fn a_returned_step_may_be_extended_again_in_its_new_pass() {
    let mut given = vec![
        open_extension(),
        extend("e", "b", "handle", None, local(4, 9)),
        decide_extension("d", "window", true, local(4, 10)),
        complete("c1", "a", "review", json!({}), local(4, 11)),
        complete("c2", "b", "handle", json!({}), local(4, 12)),
        complete("c3", "a", "notify", json!({}), local(4, 13)),
    ];
    given.push(command(
        "r",
        agency("a"),
        local(4, 14),
        Action::Return {
            step: "close".into(),
            to: "handle".into(),
            reason: "the reply misses the address".into(),
        },
    ));
    assert_eq!(
        when(
            &given,
            extend("e2", "b", "handle", Some("2 working days"), local(5, 9))
        )
        .unwrap(),
        ["extension_requested handle 2 working days"]
    );
}

// ---- special procedures (特别程序) ----------------------------------------------

fn suspend(id: &str, by: &str, step: &str, at: DateTime<Utc>) -> CaseCommand {
    command(
        id,
        agency(by),
        at,
        Action::Suspend {
            step: step.into(),
            procedure: "expert review".into(),
            reason: "the structure needs an engineer's opinion".into(),
        },
    )
}

fn resume(id: &str, by: &str, step: &str, at: DateTime<Utc>) -> CaseCommand {
    command(id, agency(by), at, Action::Resume { step: step.into() })
}

#[test]
fn a_special_procedure_stops_the_clock_until_the_agency_resumes() {
    assert_eq!(
        when(
            &[open_extension()],
            suspend("s", "a", "review", local(4, 9))
        )
        .unwrap(),
        ["step_suspended review expert review"]
    );
    let suspended = [open_extension(), suspend("s", "a", "review", local(4, 9))];
    // Stopped from Wednesday 4 June to Wednesday 11 June: the agency gets
    // back the whole working days after the day it stopped (5, 6, 9 and 10
    // June), which move the end of 1 July to the end of 7 July.
    assert_eq!(
        when(&suspended, resume("r", "a", "review", local(11, 9))).unwrap(),
        ["step_resumed review due 2025-07-07T16:00:00+00:00"]
    );
    // A stop over midnight wins nothing, however often it is repeated.
    let overnight = [open_extension(), suspend("s", "a", "review", local(4, 23))];
    assert_eq!(
        when(
            &overnight,
            resume(
                "r",
                "a",
                "review",
                local(4, 23) + chrono::Duration::minutes(2)
            )
        )
        .unwrap(),
        ["step_resumed review due 2025-07-01T16:00:00+00:00"]
    );
    // A stopped clock runs out for nobody: only the running steps are overdue.
    assert_eq!(
        when(
            &suspended,
            check("t", local(3, 9) + chrono::Duration::days(40))
        )
        .unwrap(),
        [
            "step_warned handle",
            "step_overdue handle",
            "step_overdue notify"
        ]
    );
    then_refused(
        &suspended,
        complete("c", "a", "review", json!({}), local(5, 9)),
        CaseError::StepNotActive {
            step: "review".into(),
            state: "suspended".into(),
        },
    );
    then_refused(
        &suspended,
        suspend("s2", "a", "review", local(5, 9)),
        CaseError::StepNotActive {
            step: "review".into(),
            state: "suspended".into(),
        },
    );
    then_refused(
        &suspended,
        extend("e", "a", "review", None, local(5, 9)),
        CaseError::StepNotActive {
            step: "review".into(),
            state: "suspended".into(),
        },
    );
    // A supplement resumes only what waits for the applicant.
    then_refused(
        &suspended,
        command(
            "sup",
            applicant(),
            local(5, 9),
            Action::Supplement {
                items: Default::default(),
                materials: vec![],
            },
        ),
        CaseError::NothingToSupplement,
    );
    then_refused(
        &suspended,
        resume("r", "b", "review", local(5, 9)),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "resume".into(),
            reason: "step `review` belongs to agency `a`".into(),
        },
    );
    // A suspended step can still be refused, which ends its clock for good.
    assert_eq!(
        when(
            &suspended,
            command(
                "x",
                agency("a"),
                local(5, 9),
                Action::Refuse {
                    step: "review".into(),
                    reason: "the appraisal found the premises unsafe".into(),
                },
            )
        )
        .unwrap()[..2],
        [
            "step_refused review",
            "step_cancelled close UpstreamRefused"
        ]
    );
}

#[test]
fn a_special_procedure_is_refused_where_the_workflow_has_none_or_nothing_is_stopped() {
    let given = [open_extension()];
    then_refused(
        &given,
        suspend("s", "b", "handle", local(4, 9)),
        CaseError::SpecialProceduresNotAllowed {
            step: "handle".into(),
        },
    );
    then_refused(
        &given,
        resume("r", "a", "review", local(4, 9)),
        CaseError::NotSuspended {
            step: "review".into(),
            state: "active".into(),
        },
    );
    let mut unnamed = suspend("s", "a", "review", local(4, 9));
    if let Action::Suspend { procedure, .. } = &mut unnamed.action {
        *procedure = "  ".into();
    }
    then_refused(&given, unnamed, CaseError::MissingProcedure);
}

// ---- deadlines ------------------------------------------------------------------

fn check(id: &str, at: DateTime<Utc>) -> CaseCommand {
    command(id, Actor::System, at, Action::CheckDeadlines)
}

#[test]
fn deadlines_warn_once_and_mark_overdue_once() {
    assert_eq!(
        when(&[open(1)], check("t1", local(4, 23))).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        when(&[open(1)], check("t1", local(5, 8))).unwrap(),
        ["step_warned intake"]
    );
    let warned = [open(1), check("t1", local(5, 8))];
    assert_eq!(
        when(&warned, check("t2", local(5, 9))).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        when(&warned, check("t2", local(6, 9))).unwrap(),
        ["step_overdue intake"]
    );
    let overdue = [open(1), check("t1", local(5, 8)), check("t2", local(6, 9))];
    assert_eq!(
        when(&overdue, check("t3", local(7, 9))).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_paused_step_is_not_overdue() {
    let given = [open(1), request_supplement(local(3, 10))];
    assert_eq!(
        when(&given, check("t", local(20, 9))).unwrap(),
        Vec::<String>::new()
    );
}

#[test]
fn a_promised_material_not_supplied_in_time_ends_the_case() {
    let opening = open_with(
        1,
        &[],
        vec![
            MaterialDeclaration {
                material: "contract".into(),
                provision: MaterialProvision::Promised {
                    deadline: local(5, 18),
                },
            },
            submitted("permit"),
        ],
    );
    assert_eq!(
        when(std::slice::from_ref(&opening), check("t", local(5, 19))).unwrap(),
        [
            "step_warned intake",
            "material_deadline_missed contract",
            "step_cancelled intake Terminated",
            "step_cancelled left Terminated",
            "step_cancelled right Terminated",
            "step_cancelled extra Terminated",
            "step_cancelled pay Terminated",
            "step_cancelled finish Terminated",
            "step_cancelled fast Terminated",
            "step_cancelled slow Terminated",
            "case_ended Terminated delivered [] not [left_licence,right_licence,certificate]",
        ]
    );
    let supplied = command(
        "sup",
        applicant(),
        local(4, 9),
        Action::Supplement {
            items: Default::default(),
            materials: vec!["contract".into()],
        },
    );
    assert!(when(
        &[opening.clone(), supplied.clone()],
        check("t", local(5, 19))
    )
    .unwrap()
    .iter()
    .all(|e| !e.contains("missed")));
}

// ---- withdraw -------------------------------------------------------------------

#[test]
fn withdrawing_cancels_the_rest_and_owes_refunds_per_payee() {
    let given = paid_and_finished();
    let withdraw = command(
        "w",
        applicant(),
        local(3, 15),
        Action::Withdraw {
            reason: "moved away".into(),
        },
    );
    assert_eq!(
        when(&given, withdraw).unwrap(),
        [
            "case_withdrawn",
            "step_cancelled finish Withdrawn",
            "step_cancelled fast Withdrawn",
            "step_cancelled slow Withdrawn",
            "refund_owed buyer tax 3000",
            "refund_owed buyer finance 8000",
            "case_ended Withdrawn delivered [left_licence,right_licence] not [certificate]",
        ]
    );
    then_refused(
        &given,
        command(
            "w",
            agency("a"),
            local(3, 15),
            Action::Withdraw { reason: "x".into() },
        ),
        CaseError::Forbidden {
            actor: "a".into(),
            action: "withdraw".into(),
            reason: "only the applicant withdraws, directly or through the window".into(),
        },
    );
    let mut withdrawn = given.clone();
    withdrawn.push(command(
        "w",
        applicant(),
        local(3, 15),
        Action::Withdraw {
            reason: "moved away".into(),
        },
    ));
    then_refused(
        &withdrawn,
        command(
            "w2",
            applicant(),
            local(3, 16),
            Action::Withdraw {
                reason: "again".into(),
            },
        ),
        CaseError::CaseEnded {
            status: "withdrawn".into(),
        },
    );
}

// ---- rate -----------------------------------------------------------------------

#[test]
fn a_case_is_rated_once_after_it_ends_and_a_bad_rating_opens_a_follow_up() {
    let rate = |id: &str, score: u8| {
        command(
            id,
            applicant(),
            local(4, 9),
            Action::Rate {
                score,
                comment: None,
            },
        )
    };
    then_refused(&[open(1)], rate("r", 5), CaseError::CaseNotEnded);
    let ended = [
        open(1),
        command(
            "w",
            applicant(),
            local(3, 15),
            Action::Withdraw {
                reason: "moved".into(),
            },
        ),
    ];
    // 15 working days from Wednesday 4 June 2025: Wednesday 25 June.
    assert_eq!(
        when(&ended, rate("r", 2)).unwrap(),
        [
            "case_rated 2",
            "follow_up_opened due 2025-06-25T16:00:00+00:00"
        ]
    );
    assert_eq!(when(&ended, rate("r", 5)).unwrap(), ["case_rated 5"]);
    then_refused(&ended, rate("r", 6), CaseError::InvalidScore { score: 6 });
    then_refused(&ended, rate("r", 0), CaseError::InvalidScore { score: 0 });
    let mut rated = ended.to_vec();
    rated.push(rate("r", 4));
    then_refused(&rated, rate("r2", 1), CaseError::AlreadyRated);
}

/// A value nested `depth` levels deep: `{"a": {"a": … 1 …}}`.
fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

#[test]
fn free_form_values_nesting_too_deep_or_too_large_are_refused_naming_the_field() {
    let given = [open(1), request_supplement(local(3, 10))];
    let supplement = |items: Value| {
        command(
            "sup",
            applicant(),
            local(9, 10),
            Action::Supplement {
                items: items.as_object().unwrap().clone(),
                materials: vec![],
            },
        )
    };
    then_refused(
        &given,
        supplement(json!({
            "contract page 2": nested(33),
            "permit": "x".repeat(70_000),
        })),
        CaseError::InvalidSupplement {
            problems: vec![
                ValueProblem {
                    field: "items.contract page 2".into(),
                    message: "nests 33 levels deep; at most 32 are accepted".into(),
                },
                ValueProblem {
                    field: "items.permit".into(),
                    message: "takes 70002 bytes as JSON; at most 65536 are accepted".into(),
                },
            ],
        },
    );
    assert!(when(
        &given,
        supplement(json!({"contract page 2": nested(32), "permit": "p"}))
    )
    .is_ok());
    let mut deep_form = open(1);
    if let Action::Open { form, .. } = &mut deep_form.action {
        form["price"] = nested(40);
    }
    then_refused(
        &[],
        deep_form,
        CaseError::InvalidApplication {
            problems: vec![ValueProblem {
                field: "form.price".into(),
                message: "nests 40 levels deep; at most 32 are accepted".into(),
            }],
        },
    );
}

#[test]
fn a_citizen_id_is_stored_with_an_upper_case_check_character_and_a_birth_no_later_than_the_application(
) {
    let mut lower = open(1);
    if let Action::Open { form, .. } = &mut lower.action {
        form["applicant_id"] = json!("11010519491231002x");
    }
    let events = history(&[lower]);
    assert_eq!(
        state(&events).form["applicant_id"],
        "11010519491231002X",
        "stored in upper case"
    );
    let mut unborn = open(1);
    if let Action::Open { form, .. } = &mut unborn.action {
        form["applicant_id"] = json!("110105999912310028");
    }
    then_refused(
        &[],
        unborn,
        CaseError::InvalidApplication {
            problems: vec![ValueProblem {
                field: "form.applicant_id".into(),
                message: "not a valid citizen ID number: the birth date 9999-12-31 is after the date of the application, 2025-06-03".into(),
            }],
        },
    );
}

const BOUNDS_BUNDLE: &str = r#"
id = "bounds"
version = 1
title = { zh = "界限", en = "Bounds" }
calendar = "cn"
effective_from = 2025-01-01
effective_until = 2026-12-31

[[field]]
name = "count"
label = { zh = "份数", en = "Count" }
type = "integer"
max = 9223372036854775807

[[field]]
name = "price"
label = { zh = "价格", en = "Price" }
type = "money"
max = 9223372036854775807

[[field]]
name = "area"
label = { zh = "面积", en = "Area" }
type = "decimal"
min = 1

[[field]]
name = "copies"
label = { zh = "副本", en = "Copies" }
type = "integer"
required = false

[[material]]
id = "contract"
name = { zh = "合同", en = "Contract" }
source = "applicant"

[[step]]
id = "pay"
title = { zh = "缴费", en = "Pay" }
agency = "tax"
kind = "payment"
rounding = "half_up"
  [[step.bill]]
  payer = "buyer"
    [[step.bill.item]]
    payee = "tax"
    label = { zh = "税", en = "Tax" }
    amount = "form.price"
    [[step.bill.item]]
    payee = "finance"
    label = { zh = "证书费", en = "Certificates" }
    amount = "8000 + 1000 * form.count"
"#;

fn bounds_library() -> Arc<Library> {
    let mut registry = Registry::default();
    registry.add_agencies(AGENCIES).unwrap();
    registry
        .add_calendar(include_str!("../../../workflows/calendars/cn.toml"))
        .unwrap();
    let definition = parse_workflow(BOUNDS_BUNDLE, &registry).unwrap();
    let library = Library::new();
    library.add_calendar(registry.calendars["cn"].clone());
    library.set_current(definition);
    Arc::new(library)
}

fn open_bounds(form: Value, materials: Vec<MaterialDeclaration>) -> CaseCommand {
    command(
        "open-bounds",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: "CB".into(),
            workflow: "bounds".into(),
            form,
            materials,
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

fn decide_bounds(command: &CaseCommand) -> Result<Vec<CaseEvent>, CaseError> {
    decide_with_library(&Case::default(), &bounds_library(), command)
}

fn problems_of(result: Result<Vec<CaseEvent>, CaseError>) -> Vec<(String, String)> {
    match result {
        Err(CaseError::InvalidApplication { problems }) => problems
            .into_iter()
            .map(|problem| (problem.field, problem.message))
            .collect(),
        other => panic!("expected a refused application, got {other:?}"),
    }
}

#[test]
fn numbers_keep_to_their_declared_or_default_bounds() {
    let refused = decide_bounds(&open_bounds(
        json!({"count": 1, "price": -1, "area": 0.5, "copies": 2_000_000}),
        vec![submitted("contract")],
    ));
    assert_eq!(
        problems_of(refused),
        [
            ("form.price".to_string(), "must not be negative".to_string()),
            (
                "form.area".to_string(),
                "must be at least 1, found 0.5".to_string()
            ),
            (
                "form.copies".to_string(),
                "must be at most 1000000, found 2000000".to_string()
            ),
        ]
    );
}

#[test]
fn a_form_no_bill_can_be_computed_for_is_refused_at_open_with_every_other_problem() {
    let refused = decide_bounds(&open_bounds(
        json!({"count": i64::MAX, "price": 100, "area": 90.0}),
        vec![],
    ));
    let problems = problems_of(refused);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0].0, "materials.contract");
    assert_eq!(problems[1].0, "bills.pay");
    assert!(
        problems[1].1.starts_with(
            "cannot be computed for this form: the amount `8000 + 1000 * form.count` could not be computed"
        ),
        "{}",
        problems[1].1
    );
}

#[test]
fn whole_amounts_are_billed_exactly_never_through_a_double() {
    // 2^53 + 1: the first whole number a double cannot hold.
    let events = decide_bounds(&open_bounds(
        json!({"count": 0, "price": 9_007_199_254_740_993_i64, "area": 90.0}),
        vec![submitted("contract")],
    ))
    .unwrap();
    let issued = events
        .iter()
        .find_map(|event| match &event.change {
            Change::BillsIssued { bills, .. } => Some(bills.clone()),
            _ => None,
        })
        .expect("the payment step started at once");
    assert_eq!(issued[0].items[0].amount, 9_007_199_254_740_993);
    assert_eq!(issued[0].total, 9_007_199_254_740_993 + 8000);
}
