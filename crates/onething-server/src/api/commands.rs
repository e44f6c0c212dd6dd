//! Commands: opening a case and every command on a case or one of its
//! steps, through one runner that attributes, executes and answers (a
//! repeated `Idempotency-Key` answers as the first time did).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use onething_core::case::{
    self, Action, Actor, CaseCommand, MaterialDeclaration, MaterialProvision,
};
use onething_store::{Attribution, CommandOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::access::{case_resource, disclosure_for, may_read, operator, state_of};
use super::document::CommandErrors;
use super::extract::{Body, PathParams};
use super::wire::{CaseResource, MaterialStatus};
use crate::auth::{Client, Permission};
use crate::error::ApiError;
use crate::AppState;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(complete_step))
        .routes(routes!(return_step))
        .routes(routes!(refuse_step))
        .routes(routes!(request_supplement))
        .routes(routes!(extend_step))
        .routes(routes!(decide_extension))
        .routes(routes!(suspend_step))
        .routes(routes!(resume_step))
        .routes(routes!(answer_supervision))
        .routes(routes!(record_follow_up))
        .routes(routes!(supplement))
        .routes(routes!(pay))
        .routes(routes!(withdraw))
        .routes(routes!(rate))
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelRequest {
    #[default]
    Window,
    Online,
    SelfService,
    Proxy,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterialRequest {
    pub material: String,
    pub status: MaterialStatus,
    /// Required with `promised` (容缺受理): when it will be supplied.
    pub deadline: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenCaseRequest {
    /// The bundle's id.
    pub workflow: String,
    /// The application form: field name → value.
    #[schema(value_type = Object)]
    pub form: Value,
    #[serde(default)]
    pub materials: Vec<MaterialRequest>,
    /// Optional services the applicant chose (ids of `opt_in` steps).
    #[serde(default)]
    pub opted_in: Vec<String>,
    #[serde(default)]
    pub channel: ChannelRequest,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteRequest {
    /// The step's outputs: name → value.
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub outputs: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// The earlier step to send the case back to.
    pub to: String,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    pub reason: String,
}

/// The follow-up of a bad rating: what was done, and whether it solved the problem.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUpRequest {
    pub result: String,
    pub resolved: bool,
}

/// The agency's answer to a supervision notice: what it did, and when the step ends.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisionAnswerRequest {
    pub answer: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplementAskRequest {
    /// Every missing item, at once.
    pub items: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendRequest {
    /// How much longer, e.g. `5 working days`, in the unit of the step's
    /// extension; the longest the workflow allows when left out.
    #[serde(default)]
    pub length: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// The special procedure: hearing, testing, quarantine, appraisal,
    /// expert review, public notice…
    pub procedure: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResumeRequest {}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionDecisionRequest {
    /// Grant (true) or deny (false) the extension asked for.
    pub approve: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupplementRequest {
    /// The requested items: name → what was supplied.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub items: serde_json::Map<String, Value>,
    /// Promised materials now supplied.
    #[serde(default)]
    pub materials: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub payer: String,
    /// In fen (1 yuan = 100 fen); must equal the payer's bill.
    pub amount: i64,
    /// The collecting system's receipt reference.
    pub receipt: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingRequest {
    /// 1 (very unsatisfied) to 5 (very satisfied).
    pub score: u8,
    pub comment: Option<String>,
    /// The national questions beside the overall score, 1–5 each:
    /// `efficiency` (办事效率), `attitude` (服务态度), `convenience` (办事便捷度).
    #[serde(default)]
    pub aspects: std::collections::BTreeMap<String, u8>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventReference {
    pub sequence: u64,
    #[serde(rename = "type")]
    pub event_type: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommandResponse {
    pub case_id: String,
    pub command_id: String,
    /// True when this command id had been applied before: nothing changed.
    pub already_applied: bool,
    /// The events the command appended (the first time).
    pub events: Vec<EventReference>,
    /// The case right after the command.
    pub case: CaseResource,
}

fn actor_of(client: &Client, headers: &HeaderMap) -> Actor {
    Actor::Agency {
        agency: client.agency.clone().unwrap_or_else(|| client.id.clone()),
        operator: operator(headers),
    }
}

fn command_id(headers: &HeaderMap) -> Result<String, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(uuid::Uuid::new_v4().to_string()),
        Some(value) => {
            let key = value
                .to_str()
                .map_err(|_| ApiError::invalid("the Idempotency-Key header is not text", vec![]))?;
            let key = key.trim();
            if key.is_empty() || key.len() > 200 {
                return Err(ApiError::invalid(
                    "the Idempotency-Key header must have 1 to 200 characters",
                    vec![],
                ));
            }
            Ok(key.to_string())
        }
    }
}

fn correlation(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-correlation-id")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.chars().take(200).collect())
}

/// Runs a command and shapes the response; a replay answers as the first time did.
pub(super) async fn run_command(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    case_id: &str,
    action: Action,
    created: bool,
) -> Result<Response, ApiError> {
    let command_id = command_id(headers)?;
    let action_name = action.name();
    let command = CaseCommand {
        command_id: command_id.clone(),
        actor: actor_of(client, headers),
        at: state.now(),
        action,
    };
    let attribution = Attribution {
        channel: "api".into(),
        role: Some(client.role.name().into()),
        correlation_id: correlation(headers),
        clock_time: state.fixed_now.is_none(),
    };
    let outcome = state
        .store
        .execute_with(case_id, command, &attribution)
        .await;
    let outcome: CommandOutcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            let outcome_label = match &error {
                onething_store::CommandError::Refused(_) => "refused",
                onething_store::CommandError::Contended { .. } => "contended",
                onething_store::CommandError::Store(_) => "failed",
            };
            state.metrics.increment(
                "onething_commands_total",
                &[("action", action_name), ("outcome", outcome_label)],
                1,
            );
            // The database failing is answered at once, without another read.
            let decided = !matches!(error, onething_store::CommandError::Store(_));
            let mut api_error = ApiError::from(error);
            if api_error.retry_after.is_some() {
                api_error.retry_after = Some(state.retry_after_seconds);
            }
            // A case the client may not read is answered as a case that does
            // not exist, whatever refused the command; the state is attached
            // to a conflict only for those who may read the case.
            let current = if decided {
                state.store.load(case_id).await.ok()
            } else {
                None
            };
            if let Some(current) = current {
                if current.file().is_some() {
                    if may_read(state, client, &current).is_err() {
                        return Err(ApiError::refused(&case::CaseError::NotOpened));
                    }
                    if api_error.status == StatusCode::CONFLICT {
                        api_error = api_error.with_state(state_of(state, &current));
                    }
                }
            }
            return Err(api_error);
        }
    };
    state.metrics.increment(
        "onething_conflicts_retried_total",
        &[],
        u64::from(outcome.conflicts),
    );
    let disclosure = disclosure_for(client);
    let (events, case_value, already) = match &outcome.already_applied {
        Some(applied) => {
            // A repeated key answers only the agency that first used it (any
            // of its clients), for the same command: never another agency.
            may_read(state, client, &outcome.case)?;
            let first = state
                .store
                .events(case_id)
                .await?
                .into_iter()
                .find(|stored| stored.sequence == applied.first_sequence);
            let same_sender = first.as_ref().is_some_and(|stored| {
                stored.event.actor.agency() == actor_of(client, headers).agency()
                    && stored
                        .metadata
                        .action
                        .as_deref()
                        .is_none_or(|action| action == action_name)
            });
            if !same_sender {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used for another command; use a new key",
                ));
            }
            state.metrics.increment(
                "onething_commands_total",
                &[("action", action_name), ("outcome", "repeated")],
                1,
            );
            let events = state.store.events(case_id).await?;
            let references = events
                .iter()
                .filter(|stored| {
                    stored.sequence >= applied.first_sequence
                        && stored.sequence <= applied.last_sequence
                })
                .map(|stored| EventReference {
                    sequence: stored.sequence,
                    event_type: stored.event.change.name().to_string(),
                })
                .collect();
            let then = state.store.load_at(case_id, applied.last_sequence).await?;
            (references, case_resource(state, &then, disclosure), true)
        }
        None => {
            state.metrics.increment(
                "onething_commands_total",
                &[("action", action_name), ("outcome", "applied")],
                1,
            );
            state.feed_signal.notify_waiters();
            let references = outcome
                .appended
                .iter()
                .map(|stored| EventReference {
                    sequence: stored.sequence,
                    event_type: stored.event.change.name().to_string(),
                })
                .collect();
            (
                references,
                case_resource(state, &outcome.case, disclosure),
                false,
            )
        }
    };
    let body = CommandResponse {
        case_id: case_id.to_string(),
        command_id,
        already_applied: already,
        events,
        case: case_value.ok_or_else(|| ApiError::internal("a command left no case to show"))?,
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, Json(body)).into_response();
    if created {
        if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/cases/{case_id}")) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    Ok(response)
}

/// Open a case (受理). The `Idempotency-Key` is the command id: the same key
/// returns the same case and changes nothing.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = OpenCaseRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "The command id"), ("X-Operator" = Option<String>, Header, description = "The person acting")),
    responses((status = 201, body = CommandResponse), CommandErrors), security(("bearer" = [])))]
pub async fn open_case(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Body(request): Body<OpenCaseRequest>,
) -> Result<Response, ApiError> {
    client.require(Permission::OpenCases)?;
    let mut problems = Vec::new();
    let mut undated = Vec::new();
    let materials: Vec<MaterialDeclaration> = request
        .materials
        .into_iter()
        .filter_map(|material| {
            let provision = match (material.status, material.deadline) {
                (MaterialStatus::Promised, Some(deadline)) => {
                    MaterialProvision::Promised { deadline }
                }
                (MaterialStatus::Promised, None) => {
                    problems.push(format!(
                        "materials.{}: a promised material needs a deadline",
                        material.material
                    ));
                    undated.push(format!("materials.{}", material.material));
                    return None;
                }
                (MaterialStatus::Submitted, _) => MaterialProvision::Submitted,
                (MaterialStatus::Shared, _) => MaterialProvision::Shared,
                (MaterialStatus::Commitment, _) => MaterialProvision::Commitment,
                (MaterialStatus::Waived, _) => MaterialProvision::Waived,
            };
            Some(MaterialDeclaration {
                material: material.material,
                provision,
            })
        })
        .collect();
    let key = command_id(&headers)?;
    let mut headers = headers;
    headers.insert(
        "idempotency-key",
        HeaderValue::from_str(&key)
            .map_err(|_| ApiError::invalid("bad Idempotency-Key", vec![]))?,
    );
    let case_id = case::case_id_for(&key);
    let channel = match request.channel {
        ChannelRequest::Window => case::Channel::Window,
        ChannelRequest::Online => case::Channel::Online,
        ChannelRequest::SelfService => case::Channel::SelfService,
        ChannelRequest::Proxy => case::Channel::Proxy,
    };
    let action = Action::Open {
        case_id: case_id.clone(),
        workflow: request.workflow,
        form: request.form,
        materials,
        opted_in: request.opted_in,
        channel,
    };
    if !problems.is_empty() {
        // Tell every problem at once: decide the rest (a pure dry run, nothing
        // is stored) and add what it finds in the form and other materials.
        let dry_run = CaseCommand {
            command_id: "dry-run".into(),
            actor: actor_of(&client, &headers),
            at: state.now(),
            action,
        };
        if let Err(case::CaseError::InvalidApplication { problems: found }) =
            case::decide_with_library(&case::Case::default(), state.store.library(), &dry_run)
        {
            problems.extend(
                found
                    .iter()
                    .filter(|problem| !undated.contains(&problem.field))
                    .map(ToString::to_string),
            );
        }
        return Err(ApiError::invalid(
            format!("the application has {} problem(s)", problems.len()),
            problems,
        ));
    }
    run_command(&state, &client, &headers, &case_id, action, true).await
}

macro_rules! step_command {
    ($name:ident, $path:literal, $request:ty, $doc:literal, |$step:ident, $body:ident| $action:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "commands", request_body = $request,
            params(("case" = String, Path), ("step" = String, Path),
                   ("Idempotency-Key" = Option<String>, Header, description = "The command id"),
                   ("X-Operator" = Option<String>, Header, description = "The person acting")),
            responses((status = 200, body = CommandResponse), CommandErrors), security(("bearer" = [])))]
        pub async fn $name(
            State(state): State<AppState>,
            client: Client,
            headers: HeaderMap,
            PathParams((case_id, $step)): PathParams<(String, String)>,
            Body($body): Body<$request>,
        ) -> Result<Response, ApiError> {
            client.require(Permission::ChangeCases)?;
            run_command(&state, &client, &headers, &case_id, $action, false).await
        }
    };
}

/// A step command defined in a module of its own ([`super::claims`]).
pub(super) use step_command;

macro_rules! case_command {
    ($name:ident, $path:literal, $request:ty, $doc:literal, |$body:ident| $action:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "commands", request_body = $request,
            params(("case" = String, Path),
                   ("Idempotency-Key" = Option<String>, Header, description = "The command id"),
                   ("X-Operator" = Option<String>, Header, description = "The person acting")),
            responses((status = 200, body = CommandResponse), CommandErrors), security(("bearer" = [])))]
        pub async fn $name(
            State(state): State<AppState>,
            client: Client,
            headers: HeaderMap,
            PathParams(case_id): PathParams<String>,
            Body($body): Body<$request>,
        ) -> Result<Response, ApiError> {
            client.require(Permission::ChangeCases)?;
            run_command(&state, &client, &headers, &case_id, $action, false).await
        }
    };
}

step_command!(
    complete_step,
    "/api/v1/cases/{case}/steps/{step}/complete",
    CompleteRequest,
    "Complete an active step with its outputs (only the owning agency).",
    |step, body| Action::Complete {
        step,
        outputs: body.outputs
    }
);
step_command!(
    return_step,
    "/api/v1/cases/{case}/steps/{step}/return",
    ReturnRequest,
    "Send the case back from this step to an earlier one (退回).",
    |step, body| Action::Return {
        step,
        to: body.to,
        reason: body.reason
    }
);
step_command!(
    refuse_step,
    "/api/v1/cases/{case}/steps/{step}/refuse",
    ReasonRequest,
    "Refuse the step (不予许可): what depends on it is cancelled.",
    |step, body| Action::Refuse {
        step,
        reason: body.reason
    }
);
step_command!(
    request_supplement,
    "/api/v1/cases/{case}/steps/{step}/request-supplement",
    SupplementAskRequest,
    "Ask the applicant for every missing item at once (补正); the clock pauses.",
    |step, body| Action::RequestSupplement {
        step,
        items: body.items,
        reason: body.reason
    }
);
step_command!(
    extend_step,
    "/api/v1/cases/{case}/steps/{step}/extend",
    ExtendRequest,
    "Ask for more time before the limit runs out (延期): granted at once, or sent to the approving agency the workflow names.",
    |step, body| Action::Extend {
        step,
        length: body.length,
        reason: body.reason
    }
);
step_command!(
    decide_extension,
    "/api/v1/cases/{case}/steps/{step}/extension-decision",
    ExtensionDecisionRequest,
    "Grant or deny a requested extension (only the approving agency).",
    |step, body| Action::DecideExtension {
        step,
        approve: body.approve,
        reason: body.reason
    }
);
step_command!(
    suspend_step,
    "/api/v1/cases/{case}/steps/{step}/suspend",
    SuspendRequest,
    "Stop the step's clock for a special procedure (特别程序), where the workflow allows it.",
    |step, body| Action::Suspend {
        step,
        procedure: body.procedure,
        reason: body.reason
    }
);
step_command!(
    resume_step,
    "/api/v1/cases/{case}/steps/{step}/resume",
    ResumeRequest,
    "The special procedure is over: the clock runs again and the due time moves on.",
    |step, _body| Action::Resume { step }
);
step_command!(
    answer_supervision,
    "/api/v1/cases/{case}/steps/{step}/supervision-answer",
    SupervisionAnswerRequest,
    "Answer the supervision notice (督办通知) on the step (only the owning agency).",
    |step, body| Action::AnswerSupervision {
        step,
        answer: body.answer
    }
);
case_command!(
    supplement,
    "/api/v1/cases/{case}/supplement",
    SupplementRequest,
    "Supply what was asked for, and promised materials (the window, for the applicant).",
    |body| Action::Supplement {
        items: body.items,
        materials: body.materials
    }
);
case_command!(
    pay,
    "/api/v1/cases/{case}/payments",
    PaymentRequest,
    "Record a payer's payment of their bill (the collecting agency or the window).",
    |body| Action::Pay {
        payer: body.payer,
        amount: body.amount,
        receipt: body.receipt
    }
);
case_command!(
    withdraw,
    "/api/v1/cases/{case}/withdraw",
    ReasonRequest,
    "Withdraw the application; payments received become refunds owed.",
    |body| Action::Withdraw {
        reason: body.reason
    }
);
case_command!(
    rate,
    "/api/v1/cases/{case}/rating",
    RatingRequest,
    "Rate an ended case (好差评), once.",
    |body| Action::Rate {
        score: body.score,
        comment: body.comment,
        aspects: body.aspects
    }
);
case_command!(
    record_follow_up,
    "/api/v1/cases/{case}/follow-up",
    FollowUpRequest,
    "Record the follow-up of a bad rating (差评回访整改; the window).",
    |body| Action::RecordFollowUp {
        result: body.result,
        resolved: body.resolved
    }
);
