//! The dashboard's read models: one row of facts per case (`case_figures`)
//! and one per step that ran (`step_figures`), written in the transaction
//! that appends the case's events, and the dashboard's figures read from
//! them with a few `GROUP BY`s over any bundle, agency and period.

use std::collections::BTreeMap;

use onething_core::case::{figures, Case, CaseFigures, Library};
use serde::Serialize;

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
    pub trips_made: i64,
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
    let calendar = library
        .by_hash(&file.hash)
        .and_then(|definition| library.calendar(&definition.calendar));
    let CaseFigures { case: facts, steps } = figures(file, calendar.as_deref());
    let flag = i64::from;
    let opened_at = stamp(facts.opened_at);
    Some(FigureRows {
        steps: steps
            .into_iter()
            .map(|step| StepFigureRow {
                case_id: file.id.clone(),
                step: step.step,
                workflow: file.workflow.clone(),
                agency: step.agency,
                opened_at: opened_at.clone(),
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
            opened_day: (facts.opened_at + chrono::Duration::hours(8))
                .date_naive()
                .to_string(),
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
            trips_made: i64::from(facts.trips_made),
            trips_saved: i64::from(facts.trips_saved),
            rating: facts.rating.map(i64::from),
            follow_up: facts.follow_up.map(|state| state.name().to_string()),
            satisfied: facts.satisfied.map(flag),
        },
    })
}

/// Statements inserting figure rows, for the backend the surrounding code runs on.
macro_rules! insert_figures {
    (cases $table:literal, $rows:expr) => {{
        let mut insert = sqlx::QueryBuilder::new(concat!(
            "INSERT INTO ", $table, " (",
            "case_id, workflow, opened_at, opened_day, ended_at, status, channel, overdue_now, statutory_overdue_now, on_time, statutory_counted, statutory_overdue, escalations, working_days, supplemented, returned, one_go, materials_not_submitted, trips_made, trips_saved, rating, follow_up, satisfied",
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
                .push_bind(row.trips_made)
                .push_bind(row.trips_saved)
                .push_bind(row.rating)
                .push_bind(&row.follow_up)
                .push_bind(row.satisfied);
        });
        insert
    }};
    (steps $table:literal, $rows:expr) => {{
        let mut insert = sqlx::QueryBuilder::new(concat!(
            "INSERT INTO ", $table, " (",
            "case_id, step, workflow, agency, opened_at, state, passes, returns_made, warned, overdue, statutory_overdue, is_open, completed, on_time, working_days",
            ") "
        ));
        insert.push_values($rows, |mut values, row: &$crate::figures::StepFigureRow| {
            values
                .push_bind(&row.case_id)
                .push_bind(&row.step)
                .push_bind(&row.workflow)
                .push_bind(&row.agency)
                .push_bind(&row.opened_at)
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

/// Replaces the figure rows of one case inside a transaction of either
/// backend (the caller has checked that its state is the newest).
macro_rules! write_figures {
    ($transaction:expr, $database:expr, $rows:expr) => {{
        let database: &$crate::database::Database = $database;
        let rows: &$crate::figures::FigureRows = $rows;
        for table in ["case_figures", "step_figures"] {
            let delete = database.sql(&format!("DELETE FROM {table} WHERE case_id = $1"));
            sqlx::query(&delete)
                .bind(&rows.case.case_id)
                .execute(&mut *$transaction)
                .await?;
        }
        $crate::figures::insert_figures!(cases "case_figures", std::slice::from_ref(&rows.case))
            .build()
            .execute(&mut *$transaction)
            .await?;
        if !rows.steps.is_empty() {
            $crate::figures::insert_figures!(steps "step_figures", &rows.steps)
                .build()
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

/// The cases a dashboard counts: a bundle or all, an agency taking part or
/// any, opened in a period (dates or RFC 3339 times; `to` is exclusive).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardFilter {
    pub workflow: Option<String>,
    pub agency: Option<String>,
    pub opened_from: Option<String>,
    pub opened_to: Option<String>,
}

/// The dashboard's figures for one filter.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Dashboard {
    pub cases: i64,
    pub by_status: BTreeMap<String, i64>,
    pub by_channel: BTreeMap<String, i64>,
    pub open: i64,
    pub ended: i64,
    pub overdue_now: i64,
    pub statutory_overdue_now: i64,
    /// Ended cases with no step past its promised due time.
    pub ended_on_time: i64,
    /// Ended cases counted against a statutory limit, and those past it.
    pub statutory_counted: i64,
    pub statutory_overdue: i64,
    pub escalations: i64,
    /// Sum and count of working days over ended cases (the average is their quotient).
    pub working_days_total: i64,
    pub working_days_counted: i64,
    pub supplemented: i64,
    pub returned: i64,
    pub one_go: i64,
    pub materials_not_submitted: i64,
    pub trips_saved: i64,
    pub rated: i64,
    pub good_ratings: i64,
    pub bad_ratings: i64,
    pub follow_ups_due: i64,
    pub follow_ups_resolved: i64,
    pub follow_ups_unresolved: i64,
    /// Cases opened per day (`YYYY-MM-DD`).
    pub opened_per_day: BTreeMap<String, i64>,
    /// Per agency: its steps' figures.
    pub agencies: Vec<AgencyFigures>,
}

/// One agency's (or one agency's step's) figures over the filtered cases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, sqlx::FromRow)]
pub struct AgencyFigures {
    pub agency: String,
    /// Empty for an agency's total; a step's id in the per-step figures.
    pub step: String,
    pub steps: i64,
    pub open: i64,
    /// Open now and warned (yellow card) or past due (red card).
    pub yellow: i64,
    pub red: i64,
    pub completed: i64,
    pub completed_on_time: i64,
    pub working_days_total: i64,
    pub working_days_counted: i64,
    pub passes: i64,
    pub returns_made: i64,
    /// Of the cases in which it completed a step: answered satisfied or not at the call-back.
    pub satisfied: i64,
    pub satisfaction_answers: i64,
}

impl Dashboard {
    pub fn share(part: i64, whole: i64) -> Option<f64> {
        (whole > 0).then(|| part as f64 / whole as f64)
    }
}

/// `WHERE` clauses and their values for a filter over `table` (aliased `f`).
fn conditions(filter: &DashboardFilter, numbered_from: usize) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let next = |clause: &str, value: &str, values: &mut Vec<String>| {
        values.push(value.to_string());
        clause.replace('#', &format!("${}", numbered_from + values.len() - 1))
    };
    if let Some(workflow) = &filter.workflow {
        clauses.push(next("f.workflow = #", workflow, &mut values));
    }
    if let Some(from) = &filter.opened_from {
        clauses.push(next("f.opened_at >= #", &normalise(from), &mut values));
    }
    if let Some(to) = &filter.opened_to {
        clauses.push(next("f.opened_at < #", &normalise(to), &mut values));
    }
    if let Some(agency) = &filter.agency {
        clauses.push(next(
            "f.case_id IN (SELECT case_id FROM step_figures WHERE agency = #)",
            agency,
            &mut values,
        ));
    }
    let text = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (text, values)
}

/// A date is the start of its day in UTC+8, as stored times compare.
fn normalise(text: &str) -> String {
    match chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) => {
            let start = date.and_hms_opt(0, 0, 0).expect("midnight") - chrono::Duration::hours(8);
            stamp(start.and_utc())
        }
        Err(_) => crate::time::read_stamp(text).map_or_else(|| text.to_string(), stamp),
    }
}

#[derive(sqlx::FromRow)]
struct Totals {
    cases: i64,
    open: i64,
    ended: i64,
    overdue_now: i64,
    statutory_overdue_now: i64,
    ended_on_time: i64,
    statutory_counted: i64,
    statutory_overdue: i64,
    escalations: i64,
    working_days_total: i64,
    working_days_counted: i64,
    supplemented: i64,
    returned: i64,
    one_go: i64,
    materials_not_submitted: i64,
    trips_saved: i64,
    rated: i64,
    good_ratings: i64,
    bad_ratings: i64,
    follow_ups_due: i64,
    follow_ups_resolved: i64,
    follow_ups_unresolved: i64,
}

/// The dashboard for `filter`: four aggregate queries over the figure rows.
pub async fn dashboard(
    database: &Database,
    filter: &DashboardFilter,
) -> Result<Dashboard, StoreError> {
    let (clause, values) = conditions(filter, 1);
    let totals_sql = database.sql(&format!(
        "SELECT COUNT(*) AS cases,
           CAST(COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0) AS bigint) AS open,
           CAST(COALESCE(SUM(CASE WHEN ended_at IS NOT NULL THEN 1 ELSE 0 END), 0) AS bigint) AS ended,
           CAST(COALESCE(SUM(overdue_now), 0) AS bigint) AS overdue_now,
           CAST(COALESCE(SUM(statutory_overdue_now), 0) AS bigint) AS statutory_overdue_now,
           CAST(COALESCE(SUM(CASE WHEN on_time = 1 THEN 1 ELSE 0 END), 0) AS bigint) AS ended_on_time,
           CAST(COALESCE(SUM(CASE WHEN ended_at IS NOT NULL THEN statutory_counted ELSE 0 END), 0) AS bigint) AS statutory_counted,
           CAST(COALESCE(SUM(CASE WHEN ended_at IS NOT NULL THEN statutory_overdue ELSE 0 END), 0) AS bigint) AS statutory_overdue,
           CAST(COALESCE(SUM(escalations), 0) AS bigint) AS escalations,
           CAST(COALESCE(SUM(working_days), 0) AS bigint) AS working_days_total,
           COUNT(working_days) AS working_days_counted,
           CAST(COALESCE(SUM(supplemented), 0) AS bigint) AS supplemented,
           CAST(COALESCE(SUM(returned), 0) AS bigint) AS returned,
           CAST(COALESCE(SUM(one_go), 0) AS bigint) AS one_go,
           CAST(COALESCE(SUM(materials_not_submitted), 0) AS bigint) AS materials_not_submitted,
           CAST(COALESCE(SUM(trips_saved), 0) AS bigint) AS trips_saved,
           COUNT(rating) AS rated,
           CAST(COALESCE(SUM(CASE WHEN rating >= 4 THEN 1 ELSE 0 END), 0) AS bigint) AS good_ratings,
           CAST(COALESCE(SUM(CASE WHEN rating <= 2 THEN 1 ELSE 0 END), 0) AS bigint) AS bad_ratings,
           CAST(COALESCE(SUM(CASE WHEN follow_up = 'due' THEN 1 ELSE 0 END), 0) AS bigint) AS follow_ups_due,
           CAST(COALESCE(SUM(CASE WHEN follow_up = 'resolved' THEN 1 ELSE 0 END), 0) AS bigint) AS follow_ups_resolved,
           CAST(COALESCE(SUM(CASE WHEN follow_up = 'unresolved' THEN 1 ELSE 0 END), 0) AS bigint) AS follow_ups_unresolved
         FROM case_figures f{clause}"
    ));
    let groups_sql = database.sql(&format!(
        "SELECT status, channel, COUNT(*) FROM case_figures f{clause} GROUP BY status, channel"
    ));
    let days_sql = database.sql(&format!(
        "SELECT opened_day, COUNT(*) FROM case_figures f{clause} GROUP BY opened_day"
    ));
    let mut figures = with_pool!(database, pool => {
        let mut totals = sqlx::query_as::<_, Totals>(&totals_sql);
        let mut groups = sqlx::query_as::<_, (String, String, i64)>(&groups_sql);
        let mut days = sqlx::query_as::<_, (String, i64)>(&days_sql);
        for value in &values {
            totals = totals.bind(value);
            groups = groups.bind(value);
            days = days.bind(value);
        }
        let t = totals.fetch_one(pool).await?;
        let mut figures = Dashboard {
            cases: t.cases, open: t.open, ended: t.ended, overdue_now: t.overdue_now,
            statutory_overdue_now: t.statutory_overdue_now, ended_on_time: t.ended_on_time,
            statutory_counted: t.statutory_counted, statutory_overdue: t.statutory_overdue,
            escalations: t.escalations, working_days_total: t.working_days_total,
            working_days_counted: t.working_days_counted, supplemented: t.supplemented,
            returned: t.returned, one_go: t.one_go,
            materials_not_submitted: t.materials_not_submitted, trips_saved: t.trips_saved,
            rated: t.rated, good_ratings: t.good_ratings, bad_ratings: t.bad_ratings,
            follow_ups_due: t.follow_ups_due, follow_ups_resolved: t.follow_ups_resolved,
            follow_ups_unresolved: t.follow_ups_unresolved,
            ..Dashboard::default()
        };
        for (status, channel, count) in groups.fetch_all(pool).await? {
            *figures.by_status.entry(status).or_default() += count;
            *figures.by_channel.entry(channel).or_default() += count;
        }
        figures.opened_per_day = days.fetch_all(pool).await?.into_iter().collect();
        figures
    });
    figures.agencies = agency_figures(database, filter, false).await?;
    Ok(figures)
}

/// Figures per agency over the filtered cases, or per agency and step.
pub async fn agency_figures(
    database: &Database,
    filter: &DashboardFilter,
    per_step: bool,
) -> Result<Vec<AgencyFigures>, StoreError> {
    // The agency filter picks the cases; the rows here are that agency's.
    let (clause, values) = conditions(filter, 1);
    let step = if per_step { "s.step" } else { "''" };
    let agency_only = match &filter.agency {
        Some(_) => format!(" AND s.agency = ${}", values.len() + 1),
        None => String::new(),
    };
    let restriction = match (clause.is_empty(), agency_only.is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!("WHERE {}", &agency_only[5..]),
        (false, _) => format!(
            "WHERE s.case_id IN (SELECT f.case_id FROM case_figures f{clause}){agency_only}"
        ),
    };
    let sql = database.sql(&format!(
        "SELECT s.agency AS agency, {step} AS step, COUNT(*) AS steps,
           CAST(COALESCE(SUM(s.is_open), 0) AS bigint) AS open,
           CAST(COALESCE(SUM(CASE WHEN s.is_open = 1 AND s.warned = 1 AND s.overdue = 0 THEN 1 ELSE 0 END), 0) AS bigint) AS yellow,
           CAST(COALESCE(SUM(CASE WHEN s.is_open = 1 AND s.overdue = 1 THEN 1 ELSE 0 END), 0) AS bigint) AS red,
           CAST(COALESCE(SUM(s.completed), 0) AS bigint) AS completed,
           CAST(COALESCE(SUM(CASE WHEN s.on_time = 1 THEN 1 ELSE 0 END), 0) AS bigint) AS completed_on_time,
           CAST(COALESCE(SUM(s.working_days), 0) AS bigint) AS working_days_total,
           COUNT(s.working_days) AS working_days_counted,
           CAST(COALESCE(SUM(s.passes), 0) AS bigint) AS passes,
           CAST(COALESCE(SUM(s.returns_made), 0) AS bigint) AS returns_made,
           CAST(COALESCE(SUM(CASE WHEN s.completed = 1 AND c.satisfied = 1 THEN 1 ELSE 0 END), 0) AS bigint) AS satisfied,
           CAST(COALESCE(SUM(CASE WHEN s.completed = 1 AND c.satisfied IS NOT NULL THEN 1 ELSE 0 END), 0) AS bigint) AS satisfaction_answers
         FROM step_figures s JOIN case_figures c ON c.case_id = s.case_id
         {restriction}
         GROUP BY s.agency{}
         ORDER BY s.agency{}",
        if per_step { ", s.step" } else { "" },
        if per_step { ", s.step" } else { "" },
    ));
    let rows = with_pool!(database, pool => {
        let mut query = sqlx::query_as::<_, AgencyFigures>(&sql);
        for value in &values {
            query = query.bind(value);
        }
        if let Some(agency) = &filter.agency {
            query = query.bind(agency);
        }
        query.fetch_all(pool).await?
    });
    Ok(rows)
}
