//! The OpenAPI document: built from the routes themselves (each handler's
//! `#[utoipa::path]`, collected by `utoipa_axum::routes!`), so a route cannot
//! be served without being documented nor documented without being served.
//! Each operation names the errors it can return through one of the error
//! sets below; their descriptions are written once, here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{OpenApi, PartialSchema, ToSchema};

use crate::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(info(
    title = "onething",
    description = "Bundled government services (高效办成一件事): cases, commands, inboxes, the event feed, webhooks and audit."
))]
pub(super) struct ApiDocument;

/// What each error status means, for every operation that can return it.
fn description(status: u16) -> &'static str {
    match status {
        400 => "Invalid input: every problem is listed in `reasons`",
        401 => "Missing or unknown bearer token",
        403 => "The client may not do this; nothing was stored",
        404 => "No such case, step, workflow, agency or subscription",
        409 => "The case's state does not allow this now (`state` shows it), or the files or checkpoint refuse it",
        413 => "The body is larger than this server accepts",
        414 => "The request target (path and query) is longer than 8 KiB",
        422 => "The bundle cannot compute this for the case (calendar year, amount, a version not in force)",
        500 => "An internal error, logged; no details",
        503 => "The case kept changing, or the database cannot be reached (nothing was stored), or the request took too long (`timeout`: send it again with the same `Idempotency-Key`); retry after `Retry-After` seconds",
        507 => "The database's disk is full; nothing was stored; retry after `Retry-After` seconds once there is room",
        _ => "An error",
    }
}

/// The error responses of the given statuses, each in the error shape.
pub fn error_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .map(|status| {
            let response = ResponseBuilder::new()
                .description(description(*status))
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name(ErrorBody::name())))
                        .build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// Declares a set of error responses for `responses(...)` of a path.
macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident: $($status:literal),+ $(,)?) => {
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::Response>,
            > {
                $crate::api::document::error_responses(&[$($status),+])
            }
        }
    };
}

error_set!(
    /// A command on a case: the body, the rights, the case's state, the
    /// bundle's computations and the database can each refuse it.
    CommandErrors: 400, 401, 403, 404, 409, 413, 414, 422, 500, 503, 507
);
error_set!(
    /// Reading one case.
    CaseReadErrors: 400, 401, 404, 414, 500, 503
);
error_set!(
    /// Reading what only some roles may read, of one thing that may not exist.
    ScopedReadErrors: 400, 401, 403, 404, 414, 500, 503
);
error_set!(
    /// Listing what some roles may list, with filters.
    ListErrors: 400, 401, 403, 414, 500, 503
);
error_set!(
    /// Reading a bundle's definition or graph (from memory; 503 only past the request time-out).
    WorkflowReadErrors: 400, 401, 404, 414, 500, 503
);
error_set!(
    /// Reloading the workflows folder.
    ReloadErrors: 401, 403, 409, 414, 500, 503, 507
);
error_set!(
    /// Verifying hash chains against the latest checkpoint.
    VerifyErrors: 400, 401, 403, 404, 409, 414, 500, 503
);
error_set!(
    /// A read anyone authenticated may make.
    AuthenticatedErrors: 401, 414, 500, 503
);
error_set!(
    /// What every route can answer: an over-long target, an internal error.
    BaseErrors: 414, 500
);

/// The OpenAPI 3.1 document, with the bearer scheme (built once).
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut document = super::routes().into_openapi();
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components
            .schemas
            .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
        document
    })
}
