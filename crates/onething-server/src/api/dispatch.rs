//! Dispatched steps (派单): the dispatcher dispatches a step to its lead
//! and co-handlers, the lead sends it back (退单), a co-handler reports its
//! part. Commands of their own, run by the same runner as every step command.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use onething_core::case::Action;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::commands::{run_command, step_command, CommandResponse};
use super::document::CommandErrors;
use super::extract::{Body, PathParams};
use crate::auth::{Client, Permission};
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(dispatch_step))
        .routes(routes!(send_back_step))
        .routes(routes!(report_step))
}

/// The agencies a dispatch chooses, from the step's declared set.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchRequest {
    /// The lead (主办单位): it handles and completes the step.
    pub to: String,
    /// The co-handlers (协办单位): each reports its part.
    #[serde(default)]
    pub with: Vec<String>,
}

/// Why the lead sends the step back to its dispatcher.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendBackRequest {
    pub reason: String,
    /// The rule the send-back rests on (a 职责清单 item, say).
    #[serde(default)]
    pub basis: Option<String>,
}

/// A co-handler's part.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    pub text: String,
    /// Any data of its part: name → value.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub outputs: Value,
}

step_command!(
    dispatch_step,
    "/api/v1/cases/{case}/steps/{step}/dispatch",
    DispatchRequest,
    "Dispatch a step awaiting dispatch (派单) to its lead and co-handlers, from the step's declared set (only its dispatcher); its clock starts now.",
    |step, body| Action::Dispatch {
        step,
        to: body.to,
        with: body.with
    }
);
step_command!(
    send_back_step,
    "/api/v1/cases/{case}/steps/{step}/send-back",
    SendBackRequest,
    "Send a dispatched step back to its dispatcher (退单; only its lead): it awaits dispatch again and the reports of this dispatch no longer count.",
    |step, body| Action::SendBack {
        step,
        reason: body.reason,
        basis: body.basis
    }
);
step_command!(
    report_step,
    "/api/v1/cases/{case}/steps/{step}/report",
    ReportRequest,
    "Report a co-handler's part of a dispatched step (协办意见; only a co-handler of the current dispatch, once per dispatch).",
    |step, body| Action::Report {
        step,
        text: body.text,
        outputs: body.outputs
    }
);
