//! Conditional requirements and checks (`data_checks_bundle.toml`): a field
//! or material required only when its condition holds, and every failing
//! check reported with every other problem, on opening and on completion.
//! A refusal stores nothing.

use onething_core::case::*;
use onething_core::value_type::ValueProblem;
use serde_json::{json, Value};

use crate::support::*;

const WHEN_DANGEROUS: &str = " (when `form.scope == 'dangerous_goods'`)";

fn open_checks(form: Value, materials: Vec<MaterialDeclaration>) -> CaseCommand {
    let base = json!({ "applicant_id": APPLICANT_ID, "scope": "general", "vehicle_count": 2 });
    open_bundle("checks", "K1", base, form, materials)
}

fn problems(list: &[(&str, &str)]) -> Vec<ValueProblem> {
    list.iter()
        .map(|(field, message)| ValueProblem {
            field: field.to_string(),
            message: message.to_string(),
        })
        .collect()
}

#[test]
fn a_conditionally_required_field_and_material_may_be_left_out_when_the_condition_is_false() {
    let events = when(&[], open_checks(json!({}), vec![])).unwrap();
    assert_eq!(events[0], "case_opened");
}

#[test]
fn a_conditionally_required_field_and_material_are_missing_when_the_condition_holds() {
    then_refused(
        &[],
        open_checks(json!({ "scope": "dangerous_goods" }), vec![]),
        CaseError::InvalidApplication {
            problems: problems(&[
                (
                    "form.safety_officer",
                    &format!("is required{WHEN_DANGEROUS}"),
                ),
                (
                    "materials.safety_rules",
                    &format!(
                        "安全生产管理制度 (Safety management rules) is missing{WHEN_DANGEROUS}"
                    ),
                ),
            ]),
        },
    );
    let given = open_checks(
        json!({ "scope": "dangerous_goods", "safety_officer": "王五" }),
        vec![submitted("safety_rules")],
    );
    assert!(when(&[], given).is_ok());
}

#[test]
fn a_material_required_on_a_condition_that_holds_cannot_be_waived() {
    then_refused(
        &[],
        open_checks(
            json!({ "scope": "dangerous_goods", "safety_officer": "王五" }),
            vec![MaterialDeclaration {
                material: "safety_rules".into(),
                provision: MaterialProvision::Waived,
            }],
        ),
        CaseError::InvalidApplication {
            problems: problems(&[(
                "materials.safety_rules",
                &format!("is required{WHEN_DANGEROUS} and cannot be waived"),
            )]),
        },
    );
}

#[test]
fn failing_checks_on_opening_are_reported_with_the_field_and_material_problems() {
    // Applied on 3 June 2025 for a child born on 3 June 2024: one year old that day.
    then_refused(
        &[],
        open_checks(
            json!({ "scope": "dangerous_goods", "vehicle_count": 60, "child_birth_date": "2024-06-03" }),
            vec![],
        ),
        CaseError::InvalidApplication {
            problems: problems(&[
                (
                    "form.safety_officer",
                    &format!("is required{WHEN_DANGEROUS}"),
                ),
                (
                    "materials.safety_rules",
                    &format!(
                        "安全生产管理制度 (Safety management rules) is missing{WHEN_DANGEROUS}"
                    ),
                ),
                (
                    "checks.child_under_one",
                    "子女须未满一周岁 (The child must be under one year old)",
                ),
                (
                    "checks.fleet_size",
                    "车辆数不得超过 50 (At most 50 vehicles)",
                ),
            ]),
        },
    );
}

#[test]
fn a_child_born_the_day_after_the_application_date_a_year_before_is_under_one() {
    let given = open_checks(json!({ "child_birth_date": "2024-06-04" }), vec![]);
    assert!(when(&[], given).is_ok());
}

#[test]
fn a_check_that_does_not_apply_is_not_evaluated() {
    // No birth date: `child_under_one` applies only when one is given.
    assert!(when(
        &[],
        open_checks(json!({ "child_birth_date": null }), vec![])
    )
    .is_ok());
}

#[test]
fn a_check_over_a_wrong_value_is_left_to_the_value_problem() {
    then_refused(
        &[],
        open_checks(json!({ "child_birth_date": "June" }), vec![]),
        CaseError::InvalidApplication {
            problems: problems(&[(
                "form.child_birth_date",
                "`June` is not a date like 2025-01-31",
            )]),
        },
    );
}

fn reviewed() -> Vec<CaseCommand> {
    vec![
        open_checks(json!({}), vec![]),
        complete(
            "c-review",
            "a",
            "review",
            json!({ "approved": true }),
            local(3, 10),
        ),
    ]
}

#[test]
fn a_failing_check_after_a_step_is_reported_with_its_output_problems() {
    then_refused(
        &reviewed(),
        complete(
            "c-permits",
            "b",
            "issue_permits",
            json!({ "permit_numbers": ["闽交运001"], "remark": "x" }),
            local(3, 11),
        ),
        CaseError::InvalidOutputs {
            step: "issue_permits".into(),
            problems: problems(&[
                ("remark", "is not a field here (known: permit_numbers)"),
                (
                    "checks.one_permit_per_vehicle",
                    "道路运输证号的数量须等于车辆数 (One permit number per vehicle)",
                ),
            ]),
        },
    );
}

#[test]
fn a_step_whose_checks_hold_completes() {
    let events = when(
        &reviewed(),
        complete(
            "c-permits",
            "b",
            "issue_permits",
            json!({ "permit_numbers": ["闽交运001", "闽交运002"] }),
            local(3, 11),
        ),
    )
    .unwrap();
    assert_eq!(
        events,
        [
            "step_completed issue_permits",
            "step_activated fee",
            // Applied on 3 June 2025: the fee in force from 1 June.
            "bills_issued fee applicant=5000(finance:5000)",
        ]
    );
}

#[test]
fn checks_after_a_step_are_not_checked_on_opening_nor_after_other_steps() {
    let events = history(&reviewed());
    assert_eq!(
        state(&events).step("review").unwrap().state,
        StepState::Completed
    );
}

#[test]
fn a_fixed_requirement_is_stored_as_the_boolean_it_always_was() {
    use onething_core::value_type::Requirement;
    assert_eq!(
        serde_json::to_value(Requirement::ALWAYS).unwrap(),
        json!(true)
    );
    assert_eq!(
        serde_json::to_value(Requirement::NEVER).unwrap(),
        json!(false)
    );
    let condition: Requirement = serde_json::from_value(json!("form.x == 1")).unwrap();
    assert_eq!(condition, Requirement::When("form.x == 1".into()));
    assert_eq!(
        serde_json::from_value::<Requirement>(json!(true)).unwrap(),
        Requirement::ALWAYS
    );
}

#[test]
fn years_between_counts_whole_years_as_an_age_is_counted() {
    use onething_core::expression::{compiled, Bindings};
    let years = |text: &str| {
        let program = compiled(text).unwrap();
        Bindings::new(&[], &json!({})).evaluate(&program)
    };
    let whole = |n: i64| Ok(cel::Value::Int(n));
    assert_eq!(years("years_between('2024-06-04', '2025-06-03')"), whole(0));
    assert_eq!(years("years_between('2024-06-03', '2025-06-03')"), whole(1));
    // Born on 29 February: one year old on 1 March of the next year.
    assert_eq!(years("years_between('2024-02-29', '2025-02-28')"), whole(0));
    assert_eq!(years("years_between('2024-02-29', '2025-03-01')"), whole(1));
    assert_eq!(years("years_between('2025-06-03', '2024-06-04')"), whole(0));
    assert_eq!(
        years("years_between('2025-06-03', '2023-06-03')"),
        whole(-2)
    );
    assert!(years("years_between('June', '2025-06-03')").is_err());
}
