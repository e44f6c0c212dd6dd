//! The people who sign in to the web console and their sessions: rows
//! only. What a password hash is and how a session is checked belongs to the
//! console; here a user is a login, a name, an agency, a role, a hash and a
//! language, and a session is the SHA-256 of its cookie with its CSRF token.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::database::Database;
use crate::error::StoreError;
use crate::time::{read_stamp, stamp};
use crate::with_pool;

/// A console user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    pub login: String,
    /// The name the audited history shows (`police/王警官`).
    pub name: String,
    /// The agency they act for, or `window`.
    pub agency: String,
    /// `clerk`, `officer`, `approver`, `supervisor` or `admin`.
    pub role: String,
    pub password_hash: String,
    /// `zh` or `en`.
    pub language: String,
    pub disabled: bool,
}

/// A signed-in session, with its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub user: ConsoleUser,
    pub csrf_token: String,
    pub last_seen_at: DateTime<Utc>,
}

const USER_COLUMNS: &str = "login, name, agency, role, password_hash, language, disabled";

fn user_of(row: &impl UserRow) -> ConsoleUser {
    row.user()
}

trait UserRow {
    fn user(&self) -> ConsoleUser;
}

macro_rules! user_row {
    ($row:ty) => {
        impl UserRow for $row {
            fn user(&self) -> ConsoleUser {
                ConsoleUser {
                    login: self.get("login"),
                    name: self.get("name"),
                    agency: self.get("agency"),
                    role: self.get("role"),
                    password_hash: self.get("password_hash"),
                    language: self.get("language"),
                    disabled: self.get::<i64, _>("disabled") != 0,
                }
            }
        }
    };
}
user_row!(sqlx::sqlite::SqliteRow);
user_row!(sqlx::postgres::PgRow);

/// Adds a user; `false` (and nothing changed) when the login is taken.
pub async fn add(
    database: &Database,
    user: &ConsoleUser,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = database.sql(
        "INSERT INTO console_users (login, name, agency, role, password_hash, language, disabled, created_at, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (login) DO NOTHING",
    );
    let added = with_pool!(database, pool => {
        sqlx::query(&sql)
            .bind(&user.login)
            .bind(&user.name)
            .bind(&user.agency)
            .bind(&user.role)
            .bind(&user.password_hash)
            .bind(&user.language)
            .bind(i64::from(user.disabled))
            .bind(stamp(now))
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(added == 1)
}

pub async fn find(database: &Database, login: &str) -> Result<Option<ConsoleUser>, StoreError> {
    let sql = database.sql(&format!(
        "SELECT {USER_COLUMNS} FROM console_users WHERE login = $1"
    ));
    Ok(with_pool!(database, pool => {
        sqlx::query(&sql).bind(login).fetch_optional(pool).await?.map(|row| user_of(&row))
    }))
}

pub async fn list(database: &Database) -> Result<Vec<ConsoleUser>, StoreError> {
    let sql = format!("SELECT {USER_COLUMNS} FROM console_users ORDER BY agency, login");
    Ok(with_pool!(database, pool => {
        sqlx::query(&sql).fetch_all(pool).await?.iter().map(user_of).collect()
    }))
}

pub async fn count(database: &Database) -> Result<i64, StoreError> {
    Ok(with_pool!(database, pool => {
        sqlx::query("SELECT COUNT(*) AS n FROM console_users").fetch_one(pool).await?.get::<i64, _>("n")
    }))
}

/// Disables or enables a user; a disabled user's sessions end at once.
/// `false` when there is no such user.
pub async fn set_disabled(
    database: &Database,
    login: &str,
    disabled: bool,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let update =
        database.sql("UPDATE console_users SET disabled = $1, changed_at = $2 WHERE login = $3");
    let changed = with_pool!(database, pool => {
        sqlx::query(&update).bind(i64::from(disabled)).bind(stamp(now)).bind(login).execute(pool).await?.rows_affected()
    });
    if disabled {
        end_sessions_of(database, login).await?;
    }
    Ok(changed == 1)
}

/// Sets a new password hash and ends every session of the user.
pub async fn set_password_hash(
    database: &Database,
    login: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let update = database
        .sql("UPDATE console_users SET password_hash = $1, changed_at = $2 WHERE login = $3");
    let changed = with_pool!(database, pool => {
        sqlx::query(&update).bind(password_hash).bind(stamp(now)).bind(login).execute(pool).await?.rows_affected()
    });
    end_sessions_of(database, login).await?;
    Ok(changed == 1)
}

pub async fn set_language(
    database: &Database,
    login: &str,
    language: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let update =
        database.sql("UPDATE console_users SET language = $1, changed_at = $2 WHERE login = $3");
    with_pool!(database, pool => {
        sqlx::query(&update).bind(language).bind(stamp(now)).bind(login).execute(pool).await?;
    });
    Ok(())
}

pub async fn start_session(
    database: &Database,
    token_hash: &str,
    login: &str,
    csrf_token: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = database.sql(
        "INSERT INTO console_sessions (token_hash, login, csrf_token, created_at, last_seen_at)
         VALUES ($1, $2, $3, $4, $4)",
    );
    with_pool!(database, pool => {
        sqlx::query(&sql).bind(token_hash).bind(login).bind(csrf_token).bind(stamp(now)).execute(pool).await?;
    });
    Ok(())
}

/// The session with this token hash and its user, whatever its age (the
/// console decides whether it is still alive).
pub async fn session(
    database: &Database,
    token_hash: &str,
) -> Result<Option<ConsoleSession>, StoreError> {
    let sql = database.sql(
        "SELECT u.login, u.name, u.agency, u.role, u.password_hash, u.language, u.disabled,
                s.csrf_token, s.last_seen_at
         FROM console_sessions s JOIN console_users u ON u.login = s.login
         WHERE s.token_hash = $1",
    );
    Ok(with_pool!(database, pool => {
        sqlx::query(&sql).bind(token_hash).fetch_optional(pool).await?.map(|row| {
            let last_seen: String = row.get("last_seen_at");
            ConsoleSession {
                user: user_of(&row),
                csrf_token: row.get("csrf_token"),
                last_seen_at: read_stamp(&last_seen).unwrap_or_default(),
            }
        })
    }))
}

pub async fn touch_session(
    database: &Database,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = database.sql("UPDATE console_sessions SET last_seen_at = $1 WHERE token_hash = $2");
    with_pool!(database, pool => {
        sqlx::query(&sql).bind(stamp(now)).bind(token_hash).execute(pool).await?;
    });
    Ok(())
}

pub async fn end_session(database: &Database, token_hash: &str) -> Result<(), StoreError> {
    let sql = database.sql("DELETE FROM console_sessions WHERE token_hash = $1");
    with_pool!(database, pool => {
        sqlx::query(&sql).bind(token_hash).execute(pool).await?;
    });
    Ok(())
}

async fn end_sessions_of(database: &Database, login: &str) -> Result<(), StoreError> {
    let sql = database.sql("DELETE FROM console_sessions WHERE login = $1");
    with_pool!(database, pool => {
        sqlx::query(&sql).bind(login).execute(pool).await?;
    });
    Ok(())
}
