//! Opening a database by URL, on either backend, with its schema migrated.
//!
//! SQLite is opened durable: WAL journal with `synchronous=FULL`, so a
//! committed command survives a power cut (sqlite-es' own pool uses NORMAL,
//! which can lose the last commits). PostgreSQL keeps its server settings;
//! a URL with several hosts (`h1:5432,h2:5432`, libpq's form for a primary
//! and its standbys) is handled by [`crate::multi_host`].

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::error::StoreError;

/// How the connection pool waits, for a server that must answer quickly
/// while the database is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreSettings {
    /// The longest a query waits for a PostgreSQL connection (including
    /// making one) before it fails with `PoolTimedOut`. (A SQLite file is
    /// never unreachable; its pool keeps sqlx's 30 seconds.)
    pub acquire_timeout: Duration,
    /// PostgreSQL connections at most (SQLite files keep their own limit).
    pub max_connections: u32,
    /// Cases each process keeps folded in memory, so that a command for a
    /// live case does not read and fold its history again (0: none).
    pub case_cache: usize,
}

impl Default for StoreSettings {
    fn default() -> StoreSettings {
        StoreSettings {
            acquire_timeout: Duration::from_secs(30),
            max_connections: 16,
            case_cache: crate::cases::DEFAULT_CASE_CACHE,
        }
    }
}

/// An open database of either kind.
#[derive(Debug, Clone)]
pub enum Database {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same code on whichever pool a [`Database`] holds; the body is
/// compiled once per backend, so `sqlx` sees concrete types.
#[macro_export]
macro_rules! with_pool {
    ($database:expr, $pool:ident => $body:expr) => {
        match $database {
            $crate::database::Database::Sqlite($pool) => $body,
            $crate::database::Database::Postgres($pool) => $body,
        }
    };
}

impl Database {
    /// Connects to `sqlite://FILE`, `sqlite::memory:` or `postgres://…`
    /// (one host, or several of which the primary is used),
    /// creating the SQLite file if needed; no migrations (those are
    /// [`Database::open`]'s, in `migrations.rs`).
    pub async fn connect(url: &str, settings: &StoreSettings) -> Result<Database, StoreError> {
        let database = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // Several hosts (a primary and its standbys): sqlx takes one, so
            // multi_host picks the primary and follows it after a failover.
            let hosts = crate::multi_host::parse(url).map_err(|message| StoreError::Connect {
                url: redact(url),
                message,
            })?;
            if let Some(hosts) = hosts {
                return Ok(Database::Postgres(
                    crate::multi_host::connect(url, hosts, settings).await?,
                ));
            }
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections.max(1))
                .acquire_timeout(settings.acquire_timeout)
                .connect(url)
                .await
                .map_err(|error| StoreError::Connect {
                    url: redact(url),
                    message: error.to_string(),
                })?;
            Database::Postgres(pool)
        } else if url.starts_with("sqlite:") {
            let memory = url.contains(":memory:") || url.contains("mode=memory");
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|error| StoreError::Connect {
                    url: url.to_string(),
                    message: error.to_string(),
                })?
                .create_if_missing(true)
                .journal_mode(if memory {
                    SqliteJournalMode::Memory
                } else {
                    SqliteJournalMode::Wal
                })
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(30))
                .foreign_keys(true);
            // An in-memory database lives in one connection; a file is
            // shared by several, of which SQLite lets one write at a time.
            let pool = SqlitePoolOptions::new()
                .max_connections(if memory { 1 } else { 8 })
                .idle_timeout(None)
                .max_lifetime(None)
                // After SQLITE_FULL, SQLite ends a transaction by itself while
                // sqlx still counts it open; used again, that connection would
                // hold the write lock for good. Whatever path released it, it is
                // closed when next taken from the pool (closing rolls back and
                // frees the locks). Checked on acquire, not on release: on
                // release a dropped transaction's rollback is still queued.
                .before_acquire(|connection, _| {
                    Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(connection)) })
                })
                .connect_with(options)
                .await
                .map_err(|error| StoreError::Connect {
                    url: url.to_string(),
                    message: error.to_string(),
                })?;
            Database::Sqlite(pool)
        } else {
            return Err(StoreError::Connect {
                url: redact(url),
                message: "the database URL must start with sqlite: or postgres://".into(),
            });
        };
        Ok(database)
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Database::Sqlite(_) => "sqlite",
            Database::Postgres(_) => "postgres",
        }
    }

    /// Writes SQL with `$1, $2, …` placeholders; SQLite gets `?1, ?2, …`.
    /// The numbers are kept, so that a placeholder used twice (`$4` in two
    /// conditions) is bound to the same argument on both databases; a bare
    /// `?` would take the next argument, and one past the last is NULL.
    pub fn sql(&self, text: &str) -> String {
        match self {
            Database::Postgres(_) => text.to_string(),
            Database::Sqlite(_) => {
                // `$1` → `?1`: one ASCII byte for another, so the text stays
                // UTF-8 (neither byte occurs inside a multi-byte character).
                let mut bytes = text.as_bytes().to_vec();
                for index in 1..bytes.len() {
                    if bytes[index - 1] == b'$' && bytes[index].is_ascii_digit() {
                        bytes[index - 1] = b'?';
                    }
                }
                String::from_utf8(bytes).expect("the text was UTF-8")
            }
        }
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// A URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
