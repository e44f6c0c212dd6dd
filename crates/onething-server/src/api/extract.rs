//! Extractors that answer bad input in the error shape: a JSON body bounded
//! in depth, query and path parameters without control characters.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::Json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;

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
