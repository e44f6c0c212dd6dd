//! Supplements (补正): the clock stops until the applicant supplies
//! everything asked for.

use onething_core::case::*;
use serde_json::json;

use crate::support::*;

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
