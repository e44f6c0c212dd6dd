//! The events table keeps the schema of sqlite-es and postgres-es, so that
//! their event repositories read what onething appends, event for event:
//! a store stays readable by the stock cqrs-es tooling, though onething
//! reads and appends with its own SQL (see docs/dependencies.md for why).

mod common;
use common::ScratchPostgres;

use chrono::Utc;
use cqrs_es::persist::PersistedEventRepository;
use onething_core::case::{case_id_for, Action, Actor, Case, CaseCommand};
use onething_store::{open_case_store, CaseStore, Database};
use serde_json::json;

fn agency(id: &str) -> Actor {
    Actor::Agency {
        agency: id.into(),
        operator: None,
    }
}

/// A newborn case opened and its first step completed.
async fn a_case_with_events(store: &CaseStore, key: &str) -> String {
    let at = chrono::DateTime::parse_from_rfc3339("2026-06-01T09:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let case_id = case_id_for(key);
    let open = CaseCommand {
        command_id: key.into(),
        actor: agency("window"),
        at,
        action: common::open_newborn(&case_id),
    };
    store.execute(&case_id, open).await.unwrap();
    let complete = CaseCommand {
        command_id: format!("{key}-birth"),
        actor: agency("hospital"),
        at,
        action: Action::Complete {
            step: "birth_certificate".into(),
            outputs: json!({"certificate_number": "Q110000001"}),
        },
    };
    store.execute(&case_id, complete).await.unwrap();
    case_id
}

/// What the stock repository read, beside what onething reads, compared.
async fn same_events(
    store: &CaseStore,
    case_id: &str,
    read: Vec<cqrs_es::persist::SerializedEvent>,
) {
    let ours = store.events(case_id).await.unwrap();
    assert!(ours.len() >= 3, "the case has events");
    assert_eq!(read.len(), ours.len());
    for (theirs, ours) in read.iter().zip(&ours) {
        assert_eq!(theirs.sequence as u64, ours.sequence);
        assert_eq!(theirs.event_type, ours.event.change.name());
        assert_eq!(theirs.payload, serde_json::to_value(&ours.event).unwrap());
        assert_eq!(theirs.metadata, ours.metadata.to_value());
    }
}

#[tokio::test]
async fn sqlite_es_reads_the_events_onething_appends() {
    let file = std::env::temp_dir().join(format!("onething-compat-{}.db", uuid::Uuid::new_v4()));
    let url = format!("sqlite://{}", file.display());
    let store = open_case_store(&url, &common::catalog()).await.unwrap();
    let case_id = a_case_with_events(&store, "compatibility-sqlite").await;
    let Database::Sqlite(pool) = store.database() else {
        panic!("a SQLite store");
    };
    let repository = sqlite_es::SqliteEventRepository::new(pool.clone());
    let read = repository.get_events::<Case>(&case_id).await.unwrap();
    same_events(&store, &case_id, read).await;
    drop(store);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
    }
}

#[tokio::test]
async fn postgres_es_reads_the_events_onething_appends() {
    let scratch = ScratchPostgres::create("onething_compat").await;
    let store = open_case_store(&scratch.url, &common::catalog())
        .await
        .unwrap();
    let case_id = a_case_with_events(&store, "compatibility-postgres").await;
    let Database::Postgres(pool) = store.database() else {
        panic!("a PostgreSQL store");
    };
    let repository = postgres_es::PostgresEventRepository::new(pool.clone());
    let read = repository.get_events::<Case>(&case_id).await.unwrap();
    same_events(&store, &case_id, read).await;
    store.database().close().await;
    scratch.drop_database().await;
}
