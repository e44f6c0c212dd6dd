//! Claiming a step's task (认领): a person of the step's agency, named by
//! the `X-Operator` header, takes it on. A command of its own, run by the
//! same runner as every step command.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use onething_core::case::Action;
use serde::{Deserialize, Serialize};
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
    OpenApiRouter::new().routes(routes!(claim_task))
}

/// A claim has nothing to say beyond who claims (`X-Operator`): `{}`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimRequest {}

step_command!(
    claim_task,
    "/api/v1/cases/{case}/steps/{step}/claim",
    ClaimRequest,
    "Claim the step's task (认领) as the person named by `X-Operator` (only the owning agency, on a started step); another person of the agency claiming it re-assigns it, the holder claiming again changes nothing.",
    |step, _body| Action::ClaimTask { step }
);
