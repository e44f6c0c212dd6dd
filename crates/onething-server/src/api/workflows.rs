//! Workflows: the bundles served, one definition, its graph, and reloading
//! the folder (bundles, agencies and calendars together).

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use onething_core::case;
use onething_core::workflow::{render_graph, GraphFormat};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::document::{AuthenticatedErrors, ReloadErrors, WorkflowReadErrors};
use super::extract::{Params, PathParams};
use crate::auth::{Client, Permission};
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workflows))
        .routes(routes!(reload_workflows))
        .routes(routes!(show_workflow))
        .routes(routes!(workflow_graph))
}

/// How a graph is written.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GraphFormatName {
    /// Mermaid `flowchart` text.
    #[default]
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

/// One version of a bundle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowSummary {
    pub id: String,
    pub version: u32,
    pub hash: String,
    pub title_zh: String,
    pub title_en: String,
    /// The first day new cases open on this version.
    pub effective_from: chrono::NaiveDate,
    /// The last day, if the version's period ends.
    pub effective_until: Option<chrono::NaiveDate>,
    /// New cases open on this version today.
    pub in_force: bool,
}

fn workflow_summary(
    definition: &onething_core::workflow::Definition,
    state: &AppState,
) -> WorkflowSummary {
    let today = state
        .store
        .library()
        .calendar(&definition.calendar)
        .map_or_else(
            || state.now().date_naive(),
            |calendar| calendar.local_date(state.now()),
        );
    WorkflowSummary {
        id: definition.id.clone(),
        version: definition.version,
        hash: definition.hash.clone(),
        title_zh: definition.title.zh.clone(),
        title_en: definition.title.en.clone(),
        effective_from: definition.effective_from,
        effective_until: definition.effective_until,
        in_force: case::in_force_on(definition, today),
    }
}

/// What a reload installed and what it revised.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadReport {
    /// Every version of every bundle now served.
    pub workflows: Vec<WorkflowSummary>,
    /// Gaps between bundle versions and other warnings of the files.
    pub warnings: Vec<String>,
    /// What changed in the calendars since deadlines were last counted.
    pub calendar_changes: Vec<String>,
    /// The revision of running deadlines that the calendar changes caused.
    pub revision: Option<RevisionSummary>,
}

/// A revision run: every open case's running steps counted again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevisionSummary {
    pub correlation_id: String,
    /// Open cases looked at.
    pub cases: usize,
    /// Each revised step as `CASE/STEP`.
    pub revised: Vec<String>,
    /// Cases not revised, with the reason (the run is retried).
    pub failed: Vec<String>,
    /// Another server holds the revision lease: it runs there, or here later.
    pub pending: bool,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GraphParameters {
    /// `mermaid` (default) or `dot`.
    #[param(inline)]
    pub format: Option<GraphFormatName>,
    /// A version of the bundle other than the one in force today.
    pub version: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionParameters {
    /// A version of the bundle other than the one in force today.
    pub version: Option<u32>,
}

/// The bundles this server runs.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", responses((status = 200, body = Vec<WorkflowSummary>), AuthenticatedErrors), security(("bearer" = [])))]
pub async fn list_workflows(
    State(state): State<AppState>,
    client: Client,
) -> Result<Json<Vec<WorkflowSummary>>, ApiError> {
    client.require(Permission::ReadWorkflows)?;
    Ok(Json(
        state
            .store
            .library()
            .current_definitions()
            .iter()
            .map(|definition| workflow_summary(definition, &state))
            .collect(),
    ))
}

/// The version of a bundle in force now (or else the newest), or the one asked for.
pub(super) fn chosen_version(
    state: &AppState,
    id: &str,
    version: Option<u32>,
) -> Result<std::sync::Arc<onething_core::workflow::Definition>, ApiError> {
    let library = state.store.library();
    match version {
        None => library.current_at(id, state.now()),
        Some(version) => library
            .versions(id)
            .into_iter()
            .find(|definition| definition.version == version),
    }
    .ok_or_else(|| match version {
        Some(version) => ApiError::not_found(format!("no version {version} of workflow `{id}`")),
        None => ApiError::not_found(format!("no workflow `{id}`")),
    })
}

/// One bundle's definition, as `onething workflow show --json` prints it:
/// the version in force today, or `?version=N`.
#[utoipa::path(get, path = "/api/v1/workflows/{workflow}", tag = "workflows", params(("workflow" = String, Path), VersionParameters), responses((status = 200, description = "The definition, as `onething workflow show --json` prints it", body = Object), WorkflowReadErrors), security(("bearer" = [])))]
pub async fn show_workflow(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
    Params(parameters): Params<VersionParameters>,
) -> Result<Json<Value>, ApiError> {
    client.require(Permission::ReadWorkflows)?;
    let definition = chosen_version(&state, &id, parameters.version)?;
    Ok(Json(
        serde_json::to_value(&*definition).expect("serialises"),
    ))
}

/// A bundle's step graph as Mermaid or Graphviz DOT.
#[utoipa::path(get, path = "/api/v1/workflows/{workflow}/graph", tag = "workflows", params(("workflow" = String, Path), GraphParameters), responses((status = 200, description = "The graph", body = String, content_type = "text/plain"), WorkflowReadErrors), security(("bearer" = [])))]
pub async fn workflow_graph(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
    Params(parameters): Params<GraphParameters>,
) -> Result<Response, ApiError> {
    client.require(Permission::ReadWorkflows)?;
    let definition = chosen_version(&state, &id, parameters.version)?;
    let format = match parameters.format.unwrap_or_default() {
        GraphFormatName::Mermaid => GraphFormat::Mermaid,
        GraphFormatName::Dot => GraphFormat::Dot,
    };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        render_graph(&definition, format),
    )
        .into_response())
}

/// Reload the workflows folder (admin): bundles, agencies and calendars
/// together, or nothing. New versions apply to new cases only; a calendar
/// change revises the due times of running steps (`deadline_revised`).
#[utoipa::path(post, path = "/api/v1/workflows/reload", tag = "workflows", responses((status = 200, body = ReloadReport), ReloadErrors), security(("bearer" = [])))]
pub async fn reload_workflows(
    State(state): State<AppState>,
    client: Client,
) -> Result<Json<ReloadReport>, ApiError> {
    client.require(Permission::ReloadWorkflows)?;
    let catalog = onething_store::workflow_files::Catalog::load(&state.workflows_folder).map_err(
        |problems| {
            ApiError::new(
                StatusCode::CONFLICT,
                "invalid_workflows",
                "the workflows folder has problems; nothing was reloaded",
            )
            .with_reasons(problems.iter().map(ToString::to_string).collect())
        },
    )?;
    let calendar_changes = state.store.install_catalog(&catalog).await?;
    let revision = if calendar_changes.is_empty() {
        None
    } else {
        Some(crate::background::revise_deadlines(&state, calendar_changes.clone()).await?)
    };
    Ok(Json(ReloadReport {
        workflows: list_workflows(State(state), client).await?.0,
        warnings: catalog.warnings.iter().map(ToString::to_string).collect(),
        calendar_changes,
        revision,
    }))
}
