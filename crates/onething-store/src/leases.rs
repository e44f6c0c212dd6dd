//! Leases: one node at a time does a periodic job (the deadline check, a
//! checkpoint, a webhook subscription's deliveries), however many servers
//! share the database. A lease is a row that a node may take when it is free
//! or expired; taking it is one conditional write, so two nodes cannot both win.

use chrono::{DateTime, Utc};

use crate::database::Database;
use crate::error::StoreError;
use crate::with_pool;

use crate::time::stamp;

/// Takes (or renews) the lease `name` for `owner` until `until`; true if taken.
pub async fn acquire(
    database: &Database,
    name: &str,
    owner: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = database.sql(
        "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
         WHERE leases.until < $4 OR leases.owner = excluded.owner",
    );
    let taken = with_pool!(database, pool => {
        sqlx::query(&sql)
            .bind(name)
            .bind(owner)
            .bind(stamp(until))
            .bind(stamp(now))
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(taken == 1)
}

/// Gives a lease back early.
pub async fn release(database: &Database, name: &str, owner: &str) -> Result<(), StoreError> {
    let sql = database.sql("DELETE FROM leases WHERE name = $1 AND owner = $2");
    with_pool!(database, pool => { sqlx::query(&sql).bind(name).bind(owner).execute(pool).await?; });
    Ok(())
}
