//! Running commands against stored cases: one load, one decision, one append
//! (retried on an optimistic-concurrency conflict), then the read models.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use cqrs_es::persist::{PersistedEventStore, SerializedEvent};
use cqrs_es::{AggregateError, EventEnvelope, EventStore};
use onething_core::case::{
    decide_with_library, AppliedCommand, Case, CaseCommand, CaseEvent, Library,
};
use onething_core::workflow::Definition;
use postgres_es::PostgresEventRepository;
use sqlite_es::SqliteEventRepository;

use crate::database::Database;
use crate::error::{CommandError, StoreError};
use crate::views;
use crate::with_pool;

/// How many times a command is decided again after losing a race.
pub const MAX_ATTEMPTS: u32 = 12;

enum Events {
    Sqlite(PersistedEventStore<SqliteEventRepository, Case>),
    Postgres(PersistedEventStore<PostgresEventRepository, Case>),
}

macro_rules! with_events {
    ($events:expr, $store:ident => $body:expr) => {
        match $events {
            Events::Sqlite($store) => $body,
            Events::Postgres($store) => $body,
        }
    };
}

/// One stored event with its place in the case.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub sequence: u64,
    pub event: CaseEvent,
    pub metadata: HashMap<String, String>,
}

/// What a command did.
#[derive(Debug, Clone)]
pub struct CommandOutcome {
    pub case_id: String,
    /// The events this command appended; empty when it had been applied before.
    pub appended: Vec<StoredEvent>,
    /// Set when the command id had already been applied: where its events are.
    pub already_applied: Option<AppliedCommand>,
    /// The case after the command.
    pub case: Case,
    /// Optimistic-concurrency conflicts met and retried.
    pub conflicts: u32,
}

pub struct CaseStore {
    database: Database,
    events: Events,
    library: Arc<Library>,
}

fn event_store_error(error: AggregateError<onething_core::case::CaseError>) -> StoreError {
    StoreError::EventStore(error.to_string())
}

impl CaseStore {
    pub fn new(database: Database, library: Arc<Library>) -> CaseStore {
        let events = match &database {
            Database::Sqlite(pool) => Events::Sqlite(PersistedEventStore::new_event_store(
                SqliteEventRepository::new(pool.clone()),
            )),
            Database::Postgres(pool) => Events::Postgres(PersistedEventStore::new_event_store(
                PostgresEventRepository::new(pool.clone()),
            )),
        };
        CaseStore {
            database,
            events,
            library,
        }
    }

    pub fn database(&self) -> &Database {
        &self.database
    }

    pub fn library(&self) -> &Arc<Library> {
        &self.library
    }

    /// Records a definition by its hash (once) so that cases running on it
    /// can be replayed after the file has changed.
    pub async fn record_definition(&self, definition: &Definition) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(definition).map_err(|e| StoreError::Decode(e.to_string()))?;
        let sql = self.database.sql(
            "INSERT INTO definitions (hash, workflow, version, body, recorded_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (hash) DO NOTHING",
        );
        with_pool!(&self.database, pool => {
            sqlx::query(&sql)
                .bind(&definition.hash)
                .bind(&definition.id)
                .bind(i64::from(definition.version))
                .bind(body)
                .bind(chrono::Utc::now().to_rfc3339())
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Loads every recorded definition into the library.
    pub async fn load_definitions(&self) -> Result<usize, StoreError> {
        let sql = "SELECT body FROM definitions";
        let bodies: Vec<(String,)> = with_pool!(&self.database, pool => {
            sqlx::query_as(sql).fetch_all(pool).await?
        });
        for (body,) in &bodies {
            let definition: Definition =
                serde_json::from_str(body).map_err(|e| StoreError::Decode(e.to_string()))?;
            self.library.add_definition(definition);
        }
        Ok(bodies.len())
    }

    /// Decides and appends, retrying when another command got there first.
    pub async fn execute(
        &self,
        case_id: &str,
        command: CaseCommand,
    ) -> Result<CommandOutcome, CommandError> {
        let mut metadata = HashMap::new();
        metadata.insert("command_id".to_string(), command.command_id.clone());
        metadata.insert("actor".to_string(), command.actor.to_string());
        metadata.insert("action".to_string(), command.action.name().to_string());
        let mut conflicts = 0;
        loop {
            let context = with_events!(&self.events, store => store.load_aggregate(case_id).await)
                .map_err(event_store_error)?;
            let before = context.aggregate.clone();
            let events = decide_with_library(&before, &self.library, &command)
                .map_err(CommandError::Refused)?;
            if events.is_empty() {
                let already_applied = before
                    .file()
                    .and_then(|file| file.applied.get(&command.command_id).cloned());
                return Ok(CommandOutcome {
                    case_id: case_id.to_string(),
                    appended: Vec::new(),
                    already_applied,
                    case: before,
                    conflicts,
                });
            }
            let committed = with_events!(&self.events, store => store.commit(events, context, metadata.clone()).await);
            match committed {
                Ok(envelopes) => {
                    let mut case = before;
                    let appended: Vec<StoredEvent> = envelopes
                        .into_iter()
                        .map(|envelope: EventEnvelope<Case>| {
                            case.apply_event(envelope.payload.clone());
                            StoredEvent {
                                sequence: envelope.sequence as u64,
                                event: envelope.payload,
                                metadata: envelope.metadata,
                            }
                        })
                        .collect();
                    views::update(&self.database, &case, self.library.as_ref()).await?;
                    return Ok(CommandOutcome {
                        case_id: case_id.to_string(),
                        appended,
                        already_applied: None,
                        case,
                        conflicts,
                    });
                }
                Err(AggregateError::AggregateConflict) => {
                    conflicts += 1;
                    if conflicts >= MAX_ATTEMPTS {
                        return Err(CommandError::Contended {
                            attempts: conflicts,
                        });
                    }
                    // Back off a little, more each time, so that the racers spread out.
                    let jitter = u64::from(conflicts) * 3 + (nanos() % 7);
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                }
                Err(other) => return Err(event_store_error(other).into()),
            }
        }
    }

    /// Every event of a case, in order.
    pub async fn events(&self, case_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let envelopes = with_events!(&self.events, store => store.load_events(case_id).await)
            .map_err(event_store_error)?;
        Ok(envelopes
            .into_iter()
            .map(|envelope| StoredEvent {
                sequence: envelope.sequence as u64,
                event: envelope.payload,
                metadata: envelope.metadata,
            })
            .collect())
    }

    /// The case now: the fold of all its events.
    pub async fn load(&self, case_id: &str) -> Result<Case, StoreError> {
        let context = with_events!(&self.events, store => store.load_aggregate(case_id).await)
            .map_err(event_store_error)?;
        Ok(context.aggregate)
    }

    /// Every case id in the store, in no particular order.
    pub async fn case_ids(&self) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = 'case'";
        let rows: Vec<(String,)> =
            with_pool!(&self.database, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Raw stored rows of a case, for comparing backends.
    pub async fn serialized_events(
        &self,
        case_id: &str,
    ) -> Result<Vec<SerializedEvent>, StoreError> {
        let events = self.events(case_id).await?;
        events
            .into_iter()
            .map(|stored| {
                Ok(SerializedEvent {
                    aggregate_id: case_id.to_string(),
                    sequence: stored.sequence as usize,
                    aggregate_type: "case".into(),
                    event_type: stored.event.change.name().to_string(),
                    event_version: "1".into(),
                    payload: serde_json::to_value(&stored.event)
                        .map_err(|e| StoreError::Decode(e.to_string()))?,
                    metadata: serde_json::to_value(&stored.metadata)
                        .map_err(|e| StoreError::Decode(e.to_string()))?,
                })
            })
            .collect()
    }
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}
