//! Dispatched steps (派单): the step awaits its dispatcher, which chooses a
//! lead and co-handlers from the declared set; the co-handlers report, the
//! lead completes or sends the step back (退单) to be dispatched again;
//! authorization follows the chosen agency; and every refusal.

use crate::support::*;
use onething_core::case::*;
use serde_json::json;

fn open_order() -> CaseCommand {
    command(
        "open",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: "W1".into(),
            workflow: "dispatch".into(),
            form: json!({ "complaint": "路灯不亮" }),
            materials: vec![],
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

fn dispatch(id: &str, by: &str, to: &str, with: &[&str], hour: u32) -> CaseCommand {
    command(
        id,
        agency(by),
        local(3, hour),
        Action::Dispatch {
            step: "handle".into(),
            to: to.into(),
            with: with.iter().map(|s| s.to_string()).collect(),
        },
    )
}

fn report(id: &str, by: &str, hour: u32) -> CaseCommand {
    command(
        id,
        agency(by),
        local(3, hour),
        Action::Report {
            step: "handle".into(),
            text: "已配合现场核查".into(),
            outputs: serde_json::Value::Null,
        },
    )
}

fn send_back(id: &str, by: &str, hour: u32) -> CaseCommand {
    command(
        id,
        agency(by),
        local(3, hour),
        Action::SendBack {
            step: "handle".into(),
            reason: "不属于本单位职责".into(),
            basis: Some("职责清单第12项".into()),
        },
    )
}

fn answer(id: &str, by: &str, hour: u32) -> CaseCommand {
    complete(
        id,
        by,
        "handle",
        json!({ "answer": "已修复" }),
        local(3, hour),
    )
}

fn handle(commands: &[CaseCommand]) -> StepRecord {
    state(&history(commands)).step("handle").unwrap().clone()
}

#[test]
fn a_dispatched_step_starts_awaiting_its_dispatcher_without_a_clock() {
    let opened = handle(&[open_order()]);
    assert_eq!(opened.state, StepState::Active);
    assert_eq!(opened.agency, "hotline");
    assert_eq!(opened.dispatch, None);
    assert_eq!(opened.due, None);
}

#[test]
fn the_dispatcher_dispatches_to_a_lead_and_co_handlers_and_the_clock_starts_then() {
    assert_eq!(
        when(&[open_order()], dispatch("d1", "hotline", "a", &["b"], 11)).unwrap(),
        ["step_dispatched handle to a with b due 2025-06-10T16:00:00+00:00"]
    );
    // Dispatched a day later, due a working day later: the limit counts
    // from the dispatch, not from the step's start.
    let later = command(
        "d1",
        agency("hotline"),
        local(4, 11),
        Action::Dispatch {
            step: "handle".into(),
            to: "a".into(),
            with: vec![],
        },
    );
    assert_eq!(
        when(&[open_order()], later).unwrap(),
        ["step_dispatched handle to a due 2025-06-11T16:00:00+00:00"]
    );
    let dispatched = handle(&[open_order(), dispatch("d1", "hotline", "a", &["b"], 11)]);
    assert_eq!(dispatched.agency, "a");
    assert_eq!(dispatched.activated_at, Some(local(3, 11)));
    assert_eq!(
        dispatched.dispatch,
        Some(DispatchRecord {
            dispatcher: "hotline".into(),
            lead: "a".into(),
            co_handlers: vec!["b".into()],
            reported: vec![],
        })
    );
}

#[test]
fn only_the_dispatcher_dispatches() {
    then_refused(
        &[open_order()],
        dispatch("d1", "a", "a", &[], 11),
        CaseError::Forbidden {
            actor: "a".into(),
            action: "dispatch".into(),
            reason: "step `handle` is dispatched by `hotline`".into(),
        },
    );
}

#[test]
fn a_dispatch_outside_the_set_is_refused_naming_every_agency_outside() {
    then_refused(
        &[open_order()],
        dispatch("d1", "hotline", "tax", &["b", "finance"], 11),
        CaseError::OutsideDispatchSet {
            step: "handle".into(),
            agencies: vec!["tax".into(), "finance".into()],
            allowed: vec!["a".into(), "b".into(), "c".into()],
        },
    );
}

#[test]
fn a_lead_named_again_as_co_handler_or_too_many_co_handlers_are_refused() {
    then_refused(
        &[open_order()],
        dispatch("d1", "hotline", "a", &["a"], 11),
        CaseError::NamedTwice {
            step: "handle".into(),
            agency: "a".into(),
        },
    );
    // The bundle allows two co-handlers: the count is checked first.
    then_refused(
        &[open_order()],
        dispatch("d1", "hotline", "a", &["b", "c", "b"], 11),
        CaseError::TooManyCoHandlers {
            step: "handle".into(),
            count: 3,
            allowed: 2,
        },
    );
    assert!(when(
        &[open_order()],
        dispatch("d1", "hotline", "a", &["b", "c"], 11)
    )
    .is_ok());
}

#[test]
fn a_step_with_a_fixed_agency_is_not_dispatched() {
    let handled = vec![
        open_order(),
        dispatch("d1", "hotline", "a", &[], 11),
        answer("c1", "a", 12),
    ];
    then_refused(
        &handled,
        command(
            "d2",
            agency("hotline"),
            local(3, 13),
            Action::Dispatch {
                step: "review".into(),
                to: "a".into(),
                with: vec![],
            },
        ),
        CaseError::NotDispatchable {
            step: "review".into(),
            agency: "hotline".into(),
        },
    );
}

#[test]
fn a_dispatched_step_is_not_dispatched_again_until_it_is_sent_back() {
    then_refused(
        &[open_order(), dispatch("d1", "hotline", "a", &[], 11)],
        dispatch("d2", "hotline", "b", &[], 12),
        CaseError::AlreadyDispatched {
            step: "handle".into(),
            lead: "a".into(),
        },
    );
}

#[test]
fn nobody_completes_a_step_before_it_is_dispatched() {
    for by in ["hotline", "a"] {
        then_refused(
            &[open_order()],
            answer("c1", by, 11),
            CaseError::AwaitingDispatch {
                step: "handle".into(),
                dispatcher: "hotline".into(),
            },
        );
    }
}

#[test]
fn only_the_chosen_lead_completes() {
    let dispatched = vec![open_order(), dispatch("d1", "hotline", "a", &[], 11)];
    then_refused(
        &dispatched,
        answer("c1", "c", 12),
        CaseError::Forbidden {
            actor: "c".into(),
            action: "complete".into(),
            reason: "step `handle` is dispatched to `a`".into(),
        },
    );
    then_refused(
        &dispatched,
        answer("c1", "hotline", 12),
        CaseError::Forbidden {
            actor: "hotline".into(),
            action: "complete".into(),
            reason: "step `handle` is dispatched to `a`".into(),
        },
    );
    assert_eq!(
        when(&dispatched, answer("c1", "a", 12)).unwrap(),
        ["step_completed handle", "step_activated review"]
    );
}

#[test]
fn a_co_handler_reports_and_may_not_complete() {
    let dispatched = vec![open_order(), dispatch("d1", "hotline", "a", &["b"], 11)];
    then_refused(
        &dispatched,
        answer("c1", "b", 12),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "complete".into(),
            reason: "`b` co-handles step `handle` and reports its part; only its lead `a` may complete it".into(),
        },
    );
    assert_eq!(
        when(&dispatched, report("r1", "b", 12)).unwrap(),
        ["co_handler_reported handle b"]
    );
}

#[test]
fn the_lead_completes_only_once_every_co_handler_reported_and_the_error_names_the_missing() {
    let dispatched = vec![
        open_order(),
        dispatch("d1", "hotline", "a", &["b", "c"], 11),
    ];
    then_refused(
        &dispatched,
        answer("c1", "a", 12),
        CaseError::ReportsMissing {
            step: "handle".into(),
            missing: vec!["b".into(), "c".into()],
        },
    );
    let one_reported = [dispatched.clone(), vec![report("r1", "c", 12)]].concat();
    then_refused(
        &one_reported,
        answer("c1", "a", 13),
        CaseError::ReportsMissing {
            step: "handle".into(),
            missing: vec!["b".into()],
        },
    );
    let all_reported = [one_reported, vec![report("r2", "b", 13)]].concat();
    assert_eq!(
        when(&all_reported, answer("c1", "a", 14)).unwrap(),
        ["step_completed handle", "step_activated review"]
    );
}

#[test]
fn reports_are_made_by_co_handlers_once_with_a_text() {
    let dispatched = vec![open_order(), dispatch("d1", "hotline", "a", &["b"], 11)];
    for by in ["a", "c"] {
        then_refused(
            &dispatched,
            report("r1", by, 12),
            CaseError::NotACoHandler {
                step: "handle".into(),
                agency: by.into(),
                lead: Some("a".into()),
            },
        );
    }
    let reported = [dispatched.clone(), vec![report("r1", "b", 12)]].concat();
    then_refused(
        &reported,
        report("r2", "b", 13),
        CaseError::AlreadyReported {
            step: "handle".into(),
            agency: "b".into(),
        },
    );
    then_refused(
        &dispatched,
        command(
            "r1",
            agency("b"),
            local(3, 12),
            Action::Report {
                step: "handle".into(),
                text: "  ".into(),
                outputs: serde_json::Value::Null,
            },
        ),
        CaseError::EmptyReport,
    );
    then_refused(
        &[open_order()],
        report("r1", "b", 12),
        CaseError::AwaitingDispatch {
            step: "handle".into(),
            dispatcher: "hotline".into(),
        },
    );
}

#[test]
fn only_the_lead_sends_back_and_with_a_reason() {
    let dispatched = vec![open_order(), dispatch("d1", "hotline", "a", &["b"], 11)];
    then_refused(
        &dispatched,
        send_back("s1", "b", 12),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "send back".into(),
            reason: "`b` co-handles step `handle` and reports its part; only its lead `a` may send back it".into(),
        },
    );
    then_refused(
        &dispatched,
        command(
            "s1",
            agency("a"),
            local(3, 12),
            Action::SendBack {
                step: "handle".into(),
                reason: " ".into(),
                basis: None,
            },
        ),
        CaseError::MissingReason,
    );
    assert_eq!(
        when(&dispatched, send_back("s1", "a", 12)).unwrap(),
        ["step_sent_back handle by a to hotline"]
    );
}

#[test]
fn a_step_sent_back_is_dispatched_again_and_authorization_follows_the_new_lead() {
    let sent_back = vec![
        open_order(),
        dispatch("d1", "hotline", "a", &["b"], 11),
        report("r1", "b", 12),
        send_back("s1", "a", 13),
    ];
    let back = handle(&sent_back);
    assert_eq!(back.agency, "hotline");
    assert_eq!(back.dispatch, None);
    assert_eq!(back.due, None);
    assert_eq!(back.sent_back, 1);
    // Nobody handles it until it is dispatched again.
    then_refused(
        &sent_back,
        answer("c1", "a", 14),
        CaseError::AwaitingDispatch {
            step: "handle".into(),
            dispatcher: "hotline".into(),
        },
    );
    let redispatched = [sent_back, vec![dispatch("d2", "hotline", "c", &["b"], 14)]].concat();
    assert_eq!(handle(&redispatched).agency, "c");
    // The old lead may no longer act; the report of the first dispatch no
    // longer counts.
    then_refused(
        &redispatched,
        answer("c1", "a", 15),
        CaseError::Forbidden {
            actor: "a".into(),
            action: "complete".into(),
            reason: "step `handle` is dispatched to `c`".into(),
        },
    );
    then_refused(
        &redispatched,
        answer("c1", "c", 15),
        CaseError::ReportsMissing {
            step: "handle".into(),
            missing: vec!["b".into()],
        },
    );
    let done = [
        redispatched,
        vec![report("r2", "b", 15), answer("c1", "c", 16)],
    ]
    .concat();
    let file = state(&history(&done));
    assert_eq!(file.step("handle").unwrap().state, StepState::Completed);
    assert_eq!(file.step("handle").unwrap().agency, "c");
}

#[test]
fn the_lead_asks_for_a_supplement_and_the_co_handler_may_not() {
    let dispatched = vec![open_order(), dispatch("d1", "hotline", "a", &["b"], 11)];
    let asking = |by: &str| {
        command(
            "s1",
            agency(by),
            local(3, 12),
            Action::RequestSupplement {
                step: "handle".into(),
                items: vec!["照片".into()],
                reason: "需现场照片".into(),
            },
        )
    };
    assert!(matches!(
        when(&dispatched, asking("b")),
        Err(CaseError::Forbidden { .. })
    ));
    assert_eq!(
        when(&dispatched, asking("a")).unwrap(),
        ["supplement_requested handle 照片"]
    );
}

#[test]
fn a_return_to_the_dispatched_step_sends_it_back_to_its_dispatcher() {
    let reviewed = vec![
        open_order(),
        dispatch("d1", "hotline", "a", &[], 11),
        answer("c1", "a", 12),
        command(
            "ret",
            agency("hotline"),
            local(3, 13),
            Action::Return {
                step: "review".into(),
                to: "handle".into(),
                reason: "答复不完整".into(),
            },
        ),
    ];
    let again = handle(&reviewed);
    assert_eq!(again.state, StepState::Active);
    assert_eq!(again.agency, "hotline");
    assert_eq!(again.dispatch, None);
    assert_eq!(again.due, None);
    assert!(when(&reviewed, dispatch("d2", "hotline", "b", &[], 14)).is_ok());
}

#[test]
fn every_dispatch_event_is_narrated_in_both_languages() {
    let done = vec![
        open_order(),
        dispatch("d1", "hotline", "a", &["b"], 11),
        report("r1", "b", 12),
        send_back("s1", "a", 13),
    ];
    let library = library();
    let definition = library.current_at("dispatch", local(3, 9)).unwrap();
    let lines: Vec<onething_core::localized::Localized> = history(&done)
        .iter()
        .map(|event| describe(&event.change, Some(&definition), None))
        .collect();
    let zh: Vec<&str> = lines.iter().map(|line| line.zh.as_str()).collect();
    assert!(
        zh.iter()
            .any(|l| l.starts_with("派单至 甲局，协办单位 乙局：办理")),
        "{zh:?}"
    );
    assert!(zh.iter().any(|l| l.starts_with("协办意见：乙局")), "{zh:?}");
    assert!(
        zh.iter()
            .any(|l| l
                .contains("退单：甲局 将办理退回 热线（不属于本单位职责，依据：职责清单第12项）")),
        "{zh:?}"
    );
}
