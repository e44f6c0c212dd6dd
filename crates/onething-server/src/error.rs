//! One error type for every response that is not a success: a stable code, a
//! message, every reason, and (for a refused command) the state of the case.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use onething_core::case::CaseError;
use onething_store::{CommandError, StoreError};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable: `invalid_input`, `unauthorized`, `forbidden`,
    /// `not_found`, `conflict`, `body_too_large`, `contended`, `internal`, …
    pub code: String,
    pub message: String,
    /// Every reason, one per entry (every problem of a form, for instance).
    pub reasons: Vec<String>,
    /// The case's status and step states when its state refused the command.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub state: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    /// Boxed: errors travel through every handler's `Result`, which stays small.
    pub body: Box<ErrorBody>,
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Box::new(ErrorBody {
                code: code.into(),
                message: message.into(),
                reasons: Vec::new(),
                state: None,
            }),
            retry_after: None,
        }
    }

    pub fn with_reasons(mut self, reasons: Vec<String>) -> ApiError {
        self.body.reasons = reasons;
        self
    }

    pub fn with_state(mut self, state: serde_json::Value) -> ApiError {
        self.body.state = Some(state);
        self
    }

    pub fn invalid(message: impl Into<String>, reasons: Vec<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", message).with_reasons(reasons)
    }

    pub fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// A client acting outside its rights: refused, and logged for review.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        let message = message.into();
        tracing::warn!(reason = %message, "forbidden request");
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }

    /// Maps a refusal of the case to its status: the input is wrong (400), the
    /// actor may not (403), something does not exist (404), or the case's
    /// state does not allow it now (409).
    pub fn refused(error: &CaseError) -> ApiError {
        use CaseError as E;
        let (status, code) = match error {
            E::InvalidApplication { .. }
            | E::InvalidOutputs { .. }
            | E::InvalidDocument { .. }
            | E::NotAReturnTarget { .. }
            | E::NoSupplementItems
            | E::MissingSupplementItems { .. }
            | E::InvalidSupplement { .. }
            | E::NotPromised { .. }
            | E::WrongAmount { .. }
            | E::MissingReceipt
            | E::MissingReason
            | E::InvalidScore { .. }
            | E::InvalidRating { .. }
            | E::InvalidExtensionLength { .. }
            | E::MissingProcedure
            | E::ClaimWithoutOperator { .. }
            | E::InstanceRequired { .. }
            | E::OutsideDispatchSet { .. }
            | E::TooManyCoHandlers { .. }
            | E::NamedTwice { .. }
            | E::EmptyReport => (StatusCode::BAD_REQUEST, "invalid_input"),
            E::Forbidden { .. } | E::UnknownAgency { .. } | E::NotACoHandler { .. } => {
                (StatusCode::FORBIDDEN, "forbidden")
            }
            E::NotOpened
            | E::UnknownWorkflow { .. }
            | E::UnknownStep { .. }
            | E::UnknownInstance { .. } => (StatusCode::NOT_FOUND, "not_found"),
            E::AlreadyOpened
            | E::StepNotActive { .. }
            | E::PaymentStep { .. }
            | E::ReturnPastPayment { .. }
            | E::ReturnToSkippedStep { .. }
            | E::BeforeLastEvent { .. }
            | E::SupplementNotAllowed { .. }
            | E::NothingToSupplement
            | E::NoSuchBill { .. }
            | E::CaseEnded { .. }
            | E::CaseNotEnded
            | E::AlreadyRated
            | E::RatingPeriodNotOver { .. }
            | E::ExtensionNotAllowed { .. }
            | E::ExtensionUsed { .. }
            | E::ExtensionTooLate { .. }
            | E::NoExtensionRequested { .. }
            | E::SpecialProceduresNotAllowed { .. }
            | E::NotSuspended { .. }
            | E::NotLate { .. }
            | E::SupervisionPending { .. }
            | E::NoSupervisionNotice { .. }
            | E::NoFollowUp
            | E::NotDispatchable { .. }
            | E::AwaitingDispatch { .. }
            | E::AlreadyDispatched { .. }
            | E::AlreadyReported { .. }
            | E::ReportsMissing { .. } => (StatusCode::CONFLICT, "conflict"),
            E::Calendar(_) | E::Expression { .. } | E::Input { .. } | E::ForEach { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "cannot_compute")
            }
            E::NotInForce { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "not_in_force"),
            E::UnknownDefinition { .. } | E::UnknownCalendar { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "definition_missing")
            }
        };
        if status == StatusCode::FORBIDDEN {
            tracing::warn!(reason = %error, "forbidden command");
        }
        let reasons = match error {
            E::InvalidApplication { problems }
            | E::InvalidOutputs { problems, .. }
            | E::InvalidDocument { problems }
            | E::InvalidSupplement { problems } => {
                problems.iter().map(ToString::to_string).collect()
            }
            E::InvalidRating { problems } => problems.clone(),
            E::ReportsMissing { missing, .. } => missing
                .iter()
                .map(|agency| format!("co-handler `{agency}` has not reported"))
                .collect(),
            E::OutsideDispatchSet { agencies, .. } => agencies
                .iter()
                .map(|agency| format!("`{agency}` is not in the step's set"))
                .collect(),
            other => vec![other.to_string()],
        };
        ApiError::new(status, code, error.to_string()).with_reasons(reasons)
    }
}

impl ApiError {
    /// The database cannot be reached now: 503 with `Retry-After`, at once,
    /// rather than a request hanging; the details go to the log.
    pub fn unavailable(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "the database is unavailable");
        let mut answer = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database cannot be reached; nothing was stored, try again",
        );
        answer.retry_after = Some(1);
        answer
    }
}

impl ApiError {
    /// The database's disk is full: 507 `storage_full` with `Retry-After`;
    /// nothing was stored, the same command may be sent again once there is
    /// room.
    pub fn storage_full(error: impl std::fmt::Display) -> ApiError {
        tracing::error!(%error, "the database's disk is full");
        let mut answer = ApiError::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "the database's disk is full; nothing was stored, try again once there is room",
        );
        answer.retry_after = Some(1);
        answer
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        // A full disk first: an I/O error may be either, and ENOSPC is not
        // fixed by waiting for the database to come back.
        if error.is_storage_full() {
            ApiError::storage_full(error)
        } else if error.is_unavailable() {
            ApiError::unavailable(error)
        } else {
            ApiError::internal(error)
        }
    }
}

impl From<CommandError> for ApiError {
    fn from(error: CommandError) -> ApiError {
        match error {
            CommandError::Refused(refusal) => ApiError::refused(&refusal),
            CommandError::Contended { attempts } => {
                let mut error = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "contended",
                    format!("the case kept changing ({attempts} attempts); nothing was stored, try again"),
                );
                error.retry_after = Some(1);
                error
            }
            CommandError::Store(error) => ApiError::from(error),
        }
    }
}

/// Answers 503 `timeout` (with `Retry-After`) when a request takes longer
/// than `limit`; the work is dropped where it stands (a command's append
/// either committed or rolls back), so the client retries with the same
/// `Idempotency-Key` to learn which.
pub async fn time_limit(
    limit: std::time::Duration,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(limit_ms = limit.as_millis() as u64, "a request timed out");
            let mut error = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!(
                    "the request took longer than {} ms; a command may have been stored: send it again with the same Idempotency-Key",
                    limit.as_millis()
                ),
            );
            error.retry_after = Some(1);
            error.into_response()
        }
    }
}

/// The answer to a request whose handler panicked: a 500 in the error shape,
/// the panic logged (never a dropped connection).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(format!(
        "a request handler panicked: {}",
        crate::background::panic_message(panic.as_ref())
    ))
    .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(*self.body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_str(&seconds.to_string()).expect("digits"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_507_storage_full_with_retry_after_not_an_internal_error() {
        let full = StoreError::Database(sqlx::Error::Io(std::io::Error::from_raw_os_error(28)));
        assert!(full.is_storage_full());
        let answer = ApiError::from(full);
        assert_eq!(answer.status, StatusCode::INSUFFICIENT_STORAGE);
        assert_eq!(answer.body.code, "storage_full");
        assert_eq!(answer.retry_after, Some(1));
        let other = StoreError::Decode("x".into());
        assert!(!other.is_storage_full());
        assert_eq!(
            ApiError::from(other).status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
