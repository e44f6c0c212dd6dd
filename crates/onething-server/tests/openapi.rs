//! The OpenAPI document against the router it is built with: every
//! documented operation is served, every operation lists only the errors of
//! its kind, closed parameters list their values, and the case is typed —
//! and the typed case serialises exactly as the core's view.

use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use onething_core::case::{view, Disclosure};
use onething_server::auth::token_hash;
use onething_server::{AppState, Client, Clients, Role};
use onething_store::workflow_files::Catalog;
use serde_json::{json, Value};
use tower::ServiceExt;

fn workflows() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows")
}

async fn app() -> (Router, AppState) {
    let catalog = Catalog::load(&workflows()).unwrap();
    let store = onething_store::open_case_store("sqlite::memory:", &catalog)
        .await
        .unwrap();
    let clients = Clients::new([("window", Role::Window), ("admin", Role::Admin)].map(
        |(id, role)| {
            (
                token_hash(&format!("t-{id}")),
                Client {
                    id: id.into(),
                    role,
                    agency: (role == Role::Window).then(|| "window".to_string()),
                },
            )
        },
    ));
    let state = AppState {
        store: Arc::new(store),
        clients,
        metrics: Arc::default(),
        feed_signal: Arc::default(),
        workflows_folder: workflows(),
        node: "test".into(),
        retry_after_seconds: 2,
        trusted_checkpoint_key: None,
        fixed_now: Some(
            chrono::DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00")
                .unwrap()
                .with_timezone(&chrono::Utc),
        ),
    };
    (onething_server::router(state.clone(), 64 * 1024), state)
}

async fn send(
    app: &Router,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", "Bearer t-window");
    let request = match body {
        Some(body) => request
            .header("content-type", "application/json")
            .body(Body::from(body.to_string())),
        None => request.body(Body::empty()),
    }
    .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn document(app: &Router) -> Value {
    send(app, Method::GET, "/openapi.json", None).await.1
}

/// `/api/v1/cases/{case}` with every parameter filled in.
fn concrete(path: &str) -> String {
    path.replace("{sequence}", "1")
        .split('/')
        .map(|part| if part.starts_with('{') { "x" } else { part })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_documented_operation_is_served_by_the_router() {
    let (app, _) = app().await;
    let document = document(&app).await;
    let mut checked = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method == Method::POST).then(|| json!({}));
            let (status, reply) = send(&app, method.clone(), &concrete(path), body).await;
            let unrouted = reply["message"]
                .as_str()
                .is_some_and(|message| message.starts_with("no such endpoint"));
            assert!(
                !unrouted && status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path} is documented but not routed: {status} {reply}"
            );
            checked += 1;
        }
    }
    // The operations of the API: 38.
    assert_eq!(checked, 38);
}

#[tokio::test]
async fn an_undocumented_path_is_not_routed() {
    let (app, _) = app().await;
    let (status, reply) = send(&app, Method::GET, "/api/v1/undocumented", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(reply["code"], "not_found");
}

fn statuses(document: &Value, path: &str, method: &str) -> Vec<String> {
    document["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is documented"))
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn each_operation_lists_the_errors_of_its_kind_and_no_others() {
    let (app, _) = app().await;
    let document = document(&app).await;
    let command = [
        "200", "400", "401", "403", "404", "409", "413", "414", "422", "500", "503", "507",
    ];
    assert_eq!(
        statuses(
            &document,
            "/api/v1/cases/{case}/steps/{step}/complete",
            "post"
        ),
        command
    );
    assert_eq!(
        statuses(&document, "/api/v1/cases/{case}", "get"),
        ["200", "400", "401", "404", "414", "500", "503"]
    );
    assert_eq!(
        statuses(&document, "/api/v1/workflows", "get"),
        ["200", "401", "414", "500", "503"]
    );
    assert_eq!(
        statuses(&document, "/metrics", "get"),
        ["200", "414", "500"]
    );
    // A read never answers as a write does.
    for (path, item) in document["paths"].as_object().unwrap() {
        if let Some(get) = item.get("get") {
            let responses = get["responses"].as_object().unwrap();
            for write_only in ["409", "413", "422", "507"] {
                let allowed = write_only == "409" && path == "/api/v1/audit/verify";
                assert!(
                    allowed || !responses.contains_key(write_only),
                    "GET {path} documents {write_only}"
                );
            }
        }
        for operation in item.as_object().unwrap().values() {
            let secured = operation.get("security").is_some();
            assert_eq!(
                operation["responses"].get("401").is_some(),
                secured,
                "{path}: 401 exactly where a token is required"
            );
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    let health = path == "/healthz" && status == "503";
                    assert!(
                        health || schema == "#/components/schemas/ErrorBody",
                        "{path} {status} is in the error shape"
                    );
                }
            }
        }
    }
}

fn parameter_values(document: &Value, path: &str, name: &str) -> Vec<String> {
    let parameter = document["paths"][path]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|parameter| parameter["name"] == name)
        .unwrap_or_else(|| panic!("{path} has the parameter {name}"))
        .clone();
    // An enum parameter refers to its schema (possibly through `oneOf` with null).
    let mut schema = parameter["schema"].clone();
    if let Some(options) = schema["oneOf"].as_array() {
        schema = options
            .iter()
            .find(|option| option.get("$ref").is_some())
            .unwrap()
            .clone();
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        schema = document["components"]["schemas"][name].clone();
    }
    schema["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}: {parameter} lists its values"))
        .iter()
        .map(|value| value.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn closed_parameters_list_their_values() {
    let (app, _) = app().await;
    let document = document(&app).await;
    assert_eq!(
        parameter_values(&document, "/api/v1/cases", "status"),
        [
            "open",
            "completed",
            "partially_completed",
            "withdrawn",
            "terminated"
        ]
    );
    assert_eq!(
        parameter_values(&document, "/api/v1/workflows/{workflow}/graph", "format"),
        ["mermaid", "dot"]
    );
    assert_eq!(
        parameter_values(&document, "/api/v1/cases/{case}/export", "format"),
        ["json", "html"]
    );
}

#[tokio::test]
async fn a_value_outside_a_closed_parameter_is_a_400_naming_the_allowed_ones() {
    let (app, _) = app().await;
    let (status, reply) = send(&app, Method::GET, "/api/v1/cases?status=closed", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let reason = reply["reasons"][0].as_str().unwrap();
    for value in ["closed", "open", "partially_completed", "terminated"] {
        assert!(reason.contains(value), "{reason}");
    }
    let (status, reply) = send(
        &app,
        Method::GET,
        "/api/v1/workflows/newborn/graph?format=svg",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let reason = reply["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("svg") && reason.contains("mermaid") && reason.contains("dot"),
        "{reason}"
    );
}

#[tokio::test]
async fn the_case_is_a_typed_schema() {
    let (app, _) = app().await;
    let document = document(&app).await;
    let schemas = &document["components"]["schemas"];
    let case = &schemas["Case"];
    for field in [
        "id",
        "status",
        "steps",
        "payments",
        "materials",
        "opened_at",
    ] {
        assert!(
            case["properties"][field].is_object(),
            "Case has {field}: {case}"
        );
    }
    assert_eq!(
        case["properties"]["steps"]["items"]["$ref"],
        "#/components/schemas/Step"
    );
    assert!(schemas["StepState"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("suspended")));
    let get_case = &document["paths"]["/api/v1/cases/{case}"]["get"]["responses"]["200"];
    assert_eq!(
        get_case["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Case"
    );
}

fn newborn_form() -> Value {
    json!({
        "baby_name": "王小明", "baby_sex": "male", "birth_date": "2026-11-20", "born_in_province": true,
        "mother_id": "11010519491231002X", "household_head_id": "11010519491231002X",
        "address": "某路1号", "phone": "13800138000"
    })
}

#[tokio::test]
async fn the_case_the_api_writes_is_the_cores_view_field_for_field() {
    let (app, state) = app().await;
    let (status, opened) = send(
        &app,
        Method::POST,
        "/api/v1/cases",
        Some(json!({
            "workflow": "newborn",
            "form": newborn_form(),
            "materials": [{"material": "marriage_certificate", "status": "commitment"}],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{opened}");
    let case_id = opened["case_id"].as_str().unwrap();
    let (_, written) = send(&app, Method::GET, &format!("/api/v1/cases/{case_id}"), None).await;
    let loaded = state.store.load(case_id).await.unwrap();
    let definition = state
        .store
        .library()
        .by_hash(&loaded.file().unwrap().hash)
        .unwrap();
    let core = view(&loaded, Some(&definition), Disclosure::Full).unwrap();
    assert_eq!(written, serde_json::to_value(core).unwrap());
    assert_eq!(opened["case"], written);
}
