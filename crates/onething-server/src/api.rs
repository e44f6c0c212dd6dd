//! The HTTP endpoints: request and response types (separate from the core's
//! events and commands), the handlers, and the OpenAPI document built from them.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use onething_core::case::{
    self as case, describe, view, Action, Actor, CaseCommand, Disclosure, MaterialDeclaration,
    MaterialProvision,
};
use onething_core::workflow::{render_graph, GraphFormat};
use onething_store::feed::{self, Cursor};
use onething_store::views::{self, CaseFilter};
use onething_store::{webhooks, Attribution, CommandOutcome};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::auth::{Client, Role};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;

// ---- extractors that answer bad input with the JSON error shape ----------------

/// A JSON body; a malformed or oversized one is a 400 or 413 in the error shape.
pub struct Body<T>(pub T);

/// Where a body nests too deep: the path two levels in (`items.NAME`,
/// `form.NAME`, `outputs.NAME`, where free-form values sit), and its depth.
fn too_deep(body: &Value) -> Option<(String, usize)> {
    use onething_core::value_type::{value_depth, MAX_VALUE_DEPTH};
    let depth = value_depth(body);
    if depth <= MAX_VALUE_DEPTH + 2 {
        return None;
    }
    let mut path = Vec::new();
    let mut node = body;
    for _ in 0..2 {
        let deepest = match node {
            Value::Object(map) => map
                .iter()
                .max_by_key(|(_, child)| value_depth(child))
                .map(|(key, child)| (key.clone(), child)),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .max_by_key(|(_, child)| value_depth(child))
                .map(|(index, child)| (format!("[{index}]"), child)),
            _ => None,
        };
        let Some((step, child)) = deepest else { break };
        path.push(step);
        node = child;
    }
    Some((path.join("."), value_depth(node)))
}

impl<S: Send + Sync, T: DeserializeOwned + Serialize> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => {
                // Free-form values are bounded before anything reads them
                // (the core checks them again, for every channel).
                let shape = serde_json::to_value(&value).unwrap_or(Value::Null);
                if let Some((path, depth)) = too_deep(&shape) {
                    return Err(ApiError::invalid(
                        "the request body nests too deep",
                        vec![format!(
                            "{path}: nests {depth} levels deep; at most {} are accepted",
                            onething_core::value_type::MAX_VALUE_DEPTH
                        )],
                    ));
                }
                Ok(Body(value))
            }
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is larger than this server accepts",
                ))
            }
            Err(rejection) => Err(ApiError::invalid(
                "the request body is not valid",
                vec![rejection.body_text()],
            )),
        }
    }
}

/// Ids and filters never hold control characters (U+0000 to U+001F, U+007F
/// to U+009F): PostgreSQL refuses a NUL in text, and none belongs in an id.
fn control_characters(what: &str, name: &str, value: &str, problems: &mut Vec<String>) {
    if let Some(found) = value.chars().find(|c| c.is_control()) {
        problems.push(format!(
            "the {what} `{name}` contains a control character (U+{:04X}); ids and filters may not",
            u32::from(found)
        ));
    }
}

/// Query parameters; bad ones are a 400 in the error shape.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let invalid = |rejection: axum::extract::rejection::QueryRejection| {
            ApiError::invalid(
                "the query parameters are not valid",
                vec![rejection.body_text()],
            )
        };
        let axum::extract::Query(pairs) =
            axum::extract::Query::<Vec<(String, String)>>::from_request_parts(parts, state)
                .await
                .map_err(invalid)?;
        let mut problems = Vec::new();
        for (name, value) in &pairs {
            control_characters("query parameter", name, name, &mut problems);
            control_characters("query parameter", name, value, &mut problems);
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid(
                "the query parameters are not valid",
                problems,
            ));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Params(value))
            .map_err(invalid)
    }
}

/// Path parameters; bad ones are a 400 in the error shape.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let invalid = |rejection: axum::extract::rejection::PathRejection| {
            ApiError::invalid("the path is not valid", vec![rejection.body_text()])
        };
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::invalid("the path is not valid", vec![rejection.body_text()])
            })?;
        let mut problems = Vec::new();
        for (name, value) in &raw {
            control_characters("path parameter", name, value, &mut problems);
        }
        if !problems.is_empty() {
            return Err(ApiError::invalid("the path is not valid", problems));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| PathParams(value))
            .map_err(invalid)
    }
}

// ---- request and response types -------------------------------------------------------

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum ChannelDto {
    #[default]
    Window,
    Online,
    SelfService,
    Proxy,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialStatus {
    Submitted,
    Shared,
    Promised,
    Commitment,
    Waived,
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
    pub channel: ChannelDto,
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
    #[schema(value_type = Object)]
    pub case: Value,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseList {
    /// Case summaries; citizen ID numbers are masked.
    #[schema(value_type = Vec<Object>)]
    pub cases: Vec<Value>,
    pub limit: i64,
    pub offset: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskDto {
    pub case_id: String,
    pub step: String,
    pub agency: String,
    pub workflow: String,
    /// `active`, `paused` (waiting for a supplement), `suspended` (a special
    /// procedure), or
    /// `extension_requested` (this agency decides another's extension).
    pub state: String,
    /// Written as in the case view (`2026-12-01T16:00:00Z`).
    pub due: Option<DateTime<Utc>>,
    pub warned: bool,
    pub overdue: bool,
    pub activated_at: Option<DateTime<Utc>>,
    /// The due time was counted on a provisional calendar year (no official
    /// holiday table yet); it is revised when the table arrives.
    pub provisional: bool,
    /// Which years were provisional.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i32>,
}

/// A stored read-model time (UTC, milliseconds) as a time.
fn stored_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|text| DateTime::parse_from_rfc3339(&text).ok())
        .map(|time| time.with_timezone(&Utc))
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Inbox {
    pub agency: String,
    pub tasks: Vec<TaskDto>,
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

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedEventDto {
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
    pub events: Vec<FeedEventDto>,
    /// Pass as `after` to continue.
    pub next: Option<String>,
}

/// One version of a bundle.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct WorkflowSummary {
    pub id: String,
    pub version: u32,
    pub hash: String,
    pub title_zh: String,
    pub title_en: String,
    /// The first day new cases open on this version.
    pub effective_from: chrono::NaiveDate,
    /// The last day, if the version's period ends.
    pub effective_until: Option<chrono::NaiveDate>,
    /// New cases open on this version today.
    pub in_force: bool,
}

fn workflow_summary(
    definition: &onething_core::workflow::Definition,
    state: &AppState,
) -> WorkflowSummary {
    let today = state
        .store
        .library()
        .calendar(&definition.calendar)
        .map_or_else(
            || state.now().date_naive(),
            |calendar| calendar.local_date(state.now()),
        );
    WorkflowSummary {
        id: definition.id.clone(),
        version: definition.version,
        hash: definition.hash.clone(),
        title_zh: definition.title.zh.clone(),
        title_en: definition.title.en.clone(),
        effective_from: definition.effective_from,
        effective_until: definition.effective_until,
        in_force: case::in_force_on(definition, today),
    }
}

/// What a reload installed and what it revised.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReloadReport {
    /// Every version of every bundle now served.
    pub workflows: Vec<WorkflowSummary>,
    /// Gaps between bundle versions and other warnings of the files.
    pub warnings: Vec<String>,
    /// What changed in the calendars since deadlines were last counted.
    pub calendar_changes: Vec<String>,
    /// The revision of running deadlines that the calendar changes caused.
    pub revision: Option<RevisionSummary>,
}

/// A revision run: every open case's running steps counted again.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RevisionSummary {
    pub correlation_id: String,
    /// Open cases looked at.
    pub cases: usize,
    /// Each revised step as `CASE/STEP`.
    pub revised: Vec<String>,
    /// Cases not revised, with the reason (the run is retried).
    pub failed: Vec<String>,
    /// Another server holds the revision lease: it runs there, or here later.
    pub pending: bool,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubscriptionDto {
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

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyResponse {
    pub intact: bool,
    pub cases: u64,
    pub events: u64,
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<Value>,
}

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

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParameters {
    pub status: Option<String>,
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
pub struct PageParameters {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
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

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GraphParameters {
    /// `mermaid` (default) or `dot`.
    pub format: Option<String>,
    /// A version of the bundle other than the one in force today.
    pub version: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionParameters {
    /// A version of the bundle other than the one in force today.
    pub version: Option<u32>,
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
    pub format: Option<String>,
}

// ---- helpers -------------------------------------------------------------------------------

/// The longest `/healthz` waits for the database.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest a feed request waits for new events.
pub const MAX_WAIT_SECONDS: u64 = 20;

fn require(client: &Client, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if roles.contains(&client.role) {
        Ok(())
    } else {
        tracing::warn!(client = %client.id, role = client.role.name(), what, "forbidden");
        // Logged above with the client; no second log line.
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("the role {} may not {what}", client.role.name()),
        ))
    }
}

fn actor_of(client: &Client, headers: &HeaderMap) -> Actor {
    let operator = headers
        .get("x-operator")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty());
    Actor::Agency {
        agency: client.agency.clone().unwrap_or_else(|| client.id.clone()),
        operator,
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

pub fn disclosure_for(client: &Client) -> Disclosure {
    match client.role {
        Role::Window | Role::Agency | Role::Auditor => Disclosure::Full,
        Role::Admin => Disclosure::Masked,
    }
}

/// A stored event's payload as a reader may see it: with `Masked`, every
/// value declared `citizen_id` (form fields, step outputs) is masked, by the
/// definition the event was recorded on.
pub fn disclosed_payload(
    state: &AppState,
    disclosure: Disclosure,
    definition_hash: Option<&str>,
    mut payload: Value,
) -> Value {
    if disclosure == Disclosure::Masked {
        let definition = definition_hash.and_then(|hash| state.store.library().by_hash(hash));
        case::mask_event_payload(definition.as_deref(), &mut payload);
    }
    payload
}

/// May this client read this case? Agencies read the cases they take part
/// in. To anyone else the case is answered as missing (404, the same answer
/// as for an id that does not exist), so that no outsider learns which ids exist.
fn may_read(state: &AppState, client: &Client, case: &case::Case) -> Result<(), ApiError> {
    match client.role {
        Role::Window | Role::Auditor | Role::Admin => Ok(()),
        Role::Agency => {
            let agency = client.agency.as_deref().unwrap_or_default();
            let takes_part = case
                .file()
                .and_then(|file| state.store.library().by_hash(&file.hash))
                .is_some_and(|definition| definition.agencies.iter().any(|a| a.id == agency));
            if takes_part {
                Ok(())
            } else {
                let case_id = case.file().map_or("", |file| file.id.as_str());
                tracing::warn!(client = %client.id, agency, case = case_id, "a case read or command by an agency that takes no part in it");
                Err(ApiError::not_found(format!("no case `{case_id}`")))
            }
        }
    }
}

async fn load_case(state: &AppState, case_id: &str) -> Result<case::Case, ApiError> {
    let loaded = state.store.load(case_id).await?;
    if loaded.file().is_none() {
        return Err(ApiError::not_found(format!("no case `{case_id}`")));
    }
    Ok(loaded)
}

fn case_json(state: &AppState, case: &case::Case, disclosure: Disclosure) -> Value {
    let definition = case
        .file()
        .and_then(|file| state.store.library().by_hash(&file.hash));
    view(case, definition.as_deref(), disclosure)
        .map(|view| serde_json::to_value(view).expect("a view serialises"))
        .unwrap_or(Value::Null)
}

fn state_of(state: &AppState, case: &case::Case) -> Value {
    let view = case_json(state, case, Disclosure::Masked);
    serde_json::json!({
        "status": view["status"],
        "sequence": view["sequence"],
        "steps": view["steps"].as_array().map(|steps| steps.iter().map(|s| serde_json::json!({"id": s["id"], "agency": s["agency"], "state": s["state"]})).collect::<Vec<_>>()),
    })
}

/// Runs a command and shapes the response; a replay answers as the first time did.
async fn run_command(
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
                        .get("action")
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
            (references, case_json(state, &then, disclosure), true)
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
                case_json(state, &outcome.case, disclosure),
                false,
            )
        }
    };
    let body = CommandResponse {
        case_id: case_id.to_string(),
        command_id,
        already_applied: already,
        events,
        case: case_value,
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

fn require_writer(client: &Client, what: &str) -> Result<(), ApiError> {
    require(client, &[Role::Window, Role::Agency], what)
}

// ---- handlers ---------------------------------------------------------------------------------

/// Liveness and readiness: the database answers and every background job runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = Health), (status = 503, description = "A background job has stopped", body = Health)))]
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
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    crate::horizon::record_metrics(state.store.library(), state.now(), &state.metrics);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1", body = Object)))]
pub async fn openapi_json() -> impl IntoResponse {
    Json(openapi())
}

/// Open a case (受理). The `Idempotency-Key` is the command id: the same key
/// returns the same case and changes nothing.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = OpenCaseRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "The command id"), ("X-Operator" = Option<String>, Header, description = "The person acting")),
    responses((status = 201, body = CommandResponse)), security(("bearer" = [])))]
pub async fn open_case(
    State(state): State<AppState>,
    client: Client,
    headers: HeaderMap,
    Body(request): Body<OpenCaseRequest>,
) -> Result<Response, ApiError> {
    require_writer(&client, "open cases")?;
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
        ChannelDto::Window => case::Channel::Window,
        ChannelDto::Online => case::Channel::Online,
        ChannelDto::SelfService => case::Channel::SelfService,
        ChannelDto::Proxy => case::Channel::Proxy,
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

/// List and search cases (summaries, ID numbers masked), oldest first.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListParameters), responses((status = 200, body = CaseList)), security(("bearer" = [])))]
pub async fn list_cases(
    State(state): State<AppState>,
    client: Client,
    Params(parameters): Params<ListParameters>,
) -> Result<Json<CaseList>, ApiError> {
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
    if let Some(status) = &parameters.status {
        if ![
            "open",
            "completed",
            "partially_completed",
            "withdrawn",
            "terminated",
        ]
        .contains(&status.as_str())
        {
            problems.push(format!("status `{status}` is not one of open, completed, partially_completed, withdrawn, terminated"));
        }
    }
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
        status: parameters.status.clone(),
        workflow: parameters.workflow.clone(),
        agency,
        workflows: None,
        overdue_only: parameters.overdue.unwrap_or(false),
        opened_from: parameters.opened_from.clone(),
        opened_to: parameters.opened_to.clone(),
        limit: Some(limit),
        offset,
    };
    let filter = if parameters.involved.unwrap_or(false) {
        filter.involving(state.store.library())
    } else {
        filter
    };
    let cases = views::list_cases(state.store.database(), &filter).await?;
    Ok(Json(CaseList {
        cases: cases
            .into_iter()
            .map(|case| serde_json::to_value(case).expect("serialises"))
            .collect(),
        limit,
        offset,
    }))
}

/// A case as it is now.
#[utoipa::path(get, path = "/api/v1/cases/{case}", tag = "cases", params(("case" = String, Path)), responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn get_case(
    State(state): State<AppState>,
    client: Client,
    PathParams(case_id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let loaded = load_case(&state, &case_id).await?;
    may_read(&state, &client, &loaded)?;
    Ok(Json(case_json(&state, &loaded, disclosure_for(&client))))
}

/// The case as it was after event `sequence` (time travel).
#[utoipa::path(get, path = "/api/v1/cases/{case}/at/{sequence}", tag = "cases", params(("case" = String, Path), ("sequence" = u64, Path)), responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn get_case_at(
    State(state): State<AppState>,
    client: Client,
    PathParams((case_id, sequence)): PathParams<(String, u64)>,
) -> Result<Json<Value>, ApiError> {
    require(
        &client,
        &[Role::Window, Role::Agency, Role::Auditor],
        "read case histories",
    )?;
    let now = load_case(&state, &case_id).await?;
    may_read(&state, &client, &now)?;
    let head = now.file().map_or(0, |file| file.sequence);
    if sequence == 0 || sequence > head {
        return Err(ApiError::not_found(format!(
            "case `{case_id}` has events 1 to {head}"
        )));
    }
    let then = state.store.load_at(&case_id, sequence).await?;
    Ok(Json(case_json(&state, &then, disclosure_for(&client))))
}

/// The case's history: every event with who, when, what in words, and its hash.
#[utoipa::path(get, path = "/api/v1/cases/{case}/history", tag = "cases", params(("case" = String, Path)), responses((status = 200, body = Vec<HistoryEntry>)), security(("bearer" = [])))]
pub async fn history(
    State(state): State<AppState>,
    client: Client,
    PathParams(case_id): PathParams<String>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    require(
        &client,
        &[Role::Window, Role::Agency, Role::Auditor],
        "read case histories",
    )?;
    let loaded = load_case(&state, &case_id).await?;
    may_read(&state, &client, &loaded)?;
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
                let field = |key: &str| stored.metadata.get(key).cloned().unwrap_or_default();
                HistoryEntry {
                    sequence: stored.sequence,
                    event_type: stored.event.change.name().into(),
                    recorded_at: field("recorded_at"),
                    actor: field("actor"),
                    role: field("role"),
                    channel: field("channel"),
                    command_id: field("command_id"),
                    words_zh: words.zh,
                    words_en: words.en,
                    hash: field("hash"),
                    prev_hash: field("prev_hash"),
                    payload: disclosed_payload(
                        &state,
                        disclosure_for(&client),
                        stored.metadata.get("definition_hash").map(String::as_str),
                        serde_json::to_value(&stored.event).expect("serialises"),
                    ),
                }
            })
            .collect(),
    ))
}

macro_rules! step_command {
    ($name:ident, $path:literal, $request:ty, $doc:literal, |$step:ident, $body:ident| $action:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "commands", request_body = $request,
            params(("case" = String, Path), ("step" = String, Path),
                   ("Idempotency-Key" = Option<String>, Header, description = "The command id"),
                   ("X-Operator" = Option<String>, Header, description = "The person acting")),
            responses((status = 200, body = CommandResponse)), security(("bearer" = [])))]
        pub async fn $name(
            State(state): State<AppState>,
            client: Client,
            headers: HeaderMap,
            PathParams((case_id, $step)): PathParams<(String, String)>,
            Body($body): Body<$request>,
        ) -> Result<Response, ApiError> {
            require_writer(&client, "change cases")?;
            run_command(&state, &client, &headers, &case_id, $action, false).await
        }
    };
}

macro_rules! case_command {
    ($name:ident, $path:literal, $request:ty, $doc:literal, |$body:ident| $action:expr) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "commands", request_body = $request,
            params(("case" = String, Path),
                   ("Idempotency-Key" = Option<String>, Header, description = "The command id"),
                   ("X-Operator" = Option<String>, Header, description = "The person acting")),
            responses((status = 200, body = CommandResponse)), security(("bearer" = [])))]
        pub async fn $name(
            State(state): State<AppState>,
            client: Client,
            headers: HeaderMap,
            PathParams(case_id): PathParams<String>,
            Body($body): Body<$request>,
        ) -> Result<Response, ApiError> {
            require_writer(&client, "change cases")?;
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
        comment: body.comment
    }
);

/// An agency's inbox: its active and paused tasks, oldest due first.
#[utoipa::path(get, path = "/api/v1/agencies/{agency}/inbox", tag = "agencies", params(("agency" = String, Path), PageParameters), responses((status = 200, body = Inbox)), security(("bearer" = [])))]
pub async fn inbox(
    State(state): State<AppState>,
    client: Client,
    PathParams(agency): PathParams<String>,
    Params(page): Params<PageParameters>,
) -> Result<Json<Inbox>, ApiError> {
    if client.role == Role::Agency && client.agency.as_deref() != Some(agency.as_str()) {
        return Err(ApiError::forbidden("an agency reads only its own inbox"));
    }
    if !state
        .store
        .library()
        .current_definitions()
        .iter()
        .any(|d| d.agencies.iter().any(|a| a.id == agency))
        && agency != case::WINDOW_AGENCY
    {
        return Err(ApiError::not_found(format!(
            "no agency `{agency}` takes part in any bundle"
        )));
    }
    let limit = page.limit.unwrap_or(50).clamp(1, 500);
    let offset = page.offset.unwrap_or(0).max(0);
    let tasks = views::agency_tasks(state.store.database(), &agency, limit, offset).await?;
    Ok(Json(Inbox {
        agency,
        tasks: tasks
            .into_iter()
            .map(|task| TaskDto {
                case_id: task.case_id,
                step: task.step,
                agency: task.agency,
                workflow: task.workflow,
                state: task.state,
                due: stored_time(task.due),
                warned: task.warned != 0,
                overdue: task.overdue != 0,
                activated_at: stored_time(task.activated_at),
                provisional: task.provisional_years.is_some(),
                provisional_years: task
                    .provisional_years
                    .iter()
                    .flat_map(|years| years.split(','))
                    .filter_map(|year| year.parse().ok())
                    .collect(),
            })
            .collect(),
        limit,
        offset,
    }))
}

/// The event feed: every committed event once, in one global order, after a
/// cursor; long-polls up to `wait` seconds when nothing is new.
#[utoipa::path(get, path = "/api/v1/events", tag = "feed", params(FeedParameters), responses((status = 200, body = FeedResponse)), security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    client: Client,
    Params(parameters): Params<FeedParameters>,
) -> Result<Json<FeedResponse>, ApiError> {
    require(
        &client,
        &[Role::Window, Role::Agency, Role::Auditor],
        "read the event feed",
    )?;
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
            return Ok(Json(FeedResponse {
                events: page
                    .events
                    .into_iter()
                    .map(|event| FeedEventDto {
                        payload: disclosed_payload(
                            &state,
                            disclosure_for(&client),
                            event
                                .metadata
                                .get("definition_hash")
                                .and_then(Value::as_str),
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

/// The bundles this server runs.
#[utoipa::path(get, path = "/api/v1/workflows", tag = "workflows", responses((status = 200, body = Vec<WorkflowSummary>)), security(("bearer" = [])))]
pub async fn list_workflows(
    State(state): State<AppState>,
    _client: Client,
) -> Json<Vec<WorkflowSummary>> {
    Json(
        state
            .store
            .library()
            .current_definitions()
            .iter()
            .map(|definition| workflow_summary(definition, &state))
            .collect(),
    )
}

/// The version of a bundle in force now (or else the newest), or the one asked for.
fn chosen_version(
    state: &AppState,
    id: &str,
    version: Option<u32>,
) -> Result<std::sync::Arc<onething_core::workflow::Definition>, ApiError> {
    let library = state.store.library();
    match version {
        None => library.current_at(id, state.now()),
        Some(version) => library
            .versions(id)
            .into_iter()
            .find(|definition| definition.version == version),
    }
    .ok_or_else(|| match version {
        Some(version) => ApiError::not_found(format!("no version {version} of workflow `{id}`")),
        None => ApiError::not_found(format!("no workflow `{id}`")),
    })
}

/// One bundle's definition, as `onething workflow show --json` prints it:
/// the version in force today, or `?version=N`.
#[utoipa::path(get, path = "/api/v1/workflows/{workflow}", tag = "workflows", params(("workflow" = String, Path), VersionParameters), responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn show_workflow(
    State(state): State<AppState>,
    _client: Client,
    PathParams(id): PathParams<String>,
    Params(parameters): Params<VersionParameters>,
) -> Result<Json<Value>, ApiError> {
    let definition = chosen_version(&state, &id, parameters.version)?;
    Ok(Json(
        serde_json::to_value(&*definition).expect("serialises"),
    ))
}

/// A bundle's step graph as Mermaid or Graphviz DOT.
#[utoipa::path(get, path = "/api/v1/workflows/{workflow}/graph", tag = "workflows", params(("workflow" = String, Path), GraphParameters), responses((status = 200, body = String, content_type = "text/plain")), security(("bearer" = [])))]
pub async fn workflow_graph(
    State(state): State<AppState>,
    _client: Client,
    PathParams(id): PathParams<String>,
    Params(parameters): Params<GraphParameters>,
) -> Result<Response, ApiError> {
    let definition = chosen_version(&state, &id, parameters.version)?;
    let format = match parameters.format.as_deref().unwrap_or("mermaid") {
        "mermaid" => GraphFormat::Mermaid,
        "dot" => GraphFormat::Dot,
        other => {
            return Err(ApiError::invalid(
                format!("unknown graph format `{other}` (mermaid or dot)"),
                vec![],
            ))
        }
    };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        render_graph(&definition, format),
    )
        .into_response())
}

/// Reload the workflows folder (admin): bundles, agencies and calendars
/// together, or nothing. New versions apply to new cases only; a calendar
/// change revises the due times of running steps (`deadline_revised`).
#[utoipa::path(post, path = "/api/v1/workflows/reload", tag = "workflows", responses((status = 200, body = ReloadReport)), security(("bearer" = [])))]
pub async fn reload_workflows(
    State(state): State<AppState>,
    client: Client,
) -> Result<Json<ReloadReport>, ApiError> {
    require(&client, &[Role::Admin], "reload workflows")?;
    let catalog = onething_store::workflow_files::Catalog::load(&state.workflows_folder).map_err(
        |problems| {
            ApiError::new(
                StatusCode::CONFLICT,
                "invalid_workflows",
                "the workflows folder has problems; nothing was reloaded",
            )
            .with_reasons(problems.iter().map(ToString::to_string).collect())
        },
    )?;
    let calendar_changes = state.store.install_catalog(&catalog).await?;
    let revision = if calendar_changes.is_empty() {
        None
    } else {
        Some(crate::background::revise_deadlines(&state, calendar_changes.clone()).await?)
    };
    Ok(Json(ReloadReport {
        workflows: list_workflows(State(state), client).await.0,
        warnings: catalog.warnings.iter().map(ToString::to_string).collect(),
        calendar_changes,
        revision,
    }))
}

/// Webhook subscriptions and their delivery state (a client sees its own).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", responses((status = 200, body = Vec<SubscriptionDto>)), security(("bearer" = [])))]
pub async fn list_webhooks(
    State(state): State<AppState>,
    client: Client,
) -> Result<Json<Vec<SubscriptionDto>>, ApiError> {
    let all = webhooks::list(state.store.database()).await?;
    Ok(Json(
        all.into_iter()
            .filter(|s| matches!(client.role, Role::Admin | Role::Auditor) || s.client == client.id)
            .map(subscription_dto)
            .collect(),
    ))
}

fn subscription_dto(s: webhooks::Subscription) -> SubscriptionDto {
    SubscriptionDto {
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
#[utoipa::path(post, path = "/api/v1/webhooks/{subscription}/resume", tag = "webhooks", params(("subscription" = String, Path)), responses((status = 200, body = SubscriptionDto)), security(("bearer" = [])))]
pub async fn resume_webhook(
    State(state): State<AppState>,
    client: Client,
    PathParams(id): PathParams<String>,
) -> Result<Json<SubscriptionDto>, ApiError> {
    let subscription = webhooks::get(state.store.database(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no subscription `{id}`")))?;
    if client.role != Role::Admin && subscription.client != client.id {
        return Err(ApiError::forbidden(
            "only its owner or an admin resumes a subscription",
        ));
    }
    webhooks::resume(state.store.database(), &id, Utc::now()).await?;
    let subscription = webhooks::get(state.store.database(), &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no subscription `{id}`")))?;
    Ok(Json(subscription_dto(subscription)))
}

/// Verify every hash chain (or one case's) against the latest checkpoint.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", params(VerifyParameters), responses((status = 200, body = VerifyResponse)), security(("bearer" = [])))]
pub async fn audit_verify(
    State(state): State<AppState>,
    client: Client,
    Params(parameters): Params<VerifyParameters>,
) -> Result<Json<VerifyResponse>, ApiError> {
    require(&client, &[Role::Auditor, Role::Admin], "run verification")?;
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
#[utoipa::path(get, path = "/api/v1/cases/{case}/export", tag = "audit", params(("case" = String, Path), ExportParameters), responses((status = 200, body = Object), (status = 200, description = "HTML", body = String, content_type = "text/html")), security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    client: Client,
    PathParams(case_id): PathParams<String>,
    Params(parameters): Params<ExportParameters>,
) -> Result<Response, ApiError> {
    require(&client, &[Role::Auditor], "export case records")?;
    let html = match parameters.format.as_deref().unwrap_or("json") {
        "json" => false,
        "html" => true,
        other => {
            return Err(ApiError::invalid(
                format!("unknown export format `{other}` (json or html)"),
                vec![],
            ))
        }
    };
    let exported_at = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let record = onething_store::export::export_case(&state.store, &case_id, exported_at)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no case `{case_id}`")))?;
    Ok(if html {
        Html(onething_store::export::render_html(&record)).into_response()
    } else {
        Json(record).into_response()
    })
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

/// A bundle's dashboard figures: volume, on-time rate and time used, supplements
/// and returns, materials saved, satisfaction.
#[utoipa::path(get, path = "/api/v1/statistics", tag = "cases", params(StatisticsParameters), responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn statistics(
    State(state): State<AppState>,
    client: Client,
    Params(parameters): Params<StatisticsParameters>,
) -> Result<Json<Value>, ApiError> {
    require(
        &client,
        &[Role::Window, Role::Auditor, Role::Admin],
        "read statistics",
    )?;
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

#[derive(OpenApi)]
#[openapi(
    info(
        title = "onething",
        description = "Bundled government services (高效办成一件事): cases, commands, inboxes, the event feed, webhooks and audit."
    ),
    paths(
        healthz,
        metrics,
        openapi_json,
        open_case,
        list_cases,
        get_case,
        get_case_at,
        history,
        complete_step,
        return_step,
        refuse_step,
        request_supplement,
        extend_step,
        decide_extension,
        suspend_step,
        resume_step,
        supplement,
        pay,
        withdraw,
        rate,
        inbox,
        events,
        list_workflows,
        show_workflow,
        workflow_graph,
        reload_workflows,
        list_webhooks,
        resume_webhook,
        audit_verify,
        export,
        statistics
    ),
    components(schemas(ErrorBody))
)]
struct ApiDocument;

/// The OpenAPI 3.1 document, with the bearer scheme and every error response.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = ApiDocument::openapi();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    let errors: BTreeMap<&str, &str> = BTreeMap::from([
        ("400", "Invalid input: every problem is listed in `reasons`"),
        ("401", "Missing or unknown bearer token"),
        ("403", "The client may not do this; nothing was stored"),
        ("404", "No such case, step, workflow or agency"),
        (
            "409",
            "The case's state does not allow this now; `state` shows it",
        ),
        ("405", "The endpoint does not answer this method"),
        ("413", "The body is larger than this server accepts"),
        (
            "414",
            "The request target (path and query) is longer than 8 KiB",
        ),
        (
            "422",
            "The bundle cannot compute this for the case (calendar year or amount)",
        ),
        ("500", "An internal error, logged; no details"),
        (
            "503",
            "The case kept changing, or the database cannot be reached; nothing was stored; retry after `Retry-After` seconds",
        ),
        (
            "507",
            "The database's disk is full; nothing was stored; retry after `Retry-After` seconds once there is room",
        ),
    ]);
    for item in document.paths.paths.values_mut() {
        for operation in [&mut item.get, &mut item.post].into_iter().flatten() {
            for (status, description) in &errors {
                let response = utoipa::openapi::ResponseBuilder::new()
                    .description(*description)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(utoipa::openapi::Ref::from_schema_name("ErrorBody")))
                            .build(),
                    )
                    .build();
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert(response.into());
            }
        }
    }
    document
}
