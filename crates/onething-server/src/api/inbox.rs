//! An agency's inbox: its tasks, oldest due first.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use onething_core::case;
use onething_store::views;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::document::ScopedReadErrors;
use super::extract::{Params, PathParams};
use crate::auth::{Client, Permission, Role};
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(inbox))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Task {
    pub case_id: String,
    pub step: String,
    pub agency: String,
    pub workflow: String,
    /// `active`, `paused` (waiting for a supplement), `suspended` (a special
    /// procedure), or
    /// `extension_requested` (this agency decides another's extension).
    pub state: String,
    /// Written as in the case view (`2026-12-01T16:00:00Z`).
    pub due: Option<DateTime<Utc>>,
    pub warned: bool,
    pub overdue: bool,
    pub activated_at: Option<DateTime<Utc>>,
    /// The due time was counted on a provisional calendar year (no official
    /// holiday table yet); it is revised when the table arrives.
    pub provisional: bool,
    /// Which years were provisional.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i32>,
    /// The due time of the step's statutory limit (法定时限), for a step
    /// that has one, and whether it is past.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statutory_due: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub statutory_overdue: bool,
    /// The escalation points (催办, 通报 …) reached in this pass, by id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<String>,
    /// The person of the agency who claimed the task (认领); absent while
    /// nobody has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// The data the step received (`[[step.input]]`), typed, citizen ID
    /// numbers masked as in every list; the case (`GET /api/v1/cases/{id}`)
    /// shows them to those who may read it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<super::wire::Input>,
    /// The agency's part of a dispatched step: `dispatch` (it awaits this
    /// agency's dispatch), `lead` (主办) or `co_handler` (协办, until it
    /// reports); absent for other steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub part: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Inbox {
    pub agency: String,
    pub tasks: Vec<Task>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParameters {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// An agency's inbox: its active and paused tasks, oldest due first.
#[utoipa::path(get, path = "/api/v1/agencies/{agency}/inbox", tag = "agencies", params(("agency" = String, Path), PageParameters), responses((status = 200, body = Inbox), ScopedReadErrors), security(("bearer" = [])))]
pub async fn inbox(
    State(state): State<AppState>,
    client: Client,
    PathParams(agency): PathParams<String>,
    Params(page): Params<PageParameters>,
) -> Result<Json<Inbox>, ApiError> {
    client.require(Permission::ReadInboxes)?;
    if client.role == Role::Agency && client.agency.as_deref() != Some(agency.as_str()) {
        return Err(ApiError::forbidden("an agency reads only its own inbox"));
    }
    if !state
        .store
        .library()
        .current_definitions()
        .iter()
        .any(|d| d.agencies.iter().any(|a| a.id == agency))
        && agency != case::WINDOW_AGENCY
    {
        return Err(ApiError::not_found(format!(
            "no agency `{agency}` takes part in any bundle"
        )));
    }
    let limit = page.limit.unwrap_or(50).clamp(1, 500);
    let offset = page.offset.unwrap_or(0).max(0);
    let tasks = views::agency_tasks(state.store.database(), &agency, limit, offset).await?;
    Ok(Json(Inbox {
        agency,
        tasks: tasks
            .into_iter()
            .map(|task| Task {
                case_id: task.case_id,
                step: task.step,
                agency: task.agency,
                workflow: task.workflow,
                state: task.state,
                due: task.due,
                warned: task.warned,
                overdue: task.overdue,
                activated_at: task.activated_at,
                provisional: !task.provisional_years.is_empty(),
                provisional_years: task.provisional_years,
                statutory_due: task.statutory_due,
                statutory_overdue: task.statutory_overdue,
                escalations: task.escalations,
                claimed_by: task.claimed_by,
                inputs: task.inputs.into_iter().map(Into::into).collect(),
                part: task.part,
            })
            .collect(),
        limit,
        offset,
    }))
}
