//! A full database on SQLite, made without a full disk: `PRAGMA
//! max_page_count` caps the file at the pages it has, so that the next
//! command needing a page fails with `SQLITE_FULL` as on a full disk (SQLite
//! rolls the whole transaction back by itself, as it does when a `COMMIT`
//! cannot write the WAL). Raising the cap again is "space coming back".
//!
//! The defect this guards against (found by `scripts/torture --only
//! disk-full`): the connection the failure happened on went back to the pool
//! with sqlx counting a transaction still open, so the next command on it
//! began with a `SAVEPOINT`; after a `ROLLBACK TO` (a conflict, another
//! failure) SQLite stayed inside a transaction for good. That connection then
//! held the write lock ("database is locked" for every other one) and
//! acknowledged commands whose "commit" was the release of a nested
//! savepoint: lost when the connection closed.

mod common;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use onething_core::case::{case_id_for, Action, Actor, CaseCommand, Library};
use onething_store::{open_case_store, CaseStore, CommandError, Database};
use serde_json::json;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqlitePool};

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

fn at() -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn open(key: &str) -> (String, CaseCommand) {
    let case_id = case_id_for(key);
    let command = CaseCommand {
        command_id: key.into(),
        actor: agency("window"),
        at: at(),
        action: common::open_newborn(&case_id),
    };
    (case_id, command)
}

fn complete(key: &str, agency_id: &str, step: &str, outputs: serde_json::Value) -> CaseCommand {
    CaseCommand {
        command_id: key.into(),
        actor: agency(agency_id),
        at: at(),
        action: Action::Complete {
            step: step.into(),
            outputs,
        },
    }
}

fn options(url: &str) -> SqliteConnectOptions {
    // As `Database::connect` opens a file, with a short busy timeout so that
    // a write lock held for good shows as "database is locked" quickly.
    SqliteConnectOptions::from_str(url)
        .unwrap()
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(2))
        .foreign_keys(true)
}

/// A store on one pooled connection (so that the connection a failure
/// happened on is the one the next command gets, unless it was closed);
/// every connection opened is capped at `pages`.
async fn capped_store(url: &str, pages: Arc<AtomicU32>, cache: usize) -> (CaseStore, SqlitePool) {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .after_connect(move |connection, _| {
            let cap = format!("PRAGMA max_page_count = {}", pages.load(Ordering::SeqCst));
            Box::pin(async move {
                sqlx::Executor::execute(&mut *connection, cap.as_str()).await?;
                Ok(())
            })
        })
        .connect_with(options(url))
        .await
        .unwrap();
    let store = CaseStore::with_cache(
        Database::Sqlite(pool.clone()),
        Arc::new(Library::new()),
        cache,
    );
    store.install_catalog(&common::catalog()).await.unwrap();
    store.load_definitions().await.unwrap();
    (store, pool)
}

async fn set_cap(pool: &SqlitePool, pages: &AtomicU32, cap: u32) {
    pages.store(cap, Ordering::SeqCst);
    sqlx::raw_sql(&format!("PRAGMA max_page_count = {cap}"))
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_full_sqlite_database_fails_commands_cleanly_and_recovers_without_losing_an_acknowledged_event(
) {
    let file = std::env::temp_dir().join(format!("onething-full-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", file.display());
    // Migrated and the definitions recorded, by the ordinary path.
    open_case_store(&url, &common::catalog())
        .await
        .unwrap()
        .database()
        .close()
        .await;

    let pages = Arc::new(AtomicU32::new(1_000_000));
    // `cached` keeps folded cases (so that it can decide on a stale state and
    // meet a conflict); `fresh` reads every case from the database.
    let (cached, pool) = capped_store(&url, pages.clone(), 64).await;
    let fresh = CaseStore::with_cache(Database::Sqlite(pool.clone()), cached.library().clone(), 0);

    // Every acknowledged command: (case, sequence, event id).
    let mut acknowledged: Vec<(String, u64, String)> = Vec::new();
    let mut remember = |outcome: &onething_store::CommandOutcome| {
        for event in &outcome.appended {
            acknowledged.push((
                outcome.case_id.clone(),
                event.sequence,
                event.metadata.event_id.clone(),
            ));
        }
    };
    let mut cases = Vec::new();
    for n in 0..8 {
        let (case_id, command) = open(&format!("before-{n}"));
        remember(&cached.execute(&case_id, command).await.unwrap());
        cases.push(case_id);
    }

    // Full: no page more than the file has now.
    let (count,): (i64,) = sqlx::query_as("PRAGMA page_count")
        .fetch_one(&pool)
        .await
        .unwrap();
    set_cap(&pool, &pages, u32::try_from(count).unwrap()).await;
    // Commands of every shape (one event or several, few rows of read
    // models or many): a statement SQLite can undo alone fails on its own;
    // one it cannot, or a COMMIT, takes the whole transaction with it.
    let mut while_full = Vec::new();
    for (n, case_id) in cases.iter().enumerate().skip(1) {
        while_full.push((
            case_id.clone(),
            complete(
                &format!("full-birth-{n}"),
                "hospital",
                "birth_certificate",
                json!({"certificate_number": "Q1"}),
            ),
        ));
        while_full.push((
            case_id.clone(),
            complete(
                &format!("full-vaccination-{n}"),
                "cdc",
                "vaccination_card",
                json!({"card_number": "VC-1"}),
            ),
        ));
    }
    for n in 0..100 {
        while_full.push(open(&format!("while-full-{n}")));
    }
    let mut failures = 0;
    for (case_id, command) in while_full {
        match cached.execute(&case_id, command).await {
            Ok(outcome) => remember(&outcome),
            Err(CommandError::Store(error)) => {
                assert!(
                    error.is_storage_full(),
                    "a full database is storage_full, not: {error}"
                );
                failures += 1;
            }
            Err(other) => panic!("a full database is storage_full, not: {other}"),
        }
    }
    assert!(failures >= 10, "the capped database never filled up");
    // The connection the failures happened on was not given back with a
    // transaction sqlx still counts as open.
    let connection = pool.acquire().await.unwrap();
    assert!(
        !connection.is_in_transaction(),
        "a connection left in a transaction went back to the pool after SQLITE_FULL"
    );
    drop(connection);

    // Space comes back.
    set_cap(&pool, &pages, 1_000_000).await;
    // A conflict: `fresh` completes a step of a case `cached` holds folded,
    // then `cached` decides on its stale state, loses the race and retries.
    remember(
        &fresh
            .execute(
                &cases[0],
                complete(
                    "after-birth",
                    "hospital",
                    "birth_certificate",
                    json!({"certificate_number": "Q1"}),
                ),
            )
            .await
            .unwrap(),
    );
    let raced = cached
        .execute(
            &cases[0],
            complete(
                "after-vaccination",
                "cdc",
                "vaccination_card",
                json!({"card_number": "VC-1"}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(raced.conflicts, 1, "the stale cache met a conflict");
    remember(&raced);
    for n in 0..5 {
        let (case_id, command) = open(&format!("after-{n}"));
        remember(&cached.execute(&case_id, command).await.unwrap());
    }
    // Another connection can write: no connection kept the write lock.
    let mut other = sqlx::SqliteConnection::connect_with(&options(&url))
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE; ROLLBACK")
        .execute(&mut other)
        .await
        .expect("another connection can take the write lock once space is back");

    // Everything acknowledged is in the file, read on a connection of its own
    // after the pool is closed.
    cached.database().close().await;
    for (case_id, sequence, event_id) in &acknowledged {
        let stored: Option<(String,)> = sqlx::query_as(
            "SELECT metadata FROM events WHERE aggregate_type = 'case' AND aggregate_id = ?1 AND sequence = ?2",
        )
        .bind(case_id)
        .bind(i64::try_from(*sequence).unwrap())
        .fetch_optional(&mut other)
        .await
        .unwrap();
        let metadata =
            stored.unwrap_or_else(|| panic!("acknowledged event {case_id} #{sequence} was lost"));
        assert!(
            metadata.0.contains(event_id.as_str()),
            "event {case_id} #{sequence} is another one"
        );
    }
    other.close().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}
