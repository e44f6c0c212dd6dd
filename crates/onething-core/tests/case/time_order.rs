//! Time runs one way in a case: a command dated before the case's last event
//! is refused, whoever sends it; the scheduler's own commands are taken at
//! the later of their time and the last event's.

use onething_core::case::*;
use serde_json::json;

use crate::support::*;

#[test]
fn a_command_dated_before_the_case_s_last_event_is_refused_naming_both_times() {
    // Before the last event (intake completed at 10:00).
    then_refused(
        &intake_done(),
        complete("c-left", "a", "left", json!({}), local(3, 9)),
        CaseError::BeforeLastEvent {
            at: local(3, 9),
            last_event_at: local(3, 10),
        },
    );
    // Before the opening itself.
    then_refused(
        &[open(1)],
        complete("c", "a", "intake", json!({ "number": "N1" }), local(2, 9)),
        CaseError::BeforeLastEvent {
            at: local(2, 9),
            last_event_at: local(3, 9),
        },
    );
    // At the same time as the last event is in order.
    assert!(when(
        &intake_done(),
        complete("c-left", "a", "left", json!({}), local(3, 10))
    )
    .is_ok());
}

#[test]
fn a_deadline_check_dated_before_the_last_event_is_taken_at_the_last_event() {
    // `handle` (3 working days from Tuesday 3 June) is warned from the end of
    // Thursday 5 June; `notify` was completed on Friday 6 June at 09:00.
    let given = [
        open_extension(),
        complete("c-notify", "a", "notify", json!({}), local(6, 9)),
    ];
    let library = library();
    let mut case = Case::default();
    for event in history(&given) {
        case.apply_event(event);
    }
    // A scheduler whose clock is behind the case's last event.
    let events = decide_with_library(&case, &library, &check("t", local(4, 9))).unwrap();
    assert_eq!(
        events.iter().map(one_line).collect::<Vec<_>>(),
        ["step_warned handle"]
    );
    assert!(events.iter().all(|event| event.at == local(6, 9)));
}
