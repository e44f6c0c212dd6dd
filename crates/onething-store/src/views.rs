//! Read models: the case summary and each agency's task list, kept up to
//! date after every append and rebuildable from the events.
//!
//! An update carries the whole state of the case at a sequence and only ever
//! replaces an older one, so two commands finishing out of order cannot
//! leave a view behind the events it was built from.

use onething_core::case::{view, Case, CaseView, Disclosure, ExtensionState, Library};

use crate::database::Database;
use crate::error::StoreError;
use crate::with_pool;

use crate::time::stamp as timestamp;

pub use crate::rebuild::{rebuild, RebuildReport};

/// One row of `case_summaries`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SummaryRow {
    pub case_id: String,
    pub workflow: String,
    pub status: String,
    pub opened_at: String,
    pub ended_at: Option<String>,
    pub sequence: i64,
    pub overdue: i64,
    pub applicant: Option<String>,
    pub summary: String,
}

/// One entry of an agency's task list, typed (the row as stored is [`TaskRow`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AgencyTask {
    pub case_id: String,
    pub step: String,
    pub agency: String,
    pub workflow: String,
    /// `active`, `paused`, `suspended`, or `extension_requested` (this
    /// agency decides another's extension).
    pub state: String,
    pub due: Option<chrono::DateTime<chrono::Utc>>,
    pub warned: bool,
    pub overdue: bool,
    pub activated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The provisional calendar years the due time depends on.
    pub provisional_years: Vec<i32>,
    /// The due time of the step's statutory limit (法定时限), and whether it
    /// is past, for a step that has one.
    pub statutory_due: Option<chrono::DateTime<chrono::Utc>>,
    pub statutory_overdue: bool,
    /// The escalation points (催办, 通报 …) reached in this pass, by id.
    pub escalations: Vec<String>,
    /// The person of the agency who claimed the task (认领), if anyone has.
    pub claimed_by: Option<String>,
    /// The data the step received (`[[step.input]]`), citizen ID numbers
    /// masked as in every list; the case itself shows them unmasked to
    /// those who may read it.
    pub inputs: Vec<onething_core::case::InputValue>,
    /// The agency's part of a dispatched step: `dispatch` (to dispatch),
    /// `lead` (主办) or `co_handler` (协办, until it reported); none for
    /// other steps.
    pub part: Option<String>,
}

impl From<TaskRow> for AgencyTask {
    fn from(row: TaskRow) -> AgencyTask {
        let time = |text: Option<String>| text.as_deref().and_then(crate::time::read_stamp);
        AgencyTask {
            due: time(row.due),
            activated_at: time(row.activated_at),
            warned: row.warned != 0,
            overdue: row.overdue != 0,
            provisional_years: listed(&row.provisional_years)
                .filter_map(|year| year.parse().ok())
                .collect(),
            statutory_due: time(row.statutory_due),
            statutory_overdue: row.statutory_overdue != 0,
            escalations: listed(&row.escalations).map(str::to_string).collect(),
            claimed_by: row.claimed_by,
            part: row.part,
            inputs: row
                .inputs
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default(),
            case_id: row.case_id,
            step: row.step,
            agency: row.agency,
            workflow: row.workflow,
            state: row.state,
        }
    }
}

/// The items of a column stored as a comma-separated list.
fn listed(column: &Option<String>) -> impl Iterator<Item = &str> {
    column
        .iter()
        .flat_map(|items| items.split(','))
        .map(str::trim)
}

/// One row of `agency_tasks` as stored (integers for flags, text for
/// times, in both backends); read as [`AgencyTask`].
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct TaskRow {
    pub case_id: String,
    pub step: String,
    pub agency: String,
    pub workflow: String,
    pub state: String,
    pub due: Option<String>,
    pub warned: i64,
    pub overdue: i64,
    pub activated_at: Option<String>,
    /// The provisional calendar years the due time depends on, as `2027` or
    /// `2027,2028`; none when it depends on official tables only.
    pub provisional_years: Option<String>,
    pub statutory_due: Option<String>,
    pub statutory_overdue: i64,
    /// The escalation points reached, as `reminder,criticism`; none before the first.
    pub escalations: Option<String>,
    /// The operator who claimed the step in this pass (its own agency's
    /// row only; none on an approver's row and before anyone claims).
    pub claimed_by: Option<String>,
    /// The step's inputs as JSON, masked (its own agency's row only; none
    /// for a step that declares none).
    pub inputs: Option<String>,
    /// The agency's part of a dispatched step (`dispatch`, `lead`,
    /// `co_handler`); none for other steps.
    pub part: Option<String>,
}

/// The task rows of a case: each started step in its agency's list, and an
/// extension waiting for another agency in the approver's.
pub fn task_rows(
    file: &onething_core::case::CaseFile,
    definition: Option<&onething_core::workflow::Definition>,
) -> Vec<TaskRow> {
    let mut tasks = Vec::new();
    // A multi-instance step is no one's task: its instances are.
    for step in file
        .steps
        .iter()
        .filter(|step| step.state.is_started() && !step.runs_instances())
    {
        let task = |agency: &str, state: &str| TaskRow {
            case_id: file.id.clone(),
            step: step.id.clone(),
            agency: agency.to_string(),
            workflow: file.workflow.clone(),
            state: state.to_string(),
            due: step.due.map(timestamp),
            warned: i64::from(step.warned),
            overdue: i64::from(step.overdue),
            activated_at: step.activated_at.map(timestamp),
            provisional_years: (!step.provisional_years.is_empty()).then(|| {
                step.provisional_years
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            statutory_due: step.statutory.as_ref().map(|clock| timestamp(clock.due)),
            statutory_overdue: i64::from(step.statutory.as_ref().is_some_and(|c| c.overdue)),
            escalations: (!step.escalations.is_empty()).then(|| {
                let reached: Vec<&str> = step.escalations.iter().map(|r| r.id.as_str()).collect();
                reached.join(",")
            }),
            claimed_by: None,
            inputs: None,
            part: None,
        };
        let dispatched = definition
            .and_then(|definition| definition.step(&step.id))
            .is_some_and(|defined| defined.dispatch.is_some());
        let part = match (&step.dispatch, dispatched) {
            (_, false) => None,
            (None, true) => Some(PART_DISPATCH.to_string()),
            (Some(_), true) => Some(PART_LEAD.to_string()),
        };
        tasks.push(TaskRow {
            part,
            claimed_by: step.claimed_by.clone(),
            inputs: (!step.inputs.is_empty()).then(|| {
                let mut inputs = step.inputs.clone();
                onething_core::case::mask_inputs(&mut inputs);
                serde_json::to_string(&inputs).expect("inputs serialise")
            }),
            ..task(&step.agency, step.state.name())
        });
        if let Some(dispatch) = &step.dispatch {
            for co_handler in dispatch.missing_reports() {
                tasks.push(TaskRow {
                    part: Some(PART_CO_HANDLER.to_string()),
                    ..task(&co_handler, step.state.name())
                });
            }
        }
        let waiting = step
            .extension
            .as_ref()
            .is_some_and(|extension| extension.state == ExtensionState::Requested);
        let approver = definition
            .and_then(|definition| definition.step(&step.id))
            .and_then(|defined| Some(defined.extension.as_ref()?.approver(defined).to_string()));
        if let (true, Some(approver)) = (waiting, approver) {
            if approver != step.agency {
                tasks.push(task(&approver, "extension_requested"));
            }
        }
    }
    // The follow-up of a bad rating waits in the window's list: the window
    // that took the application answers for it (谁受理谁回访).
    if let Some(rating) = &file.rating {
        if let (Some(due), None) = (rating.follow_up_due, &rating.follow_up) {
            tasks.push(TaskRow {
                case_id: file.id.clone(),
                step: FOLLOW_UP_TASK.to_string(),
                agency: onething_core::case::WINDOW_AGENCY.to_string(),
                workflow: file.workflow.clone(),
                state: FOLLOW_UP_TASK.to_string(),
                due: Some(timestamp(due)),
                warned: 0,
                overdue: 0,
                activated_at: None,
                provisional_years: None,
                statutory_due: None,
                statutory_overdue: 0,
                escalations: None,
                claimed_by: None,
                inputs: None,
                part: None,
            });
        }
    }
    tasks
}

/// The parts of a dispatched step in the task lists: the dispatcher's
/// while it awaits dispatch, the lead's and each co-handler's after.
pub const PART_DISPATCH: &str = "dispatch";
pub const PART_LEAD: &str = "lead";
pub const PART_CO_HANDLER: &str = "co_handler";

/// The step and state of the task that is a bad rating's follow-up.
pub const FOLLOW_UP_TASK: &str = "follow_up";

/// Every read-model row of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadModels {
    pub summary: SummaryRow,
    pub tasks: Vec<TaskRow>,
    pub figures: crate::figures::FigureRows,
}

/// The rows of a case before a command, to tell which ones it changed
/// (rows it did not change are not written again).
pub struct RowsBefore(Option<(Vec<TaskRow>, crate::figures::FigureRows)>);

impl RowsBefore {
    pub fn of(case: &Case, library: &Library) -> RowsBefore {
        RowsBefore(case.file().and_then(|file| {
            let tasks = task_rows(file, library.by_hash(&file.hash).as_deref());
            Some((tasks, crate::figures::figure_rows(case, library)?))
        }))
    }

    /// The task and figure rows that differ in `after`; all of them when
    /// there was no case before.
    pub fn changes<'a>(&'a self, after: &'a ReadModels) -> crate::row_changes::RowChanges<'a> {
        match &self.0 {
            Some((tasks, figures)) => {
                crate::row_changes::RowChanges::between(tasks, figures, after)
            }
            None => crate::row_changes::RowChanges::all(after),
        }
    }
}

/// The read-model rows a case should have: a pure function of its state.
pub fn rows_for(case: &Case, library: &Library) -> Result<Option<ReadModels>, StoreError> {
    let Some(file) = case.file() else {
        return Ok(None);
    };
    let definition = library.by_hash(&file.hash);
    let summary: CaseView = view(case, definition.as_deref(), Disclosure::Masked).expect("opened");
    let body = serde_json::to_string(&summary).map_err(|e| StoreError::Decode(e.to_string()))?;
    let tasks = task_rows(file, definition.as_deref());
    let row = SummaryRow {
        case_id: summary.id.clone(),
        workflow: summary.workflow.clone(),
        status: summary.status.clone(),
        opened_at: timestamp(summary.opened_at),
        ended_at: summary.ended_at.map(timestamp),
        sequence: summary.sequence as i64,
        overdue: i64::from(summary.is_overdue()),
        applicant: summary.applicant.clone(),
        summary: body,
    };
    let figures = crate::figures::figure_rows(case, library).expect("opened");
    Ok(Some(ReadModels {
        summary: row,
        tasks,
        figures,
    }))
}

/// Writes the summary and tasks of one case, unless newer ones are stored.
pub async fn update(database: &Database, case: &Case, library: &Library) -> Result<(), StoreError> {
    match rows_for(case, library)? {
        Some(rows) => write(database, &rows).await,
        None => Ok(()),
    }
}

/// The columns of `agency_tasks`, in the order [`insert_tasks`] binds them.
macro_rules! task_columns {
    () => {
        "case_id, step, agency, workflow, state, due, warned, overdue, activated_at, provisional_years, statutory_due, statutory_overdue, escalations, claimed_by, inputs, part"
    };
}
pub(crate) use task_columns;

/// One statement inserting task rows into `$table` (the live table or a
/// scratch copy), for the backend the surrounding code runs on.
macro_rules! insert_tasks {
    ($table:literal, $tasks:expr) => {{
        let mut insert = sqlx::QueryBuilder::new(concat!(
            "INSERT INTO ",
            $table,
            " (",
            $crate::views::task_columns!(),
            ") "
        ));
        insert.push_values($tasks, |mut values, task| {
            values
                .push_bind(&task.case_id)
                .push_bind(&task.step)
                .push_bind(&task.agency)
                .push_bind(&task.workflow)
                .push_bind(&task.state)
                .push_bind(&task.due)
                .push_bind(task.warned)
                .push_bind(task.overdue)
                .push_bind(&task.activated_at)
                .push_bind(&task.provisional_years)
                .push_bind(&task.statutory_due)
                .push_bind(task.statutory_overdue)
                .push_bind(&task.escalations)
                .push_bind(&task.claimed_by)
                .push_bind(&task.inputs)
                .push_bind(&task.part);
        });
        insert
    }};
}
pub(crate) use insert_tasks;

/// Writes one case's rows inside a transaction of either backend: the
/// summary only if it is newer than the stored one, then the task and
/// figure rows that `$changes` names.
macro_rules! write_rows {
    ($transaction:expr, $database:expr, $rows:expr) => {
        $crate::views::write_rows!(
            $transaction,
            $database,
            $rows,
            &$crate::row_changes::RowChanges::all($rows)
        )
    };
    ($transaction:expr, $database:expr, $rows:expr, $changes:expr) => {{
        use $crate::row_changes::{Changed, TASKS_UPSERT};
        let database: &$crate::database::Database = $database;
        let rows: &$crate::views::ReadModels = $rows;
        let changes: &$crate::row_changes::RowChanges = $changes;
        let summary = &rows.summary;
        let upsert = database.sql(
            "INSERT INTO case_summaries (case_id, workflow, status, opened_at, ended_at, sequence, overdue, applicant, summary)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (case_id) DO UPDATE SET
               workflow = excluded.workflow, status = excluded.status, opened_at = excluded.opened_at,
               ended_at = excluded.ended_at, sequence = excluded.sequence, overdue = excluded.overdue,
               applicant = excluded.applicant, summary = excluded.summary
             WHERE case_summaries.sequence < excluded.sequence",
        );
        let written = sqlx::query(&upsert)
            .bind(&summary.case_id)
            .bind(&summary.workflow)
            .bind(&summary.status)
            .bind(&summary.opened_at)
            .bind(&summary.ended_at)
            .bind(summary.sequence)
            .bind(summary.overdue)
            .bind(&summary.applicant)
            .bind(&summary.summary)
            .execute(&mut *$transaction)
            .await?
            .rows_affected();
        // Zero rows: a newer state is already stored; leave its rows alone.
        if written > 0 {
            match &changes.tasks {
                Changed::All(tasks) => {
                    let delete_tasks = database.sql("DELETE FROM agency_tasks WHERE case_id = $1");
                    sqlx::query(&delete_tasks).bind(&summary.case_id).execute(&mut *$transaction).await?;
                    if !tasks.is_empty() {
                        $crate::views::insert_tasks!("agency_tasks", tasks.iter())
                            .build()
                            .execute(&mut *$transaction)
                            .await?;
                    }
                }
                Changed::Some { upsert, removed } => {
                    for task in removed {
                        let delete = database.sql(
                            "DELETE FROM agency_tasks WHERE case_id = $1 AND step = $2 AND agency = $3",
                        );
                        sqlx::query(&delete)
                            .bind(&task.case_id)
                            .bind(&task.step)
                            .bind(&task.agency)
                            .execute(&mut *$transaction)
                            .await?;
                    }
                    if !upsert.is_empty() {
                        let mut statement = $crate::views::insert_tasks!("agency_tasks", upsert.iter().copied());
                        statement.push(TASKS_UPSERT.as_str());
                        statement.build().execute(&mut *$transaction).await?;
                    }
                }
            }
            $crate::figures::write_figures!($transaction, database, &rows.figures, changes)?;
        }
        Ok::<(), $crate::error::StoreError>(())
    }};
}
pub(crate) use write_rows;

pub(crate) async fn write(database: &Database, rows: &ReadModels) -> Result<(), StoreError> {
    with_pool!(database, pool => {
        let mut transaction = pool.begin().await?;
        write_rows!(transaction, database, rows)?;
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
    /// Only cases of these bundles (an agency's: every case it takes part in).
    pub workflows: Option<Vec<String>>,
    pub overdue_only: bool,
    /// Opened at or after this time (RFC 3339, or a date).
    pub opened_from: Option<String>,
    /// Opened before this time (RFC 3339, or a date).
    pub opened_to: Option<String>,
    pub limit: Option<i64>,
    pub offset: i64,
    /// Only cases whose number starts with this.
    pub number_prefix: Option<String>,
    /// The newest first (by opening time) instead of the oldest.
    pub newest_first: bool,
}

impl CaseFilter {
    /// Widens the agency filter from "a step waits on it now" to every case
    /// of the bundles it takes part in.
    pub fn involving(mut self, library: &Library) -> CaseFilter {
        if let Some(agency) = self.agency.take() {
            self.workflows = Some(library.workflows_of_agency(&agency));
        }
        self
    }
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
    if let Some(workflows) = &filter.workflows {
        if workflows.is_empty() {
            sql.push_str(" AND 1 = 0");
        } else {
            sql.push_str(" AND workflow IN (");
            for (index, workflow) in workflows.iter().enumerate() {
                if index > 0 {
                    sql.push_str(", ");
                }
                next(&mut sql, "{}", workflow);
            }
            sql.push(')');
        }
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
    if let Some(prefix) = &filter.number_prefix {
        // Case numbers are letters and digits: no LIKE wildcard to escape
        // once anything else is dropped.
        let prefix: String = prefix.chars().filter(char::is_ascii_alphanumeric).collect();
        next(
            &mut sql,
            " AND case_id LIKE {}",
            &format!("{}%", prefix.to_ascii_uppercase()),
        );
    }
    // Times are stored as UTC RFC 3339 text, so text order is time order.
    if let Some(from) = &filter.opened_from {
        next(&mut sql, " AND opened_at >= {}", &normalise_time(from));
    }
    if let Some(to) = &filter.opened_to {
        next(&mut sql, " AND opened_at < {}", &normalise_time(to));
    }
    sql.push_str(if filter.newest_first {
        " ORDER BY opened_at DESC, case_id DESC"
    } else {
        " ORDER BY opened_at, case_id"
    });
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

/// A date or time as the stored text form (UTC, milliseconds), so that it
/// compares with stored times; anything unreadable is compared as given.
fn normalise_time(text: &str) -> String {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text) {
        return timestamp(time.with_timezone(&chrono::Utc));
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return format!("{date}T00:00:00.000Z");
    }
    text.to_string()
}

/// An agency's open tasks, the oldest due first (tasks without a limit last).
pub async fn agency_tasks(
    database: &Database,
    agency: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<AgencyTask>, StoreError> {
    let sql = database.sql(
        "SELECT case_id, step, agency, workflow, state, due, warned, overdue, activated_at, provisional_years,
                statutory_due, statutory_overdue, escalations, claimed_by, inputs, part
         FROM agency_tasks WHERE agency = $1
         ORDER BY CASE WHEN due IS NULL THEN 1 ELSE 0 END, due, case_id, step, agency
         LIMIT $2 OFFSET $3",
    );
    let rows: Vec<TaskRow> = with_pool!(database, pool => {
        sqlx::query_as(&sql).bind(agency).bind(limit).bind(offset).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(AgencyTask::from).collect())
}

/// The ids of cases still open, by the summaries.
pub async fn open_case_ids(database: &Database) -> Result<Vec<String>, StoreError> {
    let sql = "SELECT case_id FROM case_summaries WHERE status = 'open' ORDER BY case_id";
    let rows: Vec<(String,)> =
        with_pool!(database, pool => sqlx::query_as(sql).fetch_all(pool).await?);
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// How many cases each bundle has, the most used first (the window lists
/// bundles in this order).
pub async fn case_counts(database: &Database) -> Result<Vec<(String, i64)>, StoreError> {
    let sql = "SELECT workflow, COUNT(*) AS n FROM case_summaries GROUP BY workflow ORDER BY n DESC, workflow";
    Ok(with_pool!(database, pool => {
        sqlx::query_as::<_, (String, i64)>(sql).fetch_all(pool).await?
    }))
}
