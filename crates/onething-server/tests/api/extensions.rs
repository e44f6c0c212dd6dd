//! Extending a step's time limit: asked for by the agency handling it,
//! decided by the approver, refused with reasons.

use axum::http::StatusCode;
use axum::Router;
use serde_json::{json, Value};

use crate::support::{app, get, hotline_order_being_handled, open, sequence, step, Reply};

const HANDLING: &str = "handle";

/// The handling step of a 12345 order as the hotline reads it.
async fn handling(app: &Router, case: &str) -> Value {
    let reply = get(format!("/api/v1/cases/{case}"))
        .as_("hotline")
        .send(app)
        .await;
    reply.json["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.text))
        .iter()
        .find(|s| s["id"] == HANDLING)
        .unwrap()
        .clone()
}

/// The tasks of an agency's inbox, as `step@agency:state`.
async fn inbox(app: &Router, agency: &str) -> Vec<String> {
    let reply = get(format!("/api/v1/agencies/{agency}/inbox"))
        .as_(agency)
        .send(app)
        .await;
    reply.json["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", reply.text))
        .iter()
        .map(|t| {
            format!(
                "{}@{}:{}",
                t["step"].as_str().unwrap(),
                t["agency"].as_str().unwrap(),
                t["state"].as_str().unwrap()
            )
        })
        .collect()
}

async fn grant(app: &Router, case: &str) -> Reply {
    step(case, HANDLING, "extension-decision")
        .as_("hotline")
        .json(json!({"approve": true, "reason": "同意"}))
        .send(app)
        .await
}

#[tokio::test]
async fn an_extension_longer_than_the_workflow_allows_is_400_naming_the_most_and_stores_nothing() {
    let (app, state) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", false).await;
    let before = sequence(&state, &case).await;
    let too_long = step(&case, HANDLING, "extend")
        .as_("market_regulation")
        .json(json!({"length": "9 working days", "reason": "联合复查"}))
        .send(&app)
        .await;
    assert_eq!(
        too_long.status,
        StatusCode::BAD_REQUEST,
        "{}",
        too_long.text
    );
    assert_eq!(too_long.json["code"], "invalid_input");
    assert!(
        too_long.json["reasons"][0]
            .as_str()
            .unwrap()
            .contains("at most 5 working days"),
        "{}",
        too_long.text
    );
    assert_eq!(
        sequence(&state, &case).await,
        before,
        "refusals store nothing"
    );
}

#[tokio::test]
async fn deciding_an_extension_nobody_asked_for_is_409_and_stores_nothing() {
    let (app, state) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", false).await;
    let before = sequence(&state, &case).await;
    let not_requested = grant(&app, &case).await;
    assert_eq!(
        not_requested.status,
        StatusCode::CONFLICT,
        "{}",
        not_requested.text
    );
    assert_eq!(
        sequence(&state, &case).await,
        before,
        "refusals store nothing"
    );
}

#[tokio::test]
async fn an_extension_asked_for_moves_no_deadline_before_it_is_decided() {
    let (app, _) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", false).await;
    let before = handling(&app, &case).await;
    step(&case, HANDLING, "extend")
        .as_("market_regulation")
        .json(json!({"length": "2 working days", "reason": "联合复查"}))
        .send(&app)
        .await
        .assert_success();
    let waiting = handling(&app, &case).await;
    assert_eq!(
        waiting["extension"],
        json!({"length": {"amount": 2, "unit": "working_days"}, "state": "requested"})
    );
    assert_eq!(
        waiting["due"], before["due"],
        "nothing moves before the decision"
    );
}

#[tokio::test]
async fn an_extension_asked_for_waits_in_the_approvers_inbox_while_the_step_stays_active() {
    let (app, _) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", true).await;
    assert_eq!(
        inbox(&app, "hotline").await,
        [format!("{HANDLING}@hotline:extension_requested")],
        "the approver has the request to decide ({case})"
    );
    assert_eq!(
        inbox(&app, "market_regulation").await,
        [format!("{HANDLING}@market_regulation:active")]
    );
}

#[tokio::test]
async fn a_second_extension_asked_for_while_one_waits_is_409() {
    let (app, _) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", true).await;
    let again = step(&case, HANDLING, "extend")
        .as_("market_regulation")
        .json(json!({"reason": "再次延期"}))
        .send(&app)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);
}

#[tokio::test]
async fn a_granted_extension_moves_the_deadline_by_its_length() {
    let (app, _) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", false).await;
    let before = handling(&app, &case).await;
    step(&case, HANDLING, "extend")
        .as_("market_regulation")
        .json(json!({"length": "2 working days", "reason": "联合复查"}))
        .send(&app)
        .await
        .assert_success();
    grant(&app, &case).await.assert_success();
    let after = handling(&app, &case).await;
    assert_eq!(after["extension"]["state"], "granted");
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let moved = parse(&after["due"]) - parse(&before["due"]);
    assert!(
        moved >= chrono::Duration::days(2) && moved <= chrono::Duration::days(12),
        "two working days later: {} -> {}",
        before["due"],
        after["due"]
    );
}

#[tokio::test]
async fn a_decided_extension_leaves_the_approvers_inbox() {
    let (app, _) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", true).await;
    grant(&app, &case).await.assert_success();
    assert_eq!(
        inbox(&app, "hotline").await,
        Vec::<String>::new(),
        "decided"
    );
}

#[tokio::test]
async fn the_history_records_the_extension_asked_for_then_the_one_granted() {
    let (app, _) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", true).await;
    grant(&app, &case).await.assert_success();
    let history = get(format!("/api/v1/cases/{case}/history"))
        .as_("auditor")
        .send(&app)
        .await;
    let types: Vec<&str> = history
        .json
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(
        types.ends_with(&["extension_requested", "step_extended"]),
        "{types:?}"
    );
}

#[tokio::test]
async fn a_step_whose_workflow_gives_no_extension_refuses_one_with_409() {
    let (app, _) = app().await;
    let newborn = open(&app, "extension-newborn").await;
    let none = step(&newborn, "birth_certificate", "extend")
        .as_("hospital")
        .json(json!({"reason": "忙"}))
        .send(&app)
        .await;
    assert_eq!(none.status, StatusCode::CONFLICT, "{}", none.text);
    assert!(
        none.json["message"]
            .as_str()
            .unwrap()
            .contains("no extension"),
        "{}",
        none.text
    );
}
