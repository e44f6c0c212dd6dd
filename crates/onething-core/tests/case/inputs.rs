//! Inputs (`data_inputs_bundle.toml`): the food licence receives the credit
//! code from business registration, or from the form when registration was
//! skipped; inputs are evaluated as the step starts, recorded in its
//! `step_activated` and evaluated again after a return; an input that cannot
//! be evaluated refuses the command that would start the step. And the
//! materials figures: only what was really shared counts as not submitted.

use onething_core::case::*;
use serde_json::{json, Value};

use crate::support::*;

const REGISTERED_CODE: &str = "91350100M000100Y43";
const NEW_CODE: &str = "91110105MA01ABCD13";
const CORRECTED_CODE: &str = "92150602MA0N00001N";

fn open_restaurant(form: Value, materials: Vec<MaterialDeclaration>) -> CaseCommand {
    let base = json!({
        "applicant_id": APPLICANT_ID,
        "already_registered": false,
        "area": 85.5,
        "seats": 40,
        "staff": 8,
    });
    open_bundle("inputs", "R1", base, form, materials)
}

fn lease_submitted() -> Vec<MaterialDeclaration> {
    vec![submitted("lease")]
}

fn registered(code: &str) -> CaseCommand {
    complete(
        "c-registration",
        "a",
        "business_registration",
        json!({ "credit_code": code }),
        local(3, 10),
    )
}

/// The inputs of the last `step_activated` of `step`, as name → (value, fallback).
fn inputs_of(events: &[CaseEvent], step: &str) -> Vec<(String, Value, bool)> {
    events
        .iter()
        .filter_map(|event| match &event.change {
            Change::StepActivated {
                step: activated,
                inputs,
                ..
            } if activated == step => Some(inputs.clone()),
            _ => None,
        })
        .next_back()
        .expect("the step was activated")
        .into_iter()
        .map(|input| (input.name, input.value, input.fallback))
        .collect()
}

fn expected(credit_code: &str, fallback: bool) -> Vec<(String, Value, bool)> {
    vec![
        ("credit_code".into(), json!(credit_code), fallback),
        ("operator_id".into(), json!(APPLICANT_ID), false),
        ("area".into(), json!(85.5), false),
        ("seats_per_staff".into(), json!(5), false),
    ]
}

#[test]
fn a_step_receives_the_credit_code_from_the_registration_that_ran() {
    let events = history(&[
        open_restaurant(json!({}), lease_submitted()),
        registered(NEW_CODE),
    ]);
    assert_eq!(
        inputs_of(&events, "food_licence"),
        expected(NEW_CODE, false)
    );
    let activated = events
        .iter()
        .find_map(|event| match &event.change {
            Change::StepActivated { step, inputs, .. } if step == "food_licence" => {
                Some(inputs.clone())
            }
            _ => None,
        })
        .unwrap();
    // Typed as declared, with the declared labels.
    assert_eq!(
        activated[0].kind,
        onething_core::value_type::ValueKind::CreditCode
    );
    assert_eq!(activated[0].label.zh, "统一社会信用代码");
    assert_eq!(
        activated[2].kind,
        onething_core::value_type::ValueKind::Decimal
    );
}

#[test]
fn a_step_receives_the_form_s_credit_code_when_registration_was_skipped() {
    let events = history(&[open_restaurant(
        json!({ "already_registered": true, "credit_code": REGISTERED_CODE }),
        lease_submitted(),
    )]);
    assert_eq!(
        events.iter().map(one_line).collect::<Vec<_>>()[1..],
        [
            "step_skipped business_registration ConditionFalse",
            "step_activated food_licence",
        ]
    );
    assert_eq!(
        inputs_of(&events, "food_licence"),
        expected(REGISTERED_CODE, true)
    );
}

#[test]
fn a_step_without_inputs_records_none_so_its_event_is_written_as_before() {
    let events = history(&[open_restaurant(json!({}), lease_submitted())]);
    let activated = events
        .iter()
        .find(|event| matches!(&event.change, Change::StepActivated { step, .. } if step == "business_registration"))
        .unwrap();
    let written = serde_json::to_value(activated).unwrap();
    assert!(written["change"].get("inputs").is_none(), "{written}");
}

#[test]
fn a_step_activated_stored_before_inputs_reads_back_and_writes_the_same_text() {
    let stored = r#"{"command_id":"c","actor":{"kind":"system"},"at":"2025-06-03T01:00:00Z","change":{"type":"step_activated","step":"intake","due":null,"warn_at":null}}"#;
    let event: CaseEvent = serde_json::from_str(stored).unwrap();
    assert!(matches!(&event.change, Change::StepActivated { inputs, .. } if inputs.is_empty()));
    assert_eq!(serde_json::to_string(&event).unwrap(), stored);
}

#[test]
fn a_return_to_the_producer_evaluates_the_inputs_again_from_its_new_outputs() {
    let given = [
        open_restaurant(json!({}), lease_submitted()),
        registered(NEW_CODE),
        command(
            "r",
            agency("b"),
            local(3, 11),
            Action::Return {
                step: "food_licence".into(),
                to: "business_registration".into(),
                reason: "the code on the licence is wrong".into(),
            },
        ),
    ];
    let returned = history(&given);
    let file = state(&returned);
    assert!(
        file.step("food_licence").unwrap().inputs.is_empty(),
        "a step sent back to waiting holds no inputs"
    );
    let mut commands = given.to_vec();
    commands.push(complete(
        "c-registration-again",
        "a",
        "business_registration",
        json!({ "credit_code": CORRECTED_CODE }),
        local(3, 12),
    ));
    let events = history(&commands);
    assert_eq!(
        inputs_of(&events, "food_licence"),
        expected(CORRECTED_CODE, false)
    );
}

#[test]
fn an_input_that_cannot_be_evaluated_refuses_the_opening_that_would_start_its_step() {
    then_refused(
        &[],
        open_restaurant(
            json!({ "already_registered": true, "credit_code": REGISTERED_CODE, "staff": 0 }),
            lease_submitted(),
        ),
        CaseError::Input {
            step: "food_licence".into(),
            input: "seats_per_staff".into(),
            reason: "`form.seats / form.staff` could not be evaluated: Division by zero of Int(40)"
                .into(),
        },
    );
}

#[test]
fn an_input_that_cannot_be_evaluated_refuses_the_completion_that_would_start_its_step() {
    let given = [open_restaurant(json!({ "staff": 0 }), lease_submitted())];
    let refused = when(&given, registered(NEW_CODE));
    assert!(
        matches!(
            &refused,
            Err(CaseError::Input { step, input, .. }) if step == "food_licence" && input == "seats_per_staff"
        ),
        "{refused:?}"
    );
    // Nothing was recorded: registration is still active.
    let file = state(&history(&given));
    assert_eq!(
        file.step("business_registration").unwrap().state,
        StepState::Active
    );
}

#[test]
fn the_task_shows_citizen_id_inputs_masked_to_readers_who_see_them_masked() {
    let events = history(&[
        open_restaurant(json!({}), lease_submitted()),
        registered(NEW_CODE),
    ]);
    let file = state(&events);
    let masked = view_file(&file, None, Disclosure::Masked);
    let step = masked
        .steps
        .iter()
        .find(|s| s.id == "food_licence")
        .unwrap();
    let operator = step
        .inputs
        .iter()
        .find(|i| i.name == "operator_id")
        .unwrap();
    assert_ne!(operator.value, json!(APPLICANT_ID));
    assert_eq!(
        operator.value,
        json!(onething_core::identifiers::mask_citizen_id(APPLICANT_ID))
    );
    let full = view_file(&file, None, Disclosure::Full);
    let step = full.steps.iter().find(|s| s.id == "food_licence").unwrap();
    assert_eq!(step.inputs[1].value, json!(APPLICANT_ID));
    // The stored event is masked the same way for such readers.
    let activated = events
        .iter()
        .find(|event| matches!(&event.change, Change::StepActivated { step, .. } if step == "food_licence"))
        .unwrap();
    let mut payload = serde_json::to_value(activated).unwrap();
    mask_event_payload(None, &mut payload);
    assert_eq!(
        payload["change"]["inputs"][1]["value"],
        json!(onething_core::identifiers::mask_citizen_id(APPLICANT_ID))
    );
}

/// Materials: the ID card is an e-licence fetched (shared); the household
/// booklet is an e-licence that does not exist yet, so the applicant
/// brought it; the lease is replaced by a commitment; the floor plan is
/// waived; the business licence is produced by registration, which was
/// skipped.
fn mixed_materials() -> Vec<MaterialDeclaration> {
    vec![
        MaterialDeclaration {
            material: "id_card".into(),
            provision: MaterialProvision::Shared,
        },
        submitted("household_booklet"),
        MaterialDeclaration {
            material: "lease".into(),
            provision: MaterialProvision::Commitment,
        },
        MaterialDeclaration {
            material: "floor_plan".into(),
            provision: MaterialProvision::Waived,
        },
    ]
}

#[test]
fn materials_not_submitted_count_only_what_was_really_shared() {
    let library = library();
    let definition = library.versions("inputs").pop().unwrap();
    let events = history(&[open_restaurant(
        json!({ "already_registered": true, "credit_code": REGISTERED_CODE }),
        mixed_materials(),
    )]);
    let file = state(&events);
    // By hand: the ID card is the one material shared. The booklet was
    // submitted, the lease committed, the floor plan waived, and the
    // business licence's step was skipped: 1 not submitted, 1 by
    // commitment, 1 waived; the booklet is the one the applicant handed over.
    let counts = material_counts(&file, Some(&definition));
    assert_eq!(
        counts,
        MaterialCounts {
            not_submitted: 1,
            by_commitment: 1,
            waived: 1,
            submitted: 1,
        }
    );
    let facts = figures(&file, Some(&definition), None).case;
    assert_eq!(
        (
            facts.materials_not_submitted,
            facts.materials_by_commitment,
            facts.materials_waived,
            facts.materials_submitted
        ),
        (1, 1, 1, 1)
    );
    let view = view_file(&file, Some(&definition), Disclosure::Full);
    assert_eq!(
        (
            view.materials_not_submitted,
            view.materials_by_commitment,
            view.materials_waived
        ),
        (1, 1, 1)
    );
    let statistics = statistics(&[view], Some(&definition), None);
    assert_eq!(
        (
            statistics.materials_not_submitted,
            statistics.materials_by_commitment,
            statistics.materials_waived
        ),
        (1, 1, 1)
    );
}

#[test]
fn a_material_of_a_step_counts_once_that_step_has_run() {
    let library = library();
    let definition = library.versions("inputs").pop().unwrap();
    let opened = history(&[open_restaurant(json!({}), mixed_materials())]);
    // Registration is still running: its licence is not provided yet.
    assert_eq!(
        material_counts(&state(&opened), Some(&definition)).not_submitted,
        1
    );
    let ran = history(&[
        open_restaurant(json!({}), mixed_materials()),
        registered(NEW_CODE),
    ]);
    // By hand: the ID card and the business licence.
    assert_eq!(
        material_counts(&state(&ran), Some(&definition)).not_submitted,
        2
    );
}
