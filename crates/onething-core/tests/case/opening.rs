//! Opening a case: due times counted in working days, the time-limit
//! rules, the application checked with every problem at once, who may open.

use chrono::{TimeZone, Utc};
use onething_core::case::*;
use onething_core::value_type::ValueProblem;
use serde_json::json;

use crate::support::*;

#[test]
fn opening_starts_the_steps_without_dependencies_with_due_times_in_working_days() {
    let events = when(&[], open(200_000)).unwrap();
    // Tuesday 3 June + 2 working days = end of Thursday 5 June, local time.
    assert_eq!(
        events,
        [
            "case_opened",
            "step_activated intake due 2025-06-05T16:00:00+00:00"
        ]
    );
    let file = state(&history(&[open(200_000)]));
    assert_eq!(file.step("intake").unwrap().warn_at, Some(local(5, 0)));
    assert_eq!(file.hash.len(), 71);
    let idcard = file
        .materials
        .iter()
        .find(|m| m.material == "idcard")
        .unwrap();
    assert_eq!(idcard.provision, MaterialProvision::Shared);
    assert!(!idcard.from_applicant);
}

#[test]
fn a_time_limit_rule_picks_the_limit_for_the_case() {
    // 2 000 000 fen is a large case: 5 working days from Tuesday 3 June end on
    // Tuesday 10 June, with the warning 2 working days before.
    let events = when(&[], open(2_000_000)).unwrap();
    assert_eq!(
        events[1],
        "step_activated intake due 2025-06-10T16:00:00+00:00"
    );
    let file = state(&history(&[open(2_000_000)]));
    // Two working days left: from the start of Monday 9 June.
    assert_eq!(file.step("intake").unwrap().warn_at, Some(local(9, 0)));
}

#[test]
fn working_days_skip_the_dragon_boat_holiday() {
    // Friday 30 May 2025 + 2 working days: 31 May – 2 June is the Dragon Boat
    // break, so the limit ends on Wednesday 4 June.
    let mut opening = open(1);
    opening.at = chrono::FixedOffset::east_opt(8 * 3600)
        .unwrap()
        .with_ymd_and_hms(2025, 5, 30, 9, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let events = when(&[], opening).unwrap();
    assert_eq!(
        events[1],
        "step_activated intake due 2025-06-04T16:00:00+00:00"
    );
}

#[test]
fn an_application_is_refused_with_every_problem_at_once() {
    let mut bad = open_with(
        -5,
        &["left", "nothing"],
        vec![
            MaterialDeclaration {
                material: "permit".into(),
                provision: MaterialProvision::Promised {
                    deadline: local(4, 9),
                },
            },
            submitted("unknown_material"),
        ],
    );
    if let Action::Open { form, .. } = &mut bad.action {
        form["applicant_id"] = json!("110105194912310021");
        form["colour"] = json!("red");
    }
    let problems = |list: &[(&str, &str)]| -> Vec<ValueProblem> {
        list.iter()
            .map(|(field, message)| ValueProblem {
                field: field.to_string(),
                message: message.to_string(),
            })
            .collect()
    };
    then_refused(
        &[],
        bad,
        CaseError::InvalidApplication {
            problems: problems(&[
                ("form.applicant_id", "not a valid citizen ID number: the check character is '1', expected 'X'"),
                ("form.price", "must not be negative"),
                ("form.colour", "is not a field here (known: applicant_id, price)"),
                ("materials.permit", "cannot be promised for later: accepting with deficiency (容缺受理) is not allowed for it"),
                ("materials.unknown_material", "is not a material of this bundle (known: contract, permit, idcard)"),
                ("materials.contract", "合同 (Contract) is missing"),
                ("opted_in", "`left` is not a service that can be chosen (choices: extra)"),
                ("opted_in", "`nothing` is not a service that can be chosen (choices: extra)"),
            ]),
        },
    );
}

#[test]
fn materials_may_be_promised_or_replaced_by_a_commitment_where_the_bundle_allows() {
    let opening = open_with(
        1,
        &["extra"],
        vec![
            MaterialDeclaration {
                material: "contract".into(),
                provision: MaterialProvision::Promised {
                    deadline: local(10, 18),
                },
            },
            MaterialDeclaration {
                material: "permit".into(),
                provision: MaterialProvision::Commitment,
            },
        ],
    );
    assert!(when(&[], opening).is_ok());
}

#[test]
fn only_the_window_the_applicant_or_a_first_step_owner_opens_a_case() {
    let mut by_b = open(1);
    by_b.actor = agency("b");
    then_refused(
        &[],
        by_b,
        CaseError::Forbidden {
            actor: "b".into(),
            action: "open".into(),
            reason: "cases are opened by the comprehensive window, the applicant, or an agency that owns a first step".into(),
        },
    );
    let mut by_a = open(1);
    by_a.actor = agency("a");
    assert!(when(&[], by_a).is_ok());
    let mut online = open(1);
    online.actor = applicant();
    assert!(when(&[], online).is_ok());
}

#[test]
fn repeating_the_open_command_changes_nothing_and_another_open_is_refused() {
    assert_eq!(when(&[open(1)], open(1)).unwrap(), Vec::<String>::new());
    let mut again = open(1);
    again.command_id = "open-2".into();
    then_refused(&[open(1)], again, CaseError::AlreadyOpened);
}

#[test]
fn commands_on_a_case_never_opened_are_refused() {
    then_refused(
        &[],
        complete("c", "a", "intake", json!({}), local(3, 10)),
        CaseError::NotOpened,
    );
}
