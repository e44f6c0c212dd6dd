//! Audit: verifying hash chains against the latest checkpoint, and a case's
//! self-contained record for inspectors.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::{load_case, record_reads};
use super::document::{ListErrors, ScopedReadErrors, VerifyErrors};
use super::extract::{Params, PathParams};
use crate::auth::{Client, Permission};
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_verify))
        .routes(routes!(export))
        .routes(routes!(access_log))
}

/// How a case record is written.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    /// The record as JSON (`onething-case-export-1`).
    #[default]
    Json,
    /// One printable HTML page.
    Html,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub intact: bool,
    pub cases: u64,
    pub events: u64,
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<Value>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyParameters {
    pub case: Option<String>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParameters {
    /// `json` (default) or `html`.
    #[param(inline)]
    pub format: Option<ExportFormat>,
}

/// Verify every hash chain (or one case's) against the latest checkpoint.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", params(VerifyParameters), responses((status = 200, body = VerifyResponse), VerifyErrors), security(("bearer" = [])))]
pub async fn audit_verify(
    State(state): State<AppState>,
    client: Client,
    Params(parameters): Params<VerifyParameters>,
) -> Result<Json<VerifyResponse>, ApiError> {
    client.require(Permission::Verify)?;
    let checkpoint = onething_store::audit::latest_checkpoint(state.store.database()).await?;
    if let Some(checkpoint) = &checkpoint {
        let checked = match &state.trusted_checkpoint_key {
            Some(trusted) => checkpoint.check_trusted(trusted),
            None => checkpoint.check(),
        };
        if let Err(error) = checked {
            tracing::error!(taken_at = %checkpoint.taken_at, %error, "the latest checkpoint cannot be trusted");
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "untrusted_checkpoint",
                format!(
                    "the checkpoint of {} cannot be trusted",
                    checkpoint.taken_at
                ),
            )
            .with_reasons(vec![error.to_string()]));
        }
    }
    if let Some(case_id) = &parameters.case {
        load_case(&state, case_id).await?;
    }
    let report = onething_store::audit::verify(
        state.store.database(),
        parameters.case.as_deref(),
        checkpoint.as_ref(),
        &mut |_| {},
    )
    .await?;
    Ok(Json(VerifyResponse {
        intact: report.intact(),
        cases: report.cases,
        events: report.events,
        findings: report
            .findings
            .iter()
            .map(|f| serde_json::to_value(f).expect("serialises"))
            .collect(),
    }))
}

/// Export a case's self-contained record, as JSON or a printable HTML page.
#[utoipa::path(get, path = "/api/v1/cases/{case}/export", tag = "audit", params(("case" = String, Path), ExportParameters), responses((status = 200, description = "The record as JSON, or with `format=html` one printable page", content((Object = "application/json"), (String = "text/html"))), ScopedReadErrors), security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    PathParams(case_id): PathParams<String>,
    Params(parameters): Params<ExportParameters>,
) -> Result<Response, ApiError> {
    client.require(Permission::ExportRecords)?;
    let html = matches!(parameters.format.unwrap_or_default(), ExportFormat::Html);
    let exported_at = onething_store::time::stamp(Utc::now());
    let record = onething_store::export::export_case(&state.store, &case_id, exported_at)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case `{case_id}`")))?;
    record_reads(&state, &client, &headers, "export", [case_id.as_str()]).await?;
    Ok(if html {
        Html(onething_store::export::render_html(&record)).into_response()
    } else {
        Json(record).into_response()
    })
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AccessLogParameters {
    /// Only reads of this case.
    pub case: Option<String>,
    /// Only reads by this client (`cli` for the command line).
    pub client: Option<String>,
    /// Read at or after (RFC 3339).
    pub from: Option<chrono::DateTime<Utc>>,
    /// Read before (RFC 3339).
    pub to: Option<chrono::DateTime<Utc>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

/// One read of a case with its ID numbers unmasked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonalDataRead {
    pub read_at: chrono::DateTime<Utc>,
    pub client: String,
    pub role: String,
    pub agency: Option<String>,
    /// The person, from `X-Operator`.
    pub operator: Option<String>,
    /// `api`, `cli` or `webhook`.
    pub channel: String,
    pub case_id: String,
    /// `case`, `case_at`, `history`, `export`, `feed`, `webhook`, `show`.
    pub what: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccessLog {
    pub reads: Vec<PersonalDataRead>,
    pub limit: i64,
    pub offset: i64,
}

/// The access log of personal data (个人信息保护法): who read which case with
/// its ID numbers unmasked, when and how; oldest first.
#[utoipa::path(get, path = "/api/v1/audit/access-log", tag = "audit", params(AccessLogParameters), responses((status = 200, body = AccessLog), ListErrors), security(("bearer" = [])))]
pub async fn access_log(
    State(state): State<AppState>,
    client: Client,
    Params(parameters): Params<AccessLogParameters>,
) -> Result<Json<AccessLog>, ApiError> {
    client.require(Permission::ReadAccessLog)?;
    let limit = parameters.limit.unwrap_or(100).clamp(1, 1000);
    let offset = parameters.offset.unwrap_or(0).max(0);
    let filter = onething_store::access_log::AccessFilter {
        case_id: parameters.case,
        client: parameters.client,
        from: parameters.from,
        to: parameters.to,
        limit,
        offset,
    };
    let reads = onething_store::access_log::list(state.store.database(), &filter).await?;
    Ok(Json(AccessLog {
        reads: reads
            .into_iter()
            .map(|read| PersonalDataRead {
                read_at: read.read_at,
                client: read.client,
                role: read.role,
                agency: read.agency,
                operator: read.operator,
                channel: read.channel,
                case_id: read.case_id,
                what: read.what,
            })
            .collect(),
        limit,
        offset,
    }))
}
