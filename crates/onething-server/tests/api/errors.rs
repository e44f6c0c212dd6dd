//! Error answers: one JSON shape (`code`, `message`, `reasons`) for every
//! status, every reason at once, nothing of a panic leaving the server.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{app, get, post, request, MAX_BODY};

#[tokio::test]
async fn an_invalid_form_is_400_invalid_input_with_every_reason_at_once() {
    let (app, _) = app().await;
    let invalid = post("/api/v1/cases")
        .as_("window")
        .json(json!({"workflow": "newborn", "form": {"baby_name": "", "mother_id": "110105194912310021"}}))
        .send(&app)
        .await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.json["code"], "invalid_input");
    let reasons = invalid.reasons();
    assert!(
        reasons
            .iter()
            .any(|r| r == "form.baby_name: must not be empty"),
        "{reasons:?}"
    );
    assert!(reasons
        .iter()
        .any(|r| r.starts_with("form.mother_id: not a valid citizen ID number")));
    assert!(reasons.iter().any(|r| r == "form.phone: is required"));
    assert!(reasons.len() >= 7, "every problem at once: {reasons:?}");
}

#[tokio::test]
async fn a_promised_material_without_a_deadline_is_refused_along_with_the_forms_problems() {
    let (app, _) = app().await;
    let undated = post("/api/v1/cases")
        .as_("window")
        .json(json!({"workflow": "newborn", "form": {"baby_name": ""}, "materials": [{"material": "marriage_certificate", "status": "promised"}]}))
        .send(&app)
        .await;
    assert_eq!(undated.status, StatusCode::BAD_REQUEST);
    let reasons = undated.reasons();
    assert!(
        reasons
            .iter()
            .any(|r| r == "materials.marriage_certificate: a promised material needs a deadline"),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r == "form.baby_name: must not be empty"),
        "the form's problems come too: {reasons:?}"
    );
}

#[tokio::test]
async fn a_command_without_a_json_body_is_400_invalid_input() {
    let (app, _) = app().await;
    let not_json = post("/api/v1/cases").as_("window").send(&app).await;
    assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(not_json.json["code"], "invalid_input");
}

#[tokio::test]
async fn a_body_with_an_unknown_field_is_400() {
    let (app, _) = app().await;
    let unknown_key = post("/api/v1/cases")
        .as_("window")
        .json(json!({"workflow": "newborn", "form": {}, "colour": 1}))
        .send(&app)
        .await;
    assert_eq!(unknown_key.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_case_that_does_not_exist_is_404() {
    let (app, _) = app().await;
    let missing = get("/api/v1/cases/NOPE").as_("window").send(&app).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn opening_a_case_of_a_workflow_that_does_not_exist_is_404() {
    let (app, _) = app().await;
    let unknown_workflow = post("/api/v1/cases")
        .as_("window")
        .json(json!({"workflow": "nothing", "form": {}}))
        .send(&app)
        .await;
    assert_eq!(unknown_workflow.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_route_that_does_not_exist_is_404_not_found() {
    let (app, _) = app().await;
    let no_route = get("/api/v1/nothing").as_("window").send(&app).await;
    assert_eq!(no_route.status, StatusCode::NOT_FOUND);
    assert_eq!(no_route.json["code"], "not_found");
}

#[tokio::test]
async fn a_command_contended_past_its_retries_is_503_with_retry_after() {
    let contended: axum::response::Response =
        axum::response::IntoResponse::into_response(onething_server::error::ApiError::from(
            onething_store::CommandError::Contended { attempts: 12 },
        ));
    assert_eq!(contended.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(contended.headers()["retry-after"], "1");
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
    for (method, path, client, status, code) in answers {
        let mut call = request(method.clone(), path.as_str());
        if let Some(client) = client {
            call = call.as_(client);
        }
        let reply = call.send(&app).await;
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

/// The server's layers around one route that panics.
async fn panicking() -> (axum::Router, onething_server::AppState) {
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
    (
        onething_server::with_layers(routes, state.clone(), MAX_BODY),
        state,
    )
}

#[tokio::test]
async fn a_panicking_handler_answers_500_internal_without_its_details() {
    let (app, _) = panicking().await;
    let reply = get("/boom").send(&app).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.json["code"], "internal", "{}", reply.text);
    assert!(
        !reply.text.contains("boom"),
        "no details leave the server: {}",
        reply.text
    );
}

#[tokio::test]
async fn a_panicking_handler_is_counted_as_a_500_in_the_metrics() {
    let (app, state) = panicking().await;
    let reply = get("/boom").send(&app).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(state
        .metrics
        .render()
        .contains("onething_http_requests_total{method=\"GET\",route=\"/boom\",status=\"500\"} 1"));
}
