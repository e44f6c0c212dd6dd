//! Scanned documents (PDF, JPEG, PNG), stored by the SHA-256 of their
//! content: the same scan attached twice is stored once, and the event that
//! attaches a document records only its hash, which verification checks
//! against what is stored.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::database::Database;
use crate::error::StoreError;
use crate::time::stamp;
use crate::with_pool;

/// A stored document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDocument {
    pub sha256: String,
    pub media_type: String,
    pub content: Vec<u8>,
}

/// Stores a document (once per content) and returns its SHA-256.
pub async fn store(
    database: &Database,
    content: &[u8],
    media_type: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let sha256 = onething_core::audit::sha256_hex(content);
    let sql = database.sql(
        "INSERT INTO documents (sha256, media_type, size, content, stored_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
    );
    with_pool!(database, pool => {
        sqlx::query(&sql)
            .bind(&sha256)
            .bind(media_type)
            .bind(content.len() as i64)
            .bind(content)
            .bind(stamp(now))
            .execute(pool)
            .await?;
    });
    Ok(sha256)
}

pub async fn read(database: &Database, sha256: &str) -> Result<Option<StoredDocument>, StoreError> {
    let sql = database.sql("SELECT sha256, media_type, content FROM documents WHERE sha256 = $1");
    Ok(with_pool!(database, pool => {
        sqlx::query(&sql).bind(sha256).fetch_optional(pool).await?.map(|row| StoredDocument {
            sha256: row.get("sha256"),
            media_type: row.get("media_type"),
            content: row.get("content"),
        })
    }))
}

/// What is wrong with a stored document an event recorded: `None` when its
/// content still has that SHA-256.
pub async fn check(
    database: &Database,
    sha256: &str,
) -> Result<Option<onething_core::audit::Damage>, StoreError> {
    use onething_core::audit::Damage;
    Ok(match read(database, sha256).await? {
        None => Some(Damage::DocumentMissing {
            sha256: sha256.to_string(),
        }),
        Some(document) if onething_core::audit::sha256_hex(&document.content) != sha256 => {
            Some(Damage::DocumentChanged {
                sha256: sha256.to_string(),
            })
        }
        Some(_) => None,
    })
}
