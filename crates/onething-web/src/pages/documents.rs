//! Scanned materials attached to a case: uploaded (PDF, JPEG, PNG, at most
//! 10 MiB), stored by their SHA-256, attached by a command whose event
//! records the hash; downloaded by whoever may read the case.

use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use onething_core::case::{Action, DocumentRecord, MAX_DOCUMENT_BYTES};
use onething_server::auth::Permission;
use onething_server::AppState;

use super::case_page::seen;
use super::{after_case_command, execute, url_encode, PageError};
use crate::session::Person;

/// The media type a file's first bytes say it is, of those accepted.
fn sniffed(content: &[u8]) -> Option<&'static str> {
    if content.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if content.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if content.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

pub async fn upload(
    State(state): State<AppState>,
    person: Person,
    Path(case_id): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let mut csrf = None;
    let mut command_id = None;
    let mut material = None;
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| PageError::BadRequest(e.to_string()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let file_name = field.file_name().unwrap_or("document").to_string();
            let bytes = field
                .bytes()
                .await
                .map_err(|e| PageError::BadRequest(e.to_string()))?;
            file = Some((file_name, bytes.to_vec()));
        } else {
            let text = field
                .text()
                .await
                .map_err(|e| PageError::BadRequest(e.to_string()))?;
            match name.as_str() {
                "_csrf" => csrf = Some(text),
                "command_id" => command_id = Some(text),
                "material" => material = Some(text).filter(|m| !m.is_empty()),
                _ => {}
            }
        }
    }
    person.check_csrf(csrf.as_deref())?;
    person.client().require(Permission::ChangeCases)?;
    let _ = seen(&state, &person, &case_id, None, "case").await?;
    let lang = person.lang;
    let (name, content) =
        file.ok_or_else(|| PageError::BadRequest(lang.t("document.none").into()))?;
    let media_type = sniffed(&content).unwrap_or("application/octet-stream");
    // Stored first (by content, harmless if the command is then refused);
    // the case refuses a wrong type or size in its own words.
    let sha256 = if media_type != "application/octet-stream"
        && !content.is_empty()
        && content.len() as u64 <= MAX_DOCUMENT_BYTES
    {
        onething_store::documents::store(
            state.store.database(),
            &content,
            media_type,
            chrono::Utc::now(),
        )
        .await?
    } else {
        onething_core::audit::sha256_hex(&content)
    };
    let action = Action::AttachDocument {
        document: DocumentRecord {
            material,
            name,
            media_type: media_type.to_string(),
            sha256,
            size: content.len() as u64,
        },
    };
    let command_id = command_id
        .filter(|id| !id.is_empty() && id.len() <= 200)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let outcome = execute(&state, &person, &case_id, command_id, action).await;
    after_case_command(
        &person,
        &case_id,
        outcome,
        format!("/cases/{case_id}#documents"),
    )
}

pub async fn download(
    State(state): State<AppState>,
    person: Person,
    Path((case_id, sha256)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let seen = seen(&state, &person, &case_id, None, "document").await?;
    let Some(record) = seen.view.documents.iter().find(|d| d.sha256 == sha256) else {
        return Err(PageError::NotFound(format!(
            "no document {sha256} in case {case_id}"
        )));
    };
    let stored = onething_store::documents::read(state.store.database(), &sha256)
        .await?
        .ok_or_else(|| PageError::Internal(format!("document {sha256} is not stored")))?;
    if onething_core::audit::sha256_hex(&stored.content) != sha256 {
        return Err(PageError::Internal(format!(
            "document {sha256} was changed in the store"
        )));
    }
    Ok((
        [
            (header::CONTENT_TYPE, stored.media_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename*=UTF-8''{}", url_encode(&record.name)),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        stored.content,
    )
        .into_response())
}
