//! Audit over the stored events: verify every chain (and the latest or a
//! given checkpoint), take checkpoints, read a case's raw rows for export.
//! The rules are in `onething_core::audit`; this module only reads rows.

use std::collections::{BTreeMap, HashMap};

use futures_util::TryStreamExt;
use onething_core::audit::{
    check_against_checkpoint, verify_chain_of_text, AuditRow, Checkpoint, Finding, Head, StoredRow,
};
use serde_json::Value;
use sqlx::Row;

use crate::database::Database;
use crate::error::StoreError;
use crate::with_pool;

fn rows_sql(database: &Database, one_case: bool) -> String {
    let columns = match database {
        Database::Sqlite(_) => "aggregate_id, sequence, event_type, event_version, payload, metadata",
        Database::Postgres(_) => {
            "aggregate_id, sequence, event_type, event_version, payload::text AS payload, metadata::text AS metadata"
        }
    };
    let filter = if one_case {
        " AND aggregate_id = $1"
    } else {
        ""
    };
    database.sql(&format!(
        "SELECT {columns} FROM events WHERE aggregate_type = 'case'{filter} ORDER BY aggregate_id, sequence"
    ))
}

fn parse_json(text: &str, what: &str) -> Value {
    // A row whose JSON no longer parses is damaged; verification reports it
    // as changed, so keep the text as a string rather than fail.
    crate::cases::parse_stored_json(text)
        .unwrap_or_else(|_| Value::String(format!("(unreadable {what}) {text}")))
}

fn to_row(
    case_id: String,
    sequence: i64,
    event_type: String,
    event_version: String,
    payload: String,
    metadata: String,
) -> AuditRow {
    AuditRow {
        case_id,
        sequence: sequence.max(0) as u64,
        event_type,
        event_version,
        payload: parse_json(&payload, "payload"),
        metadata: parse_json(&metadata, "metadata"),
    }
}

#[derive(Default)]
struct ChainOutcome {
    heads: HashMap<String, Head>,
    hash_at_recorded: HashMap<String, String>,
    findings: Vec<Finding>,
    cases: u64,
    /// Documents attached by the events read: case, sequence, SHA-256.
    documents: Vec<(String, u64, String)>,
}

/// The raw rows of one case, in stored order.
pub async fn case_rows(database: &Database, case_id: &str) -> Result<Vec<AuditRow>, StoreError> {
    let sql = rows_sql(database, true);
    with_pool!(database, pool => {
        let rows = sqlx::query(&sql).bind(case_id).fetch_all(pool).await?;
        rows.into_iter()
            .map(|row| {
                Ok(to_row(
                    row.try_get("aggregate_id")?,
                    row.try_get("sequence")?,
                    row.try_get("event_type")?,
                    row.try_get("event_version")?,
                    row.try_get("payload")?,
                    row.try_get("metadata")?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(StoreError::from)
    })
}

/// The result of verifying the store.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VerifyReport {
    pub cases: u64,
    pub events: u64,
    /// The first damage of each damaged case.
    pub findings: Vec<Finding>,
    /// The checkpoint compared against, if any: its time and root.
    pub checkpoint: Option<(String, String)>,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.findings.is_empty()
    }
}

/// One verification worker: checks every case it is sent.
fn check_cases(
    mut receiver: tokio::sync::mpsc::Receiver<Vec<StoredRow>>,
    wanted_heads: &HashMap<String, u64>,
) -> ChainOutcome {
    let mut outcome = ChainOutcome::default();
    while let Some(rows) = receiver.blocking_recv() {
        let case_id = rows[0].case_id.clone();
        for row in rows
            .iter()
            .filter(|row| row.event_type == "document_attached")
        {
            let sha256 = parse_json(&row.payload, "payload")
                .pointer("/change/document/sha256")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            outcome
                .documents
                .push((case_id.clone(), row.sequence, sha256));
        }
        if let Some(wanted) = wanted_heads.get(&case_id) {
            if let Some(row) = rows.iter().find(|row| row.sequence == *wanted) {
                if let Some(hash) = parse_json(&row.metadata, "metadata")
                    .get("hash")
                    .and_then(Value::as_str)
                {
                    outcome
                        .hash_at_recorded
                        .insert(case_id.clone(), hash.to_string());
                }
            }
        }
        let (head, finding) =
            verify_chain_of_text(&case_id, &rows, |text| parse_json(text, "stored JSON"));
        if let Some(head) = head {
            outcome.heads.insert(case_id, head);
        }
        outcome.findings.extend(finding);
        outcome.cases += 1;
    }
    outcome
}

/// Streams every event (or one case's), checks each chain, then compares the
/// heads with the checkpoint. `progress` is told the number of events read.
pub async fn verify(
    database: &Database,
    case: Option<&str>,
    checkpoint: Option<&Checkpoint>,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<VerifyReport, StoreError> {
    let recorded: BTreeMap<&str, &Head> = checkpoint
        .map(|checkpoint| checkpoint.heads_by_case())
        .unwrap_or_default()
        .into_iter()
        .filter(|(case_id, _)| case.is_none_or(|wanted| wanted == *case_id))
        .collect();
    let sql = rows_sql(database, case.is_some());
    let wanted_heads: HashMap<String, u64> = recorded
        .iter()
        .map(|(case_id, head)| (case_id.to_string(), head.sequence))
        .collect();

    // Reading rows and checking chains overlap: this task streams each case's
    // rows, as stored text, to as many worker threads as there are cores,
    // which hash and check them.
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let wanted_heads = std::sync::Arc::new(wanted_heads);
    let mut senders = Vec::with_capacity(workers);
    let mut checks = Vec::with_capacity(workers);
    for _ in 0..workers {
        let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<StoredRow>>(64);
        let wanted_heads = wanted_heads.clone();
        senders.push(sender);
        checks.push(tokio::task::spawn_blocking(move || {
            check_cases(receiver, &wanted_heads)
        }));
    }
    let mut events = 0u64;
    let mut current: Vec<StoredRow> = Vec::new();
    let mut next_worker = 0;
    let read: Result<(), StoreError> = with_pool!(database, pool => {
        let mut query = sqlx::query(&sql);
        if let Some(case) = case {
            query = query.bind(case);
        }
        let mut stream = query.fetch(pool);
        while let Some(row) = stream.try_next().await? {
            let row = StoredRow {
                case_id: row.try_get("aggregate_id")?,
                sequence: row.try_get::<i64, _>("sequence")?.max(0) as u64,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
            };
            if current.first().is_some_and(|first| first.case_id != row.case_id) {
                // A worker ends only if it panicked; the join below reports that.
                let _ = senders[next_worker].send(std::mem::take(&mut current)).await;
                next_worker = (next_worker + 1) % workers;
            }
            current.push(row);
            events += 1;
            if events.is_multiple_of(10_000) {
                progress(events);
            }
        }
        Ok(())
    });
    if !current.is_empty() {
        let _ = senders[next_worker].send(current).await;
    }
    drop(senders);
    let mut outcome = ChainOutcome::default();
    for check in checks {
        let part = check.await.map_err(|error| {
            StoreError::EventStore(format!("verification worker failed: {error}"))
        })?;
        outcome.heads.extend(part.heads);
        outcome.hash_at_recorded.extend(part.hash_at_recorded);
        outcome.findings.extend(part.findings);
        outcome.cases += part.cases;
        outcome.documents.extend(part.documents);
    }
    let ChainOutcome {
        heads,
        hash_at_recorded,
        mut findings,
        cases,
        documents,
    } = outcome;
    read?;
    progress(events);

    for (case_id, sequence, sha256) in documents {
        if findings.iter().any(|finding| finding.case_id == case_id) {
            continue;
        }
        if let Some(damage) = crate::documents::check(database, &sha256).await? {
            findings.push(Finding {
                case_id,
                sequence,
                damage,
            });
        }
    }
    for (case_id, head) in &recorded {
        if findings.iter().any(|finding| finding.case_id == *case_id) {
            continue;
        }
        if let Some(finding) = check_against_checkpoint(
            head,
            heads.get(*case_id),
            hash_at_recorded.get(*case_id).map(String::as_str),
        ) {
            findings.push(finding);
        }
    }
    findings
        .sort_by(|a, b| (a.case_id.as_str(), a.sequence).cmp(&(b.case_id.as_str(), b.sequence)));
    Ok(VerifyReport {
        cases,
        events,
        findings,
        checkpoint: checkpoint.map(|c| (c.taken_at.clone(), c.root.clone())),
    })
}

/// The stored head (last sequence and hash) of every case.
pub async fn heads(database: &Database) -> Result<Vec<Head>, StoreError> {
    let metadata = match database {
        Database::Sqlite(_) => "metadata",
        Database::Postgres(_) => "metadata::text AS metadata",
    };
    let sql = format!(
        "SELECT aggregate_id, sequence, {metadata} FROM events e
         WHERE aggregate_type = 'case'
           AND sequence = (SELECT MAX(sequence) FROM events l
                           WHERE l.aggregate_type = 'case' AND l.aggregate_id = e.aggregate_id)
         ORDER BY aggregate_id"
    );
    let rows: Vec<(String, i64, String)> =
        with_pool!(database, pool => sqlx::query_as(&sql).fetch_all(pool).await?);
    Ok(rows
        .into_iter()
        .map(|(case_id, sequence, metadata)| Head {
            case_id,
            sequence: sequence.max(0) as u64,
            hash: parse_json(&metadata, "metadata")
                .get("hash")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
        .collect())
}

/// Takes a checkpoint of every case's head, signs it when a key is given,
/// and stores it.
pub async fn take_checkpoint(
    database: &Database,
    taken_at: String,
    signing_seed: Option<&str>,
) -> Result<Checkpoint, StoreError> {
    let mut checkpoint = Checkpoint::new(taken_at, heads(database).await?);
    if let Some(seed) = signing_seed {
        checkpoint
            .sign(seed)
            .map_err(|error| StoreError::Decode(error.to_string()))?;
    }
    let body = serde_json::to_string(&checkpoint).map_err(|e| StoreError::Decode(e.to_string()))?;
    let sql = database.sql(
        "INSERT INTO checkpoints (taken_at, root, cases, events, body) VALUES ($1, $2, $3, $4, $5)",
    );
    with_pool!(database, pool => {
        sqlx::query(&sql)
            .bind(&checkpoint.taken_at)
            .bind(&checkpoint.root)
            .bind(checkpoint.cases as i64)
            .bind(checkpoint.events as i64)
            .bind(body)
            .execute(pool)
            .await?;
    });
    Ok(checkpoint)
}

/// The most recent stored checkpoint.
pub async fn latest_checkpoint(database: &Database) -> Result<Option<Checkpoint>, StoreError> {
    let sql = "SELECT body FROM checkpoints ORDER BY id DESC LIMIT 1";
    let row: Option<(String,)> =
        with_pool!(database, pool => sqlx::query_as(sql).fetch_optional(pool).await?);
    row.map(|(body,)| {
        serde_json::from_str(&body)
            .map_err(|e| StoreError::Decode(format!("stored checkpoint: {e}")))
    })
    .transpose()
}
