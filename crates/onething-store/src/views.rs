//! Read models: the case summary and each agency's task list, kept up to
//! date after every append and rebuildable from the events.
//!
//! An update carries the whole state of the case at a sequence and only ever
//! replaces an older one, so two commands finishing out of order cannot
//! leave a view behind the events it was built from.

use onething_core::case::{view, Case, CaseView, Disclosure, Library, StepState};

use crate::database::Database;
use crate::error::StoreError;
use crate::with_pool;

fn timestamp(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Writes the summary and tasks of one case, unless newer ones are stored.
pub async fn update(database: &Database, case: &Case, library: &Library) -> Result<(), StoreError> {
    let Some(file) = case.file() else {
        return Ok(());
    };
    let definition = library.by_hash(&file.hash);
    let summary: CaseView = view(case, definition.as_deref(), Disclosure::Masked).expect("opened");
    let body = serde_json::to_string(&summary).map_err(|e| StoreError::Decode(e.to_string()))?;
    let upsert = database.sql(
        "INSERT INTO case_summaries (case_id, workflow, status, opened_at, ended_at, sequence, overdue, applicant, summary)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (case_id) DO UPDATE SET
           workflow = excluded.workflow, status = excluded.status, opened_at = excluded.opened_at,
           ended_at = excluded.ended_at, sequence = excluded.sequence, overdue = excluded.overdue,
           applicant = excluded.applicant, summary = excluded.summary
         WHERE case_summaries.sequence < excluded.sequence",
    );
    let delete_tasks = database.sql("DELETE FROM agency_tasks WHERE case_id = $1");
    let insert_task = database.sql(
        "INSERT INTO agency_tasks (case_id, step, agency, workflow, state, due, warned, overdue, activated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    );
    with_pool!(database, pool => {
        let mut transaction = pool.begin().await?;
        let written = sqlx::query(&upsert)
            .bind(&summary.id)
            .bind(&summary.workflow)
            .bind(&summary.status)
            .bind(timestamp(summary.opened_at))
            .bind(summary.ended_at.map(timestamp))
            .bind(summary.sequence as i64)
            .bind(i64::from(summary.is_overdue()))
            .bind(&summary.applicant)
            .bind(&body)
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        if written == 0 {
            // A newer state is already stored.
            transaction.rollback().await?;
            return Ok(());
        }
        sqlx::query(&delete_tasks).bind(&summary.id).execute(&mut *transaction).await?;
        for step in summary.open_tasks() {
            let record = file.step(&step.id).expect("seeded");
            sqlx::query(&insert_task)
                .bind(&summary.id)
                .bind(&step.id)
                .bind(&step.agency)
                .bind(&summary.workflow)
                .bind(if step.state == StepState::Paused { "paused" } else { "active" })
                .bind(step.due.map(timestamp))
                .bind(i64::from(step.warned))
                .bind(i64::from(step.overdue))
                .bind(record.activated_at.map(timestamp))
                .execute(&mut *transaction)
                .await?;
        }
        transaction.commit().await?;
        Ok(())
    })
}

/// A filter over the case summaries.
#[derive(Debug, Clone, Default)]
pub struct CaseFilter {
    pub status: Option<String>,
    pub workflow: Option<String>,
    /// Cases in which this agency has a step waiting on it now.
    pub agency: Option<String>,
    pub overdue_only: bool,
    pub limit: Option<i64>,
    pub offset: i64,
}

pub async fn list_cases(
    database: &Database,
    filter: &CaseFilter,
) -> Result<Vec<CaseView>, StoreError> {
    let mut sql = String::from("SELECT summary FROM case_summaries WHERE 1 = 1");
    let mut parameters: Vec<String> = Vec::new();
    let mut next = |sql: &mut String, clause: &str, value: &str| {
        parameters.push(value.to_string());
        sql.push_str(&clause.replace("{}", &format!("${}", parameters.len())));
    };
    if let Some(status) = &filter.status {
        next(&mut sql, " AND status = {}", status);
    }
    if let Some(workflow) = &filter.workflow {
        next(&mut sql, " AND workflow = {}", workflow);
    }
    if let Some(agency) = &filter.agency {
        next(
            &mut sql,
            " AND case_id IN (SELECT case_id FROM agency_tasks WHERE agency = {})",
            agency,
        );
    }
    if filter.overdue_only {
        sql.push_str(" AND overdue = 1");
    }
    sql.push_str(" ORDER BY opened_at, case_id");
    if let Some(limit) = filter.limit {
        sql.push_str(&format!(
            " LIMIT {} OFFSET {}",
            limit.max(0),
            filter.offset.max(0)
        ));
    }
    let sql = database.sql(&sql);
    let rows: Vec<(String,)> = with_pool!(database, pool => {
        let mut query = sqlx::query_as(&sql);
        for parameter in &parameters {
            query = query.bind(parameter);
        }
        query.fetch_all(pool).await?
    });
    rows.into_iter()
        .map(|(body,)| serde_json::from_str(&body).map_err(|e| StoreError::Decode(e.to_string())))
        .collect()
}

/// One entry of an agency's task list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Task {
    pub case_id: String,
    pub step: String,
    pub agency: String,
    pub workflow: String,
    pub state: String,
    pub due: Option<String>,
    pub warned: bool,
    pub overdue: bool,
    pub activated_at: Option<String>,
}

/// An agency's open tasks, the oldest due first (tasks without a limit last).
pub async fn agency_tasks(
    database: &Database,
    agency: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<Task>, StoreError> {
    let sql = database.sql(
        "SELECT case_id, step, agency, workflow, state, due, warned, overdue, activated_at
         FROM agency_tasks WHERE agency = $1
         ORDER BY CASE WHEN due IS NULL THEN 1 ELSE 0 END, due, case_id, step
         LIMIT $2 OFFSET $3",
    );
    type Row = (
        String,
        String,
        String,
        String,
        String,
        Option<String>,
        i64,
        i64,
        Option<String>,
    );
    let rows: Vec<Row> = with_pool!(database, pool => {
        sqlx::query_as(&sql).bind(agency).bind(limit).bind(offset).fetch_all(pool).await?
    });
    Ok(rows
        .into_iter()
        .map(
            |(case_id, step, agency, workflow, state, due, warned, overdue, activated_at)| Task {
                case_id,
                step,
                agency,
                workflow,
                state,
                due,
                warned: warned != 0,
                overdue: overdue != 0,
                activated_at,
            },
        )
        .collect())
}

/// The ids of cases still open, by the summaries.
pub async fn open_case_ids(database: &Database) -> Result<Vec<String>, StoreError> {
    let sql = "SELECT case_id FROM case_summaries WHERE status = 'open' ORDER BY case_id";
    let rows: Vec<(String,)> =
        with_pool!(database, pool => sqlx::query_as(sql).fetch_all(pool).await?);
    Ok(rows.into_iter().map(|(id,)| id).collect())
}
