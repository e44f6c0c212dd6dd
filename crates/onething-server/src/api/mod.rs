//! The HTTP API, one module per resource. Each module's `routes()` adds its
//! handlers with `utoipa_axum::routes!`, which routes a handler and documents
//! it in the same statement: the router and the OpenAPI document are two
//! halves of one value ([`routes`]), so neither can list a route the other
//! lacks. Request and response types live beside their handlers; the case
//! itself is [`wire::CaseResource`], a typed copy of the core's view.

pub mod access;
mod audit;
mod cases;
mod claims;
mod commands;
mod dispatch;
mod document;
mod extract;
mod feed;
mod inbox;
mod operations;
mod webhooks;
pub mod wire;
mod workflows;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

pub use access::{disclosed_payload, disclosure_for};
pub use document::openapi;
pub use feed::MAX_WAIT_SECONDS;
pub use operations::{fallback, limit_uri, method_not_allowed, HEALTH_TIMEOUT, MAX_URI_BYTES};
pub use workflows::RevisionSummary;

/// Every route of the API with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(document::ApiDocument::openapi())
        .merge(operations::routes())
        .merge(cases::routes())
        .merge(commands::routes())
        .merge(claims::routes())
        .merge(dispatch::routes())
        .merge(inbox::routes())
        .merge(feed::routes())
        .merge(workflows::routes())
        .merge(webhooks::routes())
        .merge(audit::routes())
}
