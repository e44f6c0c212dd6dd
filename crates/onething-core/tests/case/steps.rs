//! What the owning agency does with its step: complete it (outputs
//! checked), return the case to an earlier step, or refuse.

use onething_core::case::*;
use onething_core::value_type::ValueProblem;
use serde_json::json;

use crate::support::*;

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

#[test]
fn an_agency_the_bundle_does_not_name_is_told_so_with_the_agencies_it_names() {
    then_refused(
        &[open(1)],
        complete(
            "c",
            "UNKNOWN",
            "intake",
            json!({ "number": "N1" }),
            local(3, 10),
        ),
        CaseError::UnknownAgency {
            agency: "UNKNOWN".into(),
            workflow: "test".into(),
            known: vec!["a".into(), "b".into(), "finance".into(), "tax".into()],
        },
    );
}

fn open_choice_return() -> CaseCommand {
    command(
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
    )
}

fn return_close(id: &str, to: &str, at: chrono::DateTime<chrono::Utc>) -> CaseCommand {
    command(
        id,
        agency("a"),
        at,
        Action::Return {
            step: "close".into(),
            to: to.into(),
            reason: "redo".into(),
        },
    )
}

#[test]
fn a_step_that_was_skipped_is_no_return_target() {
    // `fast` ran, so `slow` was skipped: returning to it would only have run
    // `fast` again and given `close` a new clock.
    let given = [
        open_choice_return(),
        complete(
            "c-start",
            "a",
            "start",
            json!({ "route": "fast" }),
            local(3, 10),
        ),
        complete("c-fast", "a", "fast", json!({}), local(3, 11)),
    ];
    then_refused(
        &given,
        return_close("r", "slow", local(3, 12)),
        CaseError::ReturnToSkippedStep {
            step: "close".into(),
            to: "slow".into(),
        },
    );
}

#[test]
fn an_agency_returning_to_its_own_step_keeps_the_clock_of_its_returning_step() {
    // `close` (agency a, 2 working days from Tuesday 3 June 11:00: due at the
    // end of Thursday 5 June) goes back to `start`, also a's.
    let given = [
        open_choice_return(),
        complete(
            "c-start",
            "a",
            "start",
            json!({ "route": "fast" }),
            local(3, 10),
        ),
        complete("c-fast", "a", "fast", json!({}), local(3, 11)),
        return_close("r", "start", local(4, 9)),
        complete(
            "c-start-2",
            "a",
            "start",
            json!({ "route": "fast" }),
            local(4, 10),
        ),
    ];
    // Agency a alone brought the case back to `close`: its clock goes on
    // where it stood, it does not start again.
    assert_eq!(
        when(
            &given,
            complete("c-fast-2", "a", "fast", json!({}), local(4, 11))
        )
        .unwrap(),
        [
            "step_completed fast",
            "step_activated close due 2025-06-05T16:00:00+00:00",
        ]
    );
    // When another agency's step had to be done again (`slow`, agency b),
    // `close` starts a new clock.
    let mut other = given[..4].to_vec();
    other.push(complete(
        "c-start-2",
        "a",
        "start",
        json!({ "route": "slow" }),
        local(4, 10),
    ));
    assert_eq!(
        when(
            &other,
            complete("c-slow", "b", "slow", json!({}), local(4, 11))
        )
        .unwrap(),
        [
            "step_completed slow",
            "step_activated close due 2025-06-06T16:00:00+00:00",
        ]
    );
}
