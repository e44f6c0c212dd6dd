//! Webhook subscriptions as an admin sees them.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{app, get, open, post};

#[tokio::test]
async fn with_no_subscription_configured_the_webhook_list_is_empty() {
    let (app, _) = app().await;
    open(&app, "ops-1").await;
    let hooks = get("/api/v1/webhooks").as_("admin").send(&app).await;
    assert_eq!(hooks.json, json!([]), "{}", hooks.text);
}

#[tokio::test]
async fn resuming_a_subscription_that_does_not_exist_is_404() {
    let (app, _) = app().await;
    let resumed = post("/api/v1/webhooks/none/resume")
        .as_("admin")
        .send(&app)
        .await;
    assert_eq!(resumed.status, StatusCode::NOT_FOUND);
}
