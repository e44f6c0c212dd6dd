//! What values a case accepts: free-form values bounded in depth and size,
//! citizen ids, number bounds, and amounts billed exactly.

use std::sync::Arc;

use onething_core::case::*;
use onething_core::registry::Registry;
use onething_core::value_type::ValueProblem;
use onething_core::workflow::parse_workflow;
use serde_json::{json, Value};

use crate::common::AGENCIES;
use crate::support::*;

/// A value nested `depth` levels deep: `{"a": {"a": … 1 …}}`.
fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

#[test]
fn free_form_values_nesting_too_deep_or_too_large_are_refused_naming_the_field() {
    let given = [open(1), request_supplement(local(3, 10))];
    let supplement = |items: Value| {
        command(
            "sup",
            applicant(),
            local(9, 10),
            Action::Supplement {
                items: items.as_object().unwrap().clone(),
                materials: vec![],
            },
        )
    };
    then_refused(
        &given,
        supplement(json!({
            "contract page 2": nested(33),
            "permit": "x".repeat(70_000),
        })),
        CaseError::InvalidSupplement {
            problems: vec![
                ValueProblem {
                    field: "items.contract page 2".into(),
                    message: "nests 33 levels deep; at most 32 are accepted".into(),
                },
                ValueProblem {
                    field: "items.permit".into(),
                    message: "takes 70002 bytes as JSON; at most 65536 are accepted".into(),
                },
            ],
        },
    );
    assert!(when(
        &given,
        supplement(json!({"contract page 2": nested(32), "permit": "p"}))
    )
    .is_ok());
    let mut deep_form = open(1);
    if let Action::Open { form, .. } = &mut deep_form.action {
        form["price"] = nested(40);
    }
    then_refused(
        &[],
        deep_form,
        CaseError::InvalidApplication {
            problems: vec![ValueProblem {
                field: "form.price".into(),
                message: "nests 40 levels deep; at most 32 are accepted".into(),
            }],
        },
    );
}

#[test]
fn a_citizen_id_is_stored_with_an_upper_case_check_character_and_a_birth_no_later_than_the_application(
) {
    let mut lower = open(1);
    if let Action::Open { form, .. } = &mut lower.action {
        form["applicant_id"] = json!("11010519491231002x");
    }
    let events = history(&[lower]);
    assert_eq!(
        state(&events).form["applicant_id"],
        "11010519491231002X",
        "stored in upper case"
    );
    let mut unborn = open(1);
    if let Action::Open { form, .. } = &mut unborn.action {
        form["applicant_id"] = json!("110105999912310028");
    }
    then_refused(
        &[],
        unborn,
        CaseError::InvalidApplication {
            problems: vec![ValueProblem {
                field: "form.applicant_id".into(),
                message: "not a valid citizen ID number: the birth date 9999-12-31 is after the date of the application, 2025-06-03".into(),
            }],
        },
    );
}

const BOUNDS_BUNDLE: &str = r#"
id = "bounds"
version = 1
title = { zh = "界限", en = "Bounds" }
calendar = "cn"
effective_from = 2025-01-01
effective_until = 2026-12-31

[[field]]
name = "count"
label = { zh = "份数", en = "Count" }
type = "integer"
max = 9223372036854775807

[[field]]
name = "price"
label = { zh = "价格", en = "Price" }
type = "money"
max = 9223372036854775807

[[field]]
name = "area"
label = { zh = "面积", en = "Area" }
type = "decimal"
min = 1

[[field]]
name = "copies"
label = { zh = "副本", en = "Copies" }
type = "integer"
required = false

[[material]]
id = "contract"
name = { zh = "合同", en = "Contract" }
source = "applicant"

[[step]]
id = "pay"
title = { zh = "缴费", en = "Pay" }
agency = "tax"
kind = "payment"
rounding = "half_up"
  [[step.bill]]
  payer = "buyer"
    [[step.bill.item]]
    payee = "tax"
    label = { zh = "税", en = "Tax" }
    amount = "form.price"
    [[step.bill.item]]
    payee = "finance"
    label = { zh = "证书费", en = "Certificates" }
    amount = "8000 + 1000 * form.count"
"#;

fn bounds_library() -> Arc<Library> {
    let mut registry = Registry::default();
    registry.add_agencies(AGENCIES).unwrap();
    registry
        .add_calendar(include_str!("../../../../workflows/calendars/cn.toml"))
        .unwrap();
    let definition = parse_workflow(BOUNDS_BUNDLE, &registry).unwrap();
    let library = Library::new();
    library.add_calendar(registry.calendars["cn"].clone());
    library.set_current(definition);
    Arc::new(library)
}

fn open_bounds(form: Value, materials: Vec<MaterialDeclaration>) -> CaseCommand {
    command(
        "open-bounds",
        agency("window"),
        local(3, 9),
        Action::Open {
            case_id: "CB".into(),
            workflow: "bounds".into(),
            form,
            materials,
            opted_in: vec![],
            channel: Channel::Window,
        },
    )
}

fn decide_bounds(command: &CaseCommand) -> Result<Vec<CaseEvent>, CaseError> {
    decide_with_library(&Case::default(), &bounds_library(), command)
}

fn problems_of(result: Result<Vec<CaseEvent>, CaseError>) -> Vec<(String, String)> {
    match result {
        Err(CaseError::InvalidApplication { problems }) => problems
            .into_iter()
            .map(|problem| (problem.field, problem.message))
            .collect(),
        other => panic!("expected a refused application, got {other:?}"),
    }
}

#[test]
fn numbers_keep_to_their_declared_or_default_bounds() {
    let refused = decide_bounds(&open_bounds(
        json!({"count": 1, "price": -1, "area": 0.5, "copies": 2_000_000}),
        vec![submitted("contract")],
    ));
    assert_eq!(
        problems_of(refused),
        [
            ("form.price".to_string(), "must not be negative".to_string()),
            (
                "form.area".to_string(),
                "must be at least 1, found 0.5".to_string()
            ),
            (
                "form.copies".to_string(),
                "must be at most 1000000, found 2000000".to_string()
            ),
        ]
    );
}

#[test]
fn a_number_with_a_fraction_where_a_whole_number_is_wanted_is_named() {
    let refused = decide_bounds(&open_bounds(
        json!({"count": 2.5, "price": 10.25, "area": 90.0, "copies": 3.0}),
        vec![submitted("contract")],
    ));
    assert_eq!(
        problems_of(refused),
        [
            (
                "form.count".to_string(),
                "must be a whole number, found 2.5, which is not a whole number".to_string()
            ),
            (
                "form.price".to_string(),
                "must be a whole number of fen (1 yuan = 100 fen), found 10.25, which is not a whole number".to_string()
            ),
            (
                "form.copies".to_string(),
                "must be a whole number, found 3.0: write it without a decimal point".to_string()
            ),
        ]
    );
}

#[test]
fn a_form_no_bill_can_be_computed_for_is_refused_at_open_with_every_other_problem() {
    let refused = decide_bounds(&open_bounds(
        json!({"count": i64::MAX, "price": 100, "area": 90.0}),
        vec![],
    ));
    let problems = problems_of(refused);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_eq!(problems[0].0, "materials.contract");
    assert_eq!(problems[1].0, "bills.pay");
    assert!(
        problems[1].1.starts_with(
            "cannot be computed for this form: the amount `8000 + 1000 * form.count` could not be computed"
        ),
        "{}",
        problems[1].1
    );
}

#[test]
fn whole_amounts_are_billed_exactly_never_through_a_double() {
    // 2^53 + 1: the first whole number a double cannot hold.
    let events = decide_bounds(&open_bounds(
        json!({"count": 0, "price": 9_007_199_254_740_993_i64, "area": 90.0}),
        vec![submitted("contract")],
    ))
    .unwrap();
    let issued = events
        .iter()
        .find_map(|event| match &event.change {
            Change::BillsIssued { bills, .. } => Some(bills.clone()),
            _ => None,
        })
        .expect("the payment step started at once");
    assert_eq!(issued[0].items[0].amount, 9_007_199_254_740_993);
    assert_eq!(issued[0].total, 9_007_199_254_740_993 + 8000);
}
