//! Running commands against stored cases: one load, one decision, one append
//! (retried on an optimistic-concurrency conflict), then the read models.

use std::sync::Arc;
use std::time::Duration;

use cqrs_es::persist::SerializedEvent;
use cqrs_es::Aggregate;
use onething_core::audit::{canonical_json, event_hash_of_texts, sha256_hex, GENESIS};
use onething_core::case::{
    decide_with_library, Actor, AppliedCommand, Case, CaseCommand, CaseEvent, Library,
};
use onething_core::workflow::Definition;
use serde_json::Value;
use sqlx::Row;

use crate::database::Database;
use crate::error::{CommandError, StoreError};
use crate::metadata::EventMetadata;
use crate::views;
use crate::with_pool;

/// The version stored with every event (see `onething_core::case::event`).
pub const EVENT_VERSION: &str = "1";

enum Appended {
    Stored,
    /// Another command appended to the case first.
    Conflict,
}

/// A violation of the events table's primary key, and nothing else: any
/// other constraint failing is an error, not a race (the trap of treating
/// every unique violation as an optimistic-lock conflict).
fn is_append_conflict(error: &dyn sqlx::error::DatabaseError) -> bool {
    match error.code().as_deref() {
        // SQLite: SQLITE_CONSTRAINT_PRIMARYKEY on the events table.
        Some("1555") => error.message().contains("events."),
        // PostgreSQL: unique_violation of the events primary key.
        Some("23505") => error.constraint() == Some("events_pkey"),
        _ => false,
    }
}

/// How many times a command is decided again after losing a race.
pub const MAX_ATTEMPTS: u32 = 12;

/// One stored event with its place in the case and its attribution.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub sequence: u64,
    pub event: CaseEvent,
    /// Attribution and chain: event id, command and correlation ids, actor,
    /// role, channel, recorded time, definition hash, previous hash, hash.
    pub metadata: EventMetadata,
}

impl StoredEvent {
    pub fn hash(&self) -> &str {
        &self.metadata.hash
    }
}

/// An event row a command appends, its JSON already written out.
pub(crate) struct NewRow {
    aggregate_id: String,
    sequence: i64,
    event_type: String,
    /// The payload's canonical JSON: the text that was hashed.
    payload: String,
    metadata: String,
}

/// How a command reached the engine, recorded with each of its events.
#[derive(Debug, Clone, Default)]
pub struct Attribution {
    /// `cli`, `api`, `scheduler`.
    pub channel: String,
    /// The role of the client that sent it; derived from the actor when unset.
    pub role: Option<String>,
    /// Ties a chain of related commands together; the command id when unset.
    pub correlation_id: Option<String>,
    /// The time is the server's clock: a command that meets a later event
    /// committed meanwhile by a concurrent one is taken at that event's time,
    /// not refused as back-dated (only a time given by hand is; docs/cases.md).
    pub clock_time: bool,
}

impl Attribution {
    pub fn cli() -> Attribution {
        Attribution {
            channel: "cli".into(),
            ..Attribution::default()
        }
    }
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
    library: Arc<Library>,
    cache: crate::case_cache::CaseCache,
}

/// Cases kept folded in memory by default: a few KiB each.
pub const DEFAULT_CASE_CACHE: usize = 4096;

/// The deepest nesting a stored JSON text is read with. Values given to
/// commands are bounded far lower (`onething_core::value_type::MAX_VALUE_DEPTH`);
/// rows written before that bound, up to the 128 levels the API's JSON reader
/// allowed plus the event around them, still read back.
pub const MAX_STORED_DEPTH: usize = 256;

/// How deep the brackets of a JSON text nest, outside strings.
fn text_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Reads a stored JSON text (a payload or metadata column) without the JSON
/// reader's limit of 128 levels, up to [`MAX_STORED_DEPTH`]; never panics.
pub fn parse_stored_json(text: &str) -> Result<Value, String> {
    let depth = text_depth(text);
    if depth > MAX_STORED_DEPTH {
        return Err(format!(
            "nests {depth} levels deep; at most {MAX_STORED_DEPTH} are read"
        ));
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    reader.disable_recursion_limit();
    let value = serde::Deserialize::deserialize(&mut reader).map_err(|e| e.to_string())?;
    reader.end().map_err(|e| e.to_string())?;
    Ok(value)
}

fn decode(row: SerializedEvent) -> Result<StoredEvent, StoreError> {
    let event: CaseEvent =
        serde_json::from_value(row.payload).map_err(|e| StoreError::UnreadableEvent {
            case_id: row.aggregate_id.clone(),
            sequence: row.sequence as u64,
            message: e.to_string(),
        })?;
    Ok(StoredEvent {
        sequence: row.sequence as u64,
        event,
        metadata: EventMetadata::from_value(&row.metadata),
    })
}

/// A stable unique id for the event at a place in a case, shaped like a UUID.
fn event_id(case_id: &str, sequence: u64) -> String {
    let hex = sha256_hex(format!("event\n{case_id}\n{sequence}").as_bytes());
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The agencies taking part in a case, as `,a,b,`: recorded with every
/// event so that a feed filtered by agency needs nothing but the event row.
fn participants(case: &Case, library: &Library, command: &CaseCommand) -> String {
    let definition = onething_core::case::definition_for(case, library, command).ok();
    let mut agencies: Vec<&str> = definition
        .as_deref()
        .map(|definition| {
            definition
                .agencies
                .iter()
                .map(|agency| agency.id.as_str())
                .collect()
        })
        .unwrap_or_default();
    agencies.push(onething_core::case::WINDOW_AGENCY);
    agencies.sort_unstable();
    agencies.dedup();
    format!(",{},", agencies.join(","))
}

fn role_of(actor: &Actor) -> &'static str {
    match actor {
        Actor::Agency { .. } if actor.is_window() => "window",
        Actor::Agency { .. } => "agency",
        Actor::Applicant { .. } => "applicant",
        Actor::System => "system",
    }
}

impl CaseStore {
    pub fn new(database: Database, library: Arc<Library>) -> CaseStore {
        CaseStore::with_cache(database, library, DEFAULT_CASE_CACHE)
    }

    /// A store that keeps up to `cases` folded cases in memory (0: none).
    pub fn with_cache(database: Database, library: Arc<Library>, cases: usize) -> CaseStore {
        CaseStore {
            database,
            library,
            cache: crate::case_cache::CaseCache::new(cases),
        }
    }

    /// Forgets every folded case: the next command of each case reads it from
    /// the database (after rows were changed behind the engine's back, say a
    /// restored backup; a test corrupting a row).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }

    /// How many folded cases the cache holds now.
    pub fn cached_cases(&self) -> usize {
        self.cache.len()
    }

    /// The case as stored, folded, with the hash of its last event.
    async fn load_head(&self, case_id: &str) -> Result<crate::case_cache::CachedCase, StoreError> {
        let stored = self.events(case_id).await?;
        let head_hash = stored
            .last()
            .map_or(GENESIS.to_string(), |event| event.hash().to_string());
        let mut case = Case::default();
        for event in stored {
            case.apply_event(event.event);
        }
        Ok(crate::case_cache::CachedCase { case, head_hash })
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

    /// Installs a catalogue: records its definitions by hash, then puts its
    /// bundle versions and calendars in the library together. Returns what
    /// changed in the calendars since running deadlines were last counted,
    /// in words: each change is a reason to revise them
    /// ([`crate::calendars::revise_deadlines`]).
    pub async fn install_catalog(
        &self,
        catalog: &crate::workflow_files::Catalog,
    ) -> Result<Vec<String>, StoreError> {
        for definition in &catalog.versions {
            self.record_definition(definition).await?;
        }
        let changes = {
            let calendars: Vec<_> = catalog.registry.calendars.values().collect();
            crate::calendars::pending_changes(&self.database, &calendars).await?
        };
        self.library.install(
            catalog.versions.clone(),
            catalog.registry.calendars.values().cloned().collect(),
        );
        Ok(changes)
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
        self.execute_with(case_id, command, &Attribution::cli())
            .await
    }

    /// As [`CaseStore::execute`], recording how the command arrived.
    pub async fn execute_with(
        &self,
        case_id: &str,
        mut command: CaseCommand,
        attribution: &Attribution,
    ) -> Result<CommandOutcome, CommandError> {
        let mut conflicts = 0;
        // Whether the state decided on may come from the cache: not after a
        // conflict, nor to confirm a refusal.
        let mut from_cache = true;
        loop {
            let cached = if from_cache {
                self.cache.take(case_id)
            } else {
                None
            };
            let was_cached = cached.is_some();
            let crate::case_cache::CachedCase {
                case: before,
                head_hash: previous_hash,
            } = match cached {
                Some(cached) => cached,
                None => self.load_head(case_id).await?,
            };
            if let Some(file) = before.file().filter(|_| attribution.clock_time) {
                command.at = command.at.max(file.last_event_at);
            }
            let events = match decide_with_library(&before, &self.library, &command) {
                Ok(events) => events,
                // The cached state may be behind the store: only the stored
                // case may refuse.
                Err(_) if was_cached => {
                    from_cache = false;
                    continue;
                }
                Err(refusal) => return Err(CommandError::Refused(refusal)),
            };
            if events.is_empty() && was_cached {
                // Applied before: answer with the case as stored, which may
                // have moved on since this process cached it.
                from_cache = false;
                continue;
            }
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
            let recorded_at = crate::time::stamp(chrono::Utc::now());
            let participants = participants(&before, &self.library, &command);
            let first_sequence = before.file().map_or(0, |file| file.sequence) + 1;
            let rows_before = views::RowsBefore::of(&before, &self.library);
            let mut case = before;
            let mut previous = previous_hash;
            let mut rows = Vec::with_capacity(events.len());
            let mut appended = Vec::with_capacity(events.len());
            for (offset, event) in events.into_iter().enumerate() {
                let sequence = first_sequence + offset as u64;
                case.apply_event(event.clone());
                let definition_hash = case
                    .file()
                    .map(|file| file.hash.clone())
                    .unwrap_or_default();
                let mut metadata = EventMetadata {
                    event_id: event_id(case_id, sequence),
                    case_id: case_id.to_string(),
                    sequence,
                    command_id: command.command_id.clone(),
                    correlation_id: attribution
                        .correlation_id
                        .clone()
                        .unwrap_or_else(|| command.command_id.clone()),
                    actor: command.actor.to_string(),
                    action: Some(command.action.name().to_string()),
                    role: attribution
                        .role
                        .clone()
                        .unwrap_or_else(|| role_of(&command.actor).to_string()),
                    channel: attribution.channel.clone(),
                    recorded_at: recorded_at.clone(),
                    definition_hash,
                    agencies: participants.clone(),
                    prev_hash: previous.clone(),
                    hash: String::new(),
                };
                let unhashed = metadata.canonical_text(false);
                let payload =
                    serde_json::to_value(&event).map_err(|e| StoreError::Decode(e.to_string()))?;
                // Stored as hashed: the canonical text, written out once.
                let payload = canonical_json(&payload);
                let event_type = event.change.name().to_string();
                let hash = event_hash_of_texts(
                    case_id,
                    sequence,
                    &event_type,
                    EVENT_VERSION,
                    &payload,
                    &unhashed,
                );
                metadata.hash = hash.clone();
                previous = hash;
                rows.push(NewRow {
                    aggregate_id: case_id.to_string(),
                    sequence: sequence as i64,
                    event_type,
                    payload,
                    metadata: metadata.canonical_text(true),
                });
                appended.push(StoredEvent {
                    sequence,
                    event,
                    metadata,
                });
            }
            let read_models = views::rows_for(&case, self.library.as_ref())?;
            let changes = read_models.as_ref().map(|after| rows_before.changes(after));
            match self
                .append(&rows, read_models.as_ref().zip(changes.as_ref()))
                .await?
            {
                Appended::Stored => {
                    self.cache.put(
                        case_id,
                        crate::case_cache::CachedCase {
                            case: case.clone(),
                            head_hash: previous,
                        },
                    );
                    return Ok(CommandOutcome {
                        case_id: case_id.to_string(),
                        appended,
                        already_applied: None,
                        case,
                        conflicts,
                    });
                }
                Appended::Conflict => {
                    self.cache.remove(case_id);
                    from_cache = false;
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
            }
        }
    }

    /// Appends the events and writes the case's read models in one
    /// transaction: both are stored, or neither. The events table's primary
    /// key turns a concurrent append to the same case into a conflict.
    ///
    /// The transaction runs on a connection of its own, taken only when no
    /// transaction is open on it ([`clean_connection`]), and a connection on
    /// which anything went wrong is closed instead of going back to the pool
    /// (see [`discard`] for why).
    async fn append(
        &self,
        rows: &[NewRow],
        read_models: Option<(&views::ReadModels, &crate::row_changes::RowChanges<'_>)>,
    ) -> Result<Appended, StoreError> {
        let database = &self.database;
        // PostgreSQL stores payload and metadata as json; SQLite as text.
        let json = match database {
            Database::Sqlite(_) => "",
            Database::Postgres(_) => "::json",
        };
        with_pool!(database, pool => async {
            let mut connection = clean_connection(pool).await?;
            let outcome = async {
                let mut transaction = sqlx::Connection::begin(&mut *connection).await?;
                // All the command's events in one statement: one round trip.
                let mut insert = sqlx::QueryBuilder::new(
                    "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) ",
                );
                insert.push_values(rows, |mut values, row| {
                    values
                        .push_bind(Case::TYPE)
                        .push_bind(&row.aggregate_id)
                        .push_bind(row.sequence)
                        .push_bind(&row.event_type)
                        .push_bind(EVENT_VERSION)
                        .push_bind(&row.payload)
                        .push_unseparated(json)
                        .push_bind(&row.metadata)
                        .push_unseparated(json);
                });
                match insert.build().execute(&mut *transaction).await {
                    Ok(_) => {}
                    Err(sqlx::Error::Database(error)) if is_append_conflict(error.as_ref()) => {
                        transaction.rollback().await?;
                        return Ok(Appended::Conflict);
                    }
                    Err(error) => return Err(StoreError::from(error)),
                }
                if let Some((rows, changes)) = read_models {
                    views::write_rows!(transaction, database, rows, changes)?;
                }
                transaction.commit().await?;
                Ok(Appended::Stored)
            }
            .await;
            // The transaction has ended (committed, rolled back, or dropped
            // with its rollback queued): the connection must say so.
            if outcome.is_err() || sqlx::Connection::is_in_transaction(&*connection) {
                discard(connection).await;
            }
            outcome
        }.await)
    }

    /// Every event of a case, in order. The rows are read as text and
    /// decoded here (not by sqlite-es / postgres-es, which unwrap), so a row
    /// that does not decode is an error naming the case and the sequence.
    pub async fn events(&self, case_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
        let columns = match &self.database {
            Database::Sqlite(_) => "sequence, payload, metadata",
            Database::Postgres(_) => {
                "sequence, payload::text AS payload, metadata::text AS metadata"
            }
        };
        let sql = self.database.sql(&format!(
            "SELECT {columns} FROM events WHERE aggregate_type = $1 AND aggregate_id = $2 ORDER BY sequence"
        ));
        let rows: Vec<(i64, String, String)> = with_pool!(&self.database, pool => {
            let rows = sqlx::query(&sql)
                .bind(Case::TYPE)
                .bind(case_id)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                .collect::<Result<_, sqlx::Error>>()?
        });
        rows.into_iter()
            .map(|(sequence, payload, metadata)| {
                let unreadable = |what: &str, message: String| StoreError::UnreadableEvent {
                    case_id: case_id.to_string(),
                    sequence: sequence.max(0) as u64,
                    message: format!("its {what} is not readable JSON: {message}"),
                };
                decode(SerializedEvent {
                    aggregate_id: case_id.to_string(),
                    sequence: sequence.max(0) as usize,
                    aggregate_type: Case::TYPE.to_string(),
                    event_type: String::new(),
                    event_version: String::new(),
                    payload: parse_stored_json(&payload)
                        .map_err(|message| unreadable("payload", message))?,
                    metadata: parse_stored_json(&metadata)
                        .map_err(|message| unreadable("metadata", message))?,
                })
            })
            .collect()
    }

    /// The case now: the fold of all its events.
    pub async fn load(&self, case_id: &str) -> Result<Case, StoreError> {
        let mut case = Case::default();
        for stored in self.events(case_id).await? {
            case.apply_event(stored.event);
        }
        Ok(case)
    }

    /// The case as it was after event `sequence`, through the same fold.
    pub async fn load_at(&self, case_id: &str, sequence: u64) -> Result<Case, StoreError> {
        let mut case = Case::default();
        for stored in self.events(case_id).await? {
            if stored.sequence > sequence {
                break;
            }
            case.apply_event(stored.event);
        }
        Ok(case)
    }

    /// Every case id in the store, in no particular order.
    pub async fn case_ids(&self) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT DISTINCT aggregate_id FROM events WHERE aggregate_type = 'case'";
        let rows: Vec<(String,)> =
            with_pool!(&self.database, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }
}

/// A pooled connection on which sqlx counts no open transaction.
///
/// `append` closes every connection its transaction failed on, but other
/// transactions (read model rebuilds, migrations) return theirs to the pool
/// as sqlx does; one whose count of open transactions is off would turn this
/// command's `BEGIN` into a `SAVEPOINT` and its `COMMIT` into a `RELEASE`
/// that may store nothing (see [`discard`]). Such a connection is closed and
/// another one taken; a new connection is always clean, so this ends once
/// the pool has been gone through.
async fn clean_connection<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
) -> Result<sqlx::pool::PoolConnection<DB>, sqlx::Error> {
    let tries = pool.options().get_max_connections() + 1;
    for _ in 0..tries {
        let connection = pool.acquire().await?;
        if !sqlx::Connection::is_in_transaction(&*connection) {
            return Ok(connection);
        }
        discard(connection).await;
    }
    Err(sqlx::Error::PoolTimedOut)
}

/// Closes a connection a transaction failed on, instead of returning it to
/// the pool.
///
/// A failed transaction can leave a connection in a state sqlx does not
/// see. On a full disk SQLite's `COMMIT` fails with `SQLITE_FULL` and SQLite
/// rolls the whole transaction back by itself; sqlx, which counts open
/// transactions per connection, then sends its own `ROLLBACK`, which fails
/// ("no transaction is active"), and keeps counting one open transaction.
/// Back in the pool, the next `begin` on that connection sends `SAVEPOINT`
/// instead of `BEGIN`; once a `ROLLBACK TO` of such a savepoint succeeds
/// (a command hitting the full disk again, or a conflict), SQLite stays in a
/// transaction that nothing ends: the connection holds the write lock for
/// good (every other connection waits its busy timeout and gets "database
/// is locked"), and each later "commit" on it is a `RELEASE` of a nested
/// savepoint, answered as stored though nothing reaches the file: commands
/// acknowledged, then lost when the connection closes. Closing the
/// connection rolls back whatever SQLite still holds open and releases its
/// locks; the pool opens a new connection when it needs one. (On
/// PostgreSQL the server ends the session's transaction the same way.)
async fn discard<DB: sqlx::Database>(connection: sqlx::pool::PoolConnection<DB>) {
    // Closing a connection that is already broken can fail; it is not
    // returned to the pool either way.
    let _ = connection.close().await;
}

fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()))
}
