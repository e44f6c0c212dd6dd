//! Webhook subscriptions and their delivery state. The state lives in the
//! database, not in memory: a restarted or second server continues where the
//! last delivery stopped. The delivery loop itself is in the server.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::database::Database;
use crate::error::StoreError;
use crate::with_pool;

use crate::time::stamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subscription {
    pub id: String,
    pub client: String,
    pub url: String,
    pub agency: Option<String>,
    pub cursor: Option<String>,
    pub delivered: i64,
    pub failures: i64,
    pub parked: bool,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
}

type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    i64,
    i64,
    Option<String>,
    String,
);

fn from_row(row: Row) -> Subscription {
    let (id, client, url, agency, cursor, delivered, failures, parked, last_error, next_attempt_at) =
        row;
    Subscription {
        id,
        client,
        url,
        agency,
        cursor,
        delivered,
        failures,
        parked: parked != 0,
        last_error,
        next_attempt_at,
    }
}

const COLUMNS: &str =
    "id, client, url, agency, cursor, delivered, failures, parked, last_error, next_attempt_at";

/// Declares a subscription from the configuration; its delivery state is kept.
pub async fn declare(
    database: &Database,
    id: &str,
    client: &str,
    url: &str,
    agency: Option<&str>,
    start_cursor: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = database.sql(
        "INSERT INTO webhook_subscriptions (id, client, url, agency, cursor, next_attempt_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO UPDATE SET client = excluded.client, url = excluded.url, agency = excluded.agency",
    );
    with_pool!(database, pool => {
        sqlx::query(&sql).bind(id).bind(client).bind(url).bind(agency).bind(start_cursor).bind(stamp(now)).execute(pool).await?;
    });
    Ok(())
}

pub async fn list(database: &Database) -> Result<Vec<Subscription>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM webhook_subscriptions ORDER BY id");
    let rows: Vec<Row> = with_pool!(database, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
    Ok(rows.into_iter().map(from_row).collect())
}

pub async fn get(database: &Database, id: &str) -> Result<Option<Subscription>, StoreError> {
    let sql = database.sql(&format!(
        "SELECT {COLUMNS} FROM webhook_subscriptions WHERE id = $1"
    ));
    let row: Option<Row> =
        with_pool!(database, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
    Ok(row.map(from_row))
}

/// Takes a subscription's delivery lease; false if another node holds it.
pub async fn lease(
    database: &Database,
    id: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = database.sql(
        "UPDATE webhook_subscriptions SET lease_owner = $1, lease_until = $2
         WHERE id = $3 AND parked = 0 AND next_attempt_at <= $4
           AND (lease_until IS NULL OR lease_until < $4 OR lease_owner = $1)",
    );
    let taken = with_pool!(database, pool => {
        sqlx::query(&sql).bind(owner).bind(stamp(until)).bind(id).bind(stamp(now)).execute(pool).await?.rows_affected()
    });
    Ok(taken == 1)
}

/// Records a delivered event: the cursor moves on, failures reset. Each
/// delivery also extends the lease, so that a long batch to a slow receiver is
/// not taken over (and repeated) by another node.
pub async fn delivered(
    database: &Database,
    id: &str,
    owner: &str,
    cursor: &str,
    lease_until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = database.sql(
        "UPDATE webhook_subscriptions SET cursor = $1, delivered = delivered + 1, failures = 0, last_error = NULL,
           lease_until = $2
         WHERE id = $3 AND lease_owner = $4",
    );
    let updated = with_pool!(database, pool => {
        sqlx::query(&sql).bind(cursor).bind(stamp(lease_until)).bind(id).bind(owner).execute(pool).await?.rows_affected()
    });
    Ok(updated == 1)
}

/// Records a failed attempt; parks the subscription after `max_failures`.
pub async fn failed(
    database: &Database,
    id: &str,
    owner: &str,
    error: &str,
    next_attempt_at: DateTime<Utc>,
    max_failures: i64,
) -> Result<(), StoreError> {
    let sql = database.sql(
        "UPDATE webhook_subscriptions SET failures = failures + 1, last_error = $1, next_attempt_at = $2,
           parked = CASE WHEN failures + 1 >= $3 THEN 1 ELSE 0 END, lease_owner = NULL, lease_until = NULL
         WHERE id = $4 AND lease_owner = $5",
    );
    with_pool!(database, pool => {
        sqlx::query(&sql).bind(error).bind(stamp(next_attempt_at)).bind(max_failures).bind(id).bind(owner).execute(pool).await?;
    });
    Ok(())
}

pub async fn release(database: &Database, id: &str, owner: &str) -> Result<(), StoreError> {
    let sql = database.sql("UPDATE webhook_subscriptions SET lease_owner = NULL, lease_until = NULL WHERE id = $1 AND lease_owner = $2");
    with_pool!(database, pool => { sqlx::query(&sql).bind(id).bind(owner).execute(pool).await?; });
    Ok(())
}

/// Un-parks a subscription; delivery resumes from where it stopped.
pub async fn resume(database: &Database, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let sql = database.sql(
        "UPDATE webhook_subscriptions SET parked = 0, failures = 0, next_attempt_at = $1, lease_owner = NULL, lease_until = NULL
         WHERE id = $2",
    );
    let updated = with_pool!(database, pool => sqlx::query(&sql).bind(stamp(now)).bind(id).execute(pool).await?.rows_affected());
    Ok(updated == 1)
}

/// Removes every subscription not in `keep`: the configuration is the list
/// of subscriptions, and one taken out of it stops delivering.
pub async fn remove_others(database: &Database, keep: &[&str]) -> Result<u64, StoreError> {
    let mut removed = 0;
    for subscription in list(database).await? {
        if !keep.contains(&subscription.id.as_str()) {
            let sql = database.sql("DELETE FROM webhook_subscriptions WHERE id = $1");
            removed += with_pool!(database, pool => sqlx::query(&sql).bind(&subscription.id).execute(pool).await?.rows_affected());
        }
    }
    Ok(removed)
}
