//! The router without a server (`oneshot`): every endpoint, every error code,
//! and the authorization matrix — every role against every command, allowed
//! or 403, nothing stored on a 403.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use onething_server::auth::token_hash;
use onething_server::{AppState, Client, Clients, Role};
use onething_store::workflow_files::Catalog;
use serde_json::{json, Value};
use tower::ServiceExt;

const MAX_BODY: usize = 64 * 1024;

fn workflows() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows")
}

/// Tokens are `t-` and the client id.
fn clients() -> Clients {
    let mut all = vec![
        ("admin", Role::Admin, None),
        ("auditor", Role::Auditor, None),
        ("window", Role::Window, Some("window")),
    ];
    for agency in [
        "hospital",
        "cdc",
        "police",
        "medical_security",
        "tax",
        "hrss",
        "tobacco",
        "hotline",
        "market_regulation",
        "fire",
        "ecology",
    ] {
        all.push((agency, Role::Agency, Some(agency)));
    }
    // A second system of one agency (a standby, another office).
    all.push(("police-backup", Role::Agency, Some("police")));
    Clients::new(all.into_iter().map(|(id, role, agency)| {
        (
            token_hash(&format!("t-{id}")),
            Client {
                id: id.to_string(),
                role,
                agency: agency.map(str::to_string),
            },
        )
    }))
}

async fn app() -> (Router, AppState) {
    // Inside the calendar's years, so that working-day limits never reach a
    // year without a holiday table, whenever the tests run.
    app_at("2026-06-01T09:00:00+08:00").await
}

async fn app_at(now: &str) -> (Router, AppState) {
    let catalog = Catalog::load(&workflows()).unwrap();
    let store = onething_store::open_case_store("sqlite::memory:", &catalog)
        .await
        .unwrap();
    let state = AppState {
        store: Arc::new(store),
        clients: clients(),
        metrics: Arc::default(),
        feed_signal: Arc::default(),
        workflows_folder: workflows(),
        node: "test".into(),
        retry_after_seconds: 2,
        trusted_checkpoint_key: None,
        fixed_now: Some(
            chrono::DateTime::parse_from_rfc3339(now)
                .unwrap()
                .with_timezone(&chrono::Utc),
        ),
    };
    (onething_server::router(state.clone(), MAX_BODY), state)
}

struct Reply {
    status: StatusCode,
    json: Value,
    text: String,
    headers: axum::http::HeaderMap,
}

async fn call(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    key: Option<&str>,
) -> Reply {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer t-{token}"));
    }
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => request.body(Body::empty()).unwrap(),
    };
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Reply {
        status,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
        headers,
    }
}

fn newborn_form() -> Value {
    json!({
        "baby_name": "王小明", "baby_sex": "male", "birth_date": "2026-11-20", "born_in_province": true,
        "mother_id": "11010519491231002X", "household_head_id": "11010519491231002X",
        "address": "某路1号", "phone": "13800138000"
    })
}

async fn open(app: &Router, key: &str) -> String {
    let reply = call(
        app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(json!({"workflow": "newborn", "form": newborn_form()})),
        Some(key),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json["case_id"].as_str().unwrap().to_string()
}

async fn step(
    app: &Router,
    case: &str,
    step: &str,
    action: &str,
    token: &str,
    body: Value,
) -> Reply {
    call(
        app,
        Method::POST,
        &format!("/api/v1/cases/{case}/steps/{step}/{action}"),
        Some(token),
        Some(body),
        None,
    )
    .await
}

async fn sequence(state: &AppState, case: &str) -> usize {
    state.store.events(case).await.unwrap().len()
}

#[tokio::test]
async fn opening_a_case_and_replaying_its_key() {
    let (app, state) = app().await;
    let first = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(json!({"workflow": "newborn", "form": newborn_form()})),
        Some("open-1"),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let case = first.json["case_id"].as_str().unwrap().to_string();
    assert_eq!(
        first.headers["location"],
        format!("/api/v1/cases/{case}").as_str()
    );
    assert_eq!(first.json["already_applied"], false);
    assert_eq!(first.json["case"]["status"], "open");
    let again = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(json!({"workflow": "newborn", "form": newborn_form()})),
        Some("open-1"),
    )
    .await;
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
async fn reading_cases_history_time_travel_inbox_and_feed() {
    let (app, _) = app().await;
    let case = open(&app, "read-1").await;
    let done = step(
        &app,
        &case,
        "birth_certificate",
        "complete",
        "hospital",
        json!({"outputs": {"certificate_number": "Q1"}}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);

    let shown = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}"),
        Some("police"),
        None,
        None,
    )
    .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert_eq!(shown.json["sequence"], 7);
    assert_eq!(
        shown.json["applicant"], "11010519491231002X",
        "an agency of the case sees the full number"
    );

    let list = call(
        &app,
        Method::GET,
        "/api/v1/cases?status=open&bundle=newborn&limit=10",
        Some("window"),
        None,
        None,
    )
    .await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(
        list.json["cases"][0]["applicant"], "110105***********X",
        "lists mask ID numbers"
    );
    let dated = call(
        &app,
        Method::GET,
        "/api/v1/cases?opened_from=2000-01-01&opened_to=2000-01-02",
        Some("window"),
        None,
        None,
    )
    .await;
    assert_eq!(dated.json["cases"], json!([]));

    let history = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}/history"),
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(history.status, StatusCode::OK);
    assert_eq!(history.json.as_array().unwrap().len(), 7);
    assert_eq!(history.json[3]["type"], "step_completed");
    assert_eq!(history.json[3]["actor"], "hospital");
    assert_eq!(history.json[3]["channel"], "api");
    assert_eq!(history.json[3]["prev_hash"], history.json[2]["hash"]);

    let at = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}/at/3"),
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(at.status, StatusCode::OK);
    assert_eq!(at.json["sequence"], 3);
    let beyond = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}/at/99"),
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(beyond.status, StatusCode::NOT_FOUND);
    let bad = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}/at/three"),
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json["code"], "invalid_input");

    let inbox = call(
        &app,
        Method::GET,
        "/api/v1/agencies/police/inbox",
        Some("police"),
        None,
        None,
    )
    .await;
    assert_eq!(inbox.status, StatusCode::OK);
    assert_eq!(inbox.json["tasks"][0]["step"], "household_registration");
    let other = call(
        &app,
        Method::GET,
        "/api/v1/agencies/hospital/inbox",
        Some("police"),
        None,
        None,
    )
    .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let nobody = call(
        &app,
        Method::GET,
        "/api/v1/agencies/nobody/inbox",
        Some("window"),
        None,
        None,
    )
    .await;
    assert_eq!(nobody.status, StatusCode::NOT_FOUND);

    let feed = call(
        &app,
        Method::GET,
        "/api/v1/events?limit=5",
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(feed.json["events"].as_array().unwrap().len(), 5);
    let next = feed.json["next"].as_str().unwrap().to_string();
    let rest = call(
        &app,
        Method::GET,
        &format!("/api/v1/events?after={next}"),
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(rest.json["events"].as_array().unwrap().len(), 2);
    assert_eq!(rest.json["events"][0]["sequence"], 6);
    let police_feed = call(
        &app,
        Method::GET,
        "/api/v1/events",
        Some("police"),
        None,
        None,
    )
    .await;
    assert_eq!(
        police_feed.json["events"].as_array().unwrap().len(),
        7,
        "police takes part in the newborn bundle"
    );
    let underscored = call(
        &app,
        Method::GET,
        "/api/v1/events",
        Some("medical_security"),
        None,
        None,
    )
    .await;
    assert_eq!(
        underscored.json["events"].as_array().unwrap().len(),
        7,
        "an id with `_` matches itself"
    );
    let tobacco_feed = call(
        &app,
        Method::GET,
        "/api/v1/events",
        Some("tobacco"),
        None,
        None,
    )
    .await;
    assert_eq!(
        tobacco_feed.json["events"],
        json!([]),
        "tobacco takes no part in it"
    );
    let stolen = call(
        &app,
        Method::GET,
        "/api/v1/events?agency=police",
        Some("tobacco"),
        None,
        None,
    )
    .await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    let bad_cursor = call(
        &app,
        Method::GET,
        "/api/v1/events?after=nonsense",
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
    // A reader that starts now sees nothing old, then what comes next.
    let from_now = call(
        &app,
        Method::GET,
        "/api/v1/events?after=now",
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(from_now.json["events"], json!([]), "{}", from_now.text);
    let head = from_now.json["next"].as_str().unwrap().to_string();
    assert_eq!(head, rest.json["next"].as_str().unwrap());
    open(&app, "feed-from-now").await;
    let new = call(
        &app,
        Method::GET,
        &format!("/api/v1/events?after={head}"),
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(new.json["events"][0]["type"], "case_opened", "{}", new.text);
    let unreadable = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}"),
        Some("tobacco"),
        None,
        None,
    )
    .await;
    assert_eq!(
        unreadable.status,
        StatusCode::NOT_FOUND,
        "an outsider is told the case does not exist"
    );
    let missing = call(
        &app,
        Method::GET,
        "/api/v1/cases/CNOSUCHCASE",
        Some("tobacco"),
        None,
        None,
    )
    .await;
    assert_eq!(
        unreadable.text.replace(&case, "ID"),
        missing.text.replace("CNOSUCHCASE", "ID"),
        "the same answer as for an id that does not exist"
    );
}

#[tokio::test]
async fn workflows_audit_webhooks_and_operations() {
    let (app, _) = app().await;
    let case = open(&app, "ops-1").await;
    let list = call(
        &app,
        Method::GET,
        "/api/v1/workflows",
        Some("hospital"),
        None,
        None,
    )
    .await;
    assert_eq!(list.json.as_array().unwrap().len(), 5);
    let shown = call(
        &app,
        Method::GET,
        "/api/v1/workflows/newborn",
        Some("hospital"),
        None,
        None,
    )
    .await;
    assert_eq!(shown.json["id"], "newborn");
    let graph = call(
        &app,
        Method::GET,
        "/api/v1/workflows/newborn/graph?format=dot",
        Some("hospital"),
        None,
        None,
    )
    .await;
    assert!(graph.text.starts_with("digraph \"newborn\""));
    let bad_format = call(
        &app,
        Method::GET,
        "/api/v1/workflows/newborn/graph?format=png",
        Some("hospital"),
        None,
        None,
    )
    .await;
    assert_eq!(bad_format.status, StatusCode::BAD_REQUEST);
    let missing = call(
        &app,
        Method::GET,
        "/api/v1/workflows/nothing",
        Some("hospital"),
        None,
        None,
    )
    .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let reload = call(
        &app,
        Method::POST,
        "/api/v1/workflows/reload",
        Some("admin"),
        None,
        None,
    )
    .await;
    assert_eq!(reload.status, StatusCode::OK);
    let reload = call(
        &app,
        Method::POST,
        "/api/v1/workflows/reload",
        Some("window"),
        None,
        None,
    )
    .await;
    assert_eq!(reload.status, StatusCode::FORBIDDEN);

    let verify = call(
        &app,
        Method::GET,
        "/api/v1/audit/verify",
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(verify.status, StatusCode::OK);
    assert_eq!(verify.json["intact"], true);
    assert_eq!(verify.json["events"], 3);
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v1/audit/verify",
            Some("police"),
            None,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let export = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}/export"),
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert_eq!(export.json["verification"]["intact"], true);
    let html = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}/export?format=html"),
        Some("auditor"),
        None,
        None,
    )
    .await;
    assert!(html.text.starts_with("<!DOCTYPE html>"));
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v1/cases/NOPE/export",
            Some("auditor"),
            None,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    let hooks = call(
        &app,
        Method::GET,
        "/api/v1/webhooks",
        Some("admin"),
        None,
        None,
    )
    .await;
    assert_eq!(hooks.json, json!([]));
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/api/v1/webhooks/none/resume",
            Some("admin"),
            None,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    let figures = call(
        &app,
        Method::GET,
        "/api/v1/statistics?workflow=newborn",
        Some("window"),
        None,
        None,
    )
    .await;
    assert_eq!(figures.status, StatusCode::OK, "{}", figures.text);
    assert_eq!(figures.json["cases"], 1);
    assert_eq!(figures.json["by_status"]["open"], 1);
    assert_eq!(figures.json["by_channel"]["window"], 1);
    assert_eq!(
        figures.json["materials_not_submitted"], 5,
        "the newborn parents hand over no material"
    );
    assert_eq!(figures.json["promised_limit"], "5 working days");
    let compression = figures.json["time_limit_compression"].as_f64().unwrap();
    assert!((compression - (1.0 - 5.0 / 32.0)).abs() < 1e-9);
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v1/statistics?workflow=nothing",
            Some("window"),
            None,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v1/statistics?workflow=newborn",
            Some("police"),
            None,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );

    let health = call(&app, Method::GET, "/healthz", None, None, None).await;
    assert_eq!(health.json["status"], "ok");
    let metrics = call(&app, Method::GET, "/metrics", None, None, None).await;
    assert!(
        metrics
            .text
            .contains("onething_commands_total{action=\"open\",outcome=\"applied\"} 1"),
        "{}",
        metrics.text
    );
    assert!(metrics.text.contains(
        "onething_http_requests_total{method=\"GET\",route=\"/api/v1/workflows\",status=\"200\"} 1"
    ));
    let document = call(&app, Method::GET, "/openapi.json", None, None, None).await;
    assert_eq!(document.json["openapi"], "3.1.0");
}

#[tokio::test]
async fn every_error_code_is_json_with_every_reason() {
    let (app, state) = app().await;
    let case = open(&app, "errors-1").await;

    let none = call(&app, Method::GET, "/api/v1/cases", None, None, None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.json["code"], "unauthorized");
    let wrong = call(
        &app,
        Method::GET,
        "/api/v1/cases",
        Some("impostor"),
        None,
        None,
    )
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);

    let invalid = call(&app, Method::POST, "/api/v1/cases", Some("window"),
        Some(json!({"workflow": "newborn", "form": {"baby_name": "", "mother_id": "110105194912310021"}})), None).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.json["code"], "invalid_input");
    let reasons: Vec<&str> = invalid.json["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"form.baby_name: must not be empty"),
        "{reasons:?}"
    );
    assert!(reasons
        .iter()
        .any(|r| r.starts_with("form.mother_id: not a valid citizen ID number")));
    assert!(reasons.contains(&"form.phone: is required"));
    assert!(reasons.len() >= 7, "every problem at once: {reasons:?}");

    let undated = call(&app, Method::POST, "/api/v1/cases", Some("window"),
        Some(json!({"workflow": "newborn", "form": {"baby_name": ""}, "materials": [{"material": "marriage_certificate", "status": "promised"}]})), None).await;
    assert_eq!(undated.status, StatusCode::BAD_REQUEST);
    let reasons: Vec<&str> = undated.json["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"materials.marriage_certificate: a promised material needs a deadline"),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&"form.baby_name: must not be empty"),
        "the form's problems come too: {reasons:?}"
    );

    let not_json = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        None,
        None,
    )
    .await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.json["code"], "invalid_input");
    let unknown_key = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(json!({"workflow": "newborn", "form": {}, "colour": 1})),
        None,
    )
    .await;
    assert_eq!(unknown_key.status, StatusCode::BAD_REQUEST);

    let forbidden = step(
        &app,
        &case,
        "birth_certificate",
        "complete",
        "police",
        json!({"outputs": {"certificate_number": "x"}}),
    )
    .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    assert_eq!(forbidden.json["code"], "forbidden");

    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v1/cases/NOPE",
            Some("window"),
            None,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let unknown_step = step(
        &app,
        &case,
        "no_such_step",
        "complete",
        "hospital",
        json!({}),
    )
    .await;
    assert_eq!(unknown_step.status, StatusCode::NOT_FOUND);
    let unknown_workflow = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(json!({"workflow": "nothing", "form": {}})),
        None,
    )
    .await;
    assert_eq!(unknown_workflow.status, StatusCode::NOT_FOUND);
    let no_route = call(
        &app,
        Method::GET,
        "/api/v1/nothing",
        Some("window"),
        None,
        None,
    )
    .await;
    assert_eq!(no_route.status, StatusCode::NOT_FOUND);
    assert_eq!(no_route.json["code"], "not_found");

    let conflict = step(
        &app,
        &case,
        "household_registration",
        "complete",
        "police",
        json!({"outputs": {"child_id": "110101202506010015"}}),
    )
    .await;
    assert_eq!(conflict.status, StatusCode::CONFLICT);
    assert_eq!(conflict.json["code"], "conflict");
    assert_eq!(conflict.json["state"]["status"], "open");
    assert!(conflict.json["state"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == "household_registration" && s["state"] == "waiting"));

    let huge = json!({"workflow": "newborn", "form": {"baby_name": "x".repeat(MAX_BODY)}});
    let too_large = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(huge),
        None,
    )
    .await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.json["code"], "body_too_large");

    let contended: axum::response::Response =
        axum::response::IntoResponse::into_response(onething_server::error::ApiError::from(
            onething_store::CommandError::Contended { attempts: 12 },
        ));
    assert_eq!(contended.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(contended.headers()["retry-after"], "1");

    assert_eq!(
        sequence(&state, &case).await,
        3,
        "no refusal stored anything"
    );
}

/// Puts a fresh newborn case into the state a command needs.
async fn case_for(app: &Router, command: &str, key: &str) -> Option<String> {
    if command == "open" {
        return None;
    }
    let ok = |reply: Reply| assert!(reply.status.is_success(), "{}", reply.text);
    if command == "suspend" || command == "resume" {
        return Some(restaurant_licence_under_review(app, key, command == "resume").await);
    }
    if command == "extend" || command == "decide_extension" {
        return Some(hotline_order_being_handled(app, key, command == "decide_extension").await);
    }
    let case = open(app, key).await;
    if [
        "return",
        "refuse",
        "request_supplement",
        "supplement",
        "pay",
    ]
    .contains(&command)
    {
        ok(step(
            app,
            &case,
            "birth_certificate",
            "complete",
            "hospital",
            json!({"outputs": {"certificate_number": "Q"}}),
        )
        .await);
    }
    if command == "supplement" {
        ok(step(
            app,
            &case,
            "household_registration",
            "request-supplement",
            "police",
            json!({"items": ["marriage_certificate"], "reason": "unclear"}),
        )
        .await);
    }
    if command == "pay" {
        ok(step(
            app,
            &case,
            "medical_insurance",
            "complete",
            "medical_security",
            json!({"outputs": {"insurance_number": "M"}}),
        )
        .await);
    }
    if command == "rate" {
        ok(call(
            app,
            Method::POST,
            &format!("/api/v1/cases/{case}/withdraw"),
            Some("window"),
            Some(json!({"reason": "moved"})),
            None,
        )
        .await);
    }
    Some(case)
}

/// A restaurant whose food licence market regulation is reviewing; with
/// `suspended`, its clock stands still for a water test.
async fn restaurant_licence_under_review(app: &Router, key: &str, suspended: bool) -> String {
    let materials: Vec<Value> = [
        "premises_proof",
        "premises_layout",
        "food_safety_rules",
        "fire_commitment_letter",
        "fire_facilities_plan",
        "fire_safety_plan",
    ]
    .iter()
    .map(|material| json!({"material": material, "status": "submitted"}))
    .collect();
    let reply = call(
        app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(
            json!({"workflow": "restaurant", "materials": materials, "form": {
            "shop_name": "老街面馆", "has_business_licence": false, "entity_type": "sole_trader",
            "operator_id": "440304198503151231", "phone": "13600136000",
            "premises_address": "某市某区老街12号", "floor_area": 86.5,
            "food_categories": ["hot_food"], "fire_commitment": true, "wants_sign": false,
            "kitchen_fumes": false}}),
        ),
        Some(key),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let case = reply.json["case_id"].as_str().unwrap().to_string();
    let reply = step(
        app,
        &case,
        "business_licence",
        "complete",
        "market_regulation",
        json!({"outputs": {"credit_code": "91350100M000100Y43"}}),
    )
    .await;
    assert!(reply.status.is_success(), "{}", reply.text);
    if suspended {
        let reply = step(
            app,
            &case,
            "food_licence",
            "suspend",
            "market_regulation",
            json!({"procedure": "检验", "reason": "水质检测"}),
        )
        .await;
        assert!(reply.status.is_success(), "{}", reply.text);
    }
    case
}

/// A 12345 order that market regulation is handling; with `extension`, it
/// has asked for more time and waits for the hotline to decide.
async fn hotline_order_being_handled(app: &Router, key: &str, extension: bool) -> String {
    let reply = call(
        app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(json!({"workflow": "hotline-12345", "form": {
            "channel": "phone", "caller_phone": "13300133000", "caller_name": "钱女士",
            "content": "油烟扰民", "location": "花园路3号"}})),
        Some(key),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    let case = reply.json["case_id"].as_str().unwrap().to_string();
    for (step_id, token, body) in [
        (
            "intake",
            "hotline",
            json!({"outputs": {"kind": "complaint", "category": "market", "urgent": false, "direct_answer": false}}),
        ),
        (
            "dispatch",
            "hotline",
            json!({"outputs": {"category": "market"}}),
        ),
        ("sign_market_regulation", "market_regulation", json!({})),
    ] {
        let reply = step(app, &case, step_id, "complete", token, body).await;
        assert!(reply.status.is_success(), "{step_id}: {}", reply.text);
    }
    if extension {
        let reply = step(
            app,
            &case,
            "handle_market_regulation",
            "extend",
            "market_regulation",
            json!({"length": "2 working days", "reason": "联合复查"}),
        )
        .await;
        assert!(reply.status.is_success(), "{}", reply.text);
    }
    case
}

async fn send(app: &Router, command: &str, case: Option<&str>, token: &str, key: &str) -> Reply {
    let case = case.unwrap_or("");
    let (path, body) = match command {
        "open" => (
            "/api/v1/cases".to_string(),
            json!({"workflow": "newborn", "form": newborn_form()}),
        ),
        "complete" => (
            format!("/api/v1/cases/{case}/steps/birth_certificate/complete"),
            json!({"outputs": {"certificate_number": "Q"}}),
        ),
        "return" => (
            format!("/api/v1/cases/{case}/steps/household_registration/return"),
            json!({"to": "birth_certificate", "reason": "wrong name"}),
        ),
        "refuse" => (
            format!("/api/v1/cases/{case}/steps/household_registration/refuse"),
            json!({"reason": "不予许可"}),
        ),
        "request_supplement" => (
            format!("/api/v1/cases/{case}/steps/household_registration/request-supplement"),
            json!({"items": ["x"], "reason": "r"}),
        ),
        "supplement" => (
            format!("/api/v1/cases/{case}/supplement"),
            json!({"items": {"marriage_certificate": "scan"}}),
        ),
        "pay" => (
            format!("/api/v1/cases/{case}/payments"),
            json!({"payer": "guardian", "amount": 40000, "receipt": "R1"}),
        ),
        "withdraw" => (
            format!("/api/v1/cases/{case}/withdraw"),
            json!({"reason": "moved"}),
        ),
        "rate" => (format!("/api/v1/cases/{case}/rating"), json!({"score": 5})),
        "extend" => (
            format!("/api/v1/cases/{case}/steps/handle_market_regulation/extend"),
            json!({"reason": "联合复查"}),
        ),
        "suspend" => (
            format!("/api/v1/cases/{case}/steps/food_licence/suspend"),
            json!({"procedure": "专家评审", "reason": "工艺复杂"}),
        ),
        "resume" => (
            format!("/api/v1/cases/{case}/steps/food_licence/resume"),
            json!({}),
        ),
        "decide_extension" => (
            format!("/api/v1/cases/{case}/steps/handle_market_regulation/extension-decision"),
            json!({"approve": true, "reason": "同意"}),
        ),
        other => panic!("unknown command {other}"),
    };
    call(app, Method::POST, &path, Some(token), Some(body), Some(key)).await
}

#[tokio::test]
async fn the_authorization_matrix_holds_for_every_role_and_command() {
    let (app, state) = app().await;
    // Who may give each command on a newborn case: the window, the owner of
    // the step (or of a first step, to open), the collector of a payment.
    let allowed: &[(&str, &[&str])] = &[
        ("open", &["window", "hospital", "cdc"]),
        ("complete", &["hospital"]),
        ("return", &["police"]),
        ("refuse", &["police"]),
        ("request_supplement", &["police"]),
        ("supplement", &["window"]),
        ("pay", &["window", "tax"]),
        ("withdraw", &["window"]),
        ("rate", &["window"]),
        ("extend", &["market_regulation"]),
        ("decide_extension", &["hotline"]),
        ("suspend", &["market_regulation"]),
        ("resume", &["market_regulation"]),
    ];
    let roles = [
        "window",
        "hospital",
        "cdc",
        "police",
        "tax",
        "tobacco",
        "hotline",
        "market_regulation",
        "auditor",
        "admin",
    ];
    let mut checked = 0;
    for (command, who) in allowed {
        for role in roles {
            let key = format!("matrix-{command}-{role}");
            let case = case_for(&app, command, &format!("{key}-setup")).await;
            let before = match &case {
                Some(case) => sequence(&state, case).await,
                None => 0,
            };
            let reply = send(&app, command, case.as_deref(), role, &key).await;
            // An agency that takes no part in the case's bundle is told
            // the case does not exist; everyone else who may not is refused.
            let outsider = match &case {
                Some(case) if !["window", "auditor", "admin"].contains(&role) => {
                    let loaded = state.store.load(case).await.unwrap();
                    let hash = &loaded.file().unwrap().hash;
                    let definition = state.store.library().by_hash(hash).unwrap();
                    !definition.agencies.iter().any(|agency| agency.id == role)
                }
                _ => false,
            };
            if who.contains(&role) {
                assert!(
                    reply.status.is_success(),
                    "{role} may {command}: {} {}",
                    reply.status,
                    reply.text
                );
            } else {
                let expected = if outsider {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::FORBIDDEN
                };
                assert_eq!(
                    reply.status, expected,
                    "{role} may not {command}: {}",
                    reply.text
                );
                if outsider {
                    assert!(reply.json.get("state").is_none(), "{}", reply.text);
                }
                let case_id = case.unwrap_or_else(|| onething_core::case::case_id_for(&key));
                assert_eq!(
                    sequence(&state, &case_id).await,
                    before,
                    "{role} {command}: nothing stored on 403"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, allowed.len() * roles.len());
}

#[tokio::test]
async fn the_openapi_document_covers_every_route_and_error() {
    let (app, _) = app().await;
    let document = call(&app, Method::GET, "/openapi.json", None, None, None)
        .await
        .json;
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/healthz",
        "/metrics",
        "/openapi.json",
        "/api/v1/cases",
        "/api/v1/cases/{case}",
        "/api/v1/cases/{case}/at/{sequence}",
        "/api/v1/cases/{case}/history",
        "/api/v1/cases/{case}/export",
        "/api/v1/cases/{case}/steps/{step}/complete",
        "/api/v1/cases/{case}/steps/{step}/return",
        "/api/v1/cases/{case}/steps/{step}/refuse",
        "/api/v1/cases/{case}/steps/{step}/request-supplement",
        "/api/v1/cases/{case}/steps/{step}/extend",
        "/api/v1/cases/{case}/steps/{step}/extension-decision",
        "/api/v1/cases/{case}/steps/{step}/suspend",
        "/api/v1/cases/{case}/steps/{step}/resume",
        "/api/v1/cases/{case}/supplement",
        "/api/v1/cases/{case}/payments",
        "/api/v1/cases/{case}/withdraw",
        "/api/v1/cases/{case}/rating",
        "/api/v1/agencies/{agency}/inbox",
        "/api/v1/events",
        "/api/v1/workflows",
        "/api/v1/workflows/reload",
        "/api/v1/workflows/{workflow}",
        "/api/v1/workflows/{workflow}/graph",
        "/api/v1/webhooks",
        "/api/v1/webhooks/{subscription}/resume",
        "/api/v1/audit/verify",
        "/api/v1/statistics",
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} is documented"));
        for operation in item.as_object().unwrap().values() {
            // Which errors each operation lists is checked in tests/openapi.rs.
            assert!(
                operation["responses"].get("500").is_some(),
                "{path} documents 500"
            );
        }
    }
    assert!(document["components"]["securitySchemes"]["bearer"].is_object());
    assert!(document["components"]["schemas"]["OpenCaseRequest"].is_object());
}

#[tokio::test]
async fn an_extension_over_http_is_decided_by_the_approver_and_refused_with_reasons() {
    let (app, state) = app().await;
    let case = hotline_order_being_handled(&app, "extension-http", false).await;
    let due = |reply: &Reply| {
        reply.json["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "handle_market_regulation")
            .unwrap()
            .clone()
    };
    let path = format!("/api/v1/cases/{case}");
    let before = due(&call(&app, Method::GET, &path, Some("hotline"), None, None).await);
    let sequence_before = sequence(&state, &case).await;

    let too_long = step(
        &app,
        &case,
        "handle_market_regulation",
        "extend",
        "market_regulation",
        json!({"length": "9 working days", "reason": "联合复查"}),
    )
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
    let not_requested = step(
        &app,
        &case,
        "handle_market_regulation",
        "extension-decision",
        "hotline",
        json!({"approve": true, "reason": "同意"}),
    )
    .await;
    assert_eq!(
        not_requested.status,
        StatusCode::CONFLICT,
        "{}",
        not_requested.text
    );
    assert_eq!(
        sequence(&state, &case).await,
        sequence_before,
        "refusals store nothing"
    );

    let asked = step(
        &app,
        &case,
        "handle_market_regulation",
        "extend",
        "market_regulation",
        json!({"length": "2 working days", "reason": "联合复查"}),
    )
    .await;
    assert!(asked.status.is_success(), "{}", asked.text);
    let waiting = due(&call(&app, Method::GET, &path, Some("hotline"), None, None).await);
    assert_eq!(
        waiting["extension"],
        json!({"length": {"amount": 2, "unit": "working_days"}, "state": "requested"})
    );
    assert_eq!(
        waiting["due"], before["due"],
        "nothing moves before the decision"
    );
    let inbox = |agency: &'static str| {
        let app = app.clone();
        async move {
            let reply = call(
                &app,
                Method::GET,
                &format!("/api/v1/agencies/{agency}/inbox"),
                Some(agency),
                None,
                None,
            )
            .await;
            reply.json["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| {
                    format!(
                        "{}@{}:{}",
                        t["step"].as_str().unwrap(),
                        t["agency"].as_str().unwrap(),
                        t["state"].as_str().unwrap()
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        inbox("hotline").await,
        ["handle_market_regulation@hotline:extension_requested"],
        "the approver has the request to decide"
    );
    assert_eq!(
        inbox("market_regulation").await,
        ["handle_market_regulation@market_regulation:active"]
    );
    let raw_inbox = call(
        &app,
        Method::GET,
        "/api/v1/agencies/market_regulation/inbox",
        Some("market_regulation"),
        None,
        None,
    )
    .await;
    assert_eq!(
        raw_inbox.json["tasks"][0]["due"], waiting["due"],
        "the inbox writes times as the case view does"
    );
    let again = step(
        &app,
        &case,
        "handle_market_regulation",
        "extend",
        "market_regulation",
        json!({"reason": "再次延期"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.text);

    let granted = step(
        &app,
        &case,
        "handle_market_regulation",
        "extension-decision",
        "hotline",
        json!({"approve": true, "reason": "同意"}),
    )
    .await;
    assert!(granted.status.is_success(), "{}", granted.text);
    let after = due(&call(&app, Method::GET, &path, Some("hotline"), None, None).await);
    assert_eq!(after["extension"]["state"], "granted");
    assert_eq!(inbox("hotline").await, Vec::<String>::new(), "decided");
    let parse = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap();
    let moved = parse(&after["due"]) - parse(&before["due"]);
    assert!(
        moved >= chrono::Duration::days(2) && moved <= chrono::Duration::days(12),
        "two working days later: {} -> {}",
        before["due"],
        after["due"]
    );
    let history = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{case}/history"),
        Some("auditor"),
        None,
        None,
    )
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

    // A step whose workflow gives no extension.
    let newborn = open(&app, "extension-newborn").await;
    let none = step(
        &app,
        &newborn,
        "birth_certificate",
        "extend",
        "hospital",
        json!({"reason": "忙"}),
    )
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

#[tokio::test]
async fn a_limit_running_past_every_holiday_table_is_422_and_stores_nothing() {
    // The last year the shipped calendar has a table for, official or provisional.
    let catalog = Catalog::load(&workflows()).unwrap();
    let last_year = *catalog.registry.calendars["cn"]
        .years
        .keys()
        .next_back()
        .unwrap();
    let (app, state) = app_at(&format!("{last_year}-12-30T09:00:00+08:00")).await;
    let reply = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(json!({"workflow": "newborn", "form": newborn_form()})),
        Some("beyond-the-calendar"),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    assert_eq!(reply.json["code"], "cannot_compute");
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .contains(&(last_year + 1).to_string()),
        "names the missing year: {}",
        reply.text
    );
    let case = onething_core::case::case_id_for("beyond-the-calendar");
    assert_eq!(sequence(&state, &case).await, 0, "nothing stored");
}

#[tokio::test]
async fn an_agency_lists_its_waiting_cases_or_every_case_it_takes_part_in() {
    let (app, _) = app().await;
    let case = open(&app, "involved-1").await;
    let done = step(
        &app,
        &case,
        "birth_certificate",
        "complete",
        "hospital",
        json!({"outputs": {"certificate_number": "Q"}}),
    )
    .await;
    assert!(done.status.is_success(), "{}", done.text);
    let ids = |reply: Reply| -> Vec<String> {
        reply.json["cases"]
            .as_array()
            .unwrap_or_else(|| panic!("{}", reply.text))
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let list = |path: &'static str, token: &'static str| {
        let app = app.clone();
        async move { call(&app, Method::GET, path, Some(token), None, None).await }
    };
    assert_eq!(
        ids(list("/api/v1/cases", "hospital").await),
        Vec::<String>::new(),
        "nothing waits on the hospital any more"
    );
    assert_eq!(
        ids(list("/api/v1/cases?involved=true", "hospital").await),
        std::slice::from_ref(&case)
    );
    assert_eq!(
        ids(list("/api/v1/cases?agency=hospital&involved=true", "window").await),
        std::slice::from_ref(&case)
    );
    assert_eq!(
        ids(list("/api/v1/cases?involved=true", "tobacco").await),
        Vec::<String>::new(),
        "tobacco takes part in no newborn case"
    );
    assert_eq!(
        ids(list("/api/v1/cases?agency=police", "window").await),
        [case]
    );
}

/// A value nested `depth` levels deep: `{"a": {"a": … 1 …}}`.
fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

fn reasons_of(reply: &Reply) -> Vec<String> {
    reply.json["reasons"]
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .filter_map(|reason| reason.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_deeply_nested_supplement_is_refused_naming_the_item_and_the_case_stays_readable() {
    let (app, state) = app().await;
    let case = case_for(&app, "supplement", "deep-supplement")
        .await
        .unwrap();
    let before = sequence(&state, &case).await;
    for depth in [125, 33] {
        let refused = call(
            &app,
            Method::POST,
            &format!("/api/v1/cases/{case}/supplement"),
            Some("window"),
            Some(json!({"items": {"marriage_certificate": nested(depth)}})),
            None,
        )
        .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert_eq!(refused.json["code"], "invalid_input");
        let reasons = reasons_of(&refused);
        assert!(
            reasons.iter().any(|reason| reason.starts_with(&format!(
                "items.marriage_certificate: nests {depth} levels deep; at most 32"
            ))),
            "{reasons:?}"
        );
    }
    // Under the server's body limit, over the limit of one value.
    let roomy = onething_server::router(state.clone(), 1 << 20);
    let huge = call(
        &roomy,
        Method::POST,
        &format!("/api/v1/cases/{case}/supplement"),
        Some("window"),
        Some(json!({"items": {"marriage_certificate": "x".repeat(70_000)}})),
        None,
    )
    .await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST, "{}", huge.text);
    assert!(
        reasons_of(&huge)[0].starts_with("items.marriage_certificate: takes 70002 bytes"),
        "{}",
        huge.text
    );
    assert_eq!(sequence(&state, &case).await, before, "nothing was stored");
    for path in [
        format!("/api/v1/cases/{case}"),
        format!("/api/v1/cases/{case}/history"),
    ] {
        let read = call(&app, Method::GET, &path, Some("window"), None, None).await;
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.text);
    }
    let supplied = call(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{case}/supplement"),
        Some("window"),
        Some(json!({"items": {"marriage_certificate": nested(32)}})),
        None,
    )
    .await;
    assert_eq!(supplied.status, StatusCode::OK, "{}", supplied.text);
}

#[tokio::test]
async fn a_panicking_handler_answers_500_in_the_error_shape() {
    let (_, state) = app().await;
    let routes = axum::Router::new().route(
        "/boom",
        axum::routing::get(|| async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            "unreachable"
        }),
    );
    let app = onething_server::with_layers(routes, state.clone(), MAX_BODY);
    let reply = call(&app, Method::GET, "/boom", None, None, None).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json["code"], "internal", "{}", reply.text);
    assert!(
        !reply.text.contains("boom"),
        "no details leave the server: {}",
        reply.text
    );
    assert!(state
        .metrics
        .render()
        .contains("onething_http_requests_total{method=\"GET\",route=\"/boom\",status=\"500\"} 1"));
}

#[tokio::test]
async fn healthz_reports_each_background_job_and_a_stopped_one_is_503() {
    let (app, state) = app().await;
    let running = state.metrics.job_running("deadline-check");
    let healthy = call(&app, Method::GET, "/healthz", None, None, None).await;
    assert_eq!(healthy.status, StatusCode::OK, "{}", healthy.text);
    assert_eq!(healthy.json["jobs"], json!({"deadline-check": "running"}));
    drop(running);
    let degraded = call(&app, Method::GET, "/healthz", None, None, None).await;
    assert_eq!(degraded.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(degraded.json["status"], "degraded");
    assert_eq!(degraded.json["jobs"], json!({"deadline-check": "stopped"}));
}

#[tokio::test]
async fn a_job_goes_on_past_a_failing_case_and_past_a_panic() {
    let (app, state) = app().await;
    let broken = open(&app, "job-broken").await;
    let good = open(&app, "job-good").await;
    let before = sequence(&state, &good).await;
    onething_store::with_pool!(state.store.database(), pool => {
        sqlx::query("UPDATE events SET payload = '{\"unexpected\": 1}' WHERE aggregate_id = ? AND sequence = 2")
            .bind(&broken)
            .execute(pool)
            .await
            .unwrap();
    });
    // Changed behind the engine's back: its cache must not hide it.
    state.store.clear_cache();
    // The cases were opened months before the clock the check runs on: the
    // good one's steps are overdue now, and are marked despite the broken one.
    let recorded =
        onething_server::background::check_deadlines(&state, std::time::Duration::from_secs(60))
            .await
            .unwrap();
    assert!(recorded > 0);
    assert!(sequence(&state, &good).await > before);
    let metrics = state.metrics.render();
    assert!(
        metrics.contains("onething_job_failures_total{job=\"deadline-check\"} 1"),
        "{metrics}"
    );
    let read = call(
        &app,
        Method::GET,
        &format!("/api/v1/cases/{broken}"),
        Some("window"),
        None,
        None,
    )
    .await;
    assert_eq!(read.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(read.json["code"], "internal");

    let panicked = onething_server::background::guarded(&state, "checkpoint", "a test", async {
        if std::hint::black_box(true) {
            panic!("a bug");
        }
        Ok::<u32, String>(1)
    })
    .await;
    assert_eq!(panicked, None);
    assert!(state
        .metrics
        .render()
        .contains("onething_job_failures_total{job=\"checkpoint\"} 1"));
}

#[tokio::test]
async fn citizen_id_numbers_are_masked_by_type_wherever_the_forms_are() {
    let (app, _) = app().await;
    let case = open(&app, "masking-1").await;
    let child_id = "110105202605200039";
    for (step_id, token, outputs) in [
        (
            "birth_certificate",
            "hospital",
            json!({"certificate_number": "Q1"}),
        ),
        (
            "household_registration",
            "police",
            json!({"child_id": child_id}),
        ),
    ] {
        let done = step(
            &app,
            &case,
            step_id,
            "complete",
            token,
            json!({ "outputs": outputs }),
        )
        .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    }
    let full_numbers = ["11010519491231002X", child_id];
    let endpoints = [
        format!("/api/v1/cases/{case}"),
        format!("/api/v1/cases/{case}/at/9"),
        format!("/api/v1/cases/{case}/history"),
        format!("/api/v1/cases/{case}/export"),
        "/api/v1/cases?workflow=newborn".to_string(),
        "/api/v1/cases?workflow=newborn&agency=police&involved=true".to_string(),
        "/api/v1/events".to_string(),
        "/api/v1/agencies/police/inbox".to_string(),
        "/api/v1/statistics?workflow=newborn".to_string(),
    ];
    let mut masked_seen = 0;
    for role in ["admin", "auditor", "window", "police", "hospital", "tax"] {
        for path in &endpoints {
            let reply = call(&app, Method::GET, path, Some(role), None, None).await;
            if !reply.status.is_success() {
                continue;
            }
            // Lists show every case masked; an admin sees every case masked.
            let masked = role == "admin" || path.starts_with("/api/v1/cases?");
            if masked {
                for number in full_numbers {
                    assert!(
                        !reply.text.contains(number),
                        "{role} {path} shows {number} in full: {}",
                        reply.text
                    );
                }
                if reply.text.contains("110105***********9") {
                    masked_seen += 1;
                }
            } else if path == &format!("/api/v1/cases/{case}") {
                assert_eq!(
                    reply.json["steps"][2]["outputs"]["child_id"], child_id,
                    "{role} reads the case in full"
                );
            }
        }
    }
    assert!(
        masked_seen >= 7,
        "the masked child's number is shown where it is masked ({masked_seen})"
    );
}

#[tokio::test]
async fn an_agency_outside_a_bundle_learns_nothing_of_its_cases() {
    let (app, _) = app().await;
    let case = open(&app, "outsider-1").await;
    // household_registration is waiting: a conflict for the police, who take part.
    let inside = step(
        &app,
        &case,
        "household_registration",
        "complete",
        "police",
        json!({"outputs": {"child_id": "110105202605200039"}}),
    )
    .await;
    assert_eq!(inside.status, StatusCode::CONFLICT, "{}", inside.text);
    assert!(inside.json["state"]["steps"].is_array(), "{}", inside.text);
    for (existing, missing) in [
        (
            format!("/api/v1/cases/{case}/steps/household_registration/complete"),
            "/api/v1/cases/CNOSUCHCASE/steps/household_registration/complete".to_string(),
        ),
        (
            format!("/api/v1/cases/{case}/withdraw"),
            "/api/v1/cases/CNOSUCHCASE/withdraw".to_string(),
        ),
    ] {
        let body = if existing.ends_with("withdraw") {
            json!({"reason": "r"})
        } else {
            json!({"outputs": {}})
        };
        let outside = call(
            &app,
            Method::POST,
            &existing,
            Some("tobacco"),
            Some(body.clone()),
            None,
        )
        .await;
        let nothing = call(
            &app,
            Method::POST,
            &missing,
            Some("tobacco"),
            Some(body),
            None,
        )
        .await;
        assert_eq!(outside.status, StatusCode::NOT_FOUND, "{}", outside.text);
        assert_eq!(outside.text, nothing.text, "{existing}");
        assert!(outside.json.get("state").is_none());
    }
    for path in ["", "/history", "/at/1"] {
        let outside = call(
            &app,
            Method::GET,
            &format!("/api/v1/cases/{case}{path}"),
            Some("tobacco"),
            None,
            None,
        )
        .await;
        let nothing = call(
            &app,
            Method::GET,
            &format!("/api/v1/cases/CNOSUCHCASE{path}"),
            Some("tobacco"),
            None,
            None,
        )
        .await;
        assert_eq!(outside.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            outside.text.replace(&case, "ID"),
            nothing.text.replace("CNOSUCHCASE", "ID"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_answers_any_client_of_its_agency_and_no_other_agency() {
    let (app, state) = app().await;
    let case = open(&app, "key-scope-1").await;
    let done = step(
        &app,
        &case,
        "birth_certificate",
        "complete",
        "hospital",
        json!({"outputs": {"certificate_number": "Q1"}}),
    )
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    let path = format!("/api/v1/cases/{case}/steps/household_registration/complete");
    let body = json!({"outputs": {"child_id": "110105202605200039"}});
    let first = call(
        &app,
        Method::POST,
        &path,
        Some("police"),
        Some(body.clone()),
        Some("hukou-1"),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let after = sequence(&state, &case).await;
    let standby = call(
        &app,
        Method::POST,
        &path,
        Some("police-backup"),
        Some(body.clone()),
        Some("hukou-1"),
    )
    .await;
    assert_eq!(standby.status, StatusCode::OK, "{}", standby.text);
    assert_eq!(standby.json["already_applied"], true);
    assert_eq!(standby.json["events"], first.json["events"]);
    let other_agency = call(
        &app,
        Method::POST,
        &format!("/api/v1/cases/{case}/steps/vaccination_card/complete"),
        Some("cdc"),
        Some(json!({"outputs": {}})),
        Some("hukou-1"),
    )
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
async fn every_error_has_the_one_json_shape_405_and_414_included() {
    let (app, _) = app().await;
    let long = format!("/api/v1/cases?workflow={}", "a".repeat(9000));
    let answers = [
        (
            Method::DELETE,
            "/api/v1/cases".to_string(),
            None,
            405,
            "method_not_allowed",
        ),
        (
            Method::PUT,
            "/healthz".to_string(),
            None,
            405,
            "method_not_allowed",
        ),
        (Method::GET, long, Some("window"), 414, "uri_too_long"),
        (Method::GET, "/nowhere".to_string(), None, 404, "not_found"),
        (
            Method::GET,
            "/api/v1/cases".to_string(),
            None,
            401,
            "unauthorized",
        ),
        (
            Method::GET,
            "/api/v1/cases/C1/at/x".to_string(),
            Some("window"),
            400,
            "invalid_input",
        ),
    ];
    for (method, path, token, status, code) in answers {
        let reply = call(&app, method.clone(), &path, token, None, None).await;
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {path}: {}",
            reply.text
        );
        assert_eq!(reply.json["code"], code, "{method} {path}: {}", reply.text);
        assert!(reply.json["message"].is_string(), "{}", reply.text);
        assert!(reply.json["reasons"].is_array(), "{}", reply.text);
        assert_eq!(
            reply.headers["content-type"], "application/json",
            "{method} {path}"
        );
    }
}

fn home_transfer_form() -> Value {
    json!({
        "seller_name": "李卖", "seller_id": "32010219620708461X", "seller_phone": "13900139000",
        "buyer_name": "张买", "buyer_id": "510107199302113459", "buyer_phone": "13700137000",
        "property_address": "某市某区和平路8号2单元301", "title_certificate_number": "某(2018)不动产权第0012345号",
        "price": 300000000, "area": 90.0, "buyer_first_home": true, "seller_years_held": 3,
        "seller_only_home": false, "location": "city", "delivery": "self_print"
    })
}

#[tokio::test]
async fn form_numbers_out_of_bounds_are_refused_at_open_so_no_case_is_left_stuck() {
    let (app, _) = app().await;
    let open_with = |changes: Value| {
        let mut form = home_transfer_form();
        for (key, value) in changes.as_object().unwrap() {
            form[key] = value.clone();
        }
        json!({"workflow": "home-transfer", "form": form})
    };
    let fine = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(open_with(json!({}))),
        Some("bounds-fine"),
    )
    .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.text);
    let refused = call(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some("window"),
        Some(open_with(json!({
            "extra_certificates": i64::MAX,
            "area": -90.0,
            "price": i64::MAX,
        }))),
        Some("bounds-refused"),
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(
        reasons_of(&refused),
        [
            "form.price: must be at most 1000000000000 fen, found 9223372036854775807",
            "form.area: must be at least 0, found -90",
            "form.extra_certificates: must be at most 1000000, found 9223372036854775807",
        ]
    );
}

#[tokio::test]
async fn with_a_trusted_key_the_api_compares_only_with_a_checkpoint_it_signed() {
    let (_, state) = app().await;
    let seed = "11".repeat(32);
    let trusted = onething_core::audit::public_key_hex(&seed).unwrap();
    let app = onething_server::router(
        AppState {
            trusted_checkpoint_key: Some(trusted),
            ..state.clone()
        },
        MAX_BODY,
    );
    open(&app, "trusted-1").await;
    let verify = || {
        call(
            &app,
            Method::GET,
            "/api/v1/audit/verify",
            Some("auditor"),
            None,
            None,
        )
    };
    assert_eq!(verify().await.status, StatusCode::OK, "no checkpoint yet");
    onething_store::audit::take_checkpoint(
        state.store.database(),
        "2026-06-01T01:00:00.000Z".into(),
        None,
    )
    .await
    .unwrap();
    let unsigned = verify().await;
    assert_eq!(unsigned.status, StatusCode::CONFLICT, "{}", unsigned.text);
    assert_eq!(unsigned.json["code"], "untrusted_checkpoint");
    assert!(reasons_of(&unsigned)[0].starts_with("the checkpoint is not signed"));
    onething_store::audit::take_checkpoint(
        state.store.database(),
        "2026-06-01T02:00:00.000Z".into(),
        Some(&"22".repeat(32)),
    )
    .await
    .unwrap();
    let other_key = verify().await;
    assert_eq!(other_key.status, StatusCode::CONFLICT);
    assert!(reasons_of(&other_key)[0].contains("not with the trusted key"));
    onething_store::audit::take_checkpoint(
        state.store.database(),
        "2026-06-01T03:00:00.000Z".into(),
        Some(&seed),
    )
    .await
    .unwrap();
    let signed = verify().await;
    assert_eq!(signed.status, StatusCode::OK, "{}", signed.text);
    assert_eq!(signed.json["intact"], true);
}
