//! Calendars as running deadlines were last counted on, and the revision run
//! that counts them again when a calendar file changes (the State Council's
//! holiday notice replacing a provisional year, or a corrected table).
//!
//! The stored copy of a calendar is replaced only once every open case has
//! been revised, so a run that stops half-way (a crash, a lost database) is
//! found pending again at the next start or reload and simply runs again:
//! a case already revised gives no new event the second time.

use chrono::{DateTime, Utc};
use onething_core::calendar::{describe_changes, Calendar};
use onething_core::case::{Action, Actor, CaseCommand};
use serde::Serialize;

use crate::database::Database;
use crate::error::StoreError;
use crate::{views, with_pool, Attribution, CaseStore};

async fn stored(database: &Database, id: &str) -> Result<Option<Calendar>, StoreError> {
    let sql = database.sql("SELECT body FROM calendars WHERE id = $1");
    let body: Option<(String,)> =
        with_pool!(database, pool => sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?);
    body.map(|(body,)| {
        serde_json::from_str(&body)
            .map_err(|error| StoreError::Decode(format!("stored calendar `{id}`: {error}")))
    })
    .transpose()
}

async fn record(database: &Database, calendar: &Calendar) -> Result<(), StoreError> {
    let body = serde_json::to_string(calendar).map_err(|e| StoreError::Decode(e.to_string()))?;
    let sql = database.sql(
        "INSERT INTO calendars (id, body, recorded_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET body = excluded.body, recorded_at = excluded.recorded_at",
    );
    with_pool!(database, pool => {
        sqlx::query(&sql)
            .bind(&calendar.id)
            .bind(body)
            .bind(Utc::now().to_rfc3339())
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// The changes of the catalogue's calendars since deadlines were last
/// counted, in words. A calendar seen for the first time is recorded as it is.
pub async fn pending_changes(
    database: &Database,
    calendars: &[&Calendar],
) -> Result<Vec<String>, StoreError> {
    let mut changes = Vec::new();
    for calendar in calendars {
        match stored(database, &calendar.id).await? {
            Some(old) => changes.extend(describe_changes(&old, calendar)),
            None => record(database, calendar).await?,
        }
    }
    Ok(changes)
}

/// Calendars of this process that lack an official year the running
/// deadlines were counted on: this server was not reloaded after another
/// one was. In words; a revision from such a calendar is not run.
pub async fn stale_calendars(
    database: &Database,
    calendars: &[&Calendar],
) -> Result<Vec<String>, StoreError> {
    let mut stale = Vec::new();
    for calendar in calendars {
        if let Some(stored) = stored(database, &calendar.id).await? {
            let missing = onething_core::calendar::official_years_missing(&stored, calendar);
            if !missing.is_empty() {
                let years: Vec<String> = missing.iter().map(ToString::to_string).collect();
                stale.push(format!(
                    "calendar `{}` of this server lacks the official table for {} that running deadlines were counted on: reload this server's workflows",
                    calendar.id,
                    years.join(", ")
                ));
            }
        }
    }
    Ok(stale)
}

/// What a revision run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RevisionReport {
    /// The calendar changes that caused the run.
    pub reasons: Vec<String>,
    /// The correlation id shared by every command of the run.
    pub correlation_id: String,
    /// Open cases looked at.
    pub cases: usize,
    /// Each revised step as `CASE/STEP`.
    pub revised: Vec<String>,
    /// Cases that could not be revised, with the reason; the run is pending
    /// again until none is left.
    pub failed: Vec<String>,
}

/// Counts the deadlines of every running step of every open case again on
/// the library's calendars, recording a `deadline_revised` event where they
/// differ; then records the calendars as counted on, if no case failed.
pub async fn revise_deadlines(
    store: &CaseStore,
    reasons: Vec<String>,
    now: DateTime<Utc>,
    run_id: &str,
) -> Result<RevisionReport, StoreError> {
    let correlation_id = format!("revise-deadlines:{run_id}");
    let reason = reasons.join("; ");
    let mut report = RevisionReport {
        reasons,
        correlation_id: correlation_id.clone(),
        ..RevisionReport::default()
    };
    let attribution = Attribution {
        channel: "scheduler".into(),
        role: Some("system".into()),
        correlation_id: Some(correlation_id.clone()),
        clock_time: false,
    };
    for case_id in views::open_case_ids(store.database()).await? {
        report.cases += 1;
        let command = CaseCommand {
            command_id: format!("{correlation_id}:{case_id}"),
            actor: Actor::System,
            at: now,
            action: Action::ReviseDeadlines {
                reason: reason.clone(),
            },
        };
        match store.execute_with(&case_id, command, &attribution).await {
            Ok(outcome) => {
                for event in &outcome.appended {
                    if let onething_core::case::Change::DeadlineRevised { step, .. } =
                        &event.event.change
                    {
                        report.revised.push(format!("{case_id}/{step}"));
                    }
                }
            }
            Err(error) => report.failed.push(format!("{case_id}: {error}")),
        }
    }
    if report.failed.is_empty() {
        for calendar in store.library().calendars() {
            record(store.database(), &calendar).await?;
        }
    }
    Ok(report)
}
