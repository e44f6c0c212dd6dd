//! Ending a case: withdrawal with its refunds, and the rating after the end.

use onething_core::case::*;

use crate::support::*;

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
