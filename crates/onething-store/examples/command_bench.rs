//! Measures case commands per second through `CaseStore::execute` (one load,
//! one decision, one append, the read models), beside a baseline measured in
//! the same run on the same database: pgbench's TPC-B-like transaction on
//! PostgreSQL, or single-row durable insert transactions on SQLite.
//!
//! cargo run --release -p onething-store --example command_bench -- DATABASE_URL [CASES] [WORKERS]
//!
//! Each case is three commands: open a newborn case, complete the birth
//! certificate, complete the vaccination card. Durability is not weakened:
//! SQLite runs with synchronous=FULL, PostgreSQL with its own settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use onething_core::case::{case_id_for, Action, Actor, CaseCommand};
use onething_store::workflow_files::Catalog;
use onething_store::{open_case_store, with_pool, Database};
use serde_json::json;

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

fn commands(run: &str, number: usize) -> (String, Vec<CaseCommand>) {
    let open_id = format!("bench-{run}-{number}");
    let case_id = case_id_for(&open_id);
    // A fixed time inside the shipped calendar's years: the limits it starts
    // never reach a year without a holiday table, whenever this runs.
    let at = chrono::DateTime::parse_from_rfc3339("2026-11-23T09:00:00+08:00")
        .expect("a valid time")
        .with_timezone(&Utc);
    let open = CaseCommand {
        command_id: open_id,
        actor: agency("window"),
        at,
        action: Action::Open {
            case_id: case_id.clone(),
            workflow: "newborn".into(),
            form: json!({
                "baby_name": "测试", "baby_sex": "female", "birth_date": "2026-11-20", "born_in_province": true,
                "mother_id": "11010519491231002X", "household_head_id": "11010519491231002X",
                "address": "某路1号", "phone": "13800138000"
            }),
            materials: vec![],
            opted_in: vec![],
            channel: Default::default(),
        },
    };
    let complete = |suffix: &str, by: &str, step: &str, outputs: serde_json::Value| CaseCommand {
        command_id: format!("{case_id}-{suffix}"),
        actor: agency(by),
        at,
        action: Action::Complete {
            step: step.into(),
            outputs,
        },
    };
    let steps = vec![
        open,
        complete(
            "bc",
            "hospital",
            "birth_certificate",
            json!({"certificate_number": "Q"}),
        ),
        complete("vc", "cdc", "vaccination_card", json!({"card_number": "V"})),
    ];
    (case_id, steps)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn baseline(database: &Database, url: &str, workers: usize) -> String {
    match database {
        Database::Postgres(_) => {
            let init = std::process::Command::new("pgbench")
                .args(["-i", "-q", "-s", "10", url])
                .output();
            if init.as_ref().map_or(true, |o| !o.status.success()) {
                return "pgbench not available".into();
            }
            let run = std::process::Command::new("pgbench")
                .args(["-c", &workers.to_string(), "-j", "2", "-T", "10", url])
                .output()
                .expect("pgbench runs");
            let text = String::from_utf8_lossy(&run.stdout).into_owned();
            let tps = text
                .lines()
                .find(|line| line.starts_with("tps"))
                .unwrap_or("tps = ?")
                .to_string();
            format!("pgbench TPC-B-like, {workers} clients, 10 s: {tps}")
        }
        Database::Sqlite(pool) => {
            sqlx::raw_sql("CREATE TABLE IF NOT EXISTS bench_baseline (id integer PRIMARY KEY, body text NOT NULL)")
                .execute(pool)
                .await
                .unwrap();
            let started = Instant::now();
            let mut count = 0;
            while started.elapsed() < Duration::from_secs(5) {
                let mut transaction = pool.begin().await.unwrap();
                sqlx::query("INSERT INTO bench_baseline (body) VALUES (?)")
                    .bind("x".repeat(500))
                    .execute(&mut *transaction)
                    .await
                    .unwrap();
                transaction.commit().await.unwrap();
                count += 1;
            }
            format!(
                "single-row durable insert transactions, one writer: {:.0} tx/s",
                count as f64 / started.elapsed().as_secs_f64()
            )
        }
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: command_bench DATABASE_URL [CASES] [WORKERS]");
    let cases: usize = args
        .next()
        .map_or(2000, |n| n.parse().expect("CASES is a number"));
    let workers: usize = args
        .next()
        .map_or(16, |n| n.parse().expect("WORKERS is a number"));
    let folder = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../workflows");
    let catalog = Catalog::load(&folder).expect("the shipped workflows");
    let store = Arc::new(
        open_case_store(&url, &catalog)
            .await
            .expect("opening the store"),
    );
    println!(
        "backend: {}, {cases} cases × 3 commands, {workers} workers",
        store.database().backend()
    );

    let run = uuid::Uuid::new_v4().simple().to_string();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let (store, next, run) = (store.clone(), next.clone(), run.clone());
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut conflicts = 0;
            loop {
                let number = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if number >= cases {
                    return (latencies, conflicts);
                }
                let (case_id, commands) = commands(&run, number);
                for command in commands {
                    let began = Instant::now();
                    let outcome = store.execute(&case_id, command).await.expect("accepted");
                    conflicts += outcome.conflicts;
                    latencies.push(began.elapsed());
                }
            }
        }));
    }
    let mut latencies = Vec::new();
    let mut conflicts = 0;
    for handle in handles {
        let (mine, theirs) = handle.await.unwrap();
        latencies.extend(mine);
        conflicts += theirs;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    println!(
        "onething commands: {:.0} commands/s ({} in {seconds:.1} s), latency p50 {:.1} ms, p99 {:.1} ms, {conflicts} conflicts retried",
        latencies.len() as f64 / seconds,
        latencies.len(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
    let events: (i64,) = with_pool!(store.database(), pool => sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(pool).await.unwrap());
    println!("events stored: {}", events.0);
    println!(
        "baseline: {}",
        baseline(store.database(), &url, workers).await
    );
}
