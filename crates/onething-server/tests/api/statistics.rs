//! The figures of a workflow's cases.

use axum::http::StatusCode;

use crate::support::{app, get, open};

#[tokio::test]
async fn the_figures_count_a_workflows_cases_by_status_channel_and_missing_material() {
    let (app, _) = app().await;
    open(&app, "ops-1").await;
    let figures = get("/api/v1/statistics?workflow=newborn")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(figures.status, StatusCode::OK, "{}", figures.text);
    assert_eq!(figures.json["cases"], 1);
    assert_eq!(figures.json["by_status"]["open"], 1);
    assert_eq!(figures.json["by_channel"]["window"], 1);
    // By hand: the parents' IDs, the household booklet and the marriage
    // certificate are fetched from the e-licence store; the birth
    // certificate and the child's ID number come from steps not yet run.
    assert_eq!(
        figures.json["materials_not_submitted"], 3,
        "only what was really shared counts: {}",
        figures.text
    );
    assert_eq!(figures.json["materials_by_commitment"], 0);
    assert_eq!(figures.json["materials_waived"], 0);
}

#[tokio::test]
async fn the_figures_give_the_promised_limit_and_the_old_way_it_replaces() {
    let (app, _) = app().await;
    open(&app, "ops-1").await;
    let figures = get("/api/v1/statistics?workflow=newborn")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(
        figures.json["promised_limit"], "5 working days",
        "{}",
        figures.text
    );
    // The 32 working days before the reform are a baseline, not a
    // statutory limit: no compression against a law is claimed.
    assert_eq!(figures.json["statutory_limit"], serde_json::Value::Null);
    assert_eq!(
        figures.json["time_limit_compression"],
        serde_json::Value::Null
    );
    let savings = &figures.json["savings"];
    assert_eq!(savings["completed"], 0, "{}", figures.text);
    let before: Vec<(&str, u64)> = savings["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["figure"].as_str().unwrap(), f["before"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        before,
        [
            ("applications", 7),
            ("materials", 9),
            ("trips", 4),
            ("working_days", 32)
        ]
    );
}

#[tokio::test]
async fn the_figures_of_a_workflow_that_does_not_exist_are_404() {
    let (app, _) = app().await;
    let figures = get("/api/v1/statistics?workflow=nothing")
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(figures.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_agency_may_not_read_the_figures() {
    let (app, _) = app().await;
    let figures = get("/api/v1/statistics?workflow=newborn")
        .as_("police")
        .send(&app)
        .await;
    assert_eq!(figures.status, StatusCode::FORBIDDEN);
}
