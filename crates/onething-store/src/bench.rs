//! The ceilings `onething bench` holds the engine against, measured by
//! statements of their own on the same database, at the same concurrency, in
//! the same run: a raw event-row insert, and the database work of a command
//! (load a case's events, insert one with a version check). Both durable: each
//! operation is its own committed transaction, on the database's own settings.
//! Also the read-and-decode scan that bounds `audit verify`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::Row;

use crate::database::Database;
use crate::error::StoreError;
use crate::with_pool;

/// Events of a seeded case in the load-and-insert ceiling: a newborn case
/// holds about twenty when its last steps run.
pub const EVENTS_PER_CASE: i64 = 20;

/// An event's payload of about the size onething stores.
fn payload(sequence: i64) -> String {
    format!(
        r#"{{"command_id":"bench-{sequence}","actor":{{"kind":"agency","agency":"police","operator":"officer-3"}},"at":"2026-06-01T02:00:00Z","change":{{"type":"step_completed","step":"household_registration","outputs":{{"child_id":"110101202506010015","note":"出生登记已办结，户口已登记在册，请于办结后领取户口簿"}}}},"padding":"{}"}}"#,
        "x".repeat(400)
    )
}

async fn reset(database: &Database) -> Result<(), StoreError> {
    with_pool!(database, pool => {
        sqlx::raw_sql(
            "DROP TABLE IF EXISTS bench_rows;
             CREATE TABLE bench_rows (id text NOT NULL, sequence bigint NOT NULL, payload text NOT NULL, PRIMARY KEY (id, sequence));",
        )
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Drops the ceilings' scratch table.
pub async fn clean_up(database: &Database) -> Result<(), StoreError> {
    with_pool!(database, pool => {
        sqlx::raw_sql("DROP TABLE IF EXISTS bench_rows").execute(pool).await?;
    });
    Ok(())
}

/// Operations per second of `workers` tasks each running `operation` in a
/// loop for `duration`; the task's number and its count so far go in.
async fn run_for<F, Fut>(
    workers: usize,
    duration: Duration,
    operation: F,
) -> Result<f64, StoreError>
where
    F: Fn(usize, i64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), StoreError>> + Send,
{
    let operation = Arc::new(operation);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let operation = operation.clone();
        tasks.push(tokio::spawn(async move {
            let mut done: i64 = 0;
            while started.elapsed() < duration {
                operation(worker, done).await?;
                done += 1;
            }
            Ok::<i64, StoreError>(done)
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task
            .await
            .map_err(|error| StoreError::EventStore(error.to_string()))??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// A durable insert of one event-sized row per transaction.
pub async fn raw_insert_ceiling(
    database: &Database,
    workers: usize,
    duration: Duration,
) -> Result<f64, StoreError> {
    reset(database).await?;
    let database = database.clone();
    let sql = database.sql("INSERT INTO bench_rows (id, sequence, payload) VALUES ($1, $2, $3)");
    run_for(workers, duration, move |worker, done| {
        let database = database.clone();
        let sql = sql.clone();
        async move {
            with_pool!(&database, pool => {
                sqlx::query(&sql)
                    .bind(format!("raw-{worker}"))
                    .bind(done)
                    .bind(payload(done))
                    .execute(pool)
                    .await?;
            });
            Ok(())
        }
    })
    .await
}

/// A command's database work: read every event of a case, then insert the
/// next one in a transaction, where the primary key is the version check.
pub async fn load_insert_ceiling(
    database: &Database,
    workers: usize,
    duration: Duration,
) -> Result<f64, StoreError> {
    reset(database).await?;
    // Each worker has cases of its own (no conflicts), seeded with a case's events.
    let cases_per_worker: i64 = 50;
    with_pool!(database, pool => {
        for worker in 0..workers {
            for case in 0..cases_per_worker {
                let mut insert = sqlx::QueryBuilder::new("INSERT INTO bench_rows (id, sequence, payload) ");
                insert.push_values(1..=EVENTS_PER_CASE, |mut values, sequence| {
                    values
                        .push_bind(format!("case-{worker}-{case}"))
                        .push_bind(sequence)
                        .push_bind(payload(sequence));
                });
                insert.build().execute(pool).await?;
            }
        }
    });
    let database = database.clone();
    let select =
        database.sql("SELECT sequence, payload FROM bench_rows WHERE id = $1 ORDER BY sequence");
    let insert = database.sql("INSERT INTO bench_rows (id, sequence, payload) VALUES ($1, $2, $3)");
    run_for(workers, duration, move |worker, done| {
        let database = database.clone();
        let (select, insert) = (select.clone(), insert.clone());
        async move {
            let id = format!("case-{worker}-{}", done % cases_per_worker);
            with_pool!(&database, pool => {
                let rows = sqlx::query(&select).bind(&id).fetch_all(pool).await?;
                let mut last = 0;
                for row in &rows {
                    last = row.try_get::<i64, _>("sequence")?;
                    let text: String = row.try_get("payload")?;
                    // Decoded, as a command decodes its case's events.
                    let _: Value = serde_json::from_str(&text).map_err(|e| StoreError::Decode(e.to_string()))?;
                }
                let mut transaction = pool.begin().await?;
                sqlx::query(&insert)
                    .bind(&id)
                    .bind(last + 1)
                    .bind(payload(last + 1))
                    .execute(&mut *transaction)
                    .await?;
                transaction.commit().await?;
            });
            Ok(())
        }
    })
    .await
}

/// Reads and decodes every stored event (payload and metadata) without
/// hashing: what `audit verify` could reach if hashing were free. Events/s.
pub async fn read_decode_rate(database: &Database) -> Result<(u64, f64), StoreError> {
    let sql = match database {
        Database::Sqlite(_) => "SELECT payload, metadata FROM events ORDER BY aggregate_id, sequence",
        Database::Postgres(_) => {
            "SELECT payload::text AS payload, metadata::text AS metadata FROM events ORDER BY aggregate_id, sequence"
        }
    };
    let started = Instant::now();
    let mut events = 0;
    with_pool!(database, pool => {
        let mut stream = sqlx::query(sql).fetch(pool);
        while let Some(row) = stream.try_next().await? {
            let payload: String = row.try_get("payload")?;
            let metadata: String = row.try_get("metadata")?;
            let _: Value = serde_json::from_str(&payload).map_err(|e| StoreError::Decode(e.to_string()))?;
            let _: Value = serde_json::from_str(&metadata).map_err(|e| StoreError::Decode(e.to_string()))?;
            events += 1;
        }
    });
    Ok((events, events as f64 / started.elapsed().as_secs_f64()))
}

/// The tables holding a case's rows, each with the column naming the case.
const CASE_TABLES: [(&str, &str); 5] = [
    ("events", "aggregate_id"),
    ("case_summaries", "case_id"),
    ("agency_tasks", "case_id"),
    ("case_figures", "case_id"),
    ("step_figures", "case_id"),
];

/// Columns a copy leaves to their defaults (PostgreSQL's global order).
const GENERATED_COLUMNS: [&str; 2] = ["position", "xact_id"];

/// Copies of templates inserted per transaction.
const SEED_BATCH: u64 = 20_000;

/// Cases stored, as the summaries count them.
pub async fn stored_cases(database: &Database) -> Result<u64, StoreError> {
    let count: i64 = with_pool!(database, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM case_summaries").fetch_one(pool).await?
    });
    Ok(count.max(0) as u64)
}

async fn columns(database: &Database, table: &str) -> Result<Vec<String>, StoreError> {
    let names: Vec<String> = match database {
        Database::Sqlite(pool) => {
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
                .bind(table)
                .fetch_all(pool)
                .await?
        }
        Database::Postgres(pool) => {
            sqlx::query_scalar(
                "SELECT column_name::text FROM information_schema.columns
                 WHERE table_name = $1 AND table_schema = current_schema() ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(pool)
            .await?
        }
    };
    Ok(names
        .into_iter()
        .filter(|name| !GENERATED_COLUMNS.contains(&name.as_str()))
        .collect())
}

/// Fills the store up to `wanted` cases with copies of the `templates`' rows
/// (events, summary, tasks, figures) under new case numbers `SEED-{n}-{id}`,
/// so that the command path can be measured over a large store without
/// driving a million cases first. The copies' events are the templates' rows
/// as they are: their metadata and hashes still name the template, so a
/// verification of the store reports every copy as moved. Returns the number
/// of cases added.
pub async fn seed_copies(
    database: &Database,
    templates: &[String],
    wanted: u64,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<u64, StoreError> {
    let stored = stored_cases(database).await?;
    if templates.is_empty() || stored >= wanted {
        return Ok(0);
    }
    let listed = templates
        .iter()
        .map(|id| format!("'{}'", id.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(",");
    let mut statements = Vec::new();
    for (table, key) in CASE_TABLES {
        let columns = columns(database, table).await?;
        let list = columns.join(", ");
        let selected = columns
            .iter()
            .map(|column| {
                if column == key {
                    format!("'SEED-' || CAST(n.i AS text) || '-' || t.{column}")
                } else {
                    format!("t.{column}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        statements.push(database.sql(&format!(
            "WITH RECURSIVE n(i) AS (SELECT CAST($1 AS bigint) UNION ALL SELECT i + 1 FROM n WHERE i < CAST($2 AS bigint))
             INSERT INTO {table} ({list}) SELECT {selected} FROM {table} t, n WHERE t.{key} IN ({listed})"
        )));
    }
    let rounds = (wanted - stored).div_ceil(templates.len() as u64);
    let per_batch = (SEED_BATCH / templates.len() as u64).max(1);
    // Numbers go on from the copies already made, so a second seeding adds.
    let seeded_before: i64 = with_pool!(database, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM case_summaries WHERE case_id LIKE 'SEED-%'")
            .fetch_one(pool)
            .await?
    });
    let first_round = seeded_before.max(0) as u64 / templates.len() as u64 + 1;
    let mut round = first_round;
    while round < first_round + rounds {
        let last = (round + per_batch - 1).min(first_round + rounds - 1);
        with_pool!(database, pool => {
            let mut transaction = pool.begin().await?;
            for statement in &statements {
                sqlx::query(statement)
                    .bind(round as i64)
                    .bind(last as i64)
                    .execute(&mut *transaction)
                    .await?;
            }
            transaction.commit().await?;
        });
        progress((last - first_round + 1) * templates.len() as u64);
        round = last + 1;
    }
    Ok(rounds * templates.len() as u64)
}
