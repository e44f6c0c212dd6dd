//! What runs next: steps fan out, skip on opt-in or a false condition,
//! wait at a join, and exactly one branch of a choice runs.

use onething_core::case::*;
use serde_json::json;

use crate::support::*;

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

fn open_join(price: i64) -> CaseCommand {
    command(
        "open",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: "C1".into(),
            workflow: "join".into(),
            form: serde_json::json!({ "applicant_id": APPLICANT_ID, "price": price }),
            materials: vec![],
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

#[test]
fn a_step_joining_when_settled_runs_after_a_skipped_step_and_the_default_is_skipped_with_it() {
    let events = when(&[], open_join(50_000)).unwrap();
    assert_eq!(
        events,
        [
            "case_opened",
            "step_skipped appraise ConditionFalse",
            "step_activated register",
            "step_skipped review_appraisal UpstreamSkipped",
        ]
    );
}

#[test]
fn a_step_joining_when_settled_waits_for_a_step_that_runs() {
    let events = when(&[], open_join(200_000_000)).unwrap();
    assert_eq!(events, ["case_opened", "step_activated appraise"]);
    let given = vec![open_join(200_000_000)];
    let done = when(
        &given,
        complete(
            "c-appraise",
            "a",
            "appraise",
            serde_json::json!({}),
            local(3, 10),
        ),
    )
    .unwrap();
    assert_eq!(
        done,
        [
            "step_completed appraise",
            "step_activated register",
            "step_activated review_appraisal",
        ]
    );
}
