//! The dashboard's figures, read from day rollups: per bundle, opening day
//! and agency, the sums of the figure rows (`figure_rollup_cases`,
//! `figure_rollup_steps`). A command that changes a case's figures marks
//! its bundle and opening day dirty in the same transaction
//! (`figure_days_dirty`); a dashboard read first sums the dirty days again,
//! then adds up rollups, so it is exact and costs the days that changed,
//! not the number of cases.
//!
//! Why the dirty list is safe with concurrent writers: a refresh deletes the
//! day's dirty row before it reads the figures, in its transaction. A
//! command committing after that read inserts the row again (on PostgreSQL
//! its insert waits for the refresh's delete to commit), so the day is
//! refreshed again by the next read.

use std::collections::BTreeMap;

use serde::Serialize;

use onething_core::case::CompletedTotals;

use crate::database::Database;
use crate::error::StoreError;
use crate::with_pool;

/// The cases a dashboard counts: a bundle or all, an agency taking part or
/// any, opened on days in a period (inclusive, `YYYY-MM-DD`, China's days).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DashboardFilter {
    pub workflow: Option<String>,
    pub agency: Option<String>,
    pub first_day: Option<String>,
    pub last_day: Option<String>,
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
    /// Materials replaced by a commitment (告知承诺), and waived.
    pub materials_by_commitment: i64,
    pub materials_waived: i64,
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
    /// Per bundle: what its completed cases used, for the comparison with
    /// its before-reform baseline.
    pub completed_by_workflow: BTreeMap<String, CompletedTotals>,
}

impl Dashboard {
    pub fn share(part: i64, whole: i64) -> Option<f64> {
        (whole > 0).then(|| part as f64 / whole as f64)
    }
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

/// The case sums of a rollup row, each as `(column, expression over case_figures f)`.
const CASE_SUMS: &[(&str, &str)] = &[
    ("cases", "1"),
    ("open", "CASE WHEN f.status = 'open' THEN 1 ELSE 0 END"),
    (
        "ended",
        "CASE WHEN f.ended_at IS NOT NULL THEN 1 ELSE 0 END",
    ),
    ("overdue_now", "f.overdue_now"),
    ("statutory_overdue_now", "f.statutory_overdue_now"),
    ("ended_on_time", "CASE WHEN f.on_time = 1 THEN 1 ELSE 0 END"),
    (
        "statutory_counted",
        "CASE WHEN f.ended_at IS NOT NULL THEN f.statutory_counted ELSE 0 END",
    ),
    (
        "statutory_overdue",
        "CASE WHEN f.ended_at IS NOT NULL THEN f.statutory_overdue ELSE 0 END",
    ),
    ("escalations", "f.escalations"),
    ("working_days_total", "COALESCE(f.working_days, 0)"),
    (
        "working_days_counted",
        "CASE WHEN f.working_days IS NOT NULL THEN 1 ELSE 0 END",
    ),
    ("supplemented", "f.supplemented"),
    ("returned", "f.returned"),
    ("one_go", "f.one_go"),
    ("materials_not_submitted", "f.materials_not_submitted"),
    ("materials_by_commitment", "f.materials_by_commitment"),
    ("materials_waived", "f.materials_waived"),
    ("trips_saved", "f.trips_saved"),
    ("trips_made", "f.trips_made"),
    ("materials_submitted", "f.materials_submitted"),
    ("rated", "CASE WHEN f.rating IS NOT NULL THEN 1 ELSE 0 END"),
    ("good_ratings", "CASE WHEN f.rating >= 4 THEN 1 ELSE 0 END"),
    ("bad_ratings", "CASE WHEN f.rating <= 2 THEN 1 ELSE 0 END"),
    (
        "follow_ups_due",
        "CASE WHEN f.follow_up = 'due' THEN 1 ELSE 0 END",
    ),
    (
        "follow_ups_resolved",
        "CASE WHEN f.follow_up = 'resolved' THEN 1 ELSE 0 END",
    ),
    (
        "follow_ups_unresolved",
        "CASE WHEN f.follow_up = 'unresolved' THEN 1 ELSE 0 END",
    ),
];

/// The step sums, each as `(column, expression over step_figures s and case_figures f)`.
const STEP_SUMS: &[(&str, &str)] = &[
    ("steps", "1"),
    ("open", "s.is_open"),
    (
        "yellow",
        "CASE WHEN s.is_open = 1 AND s.warned = 1 AND s.overdue = 0 THEN 1 ELSE 0 END",
    ),
    (
        "red",
        "CASE WHEN s.is_open = 1 AND s.overdue = 1 THEN 1 ELSE 0 END",
    ),
    ("completed", "s.completed"),
    (
        "completed_on_time",
        "CASE WHEN s.on_time = 1 THEN 1 ELSE 0 END",
    ),
    ("working_days_total", "COALESCE(s.working_days, 0)"),
    (
        "working_days_counted",
        "CASE WHEN s.working_days IS NOT NULL THEN 1 ELSE 0 END",
    ),
    ("passes", "s.passes"),
    ("returns_made", "s.returns_made"),
    (
        "satisfied",
        "CASE WHEN s.completed = 1 AND f.satisfied = 1 THEN 1 ELSE 0 END",
    ),
    (
        "satisfaction_answers",
        "CASE WHEN s.completed = 1 AND f.satisfied IS NOT NULL THEN 1 ELSE 0 END",
    ),
];

fn sums(columns: &[(&str, &str)]) -> String {
    columns
        .iter()
        .map(|(_, expression)| format!("SUM({expression})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn names(columns: &[(&str, &str)]) -> String {
    columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sums the dirty days again; returns how many.
pub async fn refresh(database: &Database) -> Result<usize, StoreError> {
    let dirty: Vec<(String, String)> = with_pool!(database, pool => {
        sqlx::query_as("SELECT workflow, opened_day FROM figure_days_dirty")
            .fetch_all(pool)
            .await?
    });
    let delete_dirty =
        database.sql("DELETE FROM figure_days_dirty WHERE workflow = $1 AND opened_day = $2");
    let delete_cases =
        database.sql("DELETE FROM figure_rollup_cases WHERE workflow = $1 AND opened_day = $2");
    let delete_steps =
        database.sql("DELETE FROM figure_rollup_steps WHERE workflow = $1 AND opened_day = $2");
    // Every case once under '' and once under each agency that had a step run in it.
    let insert_cases = database.sql(&format!(
        "INSERT INTO figure_rollup_cases (workflow, opened_day, agency, status, channel, {})
         SELECT f.workflow, f.opened_day, a.agency, f.status, f.channel, {}
         FROM case_figures f JOIN (
             SELECT DISTINCT case_id, agency FROM step_figures WHERE workflow = $1 AND opened_day = $2
             UNION ALL SELECT case_id, '' FROM case_figures WHERE workflow = $1 AND opened_day = $2
         ) a ON a.case_id = f.case_id
         WHERE f.workflow = $1 AND f.opened_day = $2
         GROUP BY f.workflow, f.opened_day, a.agency, f.status, f.channel",
        names(CASE_SUMS),
        sums(CASE_SUMS)
    ));
    let insert_steps = database.sql(&format!(
        "INSERT INTO figure_rollup_steps (workflow, opened_day, agency, step, {})
         SELECT s.workflow, s.opened_day, s.agency, s.step, {}
         FROM step_figures s JOIN case_figures f ON f.case_id = s.case_id
         WHERE s.workflow = $1 AND s.opened_day = $2 AND f.workflow = $1 AND f.opened_day = $2
         GROUP BY s.workflow, s.opened_day, s.agency, s.step",
        names(STEP_SUMS),
        sums(STEP_SUMS)
    ));
    if dirty.is_empty() {
        return Ok(0);
    }
    // One transaction for every dirty day: one commit, however many days.
    let mut refreshed = 0;
    with_pool!(database, pool => {
        let mut transaction = pool.begin().await?;
        for (workflow, day) in &dirty {
            let taken = sqlx::query(&delete_dirty)
                .bind(workflow)
                .bind(day)
                .execute(&mut *transaction)
                .await?
                .rows_affected();
            // Another reader took this day: its sums are there once it commits.
            if taken == 0 {
                continue;
            }
            for statement in [&delete_cases, &delete_steps, &insert_cases, &insert_steps] {
                sqlx::query(statement)
                    .bind(workflow)
                    .bind(day)
                    .execute(&mut *transaction)
                    .await?;
            }
            refreshed += 1;
        }
        transaction.commit().await?;
    });
    Ok(refreshed)
}

/// `WHERE` clauses and their values for a filter over a rollup table.
fn conditions(filter: &DashboardFilter, agency_column: bool) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    let mut push = |clause: &str, value: &str| {
        values.push(value.to_string());
        clauses.push(clause.replace('#', &format!("${}", values.len())));
    };
    if let Some(workflow) = &filter.workflow {
        push("workflow = #", workflow);
    }
    if let Some(day) = &filter.first_day {
        push("opened_day >= #", day);
    }
    if let Some(day) = &filter.last_day {
        push("opened_day <= #", day);
    }
    match (&filter.agency, agency_column) {
        (Some(agency), _) => push("agency = #", agency),
        // The case rollup counts every case once under ''.
        (None, true) => clauses.push("agency = ''".to_string()),
        (None, false) => {}
    }
    let text = if clauses.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", clauses.join(" AND "))
    };
    (text, values)
}

fn summed(columns: &[(&str, &str)]) -> String {
    columns
        .iter()
        .map(|(name, _)| format!("CAST(COALESCE(SUM({name}), 0) AS bigint) AS {name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(sqlx::FromRow)]
struct Group {
    status: String,
    channel: String,
    opened_day: String,
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
    materials_by_commitment: i64,
    materials_waived: i64,
    trips_saved: i64,
    rated: i64,
    good_ratings: i64,
    bad_ratings: i64,
    follow_ups_due: i64,
    follow_ups_resolved: i64,
    follow_ups_unresolved: i64,
}

/// The dashboard for `filter`: the dirty days summed again, then two reads
/// of the rollups.
pub async fn dashboard(
    database: &Database,
    filter: &DashboardFilter,
) -> Result<Dashboard, StoreError> {
    refresh(database).await?;
    let (clause, values) = conditions(filter, true);
    let sql = database.sql(&format!(
        "SELECT status, channel, opened_day, {} FROM figure_rollup_cases{clause}
         GROUP BY status, channel, opened_day",
        summed(CASE_SUMS)
    ));
    let groups: Vec<Group> = with_pool!(database, pool => {
        let mut query = sqlx::query_as::<_, Group>(&sql);
        for value in &values {
            query = query.bind(value);
        }
        query.fetch_all(pool).await?
    });
    let mut figures = Dashboard::default();
    for g in groups {
        *figures.by_status.entry(g.status).or_default() += g.cases;
        *figures.by_channel.entry(g.channel).or_default() += g.cases;
        *figures.opened_per_day.entry(g.opened_day).or_default() += g.cases;
        let f = &mut figures;
        f.cases += g.cases;
        f.open += g.open;
        f.ended += g.ended;
        f.overdue_now += g.overdue_now;
        f.statutory_overdue_now += g.statutory_overdue_now;
        f.ended_on_time += g.ended_on_time;
        f.statutory_counted += g.statutory_counted;
        f.statutory_overdue += g.statutory_overdue;
        f.escalations += g.escalations;
        f.working_days_total += g.working_days_total;
        f.working_days_counted += g.working_days_counted;
        f.supplemented += g.supplemented;
        f.returned += g.returned;
        f.one_go += g.one_go;
        f.materials_not_submitted += g.materials_not_submitted;
        f.materials_by_commitment += g.materials_by_commitment;
        f.materials_waived += g.materials_waived;
        f.trips_saved += g.trips_saved;
        f.rated += g.rated;
        f.good_ratings += g.good_ratings;
        f.bad_ratings += g.bad_ratings;
        f.follow_ups_due += g.follow_ups_due;
        f.follow_ups_resolved += g.follow_ups_resolved;
        f.follow_ups_unresolved += g.follow_ups_unresolved;
    }
    figures.agencies = sum_agencies(database, filter, false).await?;
    figures.completed_by_workflow = completed_by_workflow(database, filter).await?;
    Ok(figures)
}

async fn completed_by_workflow(
    database: &Database,
    filter: &DashboardFilter,
) -> Result<BTreeMap<String, CompletedTotals>, StoreError> {
    let (clause, values) = conditions(filter, true);
    let completed = if clause.is_empty() { " WHERE" } else { " AND" };
    let sql = database.sql(&format!(
        "SELECT workflow, {} FROM figure_rollup_cases{clause}{completed} status = 'completed'
         GROUP BY workflow",
        summed(&[
            ("cases", ""),
            ("materials_submitted", ""),
            ("trips_made", ""),
            ("working_days_total", ""),
            ("working_days_counted", ""),
        ])
    ));
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = with_pool!(database, pool => {
        let mut query = sqlx::query_as(&sql);
        for value in &values {
            query = query.bind(value);
        }
        query.fetch_all(pool).await?
    });
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    Ok(rows
        .into_iter()
        .map(|(workflow, cases, materials, trips, days, counted)| {
            let totals = CompletedTotals {
                cases: count(cases),
                materials_submitted: count(materials),
                trips_made: count(trips),
                working_days_total: count(days),
                working_days_counted: count(counted),
            };
            (workflow, totals)
        })
        .collect())
}

/// Figures per agency over the filtered cases, or per agency and step.
pub async fn agency_figures(
    database: &Database,
    filter: &DashboardFilter,
    per_step: bool,
) -> Result<Vec<AgencyFigures>, StoreError> {
    refresh(database).await?;
    sum_agencies(database, filter, per_step).await
}

async fn sum_agencies(
    database: &Database,
    filter: &DashboardFilter,
    per_step: bool,
) -> Result<Vec<AgencyFigures>, StoreError> {
    let (clause, values) = conditions(filter, false);
    let (step, group) = if per_step {
        ("step", "agency, step")
    } else {
        ("''", "agency")
    };
    let sql = database.sql(&format!(
        "SELECT agency, {step} AS step, {} FROM figure_rollup_steps{clause} GROUP BY {group} ORDER BY {group}",
        summed(STEP_SUMS)
    ));
    let rows = with_pool!(database, pool => {
        let mut query = sqlx::query_as::<_, AgencyFigures>(&sql);
        for value in &values {
            query = query.bind(value);
        }
        query.fetch_all(pool).await?
    });
    Ok(rows)
}
