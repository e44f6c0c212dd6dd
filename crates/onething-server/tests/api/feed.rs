//! The ordered event feed: pages and cursors, each agency's share of it.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{app, get, newborn_with_birth_certificate, open};

#[tokio::test]
async fn the_feed_pages_on_from_the_cursor_of_the_last_page() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let feed = get("/api/v1/events?limit=5")
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(feed.status, StatusCode::OK);
    assert_eq!(feed.json["events"].as_array().unwrap().len(), 5);
    let next = feed.json["next"].as_str().unwrap();
    let rest = get(format!("/api/v1/events?after={next}"))
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(rest.json["events"].as_array().unwrap().len(), 2);
    assert_eq!(rest.json["events"][0]["sequence"], 6);
}

#[tokio::test]
async fn an_agency_reads_in_the_feed_every_event_of_a_bundle_it_takes_part_in() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let police_feed = get("/api/v1/events").as_("police").send(&app).await;
    assert_eq!(
        police_feed.json["events"].as_array().unwrap().len(),
        7,
        "police takes part in the newborn bundle"
    );
}

#[tokio::test]
async fn an_agency_whose_id_has_an_underscore_matches_itself_in_the_feed() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let underscored = get("/api/v1/events")
        .as_("medical_security")
        .send(&app)
        .await;
    assert_eq!(
        underscored.json["events"].as_array().unwrap().len(),
        7,
        "an id with `_` matches itself"
    );
}

#[tokio::test]
async fn an_agency_taking_no_part_in_a_bundle_reads_none_of_its_events() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let tobacco_feed = get("/api/v1/events").as_("tobacco").send(&app).await;
    assert_eq!(
        tobacco_feed.json["events"],
        json!([]),
        "tobacco takes no part in it"
    );
}

#[tokio::test]
async fn an_agency_cannot_read_another_agencys_feed() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    let stolen = get("/api/v1/events?agency=police")
        .as_("tobacco")
        .send(&app)
        .await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_feed_cursor_that_is_not_one_is_400() {
    let (app, _) = app().await;
    let bad_cursor = get("/api/v1/events?after=nonsense")
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(bad_cursor.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_reader_starting_now_sees_nothing_old_then_what_comes_next() {
    let (app, _) = app().await;
    newborn_with_birth_certificate(&app, "read-1").await;
    // The cursor after the last event, read page by page.
    let first = get("/api/v1/events?limit=5")
        .as_("auditor")
        .send(&app)
        .await;
    let next = first.json["next"].as_str().unwrap();
    let rest = get(format!("/api/v1/events?after={next}"))
        .as_("auditor")
        .send(&app)
        .await;
    let from_now = get("/api/v1/events?after=now")
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(from_now.json["events"], json!([]), "{}", from_now.text);
    let head = from_now.json["next"].as_str().unwrap().to_string();
    assert_eq!(head, rest.json["next"].as_str().unwrap());
    open(&app, "feed-from-now").await;
    let new = get(format!("/api/v1/events?after={head}"))
        .as_("auditor")
        .send(&app)
        .await;
    assert_eq!(new.json["events"][0]["type"], "case_opened", "{}", new.text);
}
