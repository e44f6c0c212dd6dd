//! Commands on a case: idempotency keys, and the refusals of a command the
//! case cannot take.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{app, newborn_with_birth_certificate, open, open_newborn, sequence, step};

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_answer_and_stores_nothing() {
    let (app, state) = app().await;
    let first = open_newborn().idempotency_key("open-1").send(&app).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    let case = first.json["case_id"].as_str().unwrap().to_string();
    let again = open_newborn().idempotency_key("open-1").send(&app).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.json["already_applied"], true);
    assert_eq!(again.json["events"], first.json["events"]);
    assert_eq!(again.json["case"], first.json["case"]);
    assert_eq!(
        sequence(&state, &case).await,
        3,
        "the replay changed nothing"
    );
}

#[tokio::test]
async fn a_key_repeated_by_another_client_of_the_same_agency_returns_the_first_answer() {
    let (app, state) = app().await;
    let case = newborn_with_birth_certificate(&app, "key-scope-1").await;
    let registration = || {
        step(&case, "household_registration", "complete")
            .json(json!({"outputs": {"child_id": "110105202605200039"}}))
            .idempotency_key("hukou-1")
    };
    let first = registration().as_("police").send(&app).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let after = sequence(&state, &case).await;
    let standby = registration().as_("police-backup").send(&app).await;
    assert_eq!(standby.status, StatusCode::OK, "{}", standby.text);
    assert_eq!(standby.json["already_applied"], true);
    assert_eq!(standby.json["events"], first.json["events"]);
    assert_eq!(sequence(&state, &case).await, after, "nothing was stored");
}

#[tokio::test]
async fn a_key_reused_by_another_agency_is_409_idempotency_key_reused_and_stores_nothing() {
    let (app, state) = app().await;
    let case = newborn_with_birth_certificate(&app, "key-scope-1").await;
    let first = step(&case, "household_registration", "complete")
        .as_("police")
        .json(json!({"outputs": {"child_id": "110105202605200039"}}))
        .idempotency_key("hukou-1")
        .send(&app)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let after = sequence(&state, &case).await;
    let other_agency = step(&case, "vaccination_card", "complete")
        .as_("cdc")
        .json(json!({"outputs": {}}))
        .idempotency_key("hukou-1")
        .send(&app)
        .await;
    assert_eq!(
        other_agency.status,
        StatusCode::CONFLICT,
        "{}",
        other_agency.text
    );
    assert_eq!(other_agency.json["code"], "idempotency_key_reused");
    assert!(other_agency.json.get("case").is_none());
    assert_eq!(sequence(&state, &case).await, after, "nothing was stored");
}

#[tokio::test]
async fn completing_a_step_still_waiting_is_409_conflict_with_the_cases_state() {
    let (app, state) = app().await;
    let case = open(&app, "errors-1").await;
    // household_registration waits for the birth certificate: a conflict for
    // the police, who take part in the bundle and so are shown the state.
    let conflict = step(&case, "household_registration", "complete")
        .as_("police")
        .json(json!({"outputs": {"child_id": "110101202506010015"}}))
        .send(&app)
        .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT, "{}", conflict.text);
    assert_eq!(conflict.json["code"], "conflict");
    assert_eq!(conflict.json["state"]["status"], "open");
    assert!(
        conflict.json["state"]["steps"].is_array(),
        "{}",
        conflict.text
    );
    assert!(conflict.json["state"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == "household_registration" && s["state"] == "waiting"));
    assert_eq!(sequence(&state, &case).await, 3, "nothing was stored");
}

#[tokio::test]
async fn a_command_on_a_step_the_workflow_does_not_have_is_404() {
    let (app, state) = app().await;
    let case = open(&app, "errors-1").await;
    let unknown_step = step(&case, "no_such_step", "complete")
        .as_("hospital")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(unknown_step.status, StatusCode::NOT_FOUND);
    assert_eq!(sequence(&state, &case).await, 3, "nothing was stored");
}

#[tokio::test]
async fn a_person_named_in_chinese_in_x_operator_is_recorded_as_the_actor() {
    let (app, state) = crate::support::app().await;
    let case = crate::support::open(&app, "operator-in-chinese").await;
    let reply = crate::support::step(&case, "birth_certificate", "complete")
        .as_("hospital")
        .header("x-operator", "王医生")
        .json(serde_json::json!({"outputs": {"certificate_number": "Q110000001"}}))
        .send(&app)
        .await;
    reply.assert_success();
    let events = state.store.events(&case).await.unwrap();
    let completed = events
        .iter()
        .find(|stored| stored.event.change.name() == "step_completed")
        .unwrap();
    assert_eq!(completed.metadata.actor, "hospital/王医生");
}

#[tokio::test]
async fn a_command_dated_before_the_case_s_last_event_is_409_naming_both_times() {
    let (app, state) = app().await;
    let case = open(&app, "time-order-1").await;
    // A node whose clock is a day behind the one that opened the case.
    let mut behind = state.clone();
    behind.fixed_now = Some(
        chrono::DateTime::parse_from_rfc3339("2026-05-31T09:00:00+08:00")
            .unwrap()
            .with_timezone(&chrono::Utc),
    );
    let behind = onething_server::router(behind, crate::support::MAX_BODY);
    let refused = step(&case, "birth_certificate", "complete")
        .as_("hospital")
        .json(json!({"outputs": {"certificate_number": "Q1"}}))
        .send(&behind)
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert_eq!(refused.json["code"], "conflict");
    let message = refused.json["message"].as_str().unwrap();
    assert!(
        message.contains("2026-05-31T01:00:00+00:00")
            && message.contains("2026-06-01T01:00:00+00:00"),
        "{message}"
    );
    assert_eq!(sequence(&state, &case).await, 3, "nothing was stored");
}
