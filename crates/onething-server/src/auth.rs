//! Who is calling: bearer tokens of configured API clients, and what each
//! role may do — one [`Permission`] per kind of request, each with the roles
//! that hold it. Tokens are compared by their SHA-256; only hashes are stored
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

/// What a request asks to do. Each handler requires one; the roles holding
/// each are stated once, in [`Permission::roles`]. Scopes finer than a role
/// (an agency reads only the cases it takes part in, its own inbox and feed)
/// are checked by the handler on top, and listed in [`Permission::scope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    OpenCases,
    ChangeCases,
    ListCases,
    ReadCases,
    ReadHistories,
    ReadInboxes,
    ReadFeed,
    ReadWorkflows,
    ReloadWorkflows,
    ReadWebhooks,
    ResumeWebhooks,
    ReadStatistics,
    Verify,
    ExportRecords,
    ReadAccessLog,
}

impl Permission {
    pub const ALL: [Permission; 15] = [
        Permission::OpenCases,
        Permission::ChangeCases,
        Permission::ListCases,
        Permission::ReadCases,
        Permission::ReadHistories,
        Permission::ReadInboxes,
        Permission::ReadFeed,
        Permission::ReadWorkflows,
        Permission::ReloadWorkflows,
        Permission::ReadWebhooks,
        Permission::ResumeWebhooks,
        Permission::ReadStatistics,
        Permission::Verify,
        Permission::ExportRecords,
        Permission::ReadAccessLog,
    ];

    pub fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Permission::OpenCases | Permission::ChangeCases => &[Window, Agency],
            Permission::ReadHistories | Permission::ReadFeed => &[Window, Agency, Auditor],
            Permission::ListCases
            | Permission::ReadCases
            | Permission::ReadInboxes
            | Permission::ReadWorkflows
            | Permission::ReadWebhooks
            | Permission::ResumeWebhooks => &[Window, Agency, Auditor, Admin],
            Permission::ReloadWorkflows => &[Admin],
            Permission::ReadStatistics => &[Window, Auditor, Admin],
            Permission::Verify => &[Auditor, Admin],
            Permission::ExportRecords | Permission::ReadAccessLog => &[Auditor],
        }
    }

    /// What it is, in the words of a refusal (`the role admin may not …`).
    pub fn words(self) -> &'static str {
        match self {
            Permission::OpenCases => "open cases",
            Permission::ChangeCases => "change cases",
            Permission::ListCases => "list cases",
            Permission::ReadCases => "read cases",
            Permission::ReadHistories => "read case histories",
            Permission::ReadInboxes => "read inboxes",
            Permission::ReadFeed => "read the event feed",
            Permission::ReadWorkflows => "read workflows",
            Permission::ReloadWorkflows => "reload workflows",
            Permission::ReadWebhooks => "list webhook subscriptions",
            Permission::ResumeWebhooks => "resume webhook subscriptions",
            Permission::ReadStatistics => "read statistics",
            Permission::Verify => "run verification",
            Permission::ExportRecords => "export case records",
            Permission::ReadAccessLog => "read the access log of personal data",
        }
    }

    /// The requests it covers.
    pub fn endpoints(self) -> &'static str {
        match self {
            Permission::OpenCases => "`POST /api/v1/cases`",
            Permission::ChangeCases => "`POST /api/v1/cases/{case}/…` (every command)",
            Permission::ListCases => "`GET /api/v1/cases`",
            Permission::ReadCases => "`GET /api/v1/cases/{case}`",
            Permission::ReadHistories => "`GET /api/v1/cases/{case}/at/{n}`, `…/history`",
            Permission::ReadInboxes => "`GET /api/v1/agencies/{agency}/inbox`",
            Permission::ReadFeed => "`GET /api/v1/events`",
            Permission::ReadWorkflows => "`GET /api/v1/workflows…`",
            Permission::ReloadWorkflows => "`POST /api/v1/workflows/reload`",
            Permission::ReadWebhooks => "`GET /api/v1/webhooks`",
            Permission::ResumeWebhooks => "`POST /api/v1/webhooks/{subscription}/resume`",
            Permission::ReadStatistics => "`GET /api/v1/statistics`",
            Permission::Verify => "`GET /api/v1/audit/verify`",
            Permission::ExportRecords => "`GET /api/v1/cases/{case}/export`",
            Permission::ReadAccessLog => "`GET /api/v1/audit/access-log`",
        }
    }

    /// The narrower rule the handler adds, where there is one.
    pub fn scope(self) -> &'static str {
        match self {
            Permission::OpenCases | Permission::ChangeCases => {
                "then the engine's rules for the client's agency (the step's owner, the window, the collecting agency)"
            }
            Permission::ListCases => "an agency: only cases where it has a task now, or with `involved=true` the bundles it takes part in",
            Permission::ReadCases => {
                "an agency: only cases of bundles it takes part in (others answer 404); admin: ID numbers masked"
            }
            Permission::ReadHistories => {
                "an agency: only cases of bundles it takes part in (others answer 404)"
            }
            Permission::ReadInboxes => "an agency: only its own",
            Permission::ReadFeed => "an agency: only the events of its own cases",
            Permission::ReadWebhooks => "window and agency: only their own subscriptions",
            Permission::ResumeWebhooks => "only the owning client, or an admin",
            _ => "",
        }
    }

    /// The permissions as a Markdown table (kept in `docs/api.md`; a test
    /// checks that the document shows this one).
    pub fn table() -> String {
        let mut table = String::from(
            "| permission | requests | window | agency | auditor | admin | scope |\n|---|---|---|---|---|---|---|\n",
        );
        for permission in Permission::ALL {
            let mark = |role: Role| {
                if permission.roles().contains(&role) {
                    "✓"
                } else {
                    "—"
                }
            };
            table.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                permission.words(),
                permission.endpoints(),
                mark(Role::Window),
                mark(Role::Agency),
                mark(Role::Auditor),
                mark(Role::Admin),
                permission.scope(),
            ));
        }
        table
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

impl Client {
    pub fn may(&self, permission: Permission) -> bool {
        permission.roles().contains(&self.role)
    }

    /// Refuses (403, logged with the client) what its role may not do.
    pub fn require(&self, permission: Permission) -> Result<(), ApiError> {
        if self.may(permission) {
            return Ok(());
        }
        tracing::warn!(client = %self.id, role = self.role.name(), what = permission.words(), "forbidden");
        Err(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "the role {} may not {}",
                self.role.name(),
                permission.words()
            ),
        ))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_document_shows_the_permission_table_as_the_code_has_it() {
        let document = include_str!("../../../docs/api.md");
        let table = Permission::table();
        assert!(
            document.contains(&table),
            "docs/api.md must contain the permission table, as generated:\n{table}"
        );
    }

    #[test]
    fn a_role_without_the_permission_is_refused_naming_both() {
        let auditor = Client {
            id: "audit-office".into(),
            role: Role::Auditor,
            agency: None,
        };
        assert!(auditor.require(Permission::Verify).is_ok());
        let refused = auditor.require(Permission::ChangeCases).unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::FORBIDDEN);
        assert_eq!(
            refused.body.message,
            "the role auditor may not change cases"
        );
    }
}
