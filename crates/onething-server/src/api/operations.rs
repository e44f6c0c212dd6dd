//! What operators and the HTTP layer use: health, metrics, this document,
//! and the answers to unknown paths, wrong methods and over-long targets.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use onething_store::feed;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::document::BaseErrors;
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

/// The longest `/healthz` waits for the database.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when a background job of this node has stopped.
    pub status: String,
    pub database: String,
    pub workflows: usize,
    /// This node's background jobs (`deadline-check`, `checkpoint`,
    /// `webhooks`): `running` or `stopped`.
    pub jobs: BTreeMap<String, String>,
    /// What an operator must act on soon: official holiday tables or bundle
    /// periods ending within 90 days, calendar changes not yet revised.
    pub warnings: Vec<String>,
}

/// Liveness and readiness: the database answers and every background job runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health), (status = 503, description = "A background job has stopped, or the database does not answer", body = Health), BaseErrors))]
pub async fn healthz(
    State(state): State<AppState>,
) -> Result<(StatusCode, Json<Health>), ApiError> {
    // Answers within a second, whatever the database does.
    match tokio::time::timeout(HEALTH_TIMEOUT, feed::head(state.store.database())).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => return Err(ApiError::unavailable(error)),
        Err(_) => {
            let reason = format!(
                "the database did not answer within {} ms",
                HEALTH_TIMEOUT.as_millis()
            );
            return Err(ApiError::unavailable(&reason).with_reasons(vec![reason]));
        }
    }
    let mut warnings = crate::horizon::warnings(state.store.library(), state.now());
    let calendars = state.store.library().calendars();
    let calendars: Vec<_> = calendars.iter().map(AsRef::as_ref).collect();
    let stale =
        onething_store::calendars::stale_calendars(state.store.database(), &calendars).await?;
    let pending = if stale.is_empty() {
        onething_store::calendars::pending_changes(state.store.database(), &calendars).await?
    } else {
        Vec::new()
    };
    warnings.extend(stale);
    if !pending.is_empty() {
        warnings.push(format!(
            "running deadlines are not yet revised for: {}",
            pending.join("; ")
        ));
    }
    let jobs = state.metrics.jobs();
    let stopped = jobs.values().any(|job| job != "running");
    Ok((
        if stopped {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        },
        Json(Health {
            status: if stopped { "degraded" } else { "ok" }.into(),
            database: state.store.database().backend().into(),
            workflows: state.store.library().current_definitions().len(),
            jobs,
            warnings,
        }),
    ))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"), BaseErrors))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::horizon::record_metrics(state.store.library(), state.now(), &state.metrics);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1", body = Object), BaseErrors))]
pub async fn openapi_json() -> impl IntoResponse {
    Json(super::openapi())
}

/// Answers every unknown path in the error shape.
pub async fn fallback() -> ApiError {
    ApiError::not_found("no such endpoint; see /openapi.json")
}

/// Answers a known path asked with a method it does not serve, in the error shape.
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this endpoint does not answer {method}; see /openapi.json"),
    )
}

/// The longest request target (path and query) answered; longer ones get 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Refuses over-long request targets with 414 in the error shape (the HTTP
/// server itself answers targets over 64 KiB, before any of this runs).
pub async fn limit_uri(request: Request, next: axum::middleware::Next) -> Response {
    let length = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if length > MAX_URI_BYTES {
        return ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target has {length} bytes; at most {MAX_URI_BYTES} are answered"),
        )
        .into_response();
    }
    next.run(request).await
}
