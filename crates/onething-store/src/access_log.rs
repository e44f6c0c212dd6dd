//! The access log of personal data (个人信息保护法): every read of a case
//! with its citizen ID numbers unmasked — a case view, a history, an export,
//! feed events, a webhook delivery, `case show` — is one row saying who
//! (client, role, agency, person), when, through which channel, which case
//! and what was read. Written before the answer leaves, so that no such read
//! goes unrecorded; never updated; queried by auditors.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::database::Database;
use crate::error::StoreError;
use crate::time::{read_stamp, stamp};
use crate::with_pool;

/// One read of personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonalDataRead {
    pub read_at: DateTime<Utc>,
    /// The API client's id, `cli` for the command line, or the webhook
    /// subscription's owner.
    pub client: String,
    pub role: String,
    pub agency: Option<String>,
    /// The person, as sent in `X-Operator` (or the OS user at the command line).
    pub operator: Option<String>,
    /// `api`, `cli` or `webhook`.
    pub channel: String,
    pub case_id: String,
    /// `case`, `case_at`, `history`, `export`, `feed`, `webhook`, `show`.
    pub what: String,
}

/// Records reads, one row each, in one transaction.
pub async fn record(database: &Database, reads: &[PersonalDataRead]) -> Result<(), StoreError> {
    if reads.is_empty() {
        return Ok(());
    }
    let sql = database.sql(
        "INSERT INTO personal_data_reads (read_at, client, role, agency, operator, channel, case_id, what)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    );
    with_pool!(database, pool => {
        let mut transaction = pool.begin().await?;
        for read in reads {
            sqlx::query(&sql)
                .bind(stamp(read.read_at))
                .bind(&read.client)
                .bind(&read.role)
                .bind(&read.agency)
                .bind(&read.operator)
                .bind(&read.channel)
                .bind(&read.case_id)
                .bind(&read.what)
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
    });
    Ok(())
}

/// Which reads to list; every field narrows.
#[derive(Debug, Clone, Default)]
pub struct AccessFilter {
    pub case_id: Option<String>,
    pub client: Option<String>,
    /// Read at or after.
    pub from: Option<DateTime<Utc>>,
    /// Read before.
    pub to: Option<DateTime<Utc>>,
    pub limit: i64,
    pub offset: i64,
}

/// The reads that match, oldest first.
pub async fn list(
    database: &Database,
    filter: &AccessFilter,
) -> Result<Vec<PersonalDataRead>, StoreError> {
    let mut sql = String::from(
        "SELECT read_at, client, role, agency, operator, channel, case_id, what
         FROM personal_data_reads WHERE 1 = 1",
    );
    let mut values: Vec<String> = Vec::new();
    let mut narrow = |sql: &mut String, clause: &str, value: String| {
        values.push(value);
        sql.push_str(&clause.replace("{}", &format!("${}", values.len())));
    };
    if let Some(case_id) = &filter.case_id {
        narrow(&mut sql, " AND case_id = {}", case_id.clone());
    }
    if let Some(client) = &filter.client {
        narrow(&mut sql, " AND client = {}", client.clone());
    }
    if let Some(from) = filter.from {
        narrow(&mut sql, " AND read_at >= {}", stamp(from));
    }
    if let Some(to) = filter.to {
        narrow(&mut sql, " AND read_at < {}", stamp(to));
    }
    sql.push_str(&format!(
        " ORDER BY id LIMIT {} OFFSET {}",
        filter.limit.clamp(1, 10_000),
        filter.offset.max(0)
    ));
    let sql = database.sql(&sql);
    let rows = with_pool!(database, pool => {
        let mut query = sqlx::query(&sql);
        for value in &values {
            query = query.bind(value);
        }
        let rows = query.fetch_all(pool).await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get::<String, _>(0)?,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<String, _>(2)?,
                    row.try_get::<Option<String>, _>(3)?,
                    row.try_get::<Option<String>, _>(4)?,
                    row.try_get::<String, _>(5)?,
                    row.try_get::<String, _>(6)?,
                    row.try_get::<String, _>(7)?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
    });
    Ok(rows
        .into_iter()
        .map(
            |(read_at, client, role, agency, operator, channel, case_id, what)| PersonalDataRead {
                read_at: read_stamp(&read_at).unwrap_or_default(),
                client,
                role,
                agency,
                operator,
                channel,
                case_id,
                what,
            },
        )
        .collect())
}
