//! Dispatched steps (派单) over the API: the dispatcher's inbox shows the
//! step to dispatch, only it dispatches and only within the set, each
//! co-handler's inbox shows its part, the lead's completion waits for every
//! report (the missing ones in `reasons`), and the case names the lead.

use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{app_on, get, post, step};

const BUNDLE: &str = r#"
id = "api-work-order"
version = 1
title = { zh = "派单工单", en = "Dispatched work order" }
calendar = "cn"
effective_from = 2025-01-01

[[field]]
name = "complaint"
label = { zh = "诉求内容", en = "Complaint" }
type = "text"

[[step]]
id = "handle"
title = { zh = "办理", en = "Handle" }
agency = { any_of = ["market_regulation", "fire", "ecology"], dispatched_by = "hotline" }
co_handlers = 1
time_limit = "5 working days"
"#;

/// The shipped registry and calendars with the work order, in a folder of
/// this test's own.
fn folder_with_bundle() -> PathBuf {
    crate::support::folder_with_bundle("dispatch", "api-work-order.toml", BUNDLE)
}

async fn parts(app: &axum::Router, agency: &str) -> Vec<String> {
    let inbox = get(format!("/api/v1/agencies/{agency}/inbox"))
        .as_(agency)
        .send(app)
        .await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.text);
    inbox.json["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| format!("{}:{}", task["step"], task["part"]))
        .collect()
}

#[tokio::test]
async fn the_dispatcher_dispatches_within_the_set_and_the_lead_completes_after_every_report() {
    let folder = folder_with_bundle();
    let (app, _) = app_on(folder.clone(), "2026-06-01T09:00:00+08:00").await;
    let opened = post("/api/v1/cases")
        .as_("window")
        .json(json!({ "workflow": "api-work-order", "form": { "complaint": "噪音扰民" } }))
        .send(&app)
        .await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.text);
    let case = opened.json["case_id"].as_str().unwrap().to_string();
    assert_eq!(parts(&app, "hotline").await, [r#""handle":"dispatch""#]);

    let by_fire = step(&case, "handle", "dispatch")
        .as_("fire")
        .json(json!({ "to": "fire" }))
        .send(&app)
        .await;
    assert_eq!(by_fire.status, StatusCode::FORBIDDEN, "{}", by_fire.text);
    let outside = step(&case, "handle", "dispatch")
        .as_("hotline")
        .json(json!({ "to": "tax", "with": ["police"] }))
        .send(&app)
        .await;
    assert_eq!(outside.status, StatusCode::BAD_REQUEST, "{}", outside.text);
    assert_eq!(
        outside.json["reasons"],
        json!([
            "`tax` is not in the step's set",
            "`police` is not in the step's set"
        ])
    );
    let dispatched = step(&case, "handle", "dispatch")
        .as_("hotline")
        .json(json!({ "to": "market_regulation", "with": ["fire"] }))
        .send(&app)
        .await;
    assert_eq!(dispatched.status, StatusCode::OK, "{}", dispatched.text);
    assert_eq!(
        dispatched.json["events"][0]["type"],
        json!("step_dispatched")
    );
    assert!(parts(&app, "hotline").await.is_empty());
    assert_eq!(
        parts(&app, "market_regulation").await,
        [r#""handle":"lead""#]
    );
    assert_eq!(parts(&app, "fire").await, [r#""handle":"co_handler""#]);

    let early = step(&case, "handle", "complete")
        .as_("market_regulation")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(early.status, StatusCode::CONFLICT, "{}", early.text);
    assert_eq!(
        early.json["reasons"],
        json!(["co-handler `fire` has not reported"])
    );
    let reported = step(&case, "handle", "report")
        .as_("fire")
        .json(json!({ "text": "已核查消防通道" }))
        .send(&app)
        .await;
    assert_eq!(reported.status, StatusCode::OK, "{}", reported.text);
    assert!(parts(&app, "fire").await.is_empty());
    let by_co_handler = step(&case, "handle", "complete")
        .as_("fire")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(by_co_handler.status, StatusCode::FORBIDDEN);
    let done = step(&case, "handle", "complete")
        .as_("market_regulation")
        .json(json!({}))
        .send(&app)
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let handle = &done.json["case"]["steps"][0];
    assert_eq!(handle["agency"], json!("market_regulation"));
    assert_eq!(handle["dispatch"]["lead"], json!("market_regulation"));
    assert_eq!(handle["dispatch"]["reported"], json!(["fire"]));
    std::fs::remove_dir_all(folder).unwrap();
}
