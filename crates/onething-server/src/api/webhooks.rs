//! Webhook subscriptions: their delivery state, and resuming a parked one.

use axum::extract::State;
use axum::Json;
use chrono::Utc;
use onething_store::webhooks;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::document::{AuthenticatedErrors, ScopedReadErrors};
use super::extract::PathParams;
use crate::auth::{Client, Permission, Role};
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_webhooks))
        .routes(routes!(resume_webhook))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Subscription {
    pub id: String,
    pub client: String,
    pub url: String,
    pub agency: Option<String>,
    pub cursor: Option<String>,
    pub delivered: i64,
    pub failures: i64,
    pub parked: bool,
    pub last_error: Option<String>,
    pub next_attempt_at: String,
}

/// Webhook subscriptions and their delivery state (a client sees its own).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", responses((status = 200, body = Vec<Subscription>), AuthenticatedErrors), security(("bearer" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    client: Client,
) -> Result<Json<Vec<Subscription>>, ApiError> {
    client.require(Permission::ReadWebhooks)?;
    let all = webhooks::list(state.store.database()).await?;
    Ok(Json(
        all.into_iter()
            .filter(|s| matches!(client.role, Role::Admin | Role::Auditor) || s.client == client.id)
            .map(subscription)
            .collect(),
    ))
}

fn subscription(s: webhooks::Subscription) -> Subscription {
    Subscription {
        id: s.id,
        client: s.client,
        url: s.url,
        agency: s.agency,
        cursor: s.cursor,
        delivered: s.delivered,
        failures: s.failures,
        parked: s.parked,
        last_error: s.last_error,
        next_attempt_at: s.next_attempt_at,
    }
}

/// Resume a parked subscription from where it stopped (its owner or an admin).
#[utoipa::path(post, path = "/api/v1/webhooks/{subscription}/resume", tag = "webhooks", params(("subscription" = String, Path)), responses((status = 200, body = Subscription), ScopedReadErrors), security(("bearer" = [])))]
pub async fn resume_webhook(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
) -> Result<Json<Subscription>, ApiError> {
    client.require(Permission::ResumeWebhooks)?;
    let found = webhooks::get(state.store.database(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no subscription `{id}`")))?;
    if client.role != Role::Admin && found.client != client.id {
        return Err(ApiError::forbidden(
            "only its owner or an admin resumes a subscription",
        ));
    }
    webhooks::resume(state.store.database(), &id, Utc::now()).await?;
    let found = webhooks::get(state.store.database(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no subscription `{id}`")))?;
    Ok(Json(subscription(found)))
}
