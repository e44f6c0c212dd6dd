//! Who is calling: bearer tokens of configured API clients, and what each
//! role may do. Tokens are compared by their SHA-256; only hashes are stored
//! (tokens are long random strings, so a fast hash is enough).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The comprehensive window: opens cases, supplements, payments at the counter.
    Window,
    /// An agency's system: acts on its own steps, reads the cases it takes part in.
    Agency,
    /// Reads histories, verifies and exports; changes nothing.
    Auditor,
    /// Lists and reloads workflows.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Window => "window",
            Role::Agency => "agency",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

/// An authenticated API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub id: String,
    pub role: Role,
    /// The agency it acts as: its own for an agency, `window` for a window.
    pub agency: Option<String>,
}

pub fn token_hash(token: &str) -> String {
    onething_core::audit::sha256_hex(token.as_bytes())
}

/// Clients by the hash of their token.
#[derive(Debug, Default, Clone)]
pub struct Clients {
    by_hash: Arc<HashMap<String, Client>>,
}

impl Clients {
    pub fn new(clients: impl IntoIterator<Item = (String, Client)>) -> Clients {
        Clients {
            by_hash: Arc::new(
                clients
                    .into_iter()
                    .map(|(hash, client)| (hash.to_ascii_lowercase(), client))
                    .collect(),
            ),
        }
    }

    pub fn find(&self, token: &str) -> Option<&Client> {
        self.by_hash.get(&token_hash(token))
    }

    pub fn all(&self) -> impl Iterator<Item = &Client> {
        self.by_hash.values()
    }
}

impl FromRequestParts<AppState> for Client {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Client, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized("missing bearer token: send `Authorization: Bearer TOKEN`")
            })?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer TOKEN`")
            })?;
        state
            .clients
            .find(token.trim())
            .cloned()
            .ok_or_else(|| ApiError::unauthorized("unknown or revoked token"))
    }
}
