//! What electronic supervision (电子监察) watches: every late step now, as
//! the agencies' task lists keep it — a yellow card (黄牌) for a step past
//! its warning point, a red card (红牌) for one past its time limit.

use crate::database::Database;
use crate::error::StoreError;
use crate::views::{AgencyTask, TaskRow};
use crate::with_pool;

/// The cards of one agency now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgencyCards {
    pub agency: String,
    pub yellow: i64,
    pub red: i64,
}

/// Every step warned or overdue now, the most overdue first (red before
/// yellow, then the earliest due), at most `limit`. An extension waiting in
/// an approver's list is the same step as the owner's task: listed once.
pub async fn late_tasks(database: &Database, limit: i64) -> Result<Vec<AgencyTask>, StoreError> {
    let sql = database.sql(
        "SELECT case_id, step, agency, workflow, state, due, warned, overdue, activated_at, provisional_years,
                statutory_due, statutory_overdue, escalations
         FROM agency_tasks
         WHERE (warned <> 0 OR overdue <> 0) AND state <> 'extension_requested'
         ORDER BY overdue DESC, due, case_id, step
         LIMIT $1",
    );
    let rows: Vec<TaskRow> = with_pool!(database, pool => {
        sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?
    });
    Ok(rows.into_iter().map(AgencyTask::from).collect())
}

/// Yellow and red cards per agency now, the most red first.
pub async fn cards_by_agency(database: &Database) -> Result<Vec<AgencyCards>, StoreError> {
    let sql = "SELECT agency,
                      SUM(CASE WHEN overdue = 0 THEN 1 ELSE 0 END) AS yellow,
                      SUM(CASE WHEN overdue <> 0 THEN 1 ELSE 0 END) AS red
               FROM agency_tasks
               WHERE (warned <> 0 OR overdue <> 0) AND state <> 'extension_requested'
               GROUP BY agency
               ORDER BY red DESC, yellow DESC, agency";
    let rows: Vec<(String, i64, i64)> = with_pool!(database, pool => {
        sqlx::query_as(sql).fetch_all(pool).await?
    });
    Ok(rows
        .into_iter()
        .map(|(agency, yellow, red)| AgencyCards {
            agency,
            yellow,
            red,
        })
        .collect())
}
