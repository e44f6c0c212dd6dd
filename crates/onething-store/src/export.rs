//! A self-contained record of one case: its definition, every event with its
//! attribution and hash, and the verification result — as JSON for programs
//! and as one HTML page a person can read and print.

use onething_core::audit::{verify_chain, AuditRow, Finding};
use onething_core::case::{describe, view, Case, CaseEvent, Disclosure};
use serde::Serialize;
use serde_json::Value;

use crate::audit::case_rows;
use crate::error::StoreError;
use crate::CaseStore;

pub const EXPORT_FORMAT: &str = "onething-case-export-1";

#[derive(Debug, Clone, Serialize)]
pub struct ExportedEvent {
    pub sequence: u64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
    pub words: onething_core::registry::Localized,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseExport {
    pub format: &'static str,
    pub case_id: String,
    pub exported_at: String,
    pub verification: Verification,
    pub definition: Option<Value>,
    pub state: Option<Value>,
    pub events: Vec<ExportedEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    pub intact: bool,
    pub events: u64,
    pub head_hash: Option<String>,
    pub finding: Option<Finding>,
}

pub async fn export_case(
    store: &CaseStore,
    case_id: &str,
    exported_at: String,
) -> Result<Option<CaseExport>, StoreError> {
    let rows: Vec<AuditRow> = case_rows(store.database(), case_id).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let (head, finding) = verify_chain(case_id, &rows);
    let mut case = Case::default();
    let mut events = Vec::with_capacity(rows.len());
    let mut definition = None;
    for row in &rows {
        let event: Option<CaseEvent> = serde_json::from_value(row.payload.clone()).ok();
        if let Some(event) = &event {
            case.apply_event(event.clone());
            if definition.is_none() {
                definition = case
                    .file()
                    .and_then(|file| store.library().by_hash(&file.hash));
            }
        }
        let words = match &event {
            Some(event) => {
                let calendar = definition
                    .as_ref()
                    .and_then(|d| store.library().calendar(&d.calendar));
                describe(&event.change, definition.as_deref(), calendar.as_deref())
            }
            None => onething_core::registry::Localized {
                zh: "（无法读取的事件）".into(),
                en: "(unreadable event)".into(),
            },
        };
        events.push(ExportedEvent {
            sequence: row.sequence,
            event_type: row.event_type.clone(),
            event_version: row.event_version.clone(),
            payload: row.payload.clone(),
            metadata: row.metadata.clone(),
            words,
        });
    }
    let state = view(&case, definition.as_deref(), Disclosure::Full)
        .map(|view| serde_json::to_value(view).map_err(|e| StoreError::Decode(e.to_string())))
        .transpose()?;
    Ok(Some(CaseExport {
        format: EXPORT_FORMAT,
        case_id: case_id.to_string(),
        exported_at,
        verification: Verification {
            intact: finding.is_none(),
            events: rows.len() as u64,
            head_hash: head.map(|head| head.hash),
            finding,
        },
        definition: definition
            .map(|d| serde_json::to_value(&*d).map_err(|e| StoreError::Decode(e.to_string())))
            .transpose()?,
        state,
        events,
    }))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn meta<'a>(event: &'a ExportedEvent, key: &str) -> &'a str {
    event
        .metadata
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// One printable HTML page, with no outside resources.
pub fn render_html(export: &CaseExport) -> String {
    let title = export
        .definition
        .as_ref()
        .and_then(|d| d.get("title"))
        .map(|t| {
            format!(
                "{} — {}",
                t["zh"].as_str().unwrap_or(""),
                t["en"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default();
    let status = export
        .state
        .as_ref()
        .and_then(|s| s.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let verdict = if export.verification.intact {
        format!(
            "<p class=\"ok\">✔ 校验通过 Verified: {} events, the hash chain is intact. Head hash <code>{}</code></p>",
            export.verification.events,
            export.verification.head_hash.as_deref().unwrap_or("")
        )
    } else {
        let finding = export
            .verification
            .finding
            .as_ref()
            .expect("a damaged case has a finding");
        format!(
            "<p class=\"bad\">✘ 校验失败 Verification failed at event {}: {}</p>",
            finding.sequence,
            escape(&finding.damage.describe())
        )
    };
    let mut rows = String::new();
    for event in &export.events {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}<br><small>{} · {}</small></td><td>{}<br><small>{}</small></td><td><code>{}</code><br><small>{}</small></td></tr>\n",
            event.sequence,
            escape(meta(event, "recorded_at")),
            escape(meta(event, "actor")),
            escape(meta(event, "role")),
            escape(meta(event, "channel")),
            escape(&event.words.zh),
            escape(&event.words.en),
            escape(&meta(event, "hash").chars().take(16).collect::<String>()),
            escape(meta(event, "command_id")),
        ));
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>办件档案 Case record {case}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "PingFang SC", sans-serif; margin: 2em; color: #222; }}
h1 {{ font-size: 1.4em; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9em; }}
th, td {{ border: 1px solid #bbb; padding: 4px 6px; vertical-align: top; text-align: left; }}
th {{ background: #eee; }}
small {{ color: #666; }}
.ok {{ color: #075; font-weight: bold; }}
.bad {{ color: #b00; font-weight: bold; }}
@media print {{ body {{ margin: 0; }} }}
</style>
</head>
<body>
<h1>办件档案 Case record {case}</h1>
<p>{title}</p>
<p>状态 Status: <b>{status}</b> · 导出时间 Exported at {exported}</p>
{verdict}
<table>
<thead><tr><th>#</th><th>记录时间 Recorded</th><th>办理人 Actor</th><th>事项 Event</th><th>哈希 Hash / 指令 Command</th></tr></thead>
<tbody>
{rows}</tbody>
</table>
<p><small>Each hash is SHA-256 over the canonical JSON of the event, as specified in docs/audit.md; the JSON export of this case carries every field needed to check it.</small></p>
</body>
</html>
"#,
        case = escape(&export.case_id),
        title = escape(&title),
        status = escape(status),
        exported = escape(&export.exported_at),
    )
}
