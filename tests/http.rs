//! The API against real listening servers: every shipped bundle driven to
//! completion over HTTP with per-agency tokens, on SQLite and PostgreSQL; the
//! event feed under racing, held-open and rolled-back writers; webhooks
//! through failures, time-outs and repeats, parking and resuming.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use onething_server::auth::token_hash;
use onething_server::{AppState, Client, Clients, Config, Role};
use onething_store::feed::{self, Cursor};
use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, Database};
use onething_tests::{runtime, shipped_workflows, test_data, TestDatabase};
use serde_json::{json, Value};
use tokio::sync::oneshot;

struct Server {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            let _ = done.await;
        }
    }
}

fn all_clients(catalog: &Catalog) -> Clients {
    let mut clients = vec![
        (
            token_hash("t-admin"),
            Client {
                id: "admin".into(),
                role: Role::Admin,
                agency: None,
            },
        ),
        (
            token_hash("t-auditor"),
            Client {
                id: "auditor".into(),
                role: Role::Auditor,
                agency: None,
            },
        ),
        (
            token_hash("t-window"),
            Client {
                id: "window".into(),
                role: Role::Window,
                agency: Some("window".into()),
            },
        ),
    ];
    for agency in catalog
        .registry
        .agencies
        .keys()
        .filter(|id| *id != "window")
    {
        clients.push((
            token_hash(&format!("t-{agency}")),
            Client {
                id: agency.clone(),
                role: Role::Agency,
                agency: Some(agency.clone()),
            },
        ));
    }
    Clients::new(clients)
}

async fn start(database: &str, fixed_now: Option<DateTime<Utc>>, config: Config) -> Server {
    let catalog = Catalog::load(&shipped_workflows()).unwrap();
    let store = onething_store::open_case_store_with(database, &catalog, &config.store_settings())
        .await
        .unwrap();
    onething_server::declare_subscriptions(&store, &config)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = AppState {
        store: Arc::new(store),
        clients: all_clients(&catalog),
        metrics: Arc::default(),
        feed_signal: Arc::default(),
        workflows_folder: shipped_workflows(),
        node: format!("node-{}", uuid::Uuid::new_v4().simple()),
        retry_after_seconds: 1,
        fixed_now,
        trusted_checkpoint_key: config.checkpoint_trusted_key.clone(),
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = state;
    let done = tokio::spawn(async move {
        onething_server::serve(listener, serving, &config, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        stop: Some(stop),
        done: Some(done),
    }
}

fn quiet_config() -> Config {
    Config {
        deadline_check_seconds: 0,
        checkpoint_seconds: 0,
        ..Config::default()
    }
}

/// Turns one scripted command-line step into its HTTP request.
fn request(step: &Value, case: &str) -> Option<(String, String, Option<String>, Value)> {
    let run: Vec<String> = step["run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().replace("$CASE", case))
        .collect();
    let option = |name: &str| {
        run.iter()
            .position(|a| a == name)
            .map(|i| run[i + 1].clone())
    };
    let actor = option("--as").unwrap_or_default();
    let (who, operator) = match actor.split_once('/') {
        Some((who, operator)) => (who.to_string(), Some(operator.to_string())),
        None => (actor.clone(), None),
    };
    // The applicant acts through the window.
    let token = if who == "applicant" {
        "window".to_string()
    } else {
        who
    };
    let data = step.get("data").cloned().unwrap_or(json!({}));
    let (path, body) = match run[1].as_str() {
        "open" => {
            let opted: Vec<String> = option("--opt")
                .map(|o| o.split(',').map(str::to_string).collect())
                .unwrap_or_default();
            (
                "/api/v1/cases".to_string(),
                json!({
                    "workflow": run[2], "form": step["form"], "opted_in": opted,
                    "materials": step.get("materials").cloned().unwrap_or(json!([])),
                }),
            )
        }
        "complete" => (
            format!("/api/v1/cases/{case}/steps/{}/complete", run[3]),
            json!({"outputs": data}),
        ),
        "return" => (
            format!("/api/v1/cases/{case}/steps/{}/return", run[3]),
            json!({"to": option("--to"), "reason": option("--reason")}),
        ),
        "refuse" => (
            format!("/api/v1/cases/{case}/steps/{}/refuse", run[3]),
            json!({"reason": option("--reason")}),
        ),
        "request-supplement" => (
            format!("/api/v1/cases/{case}/steps/{}/request-supplement", run[3]),
            json!({"items": option("--items").unwrap().split(',').collect::<Vec<_>>(), "reason": option("--reason")}),
        ),
        "extend" => (
            format!("/api/v1/cases/{case}/steps/{}/extend", run[3]),
            json!({"length": option("--length"), "reason": option("--reason")}),
        ),
        "decide-extension" => (
            format!("/api/v1/cases/{case}/steps/{}/extension-decision", run[3]),
            json!({"approve": run.iter().any(|a| a == "--approve"), "reason": option("--reason")}),
        ),
        "suspend" => (
            format!("/api/v1/cases/{case}/steps/{}/suspend", run[3]),
            json!({"procedure": option("--procedure"), "reason": option("--reason")}),
        ),
        "resume" => (
            format!("/api/v1/cases/{case}/steps/{}/resume", run[3]),
            json!({}),
        ),
        "dispatch" => (
            format!("/api/v1/cases/{case}/steps/{}/dispatch", run[3]),
            json!({
                "to": option("--to"),
                "with": option("--with").map(|w| w.split(',').map(str::to_string).collect::<Vec<_>>()).unwrap_or_default(),
            }),
        ),
        "send-back" => (
            format!("/api/v1/cases/{case}/steps/{}/send-back", run[3]),
            json!({"reason": option("--reason"), "basis": option("--basis")}),
        ),
        "report" => (
            format!("/api/v1/cases/{case}/steps/{}/report", run[3]),
            json!({"text": option("--text"), "outputs": step.get("data").cloned().unwrap_or(Value::Null)}),
        ),
        "supplement" => (format!("/api/v1/cases/{case}/supplement"), data),
        "pay" => (
            format!("/api/v1/cases/{case}/payments"),
            json!({
                "payer": option("--payer"), "amount": option("--amount").unwrap().parse::<i64>().unwrap(), "receipt": option("--receipt"),
            }),
        ),
        "withdraw" => (
            format!("/api/v1/cases/{case}/withdraw"),
            json!({"reason": option("--reason")}),
        ),
        "rate" => (
            format!("/api/v1/cases/{case}/rating"),
            json!({"score": option("--score").unwrap().parse::<u8>().unwrap(), "comment": option("--comment")}),
        ),
        "tick" => return None,
        other => panic!("no HTTP form for `{other}`"),
    };
    Some((path, token, operator, body))
}

async fn drive_every_bundle(database: &str) {
    let folder = test_data().join("scenarios");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".expected.json")
        })
        .collect();
    files.sort();
    let http = reqwest::Client::new();
    let mut bundles_done = std::collections::BTreeSet::new();
    for file in files {
        let scenario: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let commands = scenario["commands"].as_array().unwrap();
        let first_time = DateTime::parse_from_rfc3339(commands[0]["at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&Utc);
        let server = start(database, Some(first_time), quiet_config()).await;
        let mut case = String::new();
        for (index, step) in commands.iter().enumerate() {
            let Some((path, token, operator, body)) = request(step, &case) else {
                continue;
            };
            let mut call = http
                .post(format!("{}{path}", server.base))
                .bearer_auth(format!("t-{token}"))
                .header("Idempotency-Key", format!("{}-{index}", file.display()))
                .json(&body);
            if let Some(operator) = operator {
                call = call.header("X-Operator", operator);
            }
            let response = call.send().await.unwrap();
            let status = response.status();
            let reply: Value = response.json().await.unwrap();
            assert!(
                status.is_success(),
                "{} step {index} ({path} as {token}): {status} {reply}",
                file.display()
            );
            if index == 0 {
                case = reply["case_id"].as_str().unwrap().to_string();
            }
        }
        let shown: Value = http
            .get(format!("{}/api/v1/cases/{case}", server.base))
            .bearer_auth("t-auditor")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            shown["status"],
            scenario["expect"]["status"],
            "{}",
            file.display()
        );
        if let Some(bills) = scenario["expect"].get("bills").and_then(Value::as_object) {
            for (payer, total) in bills {
                let bill = shown["payments"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|p| p["payer"] == payer.as_str())
                    .unwrap();
                assert_eq!(&bill["total"], total, "{}: {payer}", file.display());
            }
        }
        bundles_done.insert(shown["workflow"].as_str().unwrap().to_string());
        server.stop().await;
    }
    assert_eq!(
        bundles_done.len(),
        7,
        "every shipped bundle ran: {bundles_done:?}"
    );
}

#[test]
fn every_bundle_runs_to_completion_over_http_on_sqlite() {
    let database = TestDatabase::sqlite();
    runtime().block_on(drive_every_bundle(&database.url));
}

#[test]
fn every_bundle_runs_to_completion_over_http_on_postgres() {
    let database = TestDatabase::postgres();
    runtime().block_on(drive_every_bundle(&database.url));
}

/// Inserts a well-formed event row directly, in a transaction that is held
/// open for `hold` and then committed or rolled back.
async fn slow_writer(pool: sqlx::PgPool, case: String, hold: Duration, commit: bool) {
    let mut transaction = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
         VALUES ('case', $1, 1, 'case_opened', '1', '{}'::json, '{\"agencies\":\",window,\"}'::json)",
    )
    .bind(&case)
    .execute(&mut *transaction)
    .await
    .unwrap();
    tokio::time::sleep(hold).await;
    if commit {
        transaction.commit().await.unwrap();
    } else {
        transaction.rollback().await.unwrap();
    }
}

#[test]
fn the_feed_on_postgres_skips_nothing_while_transactions_race() {
    let database = TestDatabase::postgres();
    runtime().block_on(async {
        let catalog = Catalog::load(&shipped_workflows()).unwrap();
        let store = Arc::new(open_case_store(&database.url, &catalog).await.unwrap());
        let Database::Postgres(pool) = store.database().clone() else { unreachable!() };

        let finished = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The reader: the real feed, polling as a client would.
        let reader = {
            let database = store.database().clone();
            let finished = finished.clone();
            tokio::spawn(async move {
                let mut seen: Vec<(String, i64)> = Vec::new();
                let mut cursor: Option<Cursor> = None;
                let mut naive_seen = Vec::new();
                let mut naive_position = 0i64;
                let mut caught_up_since: Option<std::time::Instant> = None;
                loop {
                    let done = finished.load(std::sync::atomic::Ordering::SeqCst);
                    let page = feed::read(&database, cursor, None, 50).await.unwrap();
                    for event in &page.events {
                        seen.push((event.case_id.clone(), event.sequence));
                    }
                    cursor = page.next.as_deref().and_then(Cursor::parse);
                    // A naive reader that trusts positions, to show the trap is real.
                    let Database::Postgres(pool) = &database else { unreachable!() };
                    let rows: Vec<(i64, String, i64)> = sqlx::query_as(
                        "SELECT position, aggregate_id, sequence FROM events WHERE position > $1 ORDER BY position",
                    )
                    .bind(naive_position)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    for (position, case, sequence) in rows {
                        naive_position = naive_position.max(position);
                        naive_seen.push((case, sequence));
                    }
                    if done && page.events.is_empty() {
                        // The feed reads below the oldest running transaction
                        // of the whole cluster, so tests running beside this
                        // one can hold it back a while: wait for them, not
                        // for ever.
                        let (committed,): (i64,) = sqlx::query_as("SELECT count(*) FROM events")
                            .fetch_one(pool)
                            .await
                            .unwrap();
                        let waited = *caught_up_since.get_or_insert_with(std::time::Instant::now);
                        if seen.len() as i64 >= committed || waited.elapsed() > Duration::from_secs(20) {
                            return (seen, naive_seen);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
        };

        // Writers: commands on many cases at once, with slow and failing transactions among them.
        let mut writers = Vec::new();
        for round in 0..6 {
            writers.push(tokio::spawn(slow_writer(pool.clone(), format!("HELD{round}"), Duration::from_millis(400), true)));
            writers.push(tokio::spawn(slow_writer(pool.clone(), format!("ROLLEDBACK{round}"), Duration::from_millis(200), false)));
            for number in 0..5 {
                let store = store.clone();
                writers.push(tokio::spawn(async move {
                    let command_id = format!("feed-{round}-{number}");
                    let case_id = onething_core::case::case_id_for(&command_id);
                    let open = onething_core::case::CaseCommand {
                        command_id,
                        actor: onething_core::case::Actor::Agency { agency: "window".into(), operator: None },
                        // A fixed time: no test depends on the day it runs.
                        at: DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00").unwrap().with_timezone(&Utc),
                        action: onething_core::case::Action::Open {
                            case_id: case_id.clone(),
                            workflow: "hotline-12345".into(),
                            form: json!({"channel": "phone", "caller_phone": "13300133000", "content": "路灯不亮"}),
                            materials: vec![],
                            opted_in: vec![],
                            channel: Default::default(),
                        },
                    };
                    store.execute(&case_id, open).await.unwrap();
                }));
            }
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        for writer in writers {
            writer.await.unwrap();
        }
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
        let (seen, naive_seen) = reader.await.unwrap();

        let committed: Vec<(String, i64)> = sqlx::query_as("SELECT aggregate_id, sequence FROM events ORDER BY aggregate_id, sequence")
            .fetch_all(&pool)
            .await
            .unwrap();
        let mut sorted = seen.clone();
        sorted.sort();
        let mut unique = sorted.clone();
        unique.dedup();
        assert_eq!(unique.len(), sorted.len(), "no event read twice");
        assert_eq!(sorted, committed, "every committed event read, none skipped");
        assert!(seen.iter().all(|(case, _)| !case.starts_with("ROLLEDBACK")), "rolled-back events never appear");
        // Per case, the feed order is the sequence order.
        let mut last: HashMap<&str, i64> = HashMap::new();
        for (case, sequence) in &seen {
            let previous = last.insert(case.as_str(), *sequence).unwrap_or(0);
            assert_eq!(*sequence, previous + 1, "case {case} in order");
        }
        assert!(
            naive_seen.len() < committed.len(),
            "the held-open transactions really raced: a reader trusting positions missed some ({} of {})",
            naive_seen.len(),
            committed.len()
        );
        store.database().close().await;
    });
}

/// A webhook receiver that misbehaves on purpose.
#[derive(Default)]
struct Receiver {
    /// Every delivery attempt: (idempotency key, case, sequence, answered with success).
    attempts: Mutex<Vec<(String, String, i64, bool)>>,
    /// Fail (500) the first attempt of every key.
    fail_first: bool,
    /// Answer every request with 500.
    always_fail: std::sync::atomic::AtomicBool,
    /// Sleep past the client's time-out on the first attempt of the 2nd event.
    time_out_once: bool,
}

async fn receive(
    axum::extract::State(receiver): axum::extract::State<Arc<Receiver>>,
    headers: axum::http::HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> axum::http::StatusCode {
    let key = headers["idempotency-key"].to_str().unwrap().to_string();
    let case = body["case_id"].as_str().unwrap().to_string();
    let sequence = body["sequence"].as_i64().unwrap();
    assert_eq!(key, format!("{case}:{sequence}"));
    let earlier = receiver
        .attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.0 == key)
        .count();
    if receiver.time_out_once && sequence == 2 && earlier == 0 {
        receiver
            .attempts
            .lock()
            .unwrap()
            .push((key, case, sequence, false));
        tokio::time::sleep(Duration::from_millis(800)).await;
        return axum::http::StatusCode::OK;
    }
    let fail = receiver
        .always_fail
        .load(std::sync::atomic::Ordering::SeqCst)
        || (receiver.fail_first && earlier == 0);
    receiver
        .attempts
        .lock()
        .unwrap()
        .push((key, case, sequence, !fail));
    if fail {
        axum::http::StatusCode::INTERNAL_SERVER_ERROR
    } else {
        axum::http::StatusCode::OK
    }
}

async fn start_receiver(receiver: Arc<Receiver>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/hook")
}

fn webhook_config(url: &str, max_failures: i64) -> Config {
    let mut config = quiet_config();
    config.webhook_poll_ms = 20;
    config.webhook_backoff_ms = 20;
    config.webhook_timeout_ms = 300;
    config.webhook_max_failures = max_failures;
    config.clients.push(onething_server::config::ClientConfig {
        id: "police".into(),
        role: Role::Agency,
        agency: Some("police".into()),
        token_sha256: token_hash("t-police"),
    });
    config
        .subscriptions
        .push(onething_server::config::SubscriptionConfig {
            id: "police-hook".into(),
            client: "police".into(),
            url: url.into(),
            agency: Some("police".into()),
            start: None,
        });
    config
}

async fn open_newborn(http: &reqwest::Client, base: &str, key: &str) -> String {
    let reply: Value = http
        .post(format!("{base}/api/v1/cases"))
        .bearer_auth("t-window")
        .header("Idempotency-Key", key)
        .json(&json!({"workflow": "newborn", "form": onething_tests::newborn_form()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    reply["case_id"].as_str().unwrap().to_string()
}

async fn wait_until(mut done: impl FnMut() -> bool, what: &str) {
    for _ in 0..400 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn webhooks_deliver_every_event_in_order_through_failures_timeouts_and_repeats() {
    let database = TestDatabase::sqlite();
    runtime().block_on(async {
        let receiver = Arc::new(Receiver {
            fail_first: true,
            time_out_once: true,
            ..Receiver::default()
        });
        let url = start_receiver(receiver.clone()).await;
        let fixed = DateTime::parse_from_rfc3339("2025-06-03T09:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let server = start(&database.url, Some(fixed), webhook_config(&url, 50)).await;
        let http = reqwest::Client::new();
        let mut expected: BTreeMap<String, i64> = BTreeMap::new();
        for number in 0..3 {
            let case = open_newborn(&http, &server.base, &format!("hook-{number}")).await;
            expected.insert(case, 3);
        }
        let wanted: usize = expected.values().map(|n| *n as usize).sum();
        wait_until(
            || {
                let attempts = receiver.attempts.lock().unwrap();
                let mut delivered: Vec<&String> =
                    attempts.iter().filter(|a| a.3).map(|a| &a.0).collect();
                delivered.sort();
                delivered.dedup();
                delivered.len() >= wanted
            },
            "every event delivered",
        )
        .await;
        let attempts = receiver.attempts.lock().unwrap().clone();
        // Every (case, sequence) arrived, with the same key on every retry.
        for (case, count) in &expected {
            for sequence in 1..=*count {
                let key = format!("{case}:{sequence}");
                let tries: Vec<_> = attempts.iter().filter(|a| a.0 == key).collect();
                assert!(
                    tries.len() >= 2,
                    "{key}: the first attempt failed and was retried"
                );
                assert!(tries.iter().any(|a| a.3), "{key} delivered");
            }
        }
        // Per case, first successful deliveries come in sequence order.
        let mut last: HashMap<&str, i64> = HashMap::new();
        for attempt in attempts.iter().filter(|a| a.3) {
            let previous = last.get(attempt.1.as_str()).copied().unwrap_or(0);
            assert!(
                attempt.2 >= previous,
                "case {} delivered in order",
                attempt.1
            );
            last.insert(&attempt.1, attempt.2.max(previous));
        }
        // The slow answer timed out and the event was sent again.
        assert!(attempts.iter().filter(|a| a.2 == 2).count() >= 2);
        server.stop().await;
    });
}

#[test]
fn a_failing_subscription_is_parked_visibly_and_resumes_where_it_stopped() {
    let database = TestDatabase::sqlite();
    runtime().block_on(async {
        let receiver = Arc::new(Receiver::default());
        receiver
            .always_fail
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let url = start_receiver(receiver.clone()).await;
        // A fixed time inside the calendar's years, so the test does not age.
        let fixed = DateTime::parse_from_rfc3339("2025-06-03T09:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let server = start(&database.url, Some(fixed), webhook_config(&url, 3)).await;
        let http = reqwest::Client::new();
        let case = open_newborn(&http, &server.base, "park-1").await;
        let subscription = || async {
            let list: Value = http
                .get(format!("{}/api/v1/webhooks", server.base))
                .bearer_auth("t-police")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            list[0].clone()
        };
        for _ in 0..200 {
            if subscription().await["parked"] == true {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let parked = subscription().await;
        assert_eq!(parked["parked"], true, "{parked}");
        assert_eq!(parked["failures"], 3);
        assert!(parked["last_error"].as_str().unwrap().contains("500"));
        let attempts_when_parked = receiver.attempts.lock().unwrap().len();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            receiver.attempts.lock().unwrap().len(),
            attempts_when_parked,
            "a parked subscription is left alone"
        );

        receiver
            .always_fail
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let other = http
            .post(format!(
                "{}/api/v1/webhooks/police-hook/resume",
                server.base
            ))
            .bearer_auth("t-hospital")
            .send()
            .await
            .unwrap();
        assert_eq!(
            other.status(),
            reqwest::StatusCode::FORBIDDEN,
            "only the owner resumes"
        );
        let resumed = http
            .post(format!(
                "{}/api/v1/webhooks/police-hook/resume",
                server.base
            ))
            .bearer_auth("t-police")
            .send()
            .await
            .unwrap();
        assert_eq!(resumed.status(), reqwest::StatusCode::OK);
        wait_until(
            || {
                let attempts = receiver.attempts.lock().unwrap();
                (1..=3).all(|sequence| {
                    attempts
                        .iter()
                        .any(|a| a.0 == format!("{case}:{sequence}") && a.3)
                })
            },
            "delivery after resuming",
        )
        .await;
        let attempts = receiver.attempts.lock().unwrap().clone();
        let first_success = attempts.iter().position(|a| a.3).unwrap();
        assert_eq!(
            attempts[first_success].2, 1,
            "delivery resumed from the first undelivered event"
        );
        server.stop().await;
    });
}

/// Control characters in ids and filters are a 400 in the error shape on
/// either backend (PostgreSQL refuses a NUL in text: it was a 500).
async fn control_characters_are_refused(database: &str) {
    let server = start(database, None, quiet_config()).await;
    let http = reqwest::Client::new();
    for (method, path, token) in [
        ("GET", "/api/v1/cases/C%00", "window"),
        ("GET", "/api/v1/cases/C%00/history", "auditor"),
        ("GET", "/api/v1/cases?workflow=a%00", "window"),
        ("GET", "/api/v1/cases?status=open&agency=%1F", "admin"),
        ("GET", "/api/v1/events?agency=%00", "window"),
        ("GET", "/api/v1/audit/verify?case=C%00", "auditor"),
        ("POST", "/api/v1/webhooks/a%00/resume", "admin"),
        ("GET", "/api/v1/agencies/police%7F/inbox", "window"),
        ("GET", "/api/v1/workflows/newborn%0A", "admin"),
    ] {
        let request = match method {
            "GET" => http.get(format!("{}{path}", server.base)),
            _ => http.post(format!("{}{path}", server.base)),
        };
        let response = request
            .bearer_auth(format!("t-{token}"))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{method} {path}: {body}");
        assert_eq!(body["code"], "invalid_input", "{method} {path}: {body}");
        assert!(
            body["reasons"][0]
                .as_str()
                .unwrap()
                .contains("contains a control character (U+"),
            "{method} {path}: {body}"
        );
    }
    // Through the real HTTP server too: 405 and 414 in the error shape.
    let wrong_method = http
        .delete(format!("{}/api/v1/cases", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    let body: Value = wrong_method.json().await.unwrap();
    assert_eq!(body["code"], "method_not_allowed");
    let too_long = http
        .get(format!(
            "{}/api/v1/cases?workflow={}",
            server.base,
            "a".repeat(20_000)
        ))
        .bearer_auth("t-window")
        .send()
        .await
        .unwrap();
    assert_eq!(too_long.status(), 414);
    let body: Value = too_long.json().await.unwrap();
    assert_eq!(body["code"], "uri_too_long");
    // Still served: an ordinary read after them.
    let fine = http
        .get(format!("{}/api/v1/cases?workflow=newborn", server.base))
        .bearer_auth("t-window")
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
    server.stop().await;
}

#[test]
fn control_characters_in_ids_and_filters_are_refused_on_sqlite() {
    let database = TestDatabase::sqlite();
    runtime().block_on(control_characters_are_refused(&database.url));
}

#[test]
fn control_characters_in_ids_and_filters_are_refused_on_postgres() {
    let database = TestDatabase::postgres();
    runtime().block_on(control_characters_are_refused(&database.url));
}

/// A TCP relay to PostgreSQL that can be cut: then every relayed connection
/// is closed and new ones are accepted but never answered, as when the
/// database's host is unreachable.
struct Relay {
    address: String,
    up: Arc<std::sync::atomic::AtomicBool>,
    connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let up = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (relay_up, relay_connections) = (up.clone(), connections.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let forward = relay_up.load(std::sync::atomic::Ordering::SeqCst);
                let target = target.clone();
                let connection = tokio::spawn(async move {
                    if !forward {
                        // Hold the connection open and answer nothing.
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        drop(inbound);
                        return;
                    }
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                relay_connections.lock().unwrap().push(connection);
            }
        });
        Relay {
            address,
            up,
            connections,
        }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
        for connection in self.connections.lock().unwrap().drain(..) {
            connection.abort();
        }
    }
}

#[test]
fn while_postgres_is_unreachable_health_and_commands_answer_503_at_once() {
    let database = TestDatabase::postgres();
    runtime().block_on(async {
        // host:port between the `@` and the database name.
        let at = database.url.rfind('@').unwrap() + 1;
        let slash = at + database.url[at..].find('/').unwrap();
        let relay = Relay::start(database.url[at..slash].to_string()).await;
        let relayed = format!(
            "{}{}{}",
            &database.url[..at],
            relay.address,
            &database.url[slash..]
        );
        let config = Config {
            database_acquire_timeout_ms: 500,
            ..quiet_config()
        };
        let server = start(&relayed, None, config).await;
        let http = reqwest::Client::new();
        let case = open_newborn(&http, &server.base, "outage-1").await;

        relay.cut();
        let started = std::time::Instant::now();
        let health = http
            .get(format!("{}/healthz", server.base))
            .send()
            .await
            .unwrap();
        let health_took = started.elapsed();
        assert_eq!(health.status(), 503);
        let body: Value = health.json().await.unwrap();
        assert_eq!(body["code"], "database_unavailable", "{body}");
        assert!(
            health_took < Duration::from_millis(1500),
            "/healthz took {health_took:?}"
        );

        for attempt in 0..2 {
            let started = std::time::Instant::now();
            let command = http
                .post(format!(
                    "{}/api/v1/cases/{case}/steps/birth_certificate/complete",
                    server.base
                ))
                .bearer_auth("t-hospital")
                .header("Idempotency-Key", "outage-bc")
                .json(&json!({"outputs": {"certificate_number": "BC-1"}}))
                .send()
                .await
                .unwrap();
            let took = started.elapsed();
            assert_eq!(command.status(), 503, "attempt {attempt}");
            assert_eq!(command.headers()["retry-after"], "1");
            let body: Value = command.json().await.unwrap();
            assert_eq!(body["code"], "database_unavailable", "{body}");
            // One wait for a connection (500 ms here), not two.
            assert!(took < Duration::from_millis(900), "a command took {took:?}");
        }
        let read = http
            .get(format!("{}/api/v1/cases/{case}", server.base))
            .bearer_auth("t-window")
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 503);

        relay.restore();
        let mut healthy = false;
        for _ in 0..50 {
            let health = http
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .unwrap();
            if health.status() == 200 {
                healthy = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(healthy, "the server recovers when the database is back");
        let command = http
            .post(format!(
                "{}/api/v1/cases/{case}/steps/birth_certificate/complete",
                server.base
            ))
            .bearer_auth("t-hospital")
            .header("Idempotency-Key", "outage-bc")
            .json(&json!({"outputs": {"certificate_number": "BC-1"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(command.status(), 200, "{}", command.text().await.unwrap());
        server.stop().await;
    });
}

async fn keep_body(
    axum::extract::State(bodies): axum::extract::State<Arc<Mutex<Vec<Value>>>>,
    axum::Json(body): axum::Json<Value>,
) -> axum::http::StatusCode {
    bodies.lock().unwrap().push(body);
    axum::http::StatusCode::OK
}

#[test]
fn webhook_deliveries_mask_id_numbers_for_an_owner_that_sees_cases_masked() {
    let database = TestDatabase::sqlite();
    runtime().block_on(async {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(keep_body))
            .with_state(bodies.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let mut config = quiet_config();
        config.webhook_poll_ms = 20;
        for (id, client) in [("admin-hook", "admin"), ("police-hook", "police")] {
            config
                .subscriptions
                .push(onething_server::config::SubscriptionConfig {
                    id: id.into(),
                    client: client.into(),
                    url: url.clone(),
                    agency: None,
                    start: None,
                });
        }
        let server = start(&database.url, None, config).await;
        let http = reqwest::Client::new();
        let case = open_newborn(&http, &server.base, "masked-hook").await;
        let child_id = "110105202605200039";
        for (step, token, outputs) in [
            (
                "birth_certificate",
                "t-hospital",
                json!({"certificate_number": "BC"}),
            ),
            (
                "household_registration",
                "t-police",
                json!({"child_id": child_id}),
            ),
        ] {
            let done = http
                .post(format!(
                    "{}/api/v1/cases/{case}/steps/{step}/complete",
                    server.base
                ))
                .bearer_auth(token)
                .json(&json!({ "outputs": outputs }))
                .send()
                .await
                .unwrap();
            assert_eq!(done.status(), 200, "{}", done.text().await.unwrap());
        }
        let delivered = |subscription: &str| {
            bodies
                .lock()
                .unwrap()
                .iter()
                .filter(|body| body["subscription"] == subscription)
                .cloned()
                .collect::<Vec<_>>()
        };
        let completed = |subscription: &str| {
            delivered(subscription).into_iter().find(|body| {
                body["type"] == "step_completed"
                    && body["event"]["change"]["step"] == "household_registration"
            })
        };
        wait_until(
            || completed("admin-hook").is_some() && completed("police-hook").is_some(),
            "both deliveries of the registration",
        )
        .await;
        let admin = Value::Array(delivered("admin-hook")).to_string();
        for number in ["11010519491231002X", child_id] {
            assert!(
                !admin.contains(number),
                "{number} in full to an admin: {admin}"
            );
        }
        assert_eq!(
            completed("admin-hook").unwrap()["event"]["change"]["outputs"]["child_id"],
            "110105***********9"
        );
        assert_eq!(
            completed("police-hook").unwrap()["event"]["change"]["outputs"]["child_id"],
            child_id,
            "an agency of the case receives it in full"
        );
        server.stop().await;
    });
}
