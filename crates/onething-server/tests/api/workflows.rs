//! The workflow catalogue: listing, showing, drawing and reloading.

use axum::http::StatusCode;

use crate::support::{app, get, post};

#[tokio::test]
async fn every_shipped_workflow_is_listed() {
    let (app, _) = app().await;
    let list = get("/api/v1/workflows").as_("hospital").send(&app).await;
    assert_eq!(list.json.as_array().unwrap().len(), 7, "{}", list.text);
}

#[tokio::test]
async fn a_workflow_is_shown_by_its_id() {
    let (app, _) = app().await;
    let shown = get("/api/v1/workflows/newborn")
        .as_("hospital")
        .send(&app)
        .await;
    assert_eq!(shown.json["id"], "newborn");
}

#[tokio::test]
async fn a_workflows_graph_is_drawn_in_dot() {
    let (app, _) = app().await;
    let graph = get("/api/v1/workflows/newborn/graph?format=dot")
        .as_("hospital")
        .send(&app)
        .await;
    assert!(
        graph.text.starts_with("digraph \"newborn\""),
        "{}",
        graph.text
    );
}

#[tokio::test]
async fn a_graph_in_an_unknown_format_is_400() {
    let (app, _) = app().await;
    let bad_format = get("/api/v1/workflows/newborn/graph?format=png")
        .as_("hospital")
        .send(&app)
        .await;
    assert_eq!(bad_format.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_workflow_that_does_not_exist_is_404() {
    let (app, _) = app().await;
    let missing = get("/api/v1/workflows/nothing")
        .as_("hospital")
        .send(&app)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_admin_reloads_the_workflows() {
    let (app, _) = app().await;
    let reload = post("/api/v1/workflows/reload")
        .as_("admin")
        .send(&app)
        .await;
    assert_eq!(reload.status, StatusCode::OK, "{}", reload.text);
}

#[tokio::test]
async fn the_window_may_not_reload_the_workflows() {
    let (app, _) = app().await;
    let reload = post("/api/v1/workflows/reload")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(reload.status, StatusCode::FORBIDDEN);
}
