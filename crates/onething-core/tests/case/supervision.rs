//! Supervision notices (督办通知): electronic supervision on a late step, the
//! owning agency's answer, and every refusal.

use onething_core::case::*;

use crate::support::*;

fn supervision() -> Actor {
    Actor::Agency {
        agency: SUPERVISION_AGENCY.into(),
        operator: Some("宋监察".into()),
    }
}

fn supervise(id: &str, step: &str, at: chrono::DateTime<chrono::Utc>) -> CaseCommand {
    command(
        id,
        supervision(),
        at,
        Action::Supervise {
            step: step.into(),
            notice: "请立即办理并说明超期原因".into(),
        },
    )
}

fn answer(id: &str, by: &str, at: chrono::DateTime<chrono::Utc>) -> CaseCommand {
    command(
        id,
        agency(by),
        at,
        Action::AnswerSupervision {
            step: "intake".into(),
            answer: "已补派人员，今日办结".into(),
        },
    )
}

/// The intake step warned (day 5, 08:00) and then overdue (day 6).
fn late() -> Vec<CaseCommand> {
    vec![open(1), check("t1", local(5, 8)), check("t2", local(6, 9))]
}

#[test]
fn supervision_notices_a_late_step_and_its_agency_answers_once() {
    let given = late();
    let issued = when(&given, supervise("s1", "intake", local(6, 10))).unwrap();
    assert_eq!(issued.len(), 1);
    assert!(
        issued[0].starts_with(
            "supervision_notice_issued intake \"请立即办理并说明超期原因\" answer by "
        ),
        "{issued:?}"
    );
    let mut noticed = given.clone();
    noticed.push(supervise("s1", "intake", local(6, 10)));
    assert_eq!(
        when(&noticed, answer("a1", "a", local(6, 11))).unwrap(),
        ["supervision_answered intake \"已补派人员，今日办结\""]
    );
    let mut answered = noticed.clone();
    answered.push(answer("a1", "a", local(6, 11)));
    let file = state(&history(&answered));
    assert_eq!(file.supervision.len(), 1);
    let record = &file.supervision[0];
    assert_eq!(record.step, "intake");
    assert_eq!(record.issued_at, local(6, 10));
    assert!(record.answer_by > local(6, 10));
    assert_eq!(record.answer.as_deref(), Some("已补派人员，今日办结"));
    assert_eq!(record.answered_at, Some(local(6, 11)));
    // Answered: a second answer has nothing to answer, a new notice may follow.
    then_refused(
        &answered,
        answer("a2", "a", local(6, 12)),
        CaseError::NoSupervisionNotice {
            step: "intake".into(),
        },
    );
    assert_eq!(
        when(&answered, supervise("s2", "intake", local(6, 13)))
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_warned_step_is_late_enough_and_a_step_on_time_is_not() {
    let warned = vec![open(1), check("t1", local(5, 8))];
    assert_eq!(
        when(&warned, supervise("s1", "intake", local(5, 9)))
            .unwrap()
            .len(),
        1
    );
    then_refused(
        &[open(1)],
        supervise("s1", "intake", local(4, 9)),
        CaseError::NotLate {
            step: "intake".into(),
        },
    );
}

#[test]
fn only_supervision_issues_notices_and_one_waits_at_a_time() {
    let given = late();
    then_refused(
        &given,
        command(
            "s1",
            agency("window"),
            local(6, 10),
            Action::Supervise {
                step: "intake".into(),
                notice: "催办".into(),
            },
        ),
        CaseError::Forbidden {
            actor: "window".into(),
            action: "supervise".into(),
            reason: "supervision notices come from electronic supervision".into(),
        },
    );
    let mut noticed = given.clone();
    noticed.push(supervise("s1", "intake", local(6, 10)));
    then_refused(
        &noticed,
        supervise("s2", "intake", local(6, 11)),
        CaseError::SupervisionPending {
            step: "intake".into(),
        },
    );
    then_refused(
        &given,
        command(
            "s3",
            supervision(),
            local(6, 10),
            Action::Supervise {
                step: "intake".into(),
                notice: "  ".into(),
            },
        ),
        CaseError::MissingReason,
    );
}

#[test]
fn only_the_steps_agency_answers_and_only_a_notice_waiting() {
    let mut noticed = late();
    noticed.push(supervise("s1", "intake", local(6, 10)));
    then_refused(
        &noticed,
        answer("a1", "b", local(6, 11)),
        CaseError::Forbidden {
            actor: "b".into(),
            action: "answer a supervision notice".into(),
            reason: "step `intake` belongs to agency `a`".into(),
        },
    );
    then_refused(
        &late(),
        answer("a1", "a", local(6, 11)),
        CaseError::NoSupervisionNotice {
            step: "intake".into(),
        },
    );
}
