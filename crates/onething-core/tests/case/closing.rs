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
                aspects: Default::default(),
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

#[test]
fn the_scheduler_records_the_default_rating_only_once_the_period_is_over() {
    let by_default = |id: &str, actor: Actor, at, score: u8| {
        command(
            id,
            actor,
            at,
            Action::RateByDefault {
                score,
                after_days: 7,
            },
        )
    };
    // Ended on 3 June 2025 at 15:00 (local): the period runs 7 natural days.
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
    then_refused(
        &[open(1)],
        by_default("d", Actor::System, local(20, 9), 3),
        CaseError::CaseNotEnded,
    );
    then_refused(
        &ended,
        by_default("d", Actor::System, local(10, 14), 3),
        CaseError::RatingPeriodNotOver {
            until: local(10, 15),
        },
    );
    then_refused(
        &ended,
        by_default("d", agency("a"), local(10, 15), 3),
        CaseError::Forbidden {
            actor: "a".into(),
            action: "rate_by_default".into(),
            reason: "only the scheduler records the default rating".into(),
        },
    );
    then_refused(
        &ended,
        by_default("d", Actor::System, local(10, 15), 6),
        CaseError::InvalidScore { score: 6 },
    );
    assert_eq!(
        when(&ended, by_default("d", Actor::System, local(10, 15), 3)).unwrap(),
        ["case_rated 3 by default"]
    );
    // A default as bad as 2 is followed up like the applicant's own.
    assert_eq!(
        when(&ended, by_default("d", Actor::System, local(11, 9), 2)).unwrap(),
        [
            "case_rated 2 by default",
            "follow_up_opened due 2025-07-02T16:00:00+00:00"
        ]
    );
    // The applicant rated in time: no default, and no second rating after it.
    let mut rated = ended.to_vec();
    rated.push(command(
        "r",
        applicant(),
        local(4, 9),
        Action::Rate {
            score: 5,
            comment: None,
            aspects: Default::default(),
        },
    ));
    then_refused(
        &rated,
        by_default("d", Actor::System, local(20, 9), 3),
        CaseError::AlreadyRated,
    );
    let mut defaulted = ended.to_vec();
    defaulted.push(by_default("d", Actor::System, local(10, 15), 3));
    then_refused(
        &defaulted,
        command(
            "r",
            applicant(),
            local(11, 9),
            Action::Rate {
                score: 1,
                comment: None,
                aspects: Default::default(),
            },
        ),
        CaseError::AlreadyRated,
    );
}

#[test]
fn the_window_records_the_follow_up_of_a_bad_rating_once() {
    let ended = vec![
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
    let rate = |score: u8| {
        command(
            "r",
            applicant(),
            local(4, 9),
            Action::Rate {
                score,
                comment: Some("too slow".into()),
                aspects: Default::default(),
            },
        )
    };
    let record = |id: &str, by: Actor, result: &str| {
        command(
            id,
            by,
            local(5, 9),
            Action::RecordFollowUp {
                result: result.into(),
                resolved: true,
            },
        )
    };
    let mut bad = ended.clone();
    bad.push(rate(1));
    assert_eq!(
        when(&bad, record("f", agency("window"), "called back; fixed")).unwrap(),
        ["follow_up_recorded true"]
    );
    then_refused(
        &bad,
        record("f", agency("a"), "fixed"),
        CaseError::Forbidden {
            actor: "a".into(),
            action: "record_follow_up".into(),
            reason: "the follow-up of a rating is recorded by the window".into(),
        },
    );
    then_refused(
        &bad,
        record("f", agency("window"), " "),
        CaseError::MissingReason,
    );
    let mut done = bad.clone();
    done.push(record("f", agency("window"), "called back; fixed"));
    let rating = state(&history(&done)).rating.unwrap();
    let follow_up = rating.follow_up.unwrap();
    assert_eq!(
        (follow_up.result.as_str(), follow_up.resolved, follow_up.at),
        ("called back; fixed", true, local(5, 9))
    );
    then_refused(
        &done,
        record("f2", agency("window"), "again"),
        CaseError::NoFollowUp,
    );
    // A good rating opens no follow-up to record.
    let mut good = ended.clone();
    good.push(rate(5));
    then_refused(
        &good,
        record("f", agency("window"), "none"),
        CaseError::NoFollowUp,
    );
}

#[test]
fn a_rating_answers_the_national_questions_and_every_wrong_answer_is_told_at_once() {
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
    let rate = |aspects: &[(&str, u8)]| {
        command(
            "r",
            applicant(),
            local(4, 9),
            Action::Rate {
                score: 4,
                comment: None,
                aspects: aspects.iter().map(|(a, v)| (a.to_string(), *v)).collect(),
            },
        )
    };
    let answered = rate(&[("efficiency", 5), ("attitude", 3), ("convenience", 4)]);
    assert_eq!(when(&ended, answered.clone()).unwrap(), ["case_rated 4"]);
    let mut rated = ended.to_vec();
    rated.push(answered);
    let aspects = state(&history(&rated)).rating.unwrap().aspects;
    assert_eq!(aspects.get("attitude"), Some(&3));
    assert_eq!(aspects.len(), 3);
    then_refused(
        &ended,
        rate(&[("efficiency", 6), ("speed", 5), ("attitude", 0)]),
        CaseError::InvalidRating {
            problems: vec![
                "`attitude` is from 1 to 5, not 0".into(),
                "`efficiency` is from 1 to 5, not 6".into(),
                "`speed` is not a question of the rating (one of efficiency, attitude, convenience)".into(),
            ],
        },
    );
}
