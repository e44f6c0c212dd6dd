//! The access log of personal data: every read of a case with its ID
//! numbers unmasked is recorded with who, when, how and what; masked reads
//! are not; only auditors read the log.

use axum::http::StatusCode;
use serde_json::Value;

use crate::support::{app, get, newborn_with_birth_certificate, open};

async fn log_of(app: &axum::Router, case: &str) -> Vec<Value> {
    let reply = get(format!("/api/v1/audit/access-log?case={case}"))
        .as_("auditor")
        .send(app)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json["reads"].as_array().unwrap().clone()
}

#[tokio::test]
async fn reading_a_case_unmasked_is_recorded_with_the_client_the_person_and_what() {
    let (app, _) = app().await;
    let case = open(&app, "log-read").await;
    assert!(
        log_of(&app, &case).await.is_empty(),
        "opening is in the events, not the log"
    );
    let reply = get(format!("/api/v1/cases/{case}"))
        .as_("police")
        .header("x-operator", "王警官")
        .send(&app)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reads = log_of(&app, &case).await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    let read = &reads[0];
    assert_eq!(read["client"], "police");
    assert_eq!(read["role"], "agency");
    assert_eq!(read["agency"], "police");
    assert_eq!(read["operator"], "王警官");
    assert_eq!(read["channel"], "api");
    assert_eq!(read["case_id"], case.as_str());
    assert_eq!(read["what"], "case");
    assert!(read["read_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn a_history_a_past_state_an_export_and_the_feed_are_each_recorded() {
    let (app, _) = app().await;
    let case = newborn_with_birth_certificate(&app, "log-kinds").await;
    for (path, client) in [
        (format!("/api/v1/cases/{case}/history"), "window"),
        (format!("/api/v1/cases/{case}/at/1"), "auditor"),
        (format!("/api/v1/cases/{case}/export"), "auditor"),
        ("/api/v1/events?agency=hospital".to_string(), "window"),
    ] {
        let reply = get(path.clone()).as_(client).send(&app).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
    }
    let what: Vec<String> = log_of(&app, &case)
        .await
        .iter()
        .map(|read| read["what"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(what, ["history", "case_at", "export", "feed"]);
}

#[tokio::test]
async fn a_masked_read_is_not_recorded() {
    let (app, _) = app().await;
    let case = open(&app, "log-masked").await;
    let reply = get(format!("/api/v1/cases/{case}"))
        .as_("admin")
        .send(&app)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let listed = get("/api/v1/cases").as_("window").send(&app).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(log_of(&app, &case).await.is_empty());
}

#[tokio::test]
async fn only_an_auditor_reads_the_access_log() {
    let (app, _) = app().await;
    for client in ["window", "police", "admin"] {
        let reply = get("/api/v1/audit/access-log").as_(client).send(&app).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{client}");
    }
}

#[tokio::test]
async fn the_access_log_is_filtered_by_client() {
    let (app, _) = app().await;
    let case = open(&app, "log-filter").await;
    for client in ["police", "hospital", "police"] {
        get(format!("/api/v1/cases/{case}"))
            .as_(client)
            .send(&app)
            .await
            .assert_success();
    }
    let reply = get("/api/v1/audit/access-log?client=police")
        .as_("auditor")
        .send(&app)
        .await;
    let reads = reply.json["reads"].as_array().unwrap();
    assert_eq!(reads.len(), 2);
    assert!(reads.iter().all(|read| read["client"] == "police"));
}
