//! Who may read which case and how much of it: the rules every resource
//! shares (an agency reads the cases it takes part in; an admin sees ID
//! numbers masked), and the case as a response.

use axum::http::HeaderMap;
use onething_core::case::{self, view, Disclosure};
use onething_store::access_log::{self, PersonalDataRead};
use serde_json::Value;

use super::wire::CaseResource;
use crate::auth::{Client, Role};
use crate::error::ApiError;
use crate::AppState;

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
pub fn may_read(state: &AppState, client: &Client, case: &case::Case) -> Result<(), ApiError> {
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

/// The case now, or 404 when nothing was ever opened under this id.
pub async fn load_case(state: &AppState, case_id: &str) -> Result<case::Case, ApiError> {
    let loaded = state.store.load(case_id).await?;
    if loaded.file().is_none() {
        return Err(ApiError::not_found(format!("no case `{case_id}`")));
    }
    Ok(loaded)
}

/// The case as a response, on the definition it runs on; `None` before it
/// is opened.
pub fn case_resource(
    state: &AppState,
    case: &case::Case,
    disclosure: Disclosure,
) -> Option<CaseResource> {
    let definition = case
        .file()
        .and_then(|file| state.store.library().by_hash(&file.hash));
    view(case, definition.as_deref(), disclosure).map(CaseResource::from)
}

/// The part of a case a refusal shows: its status and each step's state.
pub fn state_of(state: &AppState, case: &case::Case) -> Value {
    let Some(resource) = case_resource(state, case, Disclosure::Masked) else {
        return Value::Null;
    };
    serde_json::json!({
        "status": resource.status,
        "sequence": resource.sequence,
        "steps": resource.steps.iter().map(|step| serde_json::json!({
            "id": step.id,
            "agency": step.agency,
            "state": step.state,
        })).collect::<Vec<_>>(),
    })
}

/// The person acting, as sent in `X-Operator`.
pub fn operator(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-operator")
        // UTF-8, not only visible ASCII: a person's name is often Chinese.
        .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
        .map(|value| value.trim().chars().take(200).collect::<String>())
        .filter(|value| !value.is_empty())
}

/// Records, before the answer leaves, that this client reads these cases
/// with their ID numbers unmasked; nothing when it sees them masked. A read
/// that cannot be recorded is not answered (503/500).
pub async fn record_reads(
    state: &AppState,
    client: &Client,
    headers: &HeaderMap,
    what: &str,
    case_ids: impl IntoIterator<Item = &str>,
) -> Result<(), ApiError> {
    if disclosure_for(client) == Disclosure::Masked {
        return Ok(());
    }
    let read_at = chrono::Utc::now();
    let mut reads: Vec<PersonalDataRead> = Vec::new();
    for case_id in case_ids {
        if reads.iter().any(|read| read.case_id == case_id) {
            continue;
        }
        reads.push(PersonalDataRead {
            read_at,
            client: client.id.clone(),
            role: client.role.name().to_string(),
            agency: client.agency.clone(),
            operator: operator(headers),
            channel: "api".into(),
            case_id: case_id.to_string(),
            what: what.to_string(),
        });
    }
    access_log::record(state.store.database(), &reads).await?;
    Ok(())
}
