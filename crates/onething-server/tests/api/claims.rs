//! Claiming a step's task (认领) over the API: the person is the
//! `X-Operator` header; the step's agency only; another person re-assigns,
//! the holder again changes nothing; the claimant is in the case and the
//! inbox.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use onething_core::case::{case_id_for, Action, Actor, CaseCommand};
use serde_json::json;

use crate::support::{app_at, get, newborn_form, sequence, step};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn a_named_person_of_the_steps_agency_claims_its_task_and_no_one_else_may() {
    let (app, state) = app_at("2026-06-01T10:00:00+08:00").await;
    let case = case_id_for("claimed-open");
    state
        .store
        .execute(
            &case,
            CaseCommand {
                command_id: "claimed-open".into(),
                actor: Actor::Agency {
                    agency: "window".into(),
                    operator: None,
                },
                at: at("2026-06-01T09:00:00+08:00"),
                action: Action::Open {
                    case_id: case.clone(),
                    workflow: "newborn".into(),
                    form: newborn_form(),
                    materials: vec![],
                    opted_in: vec![],
                    channel: Default::default(),
                },
            },
        )
        .await
        .unwrap();
    let before = sequence(&state, &case).await;
    let by_police = step(&case, "birth_certificate", "claim")
        .as_("police")
        .header("X-Operator", "王警官")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(
        by_police.status,
        StatusCode::FORBIDDEN,
        "{}",
        by_police.text
    );
    let nobody = step(&case, "birth_certificate", "claim")
        .as_("hospital")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST, "{}", nobody.text);
    assert!(
        nobody.json["reasons"][0]
            .as_str()
            .unwrap()
            .contains("X-Operator"),
        "{}",
        nobody.text
    );
    let unknown_field = step(&case, "birth_certificate", "claim")
        .as_("hospital")
        .header("X-Operator", "张护士")
        .json(json!({"by": "张护士"}))
        .send(&app)
        .await;
    assert_eq!(
        unknown_field.status,
        StatusCode::BAD_REQUEST,
        "{}",
        unknown_field.text
    );
    let waiting = step(&case, "household_registration", "claim")
        .as_("police")
        .header("X-Operator", "王警官")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(waiting.status, StatusCode::CONFLICT, "{}", waiting.text);
    assert_eq!(sequence(&state, &case).await, before, "nothing stored");

    let claimed = step(&case, "birth_certificate", "claim")
        .as_("hospital")
        .header("X-Operator", "张护士")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(claimed.status, StatusCode::OK, "{}", claimed.text);
    assert_eq!(claimed.json["events"][0]["type"], "task_claimed");
    let birth = |case: &serde_json::Value| {
        case["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "birth_certificate")
            .unwrap()["claimed_by"]
            .clone()
    };
    assert_eq!(birth(&claimed.json["case"]), "张护士");
    let again = step(&case, "birth_certificate", "claim")
        .as_("hospital")
        .header("X-Operator", "张护士")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text);
    assert_eq!(again.json["events"], json!([]), "{}", again.text);
    let reassigned = step(&case, "birth_certificate", "claim")
        .as_("hospital")
        .header("X-Operator", "李医生")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(reassigned.json["events"][0]["type"], "task_claimed");
    let resource = get(format!("/api/v1/cases/{case}"))
        .as_("hospital")
        .send(&app)
        .await;
    assert_eq!(birth(&resource.json), "李医生");
    let inbox = get("/api/v1/agencies/hospital/inbox")
        .as_("hospital")
        .send(&app)
        .await;
    let task = inbox.json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|task| task["case_id"] == case.as_str())
        .unwrap()
        .clone();
    assert_eq!(task["claimed_by"], "李医生", "{}", inbox.text);
}
