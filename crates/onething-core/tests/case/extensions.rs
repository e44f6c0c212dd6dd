//! Extensions (延期): once per pass, up to what the workflow allows, approved
//! where it says so.

use chrono::{DateTime, Utc};
use onething_core::case::*;
use serde_json::json;

use crate::support::*;

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
    let events: Vec<String> = history(&extended).iter().map(one_line).collect();
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
