//! The dashboard's read models: one row of facts per case (`case_figures`)
//! and one per step that ran (`step_figures`), written in the transaction
//! that appends the case's events, and the dashboard's figures read from
//! them with a few `GROUP BY`s over any bundle, agency and period.

use onething_core::case::{figures, Case, CaseFigures, Library};

use crate::database::Database;
use crate::error::StoreError;
use crate::time::stamp;
use crate::with_pool;

/// The rows of one case, as stored (flags as integers, times as text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FigureRows {
    pub case: CaseFigureRow,
    pub steps: Vec<StepFigureRow>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CaseFigureRow {
    pub case_id: String,
    pub workflow: String,
    pub opened_at: String,
    /// The day of opening in China (UTC+8), `YYYY-MM-DD`.
    pub opened_day: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub channel: String,
    pub overdue_now: i64,
    pub statutory_overdue_now: i64,
    pub on_time: Option<i64>,
    pub statutory_counted: i64,
    pub statutory_overdue: i64,
    pub escalations: i64,
    pub working_days: Option<i64>,
    pub supplemented: i64,
    pub returned: i64,
    pub one_go: i64,
    pub materials_not_submitted: i64,
    pub materials_by_commitment: i64,
    pub materials_waived: i64,
    pub trips_made: i64,
    pub materials_submitted: i64,
    pub trips_saved: i64,
    pub rating: Option<i64>,
    pub follow_up: Option<String>,
    pub satisfied: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StepFigureRow {
    pub case_id: String,
    pub step: String,
    pub workflow: String,
    pub agency: String,
    pub opened_at: String,
    pub opened_day: String,
    pub state: String,
    pub passes: i64,
    pub returns_made: i64,
    pub warned: i64,
    pub overdue: i64,
    pub statutory_overdue: i64,
    pub is_open: i64,
    pub completed: i64,
    pub on_time: Option<i64>,
    pub working_days: Option<i64>,
}

/// The figure rows a case should have: a pure function of its state.
pub fn figure_rows(case: &Case, library: &Library) -> Option<FigureRows> {
    let file = case.file()?;
    let definition = library.by_hash(&file.hash);
    let calendar = definition
        .as_ref()
        .and_then(|definition| library.calendar(&definition.calendar));
    let CaseFigures { case: facts, steps } =
        figures(file, definition.as_deref(), calendar.as_deref());
    let flag = i64::from;
    let opened_at = stamp(facts.opened_at);
    let opened_day = (facts.opened_at + chrono::Duration::hours(8))
        .date_naive()
        .to_string();
    Some(FigureRows {
        steps: steps
            .into_iter()
            .map(|step| StepFigureRow {
                case_id: file.id.clone(),
                step: step.step,
                workflow: file.workflow.clone(),
                agency: step.agency,
                opened_at: opened_at.clone(),
                opened_day: opened_day.clone(),
                state: step.state,
                passes: i64::from(step.passes),
                returns_made: i64::from(step.returns_made),
                warned: flag(step.warned),
                overdue: flag(step.overdue),
                statutory_overdue: flag(step.statutory_overdue),
                is_open: flag(step.open),
                completed: flag(step.completed),
                on_time: step.on_time.map(flag),
                working_days: step.working_days.map(i64::from),
            })
            .collect(),
        case: CaseFigureRow {
            case_id: file.id.clone(),
            workflow: file.workflow.clone(),
            opened_at,
            opened_day,
            ended_at: facts.ended_at.map(stamp),
            status: facts.status,
            channel: facts.channel,
            overdue_now: flag(facts.overdue_now),
            statutory_overdue_now: flag(facts.statutory_overdue_now),
            on_time: facts.on_time.map(flag),
            statutory_counted: flag(facts.statutory_counted),
            statutory_overdue: flag(facts.statutory_overdue),
            escalations: i64::from(facts.escalations),
            working_days: facts.working_days.map(i64::from),
            supplemented: flag(facts.supplemented),
            returned: flag(facts.returned),
            one_go: flag(facts.one_go),
            materials_not_submitted: i64::from(facts.materials_not_submitted),
            materials_by_commitment: i64::from(facts.materials_by_commitment),
            materials_waived: i64::from(facts.materials_waived),
            trips_made: i64::from(facts.trips_made),
            materials_submitted: i64::from(facts.materials_submitted),
            trips_saved: i64::from(facts.trips_saved),
            rating: facts.rating.map(i64::from),
            follow_up: facts.follow_up.map(|state| state.name().to_string()),
            satisfied: facts.satisfied.map(flag),
        },
    })
}

/// The columns of `case_figures`, in the order [`insert_figures`] binds them.
macro_rules! case_figure_columns {
    () => {
        "case_id, workflow, opened_at, opened_day, ended_at, status, channel, overdue_now, statutory_overdue_now, on_time, statutory_counted, statutory_overdue, escalations, working_days, supplemented, returned, one_go, materials_not_submitted, materials_by_commitment, materials_waived, trips_made, materials_submitted, trips_saved, rating, follow_up, satisfied"
    };
}
pub(crate) use case_figure_columns;

/// The columns of `step_figures`, in the order [`insert_figures`] binds them.
macro_rules! step_figure_columns {
    () => {
        "case_id, step, workflow, agency, opened_at, opened_day, state, passes, returns_made, warned, overdue, statutory_overdue, is_open, completed, on_time, working_days"
    };
}
pub(crate) use step_figure_columns;

/// Statements inserting figure rows, for the backend the surrounding code runs on.
macro_rules! insert_figures {
    (cases $table:literal, $rows:expr) => {{
        let mut insert = sqlx::QueryBuilder::new(concat!(
            "INSERT INTO ",
            $table,
            " (",
            $crate::figures::case_figure_columns!(),
            ") "
        ));
        insert.push_values($rows, |mut values, row: &$crate::figures::CaseFigureRow| {
            values
                .push_bind(&row.case_id)
                .push_bind(&row.workflow)
                .push_bind(&row.opened_at)
                .push_bind(&row.opened_day)
                .push_bind(&row.ended_at)
                .push_bind(&row.status)
                .push_bind(&row.channel)
                .push_bind(row.overdue_now)
                .push_bind(row.statutory_overdue_now)
                .push_bind(row.on_time)
                .push_bind(row.statutory_counted)
                .push_bind(row.statutory_overdue)
                .push_bind(row.escalations)
                .push_bind(row.working_days)
                .push_bind(row.supplemented)
                .push_bind(row.returned)
                .push_bind(row.one_go)
                .push_bind(row.materials_not_submitted)
                .push_bind(row.materials_by_commitment)
                .push_bind(row.materials_waived)
                .push_bind(row.trips_made)
                .push_bind(row.materials_submitted)
                .push_bind(row.trips_saved)
                .push_bind(row.rating)
                .push_bind(&row.follow_up)
                .push_bind(row.satisfied);
        });
        insert
    }};
    (steps $table:literal, $rows:expr) => {{
        let mut insert = sqlx::QueryBuilder::new(concat!(
            "INSERT INTO ",
            $table,
            " (",
            $crate::figures::step_figure_columns!(),
            ") "
        ));
        insert.push_values($rows, |mut values, row: &$crate::figures::StepFigureRow| {
            values
                .push_bind(&row.case_id)
                .push_bind(&row.step)
                .push_bind(&row.workflow)
                .push_bind(&row.agency)
                .push_bind(&row.opened_at)
                .push_bind(&row.opened_day)
                .push_bind(&row.state)
                .push_bind(row.passes)
                .push_bind(row.returns_made)
                .push_bind(row.warned)
                .push_bind(row.overdue)
                .push_bind(row.statutory_overdue)
                .push_bind(row.is_open)
                .push_bind(row.completed)
                .push_bind(row.on_time)
                .push_bind(row.working_days);
        });
        insert
    }};
}
pub(crate) use insert_figures;

/// Writes the figure rows of one case that `$changes` names, inside a
/// transaction of either backend (the caller has checked that its state is
/// the newest), and marks its day to be summed again.
macro_rules! write_figures {
    ($transaction:expr, $database:expr, $rows:expr) => {
        $crate::figures::write_figures!(
            $transaction,
            $database,
            $rows,
            &$crate::row_changes::RowChanges {
                tasks: $crate::row_changes::Changed::Some { upsert: Vec::new(), removed: Vec::new() },
                case_figures: true,
                step_figures: $crate::row_changes::Changed::All(&$rows.steps),
            }
        )
    };
    ($transaction:expr, $database:expr, $rows:expr, $changes:expr) => {{
        use $crate::row_changes::{Changed, CASE_FIGURES_UPSERT, STEP_FIGURES_UPSERT};
        let database: &$crate::database::Database = $database;
        let rows: &$crate::figures::FigureRows = $rows;
        let changes: &$crate::row_changes::RowChanges = $changes;
        if changes.case_figures {
            let mut upsert = $crate::figures::insert_figures!(cases "case_figures", std::slice::from_ref(&rows.case));
            upsert.push(CASE_FIGURES_UPSERT.as_str());
            upsert.build().execute(&mut *$transaction).await?;
        }
        match &changes.step_figures {
            Changed::All(steps) => {
                let delete = database.sql("DELETE FROM step_figures WHERE case_id = $1");
                sqlx::query(&delete)
                    .bind(&rows.case.case_id)
                    .execute(&mut *$transaction)
                    .await?;
                if !steps.is_empty() {
                    $crate::figures::insert_figures!(steps "step_figures", steps.iter())
                        .build()
                        .execute(&mut *$transaction)
                        .await?;
                }
            }
            Changed::Some { upsert, removed } => {
                for step in removed {
                    let delete = database.sql("DELETE FROM step_figures WHERE case_id = $1 AND step = $2 AND agency = $3");
                    sqlx::query(&delete)
                        .bind(&step.case_id)
                        .bind(&step.step)
                        .bind(&step.agency)
                        .execute(&mut *$transaction)
                        .await?;
                }
                if !upsert.is_empty() {
                    let mut statement =
                        $crate::figures::insert_figures!(steps "step_figures", upsert.iter().copied());
                    statement.push(STEP_FIGURES_UPSERT.as_str());
                    statement.build().execute(&mut *$transaction).await?;
                }
            }
        }
        if changes.figures_changed() {
            // The day's sums are summed again by the next dashboard read.
            let dirty = database.sql(
                "INSERT INTO figure_days_dirty (workflow, opened_day) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            );
            sqlx::query(&dirty)
                .bind(&rows.case.workflow)
                .bind(&rows.case.opened_day)
                .execute(&mut *$transaction)
                .await?;
        }
        Ok::<(), $crate::error::StoreError>(())
    }};
}
pub(crate) use write_figures;

/// Writes the figure rows of cases that have a summary and none (stored
/// before the figures existed); returns how many.
pub async fn backfill(store: &crate::CaseStore) -> Result<u64, StoreError> {
    let database = store.database();
    let sql = "SELECT s.case_id FROM case_summaries s LEFT JOIN case_figures f ON f.case_id = s.case_id WHERE f.case_id IS NULL";
    let missing: Vec<(String,)> =
        with_pool!(database, pool => sqlx::query_as(sql).fetch_all(pool).await?);
    let mut written = 0;
    for (case_id,) in missing {
        let case = store.load(&case_id).await?;
        let Some(rows) = figure_rows(&case, store.library()) else {
            continue;
        };
        with_pool!(database, pool => {
            let mut transaction = pool.begin().await?;
            write_figures!(transaction, database, &rows)?;
            transaction.commit().await?;
        });
        written += 1;
    }
    Ok(written)
}

/// Ended cases without a rating that ended before `cutoff`, the oldest first.
pub async fn unrated_ended_before(
    database: &Database,
    cutoff: chrono::DateTime<chrono::Utc>,
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    let sql = database.sql(
        "SELECT case_id FROM case_figures WHERE rating IS NULL AND ended_at IS NOT NULL AND ended_at <= $1
         ORDER BY ended_at LIMIT $2",
    );
    let rows: Vec<(String,)> = with_pool!(database, pool => sqlx::query_as(&sql).bind(stamp(cutoff)).bind(limit).fetch_all(pool).await?);
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

pub use crate::dashboard::{agency_figures, dashboard, AgencyFigures, Dashboard, DashboardFilter};
