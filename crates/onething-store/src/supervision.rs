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
                statutory_due, statutory_overdue, escalations, claimed_by, inputs, part
         FROM agency_tasks
         WHERE (warned <> 0 OR overdue <> 0) AND state <> 'extension_requested'
           AND (part IS NULL OR part <> 'co_handler')
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

/// A supervision notice waiting for an agency's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingNotice {
    pub case_id: String,
    pub step: String,
    pub answer_by: chrono::DateTime<chrono::Utc>,
}

/// The supervision notices waiting for this agency's answer, on the cases
/// in its task list. Few cases carry a notice: the summaries that mention
/// one are read, not every summary.
pub async fn pending_notices(
    database: &Database,
    agency: &str,
) -> Result<Vec<PendingNotice>, StoreError> {
    let sql = database.sql(
        "SELECT DISTINCT s.case_id, s.summary FROM case_summaries s
         JOIN agency_tasks t ON t.case_id = s.case_id
         WHERE t.agency = $1 AND s.summary LIKE '%\"supervision\":[%'",
    );
    let rows: Vec<(String, String)> = with_pool!(database, pool => {
        sqlx::query_as(&sql).bind(agency).fetch_all(pool).await?
    });
    let mut pending = Vec::new();
    for (case_id, summary) in rows {
        let view: onething_core::case::CaseView =
            serde_json::from_str(&summary).map_err(|e| StoreError::Decode(e.to_string()))?;
        for notice in view.supervision.iter().filter(|n| n.answer.is_none()) {
            let owned = view
                .steps
                .iter()
                .any(|s| s.id == notice.step && s.agency == agency);
            if owned {
                pending.push(PendingNotice {
                    case_id: case_id.clone(),
                    step: notice.step.clone(),
                    answer_by: notice.answer_by,
                });
            }
        }
    }
    Ok(pending)
}
