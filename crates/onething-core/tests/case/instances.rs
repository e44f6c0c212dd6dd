//! Multi-instance steps (`data_instances_bundle.toml`): one permit per
//! vehicle in parallel, each registered in turn, then one archive step that
//! receives the lists. Each instance has its own task, clock, inputs and
//! outputs; the step is settled when every instance is; returning,
//! refusing and supplementing work on one instance.

use onething_core::case::*;
use serde_json::{json, Value};

use crate::support::*;

fn open_vehicles(plates: Value) -> CaseCommand {
    open_bundle(
        "instances",
        "V1",
        json!({ "applicant_id": APPLICANT_ID }),
        json!({ "plates": plates }),
        vec![],
    )
}

fn two_vehicles() -> CaseCommand {
    open_vehicles(json!(["闽A12345", "闽A67890"]))
}

fn permit(number: usize, permit_number: &str) -> CaseCommand {
    complete(
        &format!("c-permit-{number}-{permit_number}"),
        "a",
        &format!("permit.{number}"),
        json!({ "permit_number": permit_number }),
        local(4, 10),
    )
}

fn register(number: usize, record: &str) -> CaseCommand {
    complete(
        &format!("c-register-{number}"),
        "b",
        &format!("register.{number}"),
        json!({ "record": record }),
        local(5, 10),
    )
}

fn refuse(step: &str) -> CaseCommand {
    command(
        &format!("r-{step}"),
        agency("a"),
        local(4, 9),
        Action::Refuse {
            step: step.into(),
            reason: "the vehicle failed its inspection".into(),
        },
    )
}

fn inputs_of(events: &[CaseEvent], step: &str) -> Vec<(String, Value)> {
    events
        .iter()
        .filter_map(|event| match &event.change {
            Change::StepActivated {
                step: activated,
                inputs,
                ..
            } if activated == step => Some(inputs.clone()),
            _ => None,
        })
        .next_back()
        .expect("the instance was activated")
        .into_iter()
        .map(|input| (input.name, input.value))
        .collect()
}

#[test]
fn a_parallel_step_starts_one_task_per_item_each_with_its_own_clock() {
    let events = when(&[], two_vehicles()).unwrap();
    assert_eq!(
        events,
        [
            "case_opened",
            r#"step_instances_started permit ["闽A12345","闽A67890"]"#,
            "step_activated permit.1 due 2025-06-10T16:00:00+00:00",
            "step_activated permit.2 due 2025-06-10T16:00:00+00:00",
        ]
    );
}

#[test]
fn each_instance_receives_its_item_and_index() {
    let events = history(&[two_vehicles()]);
    assert_eq!(
        inputs_of(&events, "permit.2"),
        [
            ("plate".to_string(), json!("闽A67890")),
            ("position".to_string(), json!(2)),
        ]
    );
    let file = state(&events);
    let instances: Vec<(&str, &str, Option<&Value>)> = file
        .instances_of("permit")
        .map(|i| (i.id.as_str(), i.state.name(), i.item.as_ref()))
        .collect();
    assert_eq!(
        instances,
        [
            ("permit.1", "active", Some(&json!("闽A12345"))),
            ("permit.2", "active", Some(&json!("闽A67890"))),
        ]
    );
    assert_eq!(file.step("permit").unwrap().instances, 2);
}

#[test]
fn the_join_waits_until_every_instance_is_settled() {
    let events = when(&[two_vehicles()], permit(1, "P-1")).unwrap();
    assert_eq!(events, ["step_completed permit.1"]);
}

#[test]
fn the_last_instance_completes_the_step_with_the_list_of_outputs() {
    let events = when(&[two_vehicles(), permit(1, "P-1")], permit(2, "P-2")).unwrap();
    assert_eq!(
        events,
        [
            "step_completed permit.2",
            "step_completed permit",
            r#"step_instances_started register ["P-1","P-2"]"#,
            "step_activated register.1 due 2025-06-06T16:00:00+00:00",
        ]
    );
    let file = state(&history(&[
        two_vehicles(),
        permit(1, "P-1"),
        permit(2, "P-2"),
    ]));
    assert_eq!(
        file.step("permit").unwrap().outputs,
        Some(json!({ "permit_number": ["P-1", "P-2"] }))
    );
}

#[test]
fn a_sequential_step_starts_the_next_instance_when_one_is_completed() {
    let given = [two_vehicles(), permit(1, "P-1"), permit(2, "P-2")];
    let events = when(&given, register(1, "R-1")).unwrap();
    assert_eq!(
        events,
        [
            "step_completed register.1",
            "step_activated register.2 due 2025-06-09T16:00:00+00:00",
        ]
    );
    let events = history(&[
        two_vehicles(),
        permit(1, "P-1"),
        permit(2, "P-2"),
        register(1, "R-1"),
    ]);
    assert_eq!(
        inputs_of(&events, "register.2"),
        [("permit_number".to_string(), json!("P-2"))]
    );
}

#[test]
fn a_later_step_receives_the_lists_of_the_instances_outputs() {
    let given = [
        two_vehicles(),
        permit(1, "P-1"),
        permit(2, "P-2"),
        register(1, "R-1"),
        register(2, "R-2"),
    ];
    let events = history(&given);
    assert_eq!(
        inputs_of(&events, "archive"),
        [
            ("records".to_string(), json!(["R-1", "R-2"])),
            ("permits".to_string(), json!(2)),
        ]
    );
}

#[test]
fn an_empty_list_skips_the_step_with_its_reason() {
    let events = when(&[], open_vehicles(json!([]))).unwrap();
    assert_eq!(
        events,
        [
            "case_opened",
            "step_skipped permit NoItems",
            "step_skipped register UpstreamSkipped",
            "step_skipped archive UpstreamSkipped",
            "case_ended Completed delivered [] not []",
        ]
    );
    let events = when(&[], open_vehicles(Value::Null)).unwrap();
    assert_eq!(events[1], "step_skipped permit NoItems");
}

#[test]
fn a_refused_instance_settles_only_itself_and_is_left_out_of_the_outputs() {
    let events = when(&[two_vehicles()], refuse("permit.1")).unwrap();
    assert_eq!(events, ["step_refused permit.1"]);
    let given = [two_vehicles(), refuse("permit.1")];
    let events = when(&given, permit(2, "P-2")).unwrap();
    assert_eq!(
        events,
        [
            "step_completed permit.2",
            "step_completed permit",
            r#"step_instances_started register ["P-2"]"#,
            "step_activated register.1 due 2025-06-06T16:00:00+00:00",
        ]
    );
}

#[test]
fn every_instance_refused_refuses_the_step_and_cancels_what_follows() {
    let given = [two_vehicles(), refuse("permit.1")];
    let events = when(&given, refuse("permit.2")).unwrap();
    assert_eq!(
        events,
        [
            "step_refused permit.2",
            "step_refused permit",
            "step_cancelled register UpstreamRefused",
            "step_cancelled archive UpstreamRefused",
            "case_ended PartiallyCompleted delivered [] not []",
        ]
    );
}

#[test]
fn a_supplement_pauses_one_instance_only() {
    let ask = command(
        "s-2",
        agency("a"),
        local(4, 9),
        Action::RequestSupplement {
            step: "permit.2".into(),
            items: vec!["inspection report".into()],
            reason: "the report is missing".into(),
        },
    );
    let events = when(&[two_vehicles()], ask.clone()).unwrap();
    assert_eq!(events, ["supplement_requested permit.2 inspection report"]);
    let file = state(&history(&[two_vehicles(), ask.clone()]));
    assert_eq!(file.step("permit.1").unwrap().state, StepState::Active);
    assert_eq!(file.step("permit.2").unwrap().state, StepState::Paused);
    let supplied = command(
        "supplied",
        applicant(),
        local(5, 9),
        Action::Supplement {
            items: serde_json::Map::from_iter([(
                "inspection report".to_string(),
                json!("report.pdf"),
            )]),
            materials: vec![],
        },
    );
    let events = when(&[two_vehicles(), ask], supplied).unwrap();
    assert_eq!(
        events,
        ["supplement_provided permit.2 due 2025-06-11T16:00:00+00:00"]
    );
}

#[test]
fn a_return_to_one_instance_sends_back_only_it_and_the_steps_after() {
    let given = [two_vehicles(), permit(1, "P-1"), permit(2, "P-2")];
    let back = command(
        "back",
        agency("b"),
        local(5, 11),
        Action::Return {
            step: "register.1".into(),
            to: "permit.2".into(),
            reason: "the permit number is wrong".into(),
        },
    );
    let events = when(&given, back.clone()).unwrap();
    assert_eq!(
        events,
        [
            "step_returned register.1->permit.2 reset permit.2,register",
            "step_activated permit.2 due 2025-06-12T16:00:00+00:00",
        ]
    );
    let mut again = given.to_vec();
    again.push(back);
    let file = state(&history(&again));
    assert_eq!(file.step("permit").unwrap().state, StepState::Active);
    assert_eq!(file.step("permit.1").unwrap().state, StepState::Completed);
    assert!(file.step("register.1").is_none());
    let corrected = complete(
        "c-permit-2-again",
        "a",
        "permit.2",
        json!({ "permit_number": "P-2b" }),
        local(5, 12),
    );
    let events = when(&again, corrected).unwrap();
    assert_eq!(
        events,
        [
            "step_completed permit.2",
            "step_completed permit",
            r#"step_instances_started register ["P-1","P-2b"]"#,
            "step_activated register.1 due 2025-06-09T16:00:00+00:00",
        ]
    );
}

#[test]
fn it_should_not_return_to_a_multi_instance_step_as_a_whole() {
    let given = [two_vehicles(), permit(1, "P-1"), permit(2, "P-2")];
    then_refused(
        &given,
        command(
            "back",
            agency("b"),
            local(5, 11),
            Action::Return {
                step: "register.1".into(),
                to: "permit".into(),
                reason: "wrong".into(),
            },
        ),
        CaseError::InstanceRequired {
            step: "permit".into(),
            instances: vec!["permit.1".into(), "permit.2".into()],
        },
    );
}

#[test]
fn it_should_not_complete_an_instance_that_does_not_exist() {
    then_refused(
        &[two_vehicles()],
        permit(3, "P-3"),
        CaseError::UnknownInstance {
            step: "permit".into(),
            instance: "permit.3".into(),
            instances: vec!["permit.1".into(), "permit.2".into()],
        },
    );
    then_refused(
        &[two_vehicles()],
        complete(
            "c0",
            "b",
            "register.1",
            json!({ "record": "R" }),
            local(4, 10),
        ),
        CaseError::UnknownInstance {
            step: "register".into(),
            instance: "register.1".into(),
            instances: vec![],
        },
    );
}

#[test]
fn it_should_not_complete_a_multi_instance_step_as_a_whole() {
    then_refused(
        &[two_vehicles()],
        complete(
            "c",
            "a",
            "permit",
            json!({ "permit_number": "P" }),
            local(4, 10),
        ),
        CaseError::InstanceRequired {
            step: "permit".into(),
            instances: vec!["permit.1".into(), "permit.2".into()],
        },
    );
}

#[test]
fn it_should_not_let_another_agency_complete_an_instance() {
    then_refused(
        &[two_vehicles()],
        complete(
            "c",
            "b",
            "permit.1",
            json!({ "permit_number": "P" }),
            local(4, 10),
        ),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "complete".into(),
            reason: "step `permit.1` belongs to agency `a`".into(),
        },
    );
}

#[test]
fn it_should_not_complete_an_instance_twice() {
    then_refused(
        &[two_vehicles(), permit(1, "P-1")],
        permit(1, "P-1 again"),
        CaseError::StepNotActive {
            step: "permit.1".into(),
            state: "completed".into(),
        },
    );
}

#[test]
fn the_deadline_check_marks_each_instance_apart() {
    let given = [two_vehicles(), permit(1, "P-1")];
    let events = when(&given, check("late", local(11, 9))).unwrap();
    assert_eq!(events, ["step_overdue permit.2"]);
}

#[test]
fn instances_sent_back_by_their_own_agency_go_on_with_their_clocks() {
    let open = open_bundle(
        "instances-own-return",
        "V2",
        json!({ "applicant_id": APPLICANT_ID }),
        json!({ "plates": ["闽A12345", "闽A67890"] }),
        vec![],
    );
    let inspected = complete("c-inspect", "a", "inspect", json!({}), local(3, 10));
    let started = when(std::slice::from_ref(&open), inspected.clone()).unwrap();
    assert_eq!(
        started[2..],
        [
            "step_activated permit.1 due 2025-06-10T16:00:00+00:00",
            "step_activated permit.2 due 2025-06-10T16:00:00+00:00",
        ]
    );
    let back = command(
        "back-to-inspect",
        agency("a"),
        local(6, 10),
        Action::Return {
            step: "permit.2".into(),
            to: "inspect".into(),
            reason: "the second vehicle was not inspected".into(),
        },
    );
    let inspected_again = complete("c-inspect-again", "a", "inspect", json!({}), local(9, 10));
    let given = [open, inspected, back];
    let events = when(&given, inspected_again).unwrap();
    // Three days later, the same due times: no agency gives its own step
    // more time by returning the case to itself.
    assert_eq!(
        events[2..],
        [
            "step_activated permit.1 due 2025-06-10T16:00:00+00:00",
            "step_activated permit.2 due 2025-06-10T16:00:00+00:00",
        ]
    );
}
