//! Rebuilding the read models from the events (`onething views rebuild`),
//! and checking them against the events without changing anything
//! (`--check`): every difference between the live rows and the rebuilt
//! ones, in words.

use crate::database::Database;
use crate::error::StoreError;
use crate::figures::insert_figures;
use crate::views::{insert_tasks, rows_for, write, ReadModels, SummaryRow, TaskRow};
use crate::with_pool;

/// What a rebuild did or, with `check`, found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RebuildReport {
    pub cases: u64,
    /// Each difference between the live read models and the events, in words.
    pub differences: Vec<String>,
}

async fn live_summary(
    database: &Database,
    case_id: &str,
) -> Result<Option<SummaryRow>, StoreError> {
    let sql = database.sql(
        "SELECT case_id, workflow, status, opened_at, ended_at, sequence, overdue, applicant, summary
         FROM case_summaries WHERE case_id = $1",
    );
    let row: Option<SummaryRow> = with_pool!(database, pool => sqlx::query_as(&sql).bind(case_id).fetch_optional(pool).await?);
    Ok(row)
}

async fn live_tasks(database: &Database, case_id: &str) -> Result<Vec<TaskRow>, StoreError> {
    let sql = database.sql(
        "SELECT case_id, step, agency, workflow, state, due, warned, overdue, activated_at, provisional_years,
                statutory_due, statutory_overdue, escalations, claimed_by, inputs, part
         FROM agency_tasks WHERE case_id = $1 ORDER BY step, agency",
    );
    let mut rows: Vec<TaskRow> =
        with_pool!(database, pool => sqlx::query_as(&sql).bind(case_id).fetch_all(pool).await?);
    // Byte order, as the rebuilt rows are sorted: the database's collation
    // may order text differently.
    rows.sort_by(|a, b| (&a.step, &a.agency).cmp(&(&b.step, &b.agency)));
    Ok(rows)
}

async fn live_figures(
    database: &Database,
    case_id: &str,
) -> Result<Option<crate::figures::FigureRows>, StoreError> {
    let case_sql = database.sql("SELECT * FROM case_figures WHERE case_id = $1");
    let steps_sql = database.sql("SELECT * FROM step_figures WHERE case_id = $1");
    let (case, mut steps): (
        Option<crate::figures::CaseFigureRow>,
        Vec<crate::figures::StepFigureRow>,
    ) = with_pool!(database, pool => (
        sqlx::query_as(&case_sql).bind(case_id).fetch_optional(pool).await?,
        sqlx::query_as(&steps_sql).bind(case_id).fetch_all(pool).await?,
    ));
    steps.sort_by(|a, b| a.step.cmp(&b.step));
    Ok(case.map(|case| crate::figures::FigureRows { case, steps }))
}

fn compare_summary(expected: &SummaryRow, live: &SummaryRow) -> Vec<String> {
    let mut differences = Vec::new();
    let mut field = |name: &str, wanted: String, found: String| {
        if wanted != found {
            differences.push(format!(
                "case {}: summary {name} is {found}, the events say {wanted}",
                expected.case_id
            ));
        }
    };
    field("workflow", expected.workflow.clone(), live.workflow.clone());
    field("status", expected.status.clone(), live.status.clone());
    field(
        "opened_at",
        expected.opened_at.clone(),
        live.opened_at.clone(),
    );
    field(
        "ended_at",
        format!("{:?}", expected.ended_at),
        format!("{:?}", live.ended_at),
    );
    field(
        "sequence",
        expected.sequence.to_string(),
        live.sequence.to_string(),
    );
    field(
        "overdue",
        expected.overdue.to_string(),
        live.overdue.to_string(),
    );
    field(
        "applicant",
        format!("{:?}", expected.applicant),
        format!("{:?}", live.applicant),
    );
    if expected.summary != live.summary {
        differences.push(format!(
            "case {}: the summary document differs from the events",
            expected.case_id
        ));
    }
    differences
}

/// Cases whose rebuilt rows go into the scratch tables at a time.
const CHECK_BATCH: usize = 500;

/// Writes the rebuilt rows of some cases into scratch tables, compares them
/// with the live tables in the database, and describes each case that
/// differs. The scratch tables live in a transaction that is rolled back.
async fn check_batch(database: &Database, batch: &[ReadModels]) -> Result<Vec<String>, StoreError> {
    let differing: std::collections::BTreeSet<String> = with_pool!(database, pool => {
        let mut transaction = pool.begin().await?;
        for statement in [
            "CREATE TEMPORARY TABLE scratch_case_summaries AS SELECT * FROM case_summaries WHERE 1 = 0",
            "CREATE TEMPORARY TABLE scratch_agency_tasks AS SELECT * FROM agency_tasks WHERE 1 = 0",
            "CREATE TEMPORARY TABLE scratch_case_figures AS SELECT * FROM case_figures WHERE 1 = 0",
            "CREATE TEMPORARY TABLE scratch_step_figures AS SELECT * FROM step_figures WHERE 1 = 0",
        ] {
            sqlx::query(statement).execute(&mut *transaction).await?;
        }
        let mut summaries = sqlx::QueryBuilder::new(
            "INSERT INTO scratch_case_summaries (case_id, workflow, status, opened_at, ended_at, sequence, overdue, applicant, summary) ",
        );
        summaries.push_values(batch, |mut values, rows| {
            let summary = &rows.summary;
            values
                .push_bind(&summary.case_id)
                .push_bind(&summary.workflow)
                .push_bind(&summary.status)
                .push_bind(&summary.opened_at)
                .push_bind(&summary.ended_at)
                .push_bind(summary.sequence)
                .push_bind(summary.overdue)
                .push_bind(&summary.applicant)
                .push_bind(&summary.summary);
        });
        summaries.build().execute(&mut *transaction).await?;
        // Bound variables per statement are limited (SQLite: 32 766).
        let tasks: Vec<&TaskRow> = batch.iter().flat_map(|rows| &rows.tasks).collect();
        for chunk in tasks.chunks(1000) {
            insert_tasks!("scratch_agency_tasks", chunk)
                .build()
                .execute(&mut *transaction)
                .await?;
        }
        let cases: Vec<_> = batch.iter().map(|rows| &rows.figures.case).collect();
        for chunk in cases.chunks(1000) {
            insert_figures!(cases "scratch_case_figures", chunk.iter().copied())
                .build()
                .execute(&mut *transaction)
                .await?;
        }
        let steps: Vec<_> = batch.iter().flat_map(|rows| &rows.figures.steps).collect();
        for chunk in steps.chunks(1000) {
            insert_figures!(steps "scratch_step_figures", chunk.iter().copied())
                .build()
                .execute(&mut *transaction)
                .await?;
        }
        // Rows on one side and not on the other, in both directions, limited
        // to the cases of this batch.
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT case_id FROM (SELECT * FROM scratch_case_summaries
                 EXCEPT SELECT * FROM case_summaries WHERE case_id IN (SELECT case_id FROM scratch_case_summaries)) AS rebuilt_only
             UNION SELECT case_id FROM (SELECT * FROM case_summaries WHERE case_id IN (SELECT case_id FROM scratch_case_summaries)
                 EXCEPT SELECT * FROM scratch_case_summaries) AS live_only
             UNION SELECT case_id FROM (SELECT * FROM scratch_agency_tasks
                 EXCEPT SELECT * FROM agency_tasks WHERE case_id IN (SELECT case_id FROM scratch_case_summaries)) AS rebuilt_tasks_only
             UNION SELECT case_id FROM (SELECT * FROM agency_tasks WHERE case_id IN (SELECT case_id FROM scratch_case_summaries)
                 EXCEPT SELECT * FROM scratch_agency_tasks) AS live_tasks_only
             UNION SELECT case_id FROM (SELECT * FROM scratch_case_figures
                 EXCEPT SELECT * FROM case_figures WHERE case_id IN (SELECT case_id FROM scratch_case_summaries)) AS rebuilt_figures_only
             UNION SELECT case_id FROM (SELECT * FROM case_figures WHERE case_id IN (SELECT case_id FROM scratch_case_summaries)
                 EXCEPT SELECT * FROM scratch_case_figures) AS live_figures_only
             UNION SELECT case_id FROM (SELECT * FROM scratch_step_figures
                 EXCEPT SELECT * FROM step_figures WHERE case_id IN (SELECT case_id FROM scratch_case_summaries)) AS rebuilt_step_figures_only
             UNION SELECT case_id FROM (SELECT * FROM step_figures WHERE case_id IN (SELECT case_id FROM scratch_case_summaries)
                 EXCEPT SELECT * FROM scratch_step_figures) AS live_step_figures_only",
        )
        .fetch_all(&mut *transaction)
        .await?;
        transaction.rollback().await?;
        rows.into_iter().map(|(case_id,)| case_id).collect()
    });
    let mut differences = Vec::new();
    for ReadModels {
        summary,
        tasks,
        figures,
    } in batch
    {
        if !differing.contains(&summary.case_id) {
            continue;
        }
        let case_id = &summary.case_id;
        match live_summary(database, case_id).await? {
            None => differences.push(format!("case {case_id}: no summary row")),
            Some(live) => differences.extend(compare_summary(summary, &live)),
        }
        let mut tasks = tasks.clone();
        tasks.sort_by(|a, b| (&a.step, &a.agency).cmp(&(&b.step, &b.agency)));
        let live = live_tasks(database, case_id).await?;
        if live != tasks {
            let names = |rows: &[TaskRow]| {
                rows.iter()
                    .map(|t| format!("{}@{}({})", t.step, t.agency, t.state))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            differences.push(format!(
                "case {case_id}: tasks are [{}], the events say [{}]",
                names(&live),
                names(&tasks)
            ));
        }
        let live = live_figures(database, case_id).await?;
        if live.as_ref() != Some(figures) {
            differences.push(format!(
                "case {case_id}: the dashboard's figures differ from the events"
            ));
        }
    }
    Ok(differences)
}

/// Rebuilds every read model from the events; with `check`, changes nothing
/// and reports every difference between the live rows and the rebuilt ones.
pub async fn rebuild(
    store: &crate::CaseStore,
    check: bool,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<RebuildReport, StoreError> {
    let database = store.database();
    let mut report = RebuildReport::default();
    let mut case_ids = store.case_ids().await?;
    case_ids.sort();
    if !check {
        with_pool!(database, pool => {
            let mut transaction = pool.begin().await?;
            sqlx::query("DELETE FROM agency_tasks").execute(&mut *transaction).await?;
            sqlx::query("DELETE FROM case_figures").execute(&mut *transaction).await?;
            sqlx::query("DELETE FROM step_figures").execute(&mut *transaction).await?;
            for table in ["figure_rollup_cases", "figure_rollup_steps", "figure_days_dirty"] {
                sqlx::query(&format!("DELETE FROM {table}")).execute(&mut *transaction).await?;
            }
            sqlx::query("DELETE FROM case_summaries").execute(&mut *transaction).await?;
            transaction.commit().await?;
        });
    }
    let mut batch: Vec<ReadModels> = Vec::new();
    for case_id in &case_ids {
        let case = store.load(case_id).await?;
        report.cases += 1;
        if report.cases.is_multiple_of(1000) {
            progress(report.cases);
        }
        let Some(rows) = rows_for(&case, store.library())? else {
            continue;
        };
        if !check {
            write(database, &rows).await?;
            continue;
        }
        batch.push(rows);
        if batch.len() == CHECK_BATCH {
            report
                .differences
                .extend(check_batch(database, &batch).await?);
            batch.clear();
        }
    }
    if !batch.is_empty() {
        report
            .differences
            .extend(check_batch(database, &batch).await?);
    }
    if check {
        let sql = "SELECT case_id FROM case_summaries ORDER BY case_id";
        let rows: Vec<(String,)> =
            with_pool!(database, pool => sqlx::query_as(sql).fetch_all(pool).await?);
        for (case_id,) in rows {
            if case_ids.binary_search(&case_id).is_err() {
                report
                    .differences
                    .push(format!("case {case_id}: a summary row with no events"));
            }
        }
    }
    progress(report.cases);
    Ok(report)
}
