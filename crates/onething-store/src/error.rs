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
