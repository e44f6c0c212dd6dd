//! A multi-instance step through the API: each instance is a task in the
//! inbox and a step of the case with its item, addressed by its own id in
//! the step paths; the step as a whole and an instance the list did not
//! give are refused. The bundle is the language reference's own example.

use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::*;

/// The shipped registry and calendars with `instances-example`.
fn folder_with_example() -> PathBuf {
    let docs = std::fs::read_to_string(workflows().join("../docs/workflow-language.md")).unwrap();
    let example = docs
        .split("```toml\n")
        .find(|block| block.starts_with("id = \"instances-example\""))
        .and_then(|block| block.split("```").next())
        .unwrap()
        .to_string();
    crate::support::folder_with_bundle("instances", "instances-example.toml", &example)
}

#[tokio::test]
async fn each_instance_is_a_task_and_a_step_addressed_by_its_own_id() {
    let (app, _) = app_on(folder_with_example(), "2026-06-01T09:00:00+08:00").await;
    let opened = post("/api/v1/cases")
        .as_("window")
        .json(json!({
            "workflow": "instances-example",
            "form": {"plates": ["闽A12345", "闽A67890"]}
        }))
        .idempotency_key("open-instances")
        .send(&app)
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    let case = opened.json["case_id"].as_str().unwrap().to_string();

    let inbox = get("/api/v1/agencies/police/inbox")
        .as_("police")
        .send(&app)
        .await;
    let steps: Vec<&str> = inbox.json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["permit.1", "permit.2"], "{}", inbox.text);

    let whole = step(&case, "permit", "complete")
        .as_("police")
        .json(json!({"outputs": {"permit_number": "P"}}))
        .send(&app)
        .await;
    assert_eq!(whole.status, StatusCode::BAD_REQUEST, "{}", whole.text);
    assert_eq!(whole.json["code"], "invalid_input");
    let missing = step(&case, "permit.3", "complete")
        .as_("police")
        .json(json!({"outputs": {"permit_number": "P"}}))
        .send(&app)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text);

    for (number, permit) in [("1", "P-1"), ("2", "P-2")] {
        step(&case, &format!("permit.{number}"), "complete")
            .as_("police")
            .json(json!({"outputs": {"permit_number": permit}}))
            .send(&app)
            .await
            .assert_success();
    }
    let shown = get(format!("/api/v1/cases/{case}"))
        .as_("police")
        .send(&app)
        .await;
    shown.assert_success();
    let steps = shown.json["steps"].as_array().unwrap();
    assert_eq!(steps[0]["id"], "permit");
    assert_eq!(steps[0]["instances"], 2);
    assert_eq!(
        steps[0]["outputs"],
        json!({"permit_number": ["P-1", "P-2"]})
    );
    assert_eq!(steps[2]["id"], "permit.2");
    assert_eq!(steps[2]["item"], "闽A67890");
    assert_eq!(steps[2]["outputs"], json!({"permit_number": "P-2"}));
    assert_eq!(steps[4]["id"], "register.1");
    assert_eq!(steps[4]["state"], "active");
}
