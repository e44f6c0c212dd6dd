//! Attaching a scanned document: the window, or an agency whose step of
//! the case is under way, attaches a PDF, JPEG or PNG already stored by its
//! SHA-256; the event records the hash, so the chain covers the content.

use super::{forbidden, Decision};
use crate::case::error::CaseError;
use crate::case::event::{Change, DocumentRecord, DOCUMENT_MEDIA_TYPES, MAX_DOCUMENT_BYTES};
use crate::value_type::ValueProblem;

impl Decision<'_> {
    pub(super) fn attach_document(&mut self, document: &DocumentRecord) -> Result<(), CaseError> {
        let file = self.opened()?;
        let actor = self.actor();
        let working_on_it = actor.agency().is_some_and(|agency| {
            file.steps
                .iter()
                .any(|step| step.agency == agency && step.state.is_started())
        });
        if !actor.is_window() && !working_on_it {
            return Err(forbidden(
                actor,
                "attach_document",
                "documents are attached by the window or by an agency whose step is under way",
            ));
        }
        let mut problems = Vec::new();
        let mut problem = |field: &str, message: String| {
            problems.push(ValueProblem {
                field: format!("document.{field}"),
                message,
            })
        };
        if document.name.trim().is_empty() || document.name.chars().count() > 200 {
            problem("name", "must have 1 to 200 characters".into());
        }
        if !DOCUMENT_MEDIA_TYPES.contains(&document.media_type.as_str()) {
            problem(
                "media_type",
                format!(
                    "`{}` is not accepted (accepted: {})",
                    document.media_type,
                    DOCUMENT_MEDIA_TYPES.join(", ")
                ),
            );
        }
        let hex = document.sha256.len() == 64
            && document
                .sha256
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !hex {
            problem("sha256", "must be 64 lower-case hexadecimal digits".into());
        }
        if document.size == 0 || document.size > MAX_DOCUMENT_BYTES {
            problem(
                "size",
                format!(
                    "{} bytes: a document has 1 to {MAX_DOCUMENT_BYTES} bytes",
                    document.size
                ),
            );
        }
        if let Some(material) = &document.material {
            if !self.definition.materials.iter().any(|m| &m.id == material) {
                let known: Vec<&str> = self
                    .definition
                    .materials
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect();
                problem(
                    "material",
                    format!(
                        "`{material}` is not a material of this bundle (known: {})",
                        known.join(", ")
                    ),
                );
            }
        }
        if !problems.is_empty() {
            return Err(CaseError::InvalidDocument { problems });
        }
        self.emit(Change::DocumentAttached {
            document: document.clone(),
        });
        Ok(())
    }
}
