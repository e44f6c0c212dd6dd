//! Special procedures (特别程序): the agency stops its step's clock until it resumes.

use chrono::{DateTime, Utc};
use onething_core::case::*;
use serde_json::json;

use crate::support::*;

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
