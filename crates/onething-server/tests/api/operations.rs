//! Running the server: health, metrics, and the background jobs going on
//! past a failing case or a panic.

use axum::http::StatusCode;
use onething_server::AppState;
use serde_json::json;

use crate::support::{app, get, open, post, sequence};

#[tokio::test]
async fn healthz_answers_ok_without_a_token() {
    let (app, _) = app().await;
    let health = get("/healthz").send(&app).await;
    assert_eq!(health.json["status"], "ok", "{}", health.text);
}

#[tokio::test]
async fn healthz_reports_each_running_background_job() {
    let (app, state) = app().await;
    let _running = state.metrics.job_running("deadline-check");
    let healthy = get("/healthz").send(&app).await;
    assert_eq!(healthy.status, StatusCode::OK, "{}", healthy.text);
    assert_eq!(healthy.json["jobs"], json!({"deadline-check": "running"}));
}

#[tokio::test]
async fn healthz_is_503_degraded_once_a_background_job_has_stopped() {
    let (app, state) = app().await;
    let running = state.metrics.job_running("deadline-check");
    drop(running);
    let degraded = get("/healthz").send(&app).await;
    assert_eq!(degraded.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(degraded.json["status"], "degraded");
    assert_eq!(degraded.json["jobs"], json!({"deadline-check": "stopped"}));
}

#[tokio::test]
async fn the_metrics_count_each_command_by_outcome() {
    let (app, _) = app().await;
    open(&app, "ops-1").await;
    let metrics = get("/metrics").send(&app).await;
    assert!(
        metrics
            .text
            .contains("onething_commands_total{action=\"open\",outcome=\"applied\"} 1"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn the_metrics_count_http_requests_by_route_and_status() {
    let (app, _) = app().await;
    get("/api/v1/workflows")
        .as_("hospital")
        .send(&app)
        .await
        .assert_success();
    let metrics = get("/metrics").send(&app).await;
    assert!(
        metrics.text.contains(
            "onething_http_requests_total{method=\"GET\",route=\"/api/v1/workflows\",status=\"200\"} 1"
        ),
        "{}",
        metrics.text
    );
}

/// Overwrites the second event of `case` behind the engine's back, with a
/// payload it cannot read.
async fn break_case(state: &AppState, case: &str) {
    onething_store::with_pool!(state.store.database(), pool => {
        sqlx::query("UPDATE events SET payload = '{\"unexpected\": 1}' WHERE aggregate_id = ? AND sequence = 2")
            .bind(case)
            .execute(pool)
            .await
            .unwrap();
    });
    // Changed behind the engine's back: its cache must not hide it.
    state.store.clear_cache();
}

#[tokio::test]
async fn the_deadline_check_goes_on_past_a_case_it_cannot_read_and_counts_the_failure() {
    let (app, state) = app().await;
    let broken = open(&app, "job-broken").await;
    let good = open(&app, "job-good").await;
    let before = sequence(&state, &good).await;
    break_case(&state, &broken).await;
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
}

#[tokio::test]
async fn the_scheduler_records_the_default_rating_of_a_case_left_unrated_once_the_period_is_over() {
    let (app, state) = app().await;
    let ended = open(&app, "rating-ended").await;
    let open_case = open(&app, "rating-open").await;
    post(format!("/api/v1/cases/{ended}/withdraw"))
        .as_("window")
        .json(json!({"reason": "moved"}))
        .send(&app)
        .await
        .assert_success();
    let ended_at = state
        .store
        .load(&ended)
        .await
        .unwrap()
        .file()
        .unwrap()
        .ended_at
        .unwrap();
    let rule = onething_server::background::DefaultRating {
        after_days: 7,
        score: 3,
    };
    let record = |days: i64| {
        onething_server::background::record_default_ratings(
            &state,
            rule,
            ended_at + chrono::Duration::days(days),
        )
    };
    assert_eq!(record(6).await.unwrap(), 0, "the applicant may still rate");
    assert_eq!(record(8).await.unwrap(), 1);
    let rating = state
        .store
        .load(&ended)
        .await
        .unwrap()
        .file()
        .unwrap()
        .rating
        .clone()
        .unwrap();
    assert_eq!((rating.score, rating.by_default), (3, true));
    assert!(state
        .store
        .load(&open_case)
        .await
        .unwrap()
        .file()
        .unwrap()
        .rating
        .is_none());
    let history = get(format!("/api/v1/cases/{ended}/history"))
        .as_("window")
        .send(&app)
        .await;
    let last = history.json.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["actor"], "system", "{last}");
    assert_eq!(last["channel"], "scheduler");
    assert_eq!(last["payload"]["change"]["by_default"], true, "{last}");
    assert!(
        last["words_zh"].as_str().unwrap().contains("默认"),
        "{last}"
    );
    assert_eq!(record(9).await.unwrap(), 0, "once");
    // The applicant's own rating is no longer taken.
    let late = post(format!("/api/v1/cases/{ended}/rating"))
        .as_("window")
        .json(json!({"score": 5}))
        .send(&app)
        .await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.text);
}

#[tokio::test]
async fn a_case_whose_events_cannot_be_read_answers_500_internal() {
    let (app, state) = app().await;
    let broken = open(&app, "job-broken").await;
    break_case(&state, &broken).await;
    let read = get(format!("/api/v1/cases/{broken}"))
        .as_("window")
        .send(&app)
        .await;
    assert_eq!(
        read.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        read.text
    );
    assert_eq!(read.json["code"], "internal");
}

#[tokio::test]
async fn a_panicking_job_yields_nothing_and_is_counted_as_a_failure() {
    let (_, state) = app().await;
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
