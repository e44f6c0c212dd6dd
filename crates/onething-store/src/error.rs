//! Failures of storage, kept apart from the case refusing a command.

use onething_core::case::CaseError;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {url}: {message}")]
    Connect { url: String, message: String },
    #[error("migration {version} ({name}) failed: {message}")]
    Migration {
        version: i64,
        name: &'static str,
        message: String,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event store error: {0}")]
    EventStore(String),
    #[error("event {sequence} of case {case_id} does not decode: {message}")]
    UnreadableEvent {
        case_id: String,
        sequence: u64,
        message: String,
    },
    #[error("stored data does not decode: {0}")]
    Decode(String),
}

impl StoreError {
    /// The database could not be reached (no connection in time, a broken or
    /// refused connection, the server shutting down): worth retrying later,
    /// unlike a failure of the data or of the query.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Database(error) => match error {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::WorkerCrashed => true,
                // PostgreSQL: connection exceptions (class 08), the server
                // shutting down or starting (57P01–57P03).
                sqlx::Error::Database(error) => error.code().is_some_and(|code| {
                    code.starts_with("08") || ["57P01", "57P02", "57P03"].contains(&code.as_ref())
                }),
                _ => false,
            },
            _ => false,
        }
    }
}

impl StoreError {
    /// The database's disk is full (SQLite `SQLITE_FULL`, PostgreSQL
    /// `53100 disk_full`, or the operating system's `ENOSPC`): nothing was
    /// stored; worth retrying once an operator has made room.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(error)) => error
                .code()
                .is_some_and(|code| code == "13" || code == "53100"),
            StoreError::Database(sqlx::Error::Io(error)) => error.raw_os_error() == Some(28),
            StoreError::EventStore(message) => message.contains("database or disk is full"),
            _ => false,
        }
    }
}

/// What became of a command that did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The case said no; nothing was stored.
    #[error("{0}")]
    Refused(CaseError),
    /// Other commands kept changing the case; nothing was stored. Try again.
    #[error("the case changed {attempts} times while deciding; try again")]
    Contended { attempts: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}
