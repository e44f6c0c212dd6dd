//! Claiming a task (认领): a named person of the step's agency takes a
//! started step on; another person re-assigns it; a new pass starts
//! unclaimed; other commands never claim; and every refusal.

use crate::support::*;
use onething_core::case::*;

fn officer(agency: &str, name: &str) -> Actor {
    Actor::Agency {
        agency: agency.into(),
        operator: Some(name.into()),
    }
}

fn claim(id: &str, by: Actor, step: &str, at: chrono::DateTime<chrono::Utc>) -> CaseCommand {
    command(id, by, at, Action::ClaimTask { step: step.into() })
}

fn claimed_by(commands: &[CaseCommand], step: &str) -> Option<String> {
    state(&history(commands))
        .step(step)
        .expect("a step of the bundle")
        .claimed_by
        .clone()
}

#[test]
fn a_named_officer_of_the_steps_agency_claims_its_started_task() {
    let given = vec![open(1)];
    assert_eq!(claimed_by(&given, "intake"), None);
    let claiming = claim("k1", officer("a", "张三"), "intake", local(3, 10));
    assert_eq!(
        when(&given, claiming.clone()).unwrap(),
        ["task_claimed intake 张三"]
    );
    let claimed = [given, vec![claiming]].concat();
    assert_eq!(claimed_by(&claimed, "intake").as_deref(), Some("张三"));
    let view = view_file(&state(&history(&claimed)), None, Disclosure::Full);
    let intake = view.steps.iter().find(|s| s.id == "intake").unwrap();
    assert_eq!(intake.claimed_by.as_deref(), Some("张三"));
}

#[test]
fn another_person_of_the_agency_reassigns_and_the_holder_claiming_again_changes_nothing() {
    let given = vec![
        open(1),
        claim("k1", officer("a", "张三"), "intake", local(3, 10)),
    ];
    assert_eq!(
        when(
            &given,
            claim("k2", officer("a", "张三"), "intake", local(3, 11))
        )
        .unwrap(),
        Vec::<String>::new()
    );
    let reassigning = claim("k3", officer("a", "李四"), "intake", local(3, 11));
    assert_eq!(
        when(&given, reassigning.clone()).unwrap(),
        ["task_claimed intake 李四"]
    );
    let reassigned = [given, vec![reassigning]].concat();
    assert_eq!(claimed_by(&reassigned, "intake").as_deref(), Some("李四"));
}

#[test]
fn a_paused_step_may_be_claimed() {
    let paused = vec![
        open(1),
        command(
            "s",
            agency("a"),
            local(3, 10),
            Action::RequestSupplement {
                step: "intake".into(),
                items: vec!["contract".into()],
                reason: "合同缺页".into(),
            },
        ),
    ];
    assert_eq!(
        when(
            &paused,
            claim("k1", officer("a", "张三"), "intake", local(3, 11))
        )
        .unwrap(),
        ["task_claimed intake 张三"]
    );
}

#[test]
fn only_the_steps_own_agency_claims_and_only_as_a_named_person() {
    then_refused(
        &[open(1)],
        claim("k1", officer("b", "李四"), "intake", local(3, 10)),
        CaseError::Forbidden {
            actor: "b/李四".into(),
            action: "claim the task".into(),
            reason: "step `intake` belongs to agency `a`".into(),
        },
    );
    then_refused(
        &[open(1)],
        claim("k1", applicant(), "intake", local(3, 10)),
        CaseError::Forbidden {
            actor: "applicant".into(),
            action: "claim the task".into(),
            reason: "step `intake` belongs to agency `a`".into(),
        },
    );
    for nobody in [agency("a"), officer("a", "  ")] {
        then_refused(
            &[open(1)],
            claim("k1", nobody, "intake", local(3, 10)),
            CaseError::ClaimWithoutOperator {
                step: "intake".into(),
            },
        );
    }
}

#[test]
fn a_step_not_started_or_finished_or_unknown_cannot_be_claimed() {
    then_refused(
        &[open(1)],
        claim("k1", officer("a", "张三"), "left", local(3, 10)),
        CaseError::StepNotActive {
            step: "left".into(),
            state: "waiting".into(),
        },
    );
    then_refused(
        &intake_done(),
        claim("k1", officer("a", "张三"), "intake", local(3, 11)),
        CaseError::StepNotActive {
            step: "intake".into(),
            state: "completed".into(),
        },
    );
    then_refused(
        &[open(1)],
        claim("k1", officer("a", "张三"), "nowhere", local(3, 10)),
        CaseError::UnknownStep {
            step: "nowhere".into(),
        },
    );
    then_refused(
        &[],
        claim("k1", officer("a", "张三"), "intake", local(3, 10)),
        CaseError::NotOpened,
    );
    let withdrawn = vec![
        open(1),
        command(
            "w",
            applicant(),
            local(3, 10),
            Action::Withdraw {
                reason: "不办了".into(),
            },
        ),
    ];
    then_refused(
        &withdrawn,
        claim("k1", officer("a", "张三"), "intake", local(3, 11)),
        CaseError::CaseEnded {
            status: "withdrawn".into(),
        },
    );
}

#[test]
fn a_return_starts_the_steps_again_unclaimed() {
    let mut given = intake_done();
    given.push(claim("k1", officer("a", "张三"), "left", local(3, 11)));
    assert_eq!(claimed_by(&given, "left").as_deref(), Some("张三"));
    given.push(command(
        "r",
        officer("a", "张三"),
        local(3, 12),
        Action::Return {
            step: "left".into(),
            to: "intake".into(),
            reason: "编号有误".into(),
        },
    ));
    assert_eq!(claimed_by(&given, "left"), None);
    assert_eq!(claimed_by(&given, "intake"), None);
}

#[test]
fn acting_on_a_step_as_a_named_person_does_not_claim_it() {
    let mut given = vec![open(1)];
    given.push(command(
        "s",
        officer("a", "张三"),
        local(3, 10),
        Action::RequestSupplement {
            step: "intake".into(),
            items: vec!["contract".into()],
            reason: "合同缺页".into(),
        },
    ));
    assert_eq!(claimed_by(&given, "intake"), None);
    let mut completed = intake_done();
    completed[1].actor = officer("a", "张三");
    assert_eq!(claimed_by(&completed, "intake"), None);
}
