//! The event feed: every committed event once, in one global order.

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use onething_store::feed::{self, Cursor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::{disclosed_payload, disclosure_for, record_reads};
use super::document::ListErrors;
use super::extract::Params;
use crate::auth::{Client, Permission, Role};
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

/// The longest a feed request waits for new events.
pub const MAX_WAIT_SECONDS: u64 = 20;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedEvent {
    pub cursor: String,
    pub case_id: String,
    pub sequence: i64,
    #[serde(rename = "type")]
    pub event_type: String,
    #[schema(value_type = Object)]
    pub payload: Value,
    #[schema(value_type = Object)]
    pub metadata: Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedResponse {
    pub events: Vec<FeedEvent>,
    /// Pass as `after` to continue.
    pub next: Option<String>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParameters {
    /// The `next` of the previous page; the beginning when absent; `now`
    /// for only the events committed from now on.
    pub after: Option<String>,
    /// Only events of cases this agency takes part in (an agency client always gets its own).
    pub agency: Option<String>,
    pub limit: Option<i64>,
    /// Wait up to this many seconds (at most 20) for new events when there are none.
    #[param(maximum = 20)]
    pub wait: Option<u64>,
}

/// The event feed: every committed event once, in one global order, after a
/// cursor; long-polls up to `wait` seconds when nothing is new.
#[utoipa::path(get, path = "/api/v1/events", tag = "feed", params(FeedParameters), responses((status = 200, body = FeedResponse), ListErrors), security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Params(parameters): Params<FeedParameters>,
) -> Result<Json<FeedResponse>, ApiError> {
    client.require(Permission::ReadFeed)?;
    let agency = match client.role {
        Role::Agency => {
            if parameters.agency.is_some() && parameters.agency != client.agency {
                return Err(ApiError::forbidden(
                    "an agency reads only the events of its own cases",
                ));
            }
            client.agency.clone()
        }
        _ => parameters.agency.clone(),
    };
    let after =
        match parameters.after.as_deref() {
            // A new reader that wants only what happens from now on.
            Some("now") => feed::head(state.store.database())
                .await?
                .and_then(|head| Cursor::parse(&head)),
            Some(text) => Some(Cursor::parse(text).ok_or_else(|| {
                ApiError::invalid(format!("`{text}` is not a feed cursor"), vec![])
            })?),
            None => None,
        };
    let limit = parameters.limit.unwrap_or(100).clamp(1, 1000);
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(parameters.wait.unwrap_or(0).min(MAX_WAIT_SECONDS));
    loop {
        let notified = state.feed_signal.notified();
        let page = feed::read(state.store.database(), after, agency.as_deref(), limit).await?;
        if !page.events.is_empty() || tokio::time::Instant::now() >= deadline {
            // The events that carry ID numbers: the form, a step's outputs.
            let personal = page
                .events
                .iter()
                .filter(|event| {
                    matches!(event.event_type.as_str(), "case_opened" | "step_completed")
                })
                .map(|event| event.case_id.as_str());
            record_reads(&state, &client, &headers, "feed", personal).await?;
            return Ok(Json(FeedResponse {
                events: page
                    .events
                    .into_iter()
                    .map(|event| FeedEvent {
                        payload: disclosed_payload(
                            &state,
                            disclosure_for(&client),
                            Some(&event.attribution().definition_hash),
                            event.payload,
                        ),
                        cursor: event.cursor,
                        case_id: event.case_id,
                        sequence: event.sequence,
                        event_type: event.event_type,
                        metadata: event.metadata,
                    })
                    .collect(),
                next: page.next,
            }));
        }
        // Woken by a local append, or poll again soon for other nodes' appends.
        let _ = tokio::time::timeout(
            Duration::from_millis(250).min(deadline - tokio::time::Instant::now()),
            notified,
        )
        .await;
    }
}
