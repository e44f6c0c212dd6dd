//! The event feed: every committed event once, in one global order that is
//! the same for every reader, optionally filtered to the cases an agency
//! takes part in.
//!
//! PostgreSQL assigns `position` when a row is inserted, not when it is
//! committed, so a reader that saw position 10 may later see 9 appear. The
//! feed therefore orders by the writing transaction's id, then position, and
//! reads only rows written by transactions older than the oldest one still
//! running (`pg_snapshot_xmin(pg_current_snapshot())`): nothing can appear
//! behind the cursor. SQLite has one writer at a time, so its rowid order is
//! the commit order.

use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::database::Database;
use crate::error::StoreError;

/// A place in the feed. `None` is the beginning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// SQLite: the rowid of the last event read.
    Row(i64),
    /// PostgreSQL: the transaction id and position of the last event read.
    Transaction(i64, i64),
}

impl Cursor {
    pub fn parse(text: &str) -> Option<Cursor> {
        if let Some(row) = text.strip_prefix('r') {
            return row.parse().ok().map(Cursor::Row);
        }
        let (transaction, position) = text.strip_prefix('x')?.split_once('-')?;
        Some(Cursor::Transaction(
            transaction.parse().ok()?,
            position.parse().ok()?,
        ))
    }

    pub fn encode(self) -> String {
        match self {
            Cursor::Row(row) => format!("r{row}"),
            Cursor::Transaction(transaction, position) => format!("x{transaction}-{position}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FeedEvent {
    /// The cursor just after this event.
    pub cursor: String,
    pub case_id: String,
    pub sequence: i64,
    pub event_type: String,
    pub payload: Value,
    /// As stored: the object the event's hash covers, passed on verbatim.
    pub metadata: Value,
}

impl FeedEvent {
    /// The metadata, typed.
    pub fn attribution(&self) -> crate::metadata::EventMetadata {
        crate::metadata::EventMetadata::from_value(&self.metadata)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FeedPage {
    pub events: Vec<FeedEvent>,
    /// Where to continue; the given cursor when nothing new was read.
    pub next: Option<String>,
}

/// One feed event from a row of either backend (the row types differ, the
/// columns do not).
macro_rules! feed_event {
    ($row:expr, $cursor:expr) => {{
        let payload: String = $row.try_get("payload")?;
        let metadata: String = $row.try_get("metadata")?;
        Ok::<FeedEvent, sqlx::Error>(FeedEvent {
            cursor: $cursor.encode(),
            case_id: $row.try_get("aggregate_id")?,
            sequence: $row.try_get("sequence")?,
            event_type: $row.try_get("event_type")?,
            payload: $crate::cases::parse_stored_json(&payload).unwrap_or(Value::String(payload)),
            metadata: $crate::cases::parse_stored_json(&metadata)
                .unwrap_or(Value::String(metadata)),
        })
    }};
}

/// Reads up to `limit` events after `after`.
pub async fn read(
    database: &Database,
    after: Option<Cursor>,
    agency: Option<&str>,
    limit: i64,
) -> Result<FeedPage, StoreError> {
    // `_` and `%` are wildcards in LIKE: escape them, `_` is common in agency ids.
    let pattern = agency.map(|agency| {
        let escaped = agency
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        format!("%,{escaped},%")
    });
    let limit = limit.clamp(1, 1000);
    let events = match database {
        Database::Sqlite(pool) => {
            let after = match after {
                Some(Cursor::Row(row)) => row,
                _ => 0,
            };
            let filter = if pattern.is_some() {
                " AND json_extract(metadata, '$.agencies') LIKE ? ESCAPE '\\'"
            } else {
                ""
            };
            let sql = format!(
                "SELECT rowid AS row_number, aggregate_id, sequence, event_type, payload, metadata
                 FROM events WHERE aggregate_type = 'case' AND rowid > ?{filter} ORDER BY rowid LIMIT ?"
            );
            let mut query = sqlx::query(&sql).bind(after);
            if let Some(pattern) = &pattern {
                query = query.bind(pattern);
            }
            let rows = query.bind(limit).fetch_all(pool).await?;
            rows.into_iter()
                .map(|row| feed_event!(row, Cursor::Row(row.try_get("row_number")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }
        Database::Postgres(pool) => {
            let (transaction, position) = match after {
                Some(Cursor::Transaction(transaction, position)) => (transaction, position),
                _ => (0, 0),
            };
            let filter = if pattern.is_some() {
                " AND (metadata->>'agencies') LIKE $4 ESCAPE '\\'"
            } else {
                ""
            };
            let sql = format!(
                "SELECT xact_id::text::bigint AS transaction_id, position, aggregate_id, sequence, event_type,
                        payload::text AS payload, metadata::text AS metadata
                 FROM events
                 WHERE aggregate_type = 'case'
                   AND (xact_id, position) > ($1::text::xid8, $2)
                   AND xact_id < pg_snapshot_xmin(pg_current_snapshot()){filter}
                 ORDER BY xact_id, position
                 LIMIT $3"
            );
            let mut query = sqlx::query(&sql)
                .bind(transaction.to_string())
                .bind(position)
                .bind(limit);
            if let Some(pattern) = &pattern {
                query = query.bind(pattern);
            }
            let rows = query.fetch_all(pool).await?;
            rows.into_iter()
                .map(|row| {
                    feed_event!(
                        row,
                        Cursor::Transaction(
                            row.try_get("transaction_id")?,
                            row.try_get("position")?
                        )
                    )
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        }
    };
    let next = events
        .last()
        .map(|event| event.cursor.clone())
        .or(after.map(Cursor::encode));
    Ok(FeedPage { events, next })
}

/// The newest cursor: where a reader that wants only new events starts.
pub async fn head(database: &Database) -> Result<Option<String>, StoreError> {
    Ok(match database {
        Database::Sqlite(pool) => {
            let (row,): (Option<i64>,) = sqlx::query_as("SELECT MAX(rowid) FROM events")
                .fetch_one(pool)
                .await?;
            row.map(|row| Cursor::Row(row).encode())
        }
        Database::Postgres(pool) => {
            let row: Option<(i64, i64)> = sqlx::query_as(
                "SELECT xact_id::text::bigint, position FROM events
                 WHERE xact_id < pg_snapshot_xmin(pg_current_snapshot())
                 ORDER BY xact_id DESC, position DESC LIMIT 1",
            )
            .fetch_optional(pool)
            .await?;
            row.map(|(transaction, position)| Cursor::Transaction(transaction, position).encode())
        }
    })
}
