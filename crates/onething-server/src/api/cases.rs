//! Cases: the list and search, one case now or after any event, its
//! history in words, and a bundle's dashboard figures.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::DateTime;
use onething_core::case::{self, describe};
use onething_store::views::{self, CaseFilter};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::{
    case_resource, disclosed_payload, disclosure_for, load_case, may_read, record_reads,
};
use super::document::{CaseReadErrors, ListErrors, ScopedReadErrors};
use super::extract::{Params, PathParams};
use super::wire::{CaseResource, CaseStatus};
use super::workflows::chosen_version;
use crate::auth::{Client, Permission, Role};
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(super::commands::open_case, list_cases))
        .routes(routes!(get_case))
        .routes(routes!(get_case_at))
        .routes(routes!(history))
        .routes(routes!(statistics))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseList {
    /// Case summaries; citizen ID numbers are masked.
    pub cases: Vec<CaseResource>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub sequence: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub recorded_at: String,
    pub actor: String,
    pub role: String,
    pub channel: String,
    pub command_id: String,
    pub words_zh: String,
    pub words_en: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    pub hash: String,
    pub prev_hash: String,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParameters {
    pub status: Option<CaseStatus>,
    /// The bundle (workflow id); `bundle` is accepted too.
    #[serde(alias = "bundle")]
    pub workflow: Option<String>,
    /// Cases in which this agency has a step waiting now.
    pub agency: Option<String>,
    /// With `agency`: every case of the bundles it takes part in, whether or
    /// not a step waits on it now.
    pub involved: Option<bool>,
    /// Only cases with an overdue step.
    pub overdue: Option<bool>,
    /// Opened at or after (RFC 3339 or YYYY-MM-DD).
    pub opened_from: Option<String>,
    /// Opened before (RFC 3339 or YYYY-MM-DD).
    pub opened_to: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsParameters {
    /// The bundle (required: limits and calendars are per bundle).
    pub workflow: String,
    /// Opened at or after (RFC 3339 or YYYY-MM-DD).
    pub opened_from: Option<String>,
    /// Opened before (RFC 3339 or YYYY-MM-DD).
    pub opened_to: Option<String>,
}

/// The `opened_from` / `opened_to` filters must be dates or RFC 3339 times.
fn check_opened_range(from: &Option<String>, to: &Option<String>, problems: &mut Vec<String>) {
    for (name, value) in [("opened_from", from), ("opened_to", to)] {
        if let Some(value) = value {
            let readable = DateTime::parse_from_rfc3339(value).is_ok()
                || chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok();
            if !readable {
                problems.push(format!(
                    "{name} `{value}` is not a date (YYYY-MM-DD) or an RFC 3339 time"
                ));
            }
        }
    }
}

/// List and search cases (summaries, ID numbers masked), oldest first.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListParameters), responses((status = 200, body = CaseList), ListErrors), security(("bearer" = [])))]
pub async fn list_cases(
    State(state): State<AppState>,
    client: Client,
    Params(parameters): Params<ListParameters>,
) -> Result<Json<CaseList>, ApiError> {
    client.require(Permission::ListCases)?;
    let agency = match client.role {
        Role::Agency => {
            let own = client.agency.clone();
            if parameters.agency.is_some() && parameters.agency != own {
                return Err(ApiError::forbidden("an agency lists only its own cases"));
            }
            own
        }
        _ => parameters.agency.clone(),
    };
    let mut problems = Vec::new();
    check_opened_range(
        &parameters.opened_from,
        &parameters.opened_to,
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(ApiError::invalid("the filters are not valid", problems));
    }
    let limit = parameters.limit.unwrap_or(50).clamp(1, 500);
    let offset = parameters.offset.unwrap_or(0).max(0);
    let filter = CaseFilter {
        status: parameters.status.map(|status| status.name().to_string()),
        workflow: parameters.workflow.clone(),
        agency,
        workflows: None,
        overdue_only: parameters.overdue.unwrap_or(false),
        opened_from: parameters.opened_from.clone(),
        opened_to: parameters.opened_to.clone(),
        limit: Some(limit),
        offset,
        ..CaseFilter::default()
    };
    let filter = if parameters.involved.unwrap_or(false) {
        filter.involving(state.store.library())
    } else {
        filter
    };
    let cases = views::list_cases(state.store.database(), &filter).await?;
    Ok(Json(CaseList {
        cases: cases.into_iter().map(CaseResource::from).collect(),
        limit,
        offset,
    }))
}

/// A case as it is now.
#[utoipa::path(get, path = "/api/v1/cases/{case}", tag = "cases", params(("case" = String, Path)), responses((status = 200, body = CaseResource), CaseReadErrors), security(("bearer" = [])))]
pub async fn get_case(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    PathParams(case_id): PathParams<String>,
) -> Result<Json<CaseResource>, ApiError> {
    client.require(Permission::ReadCases)?;
    let loaded = load_case(&state, &case_id).await?;
    may_read(&state, &client, &loaded)?;
    record_reads(&state, &client, &headers, "case", [case_id.as_str()]).await?;
    opened(
        case_resource(&state, &loaded, disclosure_for(&client)),
        &case_id,
    )
}

/// The case as it was after event `sequence` (time travel).
#[utoipa::path(get, path = "/api/v1/cases/{case}/at/{sequence}", tag = "cases", params(("case" = String, Path), ("sequence" = u64, Path)), responses((status = 200, body = CaseResource), ScopedReadErrors), security(("bearer" = [])))]
pub async fn get_case_at(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    PathParams((case_id, sequence)): PathParams<(String, u64)>,
) -> Result<Json<CaseResource>, ApiError> {
    client.require(Permission::ReadHistories)?;
    let now = load_case(&state, &case_id).await?;
    may_read(&state, &client, &now)?;
    let head = now.file().map_or(0, |file| file.sequence);
    if sequence == 0 || sequence > head {
        return Err(ApiError::not_found(format!(
            "case `{case_id}` has events 1 to {head}"
        )));
    }
    let then = state.store.load_at(&case_id, sequence).await?;
    record_reads(&state, &client, &headers, "case_at", [case_id.as_str()]).await?;
    opened(
        case_resource(&state, &then, disclosure_for(&client)),
        &case_id,
    )
}

/// The case's history: every event with who, when, what in words, and its hash.
#[utoipa::path(get, path = "/api/v1/cases/{case}/history", tag = "cases", params(("case" = String, Path)), responses((status = 200, body = Vec<HistoryEntry>), ScopedReadErrors), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    PathParams(case_id): PathParams<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    client.require(Permission::ReadHistories)?;
    let loaded = load_case(&state, &case_id).await?;
    may_read(&state, &client, &loaded)?;
    record_reads(&state, &client, &headers, "history", [case_id.as_str()]).await?;
    let definition = loaded
        .file()
        .and_then(|file| state.store.library().by_hash(&file.hash));
    let calendar = definition
        .as_ref()
        .and_then(|d| state.store.library().calendar(&d.calendar));
    let events = state.store.events(&case_id).await?;
    Ok(Json(
        events
            .into_iter()
            .map(|stored| {
                let words = describe(
                    &stored.event.change,
                    definition.as_deref(),
                    calendar.as_deref(),
                );
                HistoryEntry {
                    sequence: stored.sequence,
                    event_type: stored.event.change.name().into(),
                    recorded_at: stored.metadata.recorded_at.clone(),
                    actor: stored.metadata.actor.clone(),
                    role: stored.metadata.role.clone(),
                    channel: stored.metadata.channel.clone(),
                    command_id: stored.metadata.command_id.clone(),
                    words_zh: words.zh,
                    words_en: words.en,
                    hash: stored.metadata.hash.clone(),
                    prev_hash: stored.metadata.prev_hash.clone(),
                    payload: disclosed_payload(
                        &state,
                        disclosure_for(&client),
                        Some(&stored.metadata.definition_hash),
                        serde_json::to_value(&stored.event).expect("serialises"),
                    ),
                }
            })
            .collect(),
    ))
}

/// A bundle's dashboard figures: volume, on-time rate and time used, supplements
/// and returns, materials saved, satisfaction.
#[utoipa::path(get, path = "/api/v1/statistics", tag = "cases", params(StatisticsParameters), responses((status = 200, description = "The dashboard figures", body = Object), ScopedReadErrors), security(("bearer" = [])))]
pub async fn statistics(
    State(state): State<AppState>,
    client: Client,
    Params(parameters): Params<StatisticsParameters>,
) -> Result<Json<Value>, ApiError> {
    client.require(Permission::ReadStatistics)?;
    let definition = chosen_version(&state, &parameters.workflow, None)?;
    let mut problems = Vec::new();
    check_opened_range(
        &parameters.opened_from,
        &parameters.opened_to,
        &mut problems,
    );
    if !problems.is_empty() {
        return Err(ApiError::invalid("the filters are not valid", problems));
    }
    let filter = CaseFilter {
        workflow: Some(parameters.workflow.clone()),
        opened_from: parameters.opened_from.clone(),
        opened_to: parameters.opened_to.clone(),
        ..CaseFilter::default()
    };
    let cases = views::list_cases(state.store.database(), &filter).await?;
    let calendar = state.store.library().calendar(&definition.calendar);
    let figures = case::statistics(&cases, Some(&definition), calendar.as_deref());
    Ok(Json(serde_json::to_value(figures).expect("serialises")))
}

/// A loaded case always has a view; 500 if the store answered otherwise.
fn opened(resource: Option<CaseResource>, case_id: &str) -> Result<Json<CaseResource>, ApiError> {
    resource
        .map(Json)
        .ok_or_else(|| ApiError::internal(format!("case `{case_id}` has events but no view")))
}
