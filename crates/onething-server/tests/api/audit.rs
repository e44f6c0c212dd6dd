//! The audit trail: verifying the hash chain (against signed checkpoints
//! with a trusted key) and exporting a case with its verification.

use axum::http::StatusCode;
use axum::Router;
use onething_server::AppState;

use crate::support::{app, get, open, Reply, MAX_BODY};

#[tokio::test]
async fn the_auditor_finds_the_chain_of_every_event_intact() {
    let (app, _) = app().await;
    open(&app, "ops-1").await;
    let verify = get("/api/v1/audit/verify").as_("auditor").send(&app).await;
    assert_eq!(verify.status, StatusCode::OK);
    assert_eq!(verify.json["intact"], true);
    assert_eq!(verify.json["events"], 3);
}

#[tokio::test]
async fn an_agency_may_not_verify_the_audit_chain() {
    let (app, _) = app().await;
    let verify = get("/api/v1/audit/verify").as_("police").send(&app).await;
    assert_eq!(verify.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_case_exported_as_json_carries_its_verification() {
    let (app, _) = app().await;
    let case = open(&app, "ops-1").await;
    let export = get(format!("/api/v1/cases/{case}/export"))
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(
        export.json["verification"]["intact"], true,
        "{}",
        export.text
    );
}

#[tokio::test]
async fn a_case_exports_as_an_html_page() {
    let (app, _) = app().await;
    let case = open(&app, "ops-1").await;
    let html = get(format!("/api/v1/cases/{case}/export?format=html"))
        .as_("auditor")
        .send(&app)
        .await;
    assert!(html.text.starts_with("<!DOCTYPE html>"), "{}", html.text);
}

#[tokio::test]
async fn exporting_a_case_that_does_not_exist_is_404() {
    let (app, _) = app().await;
    let export = get("/api/v1/cases/NOPE/export")
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(export.status, StatusCode::NOT_FOUND);
}

/// The seed of the trusted checkpoint key.
const SEED: &str = "1111111111111111111111111111111111111111111111111111111111111111";

/// The router trusting only checkpoints signed with `SEED`, one case opened.
async fn trusting() -> (Router, AppState) {
    let (_, state) = app().await;
    let trusted = onething_core::audit::public_key_hex(SEED).unwrap();
    let app = onething_server::router(
        AppState {
            trusted_checkpoint_key: Some(trusted),
            ..state.clone()
        },
        MAX_BODY,
    );
    open(&app, "trusted-1").await;
    (app, state)
}

async fn take_checkpoint(state: &AppState, at: &str, seed: Option<&str>) {
    onething_store::audit::take_checkpoint(state.store.database(), at.into(), seed)
        .await
        .unwrap();
}

async fn verify(app: &Router) -> Reply {
    get("/api/v1/audit/verify").as_("auditor").send(app).await
}

#[tokio::test]
async fn with_a_trusted_key_and_no_checkpoint_yet_the_chain_verifies() {
    let (app, _) = trusting().await;
    assert_eq!(
        verify(&app).await.status,
        StatusCode::OK,
        "no checkpoint yet"
    );
}

#[tokio::test]
async fn with_a_trusted_key_an_unsigned_checkpoint_is_409_untrusted_checkpoint() {
    let (app, state) = trusting().await;
    take_checkpoint(&state, "2026-06-01T01:00:00.000Z", None).await;
    let unsigned = verify(&app).await;
    assert_eq!(unsigned.status, StatusCode::CONFLICT, "{}", unsigned.text);
    assert_eq!(unsigned.json["code"], "untrusted_checkpoint");
    assert!(unsigned.reasons()[0].starts_with("the checkpoint is not signed"));
}

#[tokio::test]
async fn with_a_trusted_key_a_checkpoint_signed_with_another_key_is_409() {
    let (app, state) = trusting().await;
    take_checkpoint(&state, "2026-06-01T01:00:00.000Z", None).await;
    take_checkpoint(&state, "2026-06-01T02:00:00.000Z", Some(&"22".repeat(32))).await;
    let other_key = verify(&app).await;
    assert_eq!(other_key.status, StatusCode::CONFLICT, "{}", other_key.text);
    assert!(other_key.reasons()[0].contains("not with the trusted key"));
}

#[tokio::test]
async fn with_a_trusted_key_a_checkpoint_it_signed_verifies_after_untrusted_ones() {
    let (app, state) = trusting().await;
    take_checkpoint(&state, "2026-06-01T01:00:00.000Z", None).await;
    take_checkpoint(&state, "2026-06-01T02:00:00.000Z", Some(&"22".repeat(32))).await;
    take_checkpoint(&state, "2026-06-01T03:00:00.000Z", Some(SEED)).await;
    let signed = verify(&app).await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.text);
    assert_eq!(signed.json["intact"], true);
}
