//! Measures `audit verify` over a large store, beside two baselines taken in
//! the same run on the same rows: reading and decoding every row without
//! hashing (what the database and JSON decoding allow), and hashing the same
//! canonical bytes without reading (what SHA-256 on this CPU allows).
//!
//! cargo run --release -p onething-store --example audit_bench -- DATABASE_URL [EVENTS]
//!
//! The database must be empty or hold only earlier runs of this benchmark;
//! it fills it with synthetic, correctly chained events (100 per case).

use std::time::Instant;

use futures_util::TryStreamExt;
use onething_core::audit::{canonical_json, event_hash, sha256_hex, GENESIS};
use onething_store::audit::verify;
use onething_store::{with_pool, Database};
use serde_json::{json, Value};
use sqlx::Row;

const EVENTS_PER_CASE: u64 = 100;
const BATCH: usize = 500;

fn synthetic(case_id: &str, sequence: u64, previous: &str) -> (String, Value, Value) {
    let payload = json!({
        "command_id": format!("{case_id}-{sequence}"),
        "actor": {"kind": "agency", "agency": "police", "operator": "officer-3"},
        "at": "2025-06-03T02:00:00Z",
        "change": {"type": "step_completed", "step": "household_registration",
                   "outputs": {"child_id": "110101202506010015", "note": "出生登记已办结"}}
    });
    let mut metadata = json!({
        "event_id": format!("{case_id}:{sequence}"), "case_id": case_id, "sequence": sequence.to_string(),
        "command_id": format!("{case_id}-{sequence}"), "correlation_id": format!("{case_id}-{sequence}"),
        "actor": "police/officer-3", "role": "agency", "channel": "api",
        "recorded_at": "2025-06-03T02:00:00.000Z",
        "definition_hash": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        "prev_hash": previous,
    });
    let hash = event_hash(
        case_id,
        sequence,
        "step_completed",
        "1",
        &payload,
        &metadata,
    );
    metadata["hash"] = Value::String(hash.clone());
    (hash, payload, metadata)
}

async fn count(database: &Database) -> i64 {
    with_pool!(database, pool => {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM events").fetch_one(pool).await.unwrap();
        n
    })
}

async fn fill(database: &Database, events: u64) {
    let existing = count(database).await as u64;
    if existing >= events {
        println!("store already holds {existing} events");
        return;
    }
    let started = Instant::now();
    let cases = events.div_ceil(EVENTS_PER_CASE);
    let mut rows: Vec<(String, u64, Value, Value)> = Vec::with_capacity(BATCH);
    let first_case = existing / EVENTS_PER_CASE;
    for case in first_case..cases {
        let case_id = format!("BENCH{case:08}");
        let mut previous = GENESIS.to_string();
        for sequence in 1..=EVENTS_PER_CASE {
            let (hash, payload, metadata) = synthetic(&case_id, sequence, &previous);
            previous = hash;
            rows.push((case_id.clone(), sequence, payload, metadata));
            if rows.len() == BATCH {
                insert(database, &rows).await;
                rows.clear();
            }
        }
    }
    if !rows.is_empty() {
        insert(database, &rows).await;
    }
    println!(
        "filled {} events in {:.1} s",
        count(database).await,
        started.elapsed().as_secs_f64()
    );
}

async fn insert(database: &Database, rows: &[(String, u64, Value, Value)]) {
    let cast = if matches!(database, Database::Postgres(_)) {
        "::json"
    } else {
        ""
    };
    let mut sql = String::from(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) VALUES ",
    );
    for (index, _) in rows.iter().enumerate() {
        let base = index * 4;
        if index > 0 {
            sql.push(',');
        }
        sql.push_str(&format!(
            "('case', ${}, ${}, 'step_completed', '1', ${}{cast}, ${}{cast})",
            base + 1,
            base + 2,
            base + 3,
            base + 4
        ));
    }
    let sql = database.sql(&sql);
    with_pool!(database, pool => {
        let mut query = sqlx::query(&sql);
        for (case_id, sequence, payload, metadata) in rows {
            query = query.bind(case_id).bind(*sequence as i64).bind(payload.to_string()).bind(metadata.to_string());
        }
        query.execute(pool).await.unwrap();
    });
}

/// Baseline 1: read and decode every row, no hashing.
async fn scan(database: &Database) -> (u64, Vec<String>) {
    let sql = match database {
        Database::Sqlite(_) => "SELECT aggregate_id, sequence, payload, metadata FROM events ORDER BY aggregate_id, sequence",
        Database::Postgres(_) => "SELECT aggregate_id, sequence, payload::text AS payload, metadata::text AS metadata FROM events ORDER BY aggregate_id, sequence",
    };
    let mut events = 0;
    let mut samples = Vec::new();
    with_pool!(database, pool => {
        let mut stream = sqlx::query(sql).fetch(pool);
        while let Some(row) = stream.try_next().await.unwrap() {
            let payload: String = row.get("payload");
            let metadata: String = row.get("metadata");
            let payload: Value = serde_json::from_str(&payload).unwrap();
            let metadata: Value = serde_json::from_str(&metadata).unwrap();
            if samples.len() < 1000 {
                samples.push(canonical_json(&json!({"payload": payload, "metadata": metadata})));
            }
            events += 1;
        }
    });
    (events, samples)
}

fn rate(events: u64, seconds: f64) -> String {
    format!(
        "{:>10.0} events/s ({events} events in {seconds:.2} s)",
        events as f64 / seconds
    )
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .expect("usage: audit_bench DATABASE_URL [EVENTS]");
    let events: u64 = args
        .next()
        .map_or(1_000_000, |n| n.parse().expect("EVENTS is a number"));
    let database = Database::open(&url).await.expect("opening the database");
    println!("backend: {}", database.backend());
    fill(&database, events).await;

    let started = Instant::now();
    let (scanned, samples) = scan(&database).await;
    let scan_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let mut hashed = 0u64;
    while started.elapsed().as_secs_f64() < 1.0 {
        for sample in &samples {
            std::hint::black_box(sha256_hex(sample.as_bytes()));
            hashed += 1;
        }
    }
    let hash_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let report = verify(&database, None, None, &mut |_| {})
        .await
        .expect("verifying");
    let verify_seconds = started.elapsed().as_secs_f64();
    assert!(report.intact(), "the synthetic store verifies clean");

    println!(
        "baseline, read + decode rows : {}",
        rate(scanned, scan_seconds)
    );
    println!(
        "baseline, SHA-256 of events  : {}",
        rate(hashed, hash_seconds)
    );
    println!(
        "audit verify (full chains)   : {}",
        rate(report.events, verify_seconds)
    );
    println!(
        "verify / read-and-decode     : {:.2}",
        (report.events as f64 / verify_seconds) / (scanned as f64 / scan_seconds)
    );
}
