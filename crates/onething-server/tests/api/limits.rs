//! Bounds on what comes in: the body size, numbers in a form, nesting and
//! size of one value, and time limits past the holiday tables.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::support::{
    app, app_at, get, home_transfer_form, newborn_form, newborn_waiting_for_a_supplement, post,
    sequence, workflows, Call, MAX_BODY,
};
use onething_store::workflow_files::Catalog;

#[tokio::test]
async fn a_body_over_the_limit_is_413_body_too_large() {
    let (app, _) = app().await;
    let huge = json!({"workflow": "newborn", "form": {"baby_name": "x".repeat(MAX_BODY)}});
    let too_large = post("/api/v1/cases")
        .as_("window")
        .json(huge)
        .send(&app)
        .await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(too_large.json["code"], "body_too_large");
}

#[tokio::test]
async fn a_time_limit_running_past_every_holiday_table_is_422_cannot_compute_and_stores_nothing() {
    // The last year the shipped calendar has a table for, official or provisional.
    let catalog = Catalog::load(&workflows()).unwrap();
    let last_year = *catalog.registry.calendars["cn"]
        .years
        .keys()
        .next_back()
        .unwrap();
    let (app, state) = app_at(&format!("{last_year}-12-30T09:00:00+08:00")).await;
    let reply = post("/api/v1/cases")
        .as_("window")
        .json(json!({"workflow": "newborn", "form": newborn_form()}))
        .idempotency_key("beyond-the-calendar")
        .send(&app)
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

/// Opens a home transfer whose form is the usual one with `changes`.
fn open_home_transfer(changes: Value) -> Call {
    let mut form = home_transfer_form();
    for (key, value) in changes.as_object().unwrap() {
        form[key] = value.clone();
    }
    post("/api/v1/cases")
        .as_("window")
        .json(json!({"workflow": "home-transfer", "form": form}))
}

#[tokio::test]
async fn a_home_transfer_whose_numbers_are_within_bounds_opens() {
    let (app, _) = app().await;
    let fine = open_home_transfer(json!({}))
        .idempotency_key("bounds-fine")
        .send(&app)
        .await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.text);
}

#[tokio::test]
async fn form_numbers_out_of_bounds_are_refused_at_open_so_no_case_is_left_stuck() {
    let (app, state) = app().await;
    let refused = open_home_transfer(json!({
        "extra_certificates": i64::MAX,
        "area": -90.0,
        "price": i64::MAX,
    }))
    .idempotency_key("bounds-refused")
    .send(&app)
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    assert_eq!(
        refused.reasons(),
        [
            "form.price: must be at most 1000000000000 fen, found 9223372036854775807",
            "form.area: must be at least 0, found -90",
            "form.extra_certificates: must be at most 1000000, found 9223372036854775807",
        ]
    );
    let case = onething_core::case::case_id_for("bounds-refused");
    assert_eq!(sequence(&state, &case).await, 0, "no case was opened");
}

/// A value nested `depth` levels deep: `{"a": {"a": … 1 …}}`.
fn nested(depth: usize) -> Value {
    let mut value = json!(1);
    for _ in 0..depth {
        value = json!({ "a": value });
    }
    value
}

fn supplement(case: &str, value: Value) -> Call {
    post(format!("/api/v1/cases/{case}/supplement"))
        .as_("window")
        .json(json!({"items": {"marriage_certificate": value}}))
}

#[tokio::test]
async fn a_supplement_nested_deeper_than_32_levels_is_400_naming_the_item_and_stores_nothing() {
    let (app, state) = app().await;
    let case = newborn_waiting_for_a_supplement(&app, "deep-supplement").await;
    let before = sequence(&state, &case).await;
    for depth in [125, 33] {
        let refused = supplement(&case, nested(depth)).send(&app).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
        assert_eq!(refused.json["code"], "invalid_input");
        let reasons = refused.reasons();
        assert!(
            reasons.iter().any(|reason| reason.starts_with(&format!(
                "items.marriage_certificate: nests {depth} levels deep; at most 32"
            ))),
            "{reasons:?}"
        );
    }
    assert_eq!(sequence(&state, &case).await, before, "nothing was stored");
}

#[tokio::test]
async fn a_supplement_value_over_the_limit_of_one_value_is_400_naming_the_item_and_stores_nothing()
{
    let (app, state) = app().await;
    let case = newborn_waiting_for_a_supplement(&app, "deep-supplement").await;
    let before = sequence(&state, &case).await;
    // Under the server's body limit, over the limit of one value.
    let roomy = onething_server::router(state.clone(), 1 << 20);
    let huge = supplement(&case, json!("x".repeat(70_000)))
        .send(&roomy)
        .await;
    assert_eq!(huge.status, StatusCode::BAD_REQUEST, "{}", huge.text);
    assert!(
        huge.reasons()[0].starts_with("items.marriage_certificate: takes 70002 bytes"),
        "{}",
        huge.text
    );
    assert_eq!(sequence(&state, &case).await, before, "nothing was stored");
}

#[tokio::test]
async fn a_case_refused_a_too_deep_or_too_large_supplement_stays_readable() {
    let (app, state) = app().await;
    let case = newborn_waiting_for_a_supplement(&app, "deep-supplement").await;
    let roomy = onething_server::router(state.clone(), 1 << 20);
    for refused in [
        supplement(&case, nested(125)).send(&app).await,
        supplement(&case, nested(33)).send(&app).await,
        supplement(&case, json!("x".repeat(70_000)))
            .send(&roomy)
            .await,
    ] {
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text);
    }
    for path in [
        format!("/api/v1/cases/{case}"),
        format!("/api/v1/cases/{case}/history"),
    ] {
        let read = get(path.as_str()).as_("window").send(&app).await;
        assert_eq!(read.status, StatusCode::OK, "{path}: {}", read.text);
    }
}

#[tokio::test]
async fn a_supplement_nested_32_levels_deep_is_accepted() {
    let (app, _) = app().await;
    let case = newborn_waiting_for_a_supplement(&app, "deep-supplement").await;
    let supplied = supplement(&case, nested(32)).send(&app).await;
    assert_eq!(supplied.status, StatusCode::OK, "{}", supplied.text);
}
