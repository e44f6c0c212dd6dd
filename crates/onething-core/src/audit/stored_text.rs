//! Verifying rows as they are stored, as text, without decoding each into a
//! JSON document first.
//!
//! A command hashes the canonical JSON of its event and stores that same
//! text, so for such a row the hashed bytes can be put together from the
//! stored payload as it is and the metadata's top-level members as they are.
//! If those bytes hash to the stored hash, they are the bytes hashed when the
//! event was written (SHA-256 is collision resistant), so the row is exactly
//! what the specification hashes. Only when they do not — a row written
//! before payloads were stored canonically, or a changed one — is the row
//! decoded and hashed by the specification, which then decides.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;
use serde_json::Value;

use super::{check_chain, event_hash, hash_of_parts, Finding, Head, RowFacts};

/// One stored event as read: its columns, payload and metadata as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    pub case_id: String,
    pub sequence: u64,
    pub event_type: String,
    pub event_version: String,
    pub payload: String,
    pub metadata: String,
}

/// The metadata's top-level members, their values left as text.
type Members<'r> = BTreeMap<Cow<'r, str>, &'r RawValue>;

struct Read<'r> {
    row: &'r StoredRow,
    /// `None` when the metadata is not a JSON object that parses.
    members: Option<Members<'r>>,
    /// The metadata decoded in full, for a row whose members do not parse.
    decoded_metadata: Option<Value>,
}

/// [`super::verify_chain`] over rows as stored text. `decode` turns stored
/// JSON text into a value (a store bounds its depth, and keeps a damaged
/// row's text as a string rather than fail).
pub fn verify_chain_of_text(
    case_id: &str,
    rows: &[StoredRow],
    decode: impl Fn(&str) -> Value,
) -> (Option<Head>, Option<Finding>) {
    let read: Vec<Read<'_>> = rows
        .iter()
        .map(|row| {
            let members = serde_json::from_str::<Members<'_>>(&row.metadata).ok();
            let decoded_metadata = members.is_none().then(|| decode(&row.metadata));
            Read {
                row,
                members,
                decoded_metadata,
            }
        })
        .collect();
    check_chain(case_id, &read, facts, |read, facts| {
        let row = read.row;
        if let Some(members) = &read.members {
            if hash_as_stored(row, members) == facts.stored_hash {
                return true;
            }
        }
        let metadata = match &read.decoded_metadata {
            Some(metadata) => Cow::Borrowed(metadata),
            None => Cow::Owned(decode(&row.metadata)),
        };
        event_hash(
            case_id,
            row.sequence,
            &row.event_type,
            &row.event_version,
            &decode(&row.payload),
            &metadata,
        ) == facts.stored_hash
    })
}

fn facts<'r>(read: &'r Read<'r>) -> RowFacts<'r> {
    let member = |key: &str| -> Option<Cow<'r, str>> {
        match (&read.members, &read.decoded_metadata) {
            (Some(members), _) => members.get(key).and_then(|raw| raw_string(raw)),
            (None, Some(metadata)) => metadata.get(key)?.as_str().map(Cow::Borrowed),
            (None, None) => None,
        }
    };
    RowFacts {
        sequence: read.row.sequence,
        written_case: member("case_id").unwrap_or_default(),
        written_sequence: member("sequence").and_then(|sequence| sequence.parse().ok()),
        stored_hash: member("hash").unwrap_or_default(),
        prev_hash: member("prev_hash"),
    }
}

/// A JSON string's content, borrowed when it has no escapes; `None` when the
/// value is not a string.
fn raw_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

/// The event hash over the stored payload text and the metadata members'
/// stored text, as they are.
fn hash_as_stored(row: &StoredRow, members: &Members<'_>) -> String {
    hash_of_parts(
        &row.case_id,
        row.sequence,
        &row.event_type,
        &row.event_version,
        &row.payload,
        |hasher| {
            hasher.raw("{");
            let mut first = true;
            for (key, value) in members.iter().filter(|(key, _)| *key != "hash") {
                if !first {
                    hasher.raw(",");
                }
                first = false;
                hasher.string(key);
                hasher.raw(":");
                hasher.raw(value.get());
            }
            hasher.raw("}");
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{canonical_json, verify_chain, AuditRow, Damage, GENESIS};
    use serde_json::json;

    /// A chain of three events, stored as a command stores them.
    fn chain() -> Vec<StoredRow> {
        let mut previous = GENESIS.to_string();
        (1..=3u64)
            .map(|sequence| {
                let payload = json!({"change": {"type": "step_completed", "step": format!("s{sequence}"),
                    "outputs": {"名": "中文\"\n", "n": 1.5}}, "at": "2026-06-01T02:00:00Z"});
                let mut metadata = json!({"case_id": "C1", "sequence": sequence.to_string(),
                    "prev_hash": previous, "agencies": ",a,b,"});
                let hash = event_hash("C1", sequence, "step_completed", "1", &payload, &metadata);
                metadata["hash"] = json!(hash);
                previous = hash;
                StoredRow {
                    case_id: "C1".into(),
                    sequence,
                    event_type: "step_completed".into(),
                    event_version: "1".into(),
                    payload: canonical_json(&payload),
                    metadata: canonical_json(&metadata),
                }
            })
            .collect()
    }

    fn decoded(rows: &[StoredRow]) -> Vec<AuditRow> {
        rows.iter()
            .map(|row| AuditRow {
                case_id: row.case_id.clone(),
                sequence: row.sequence,
                event_type: row.event_type.clone(),
                event_version: row.event_version.clone(),
                payload: serde_json::from_str(&row.payload)
                    .unwrap_or_else(|_| Value::String(row.payload.clone())),
                metadata: serde_json::from_str(&row.metadata)
                    .unwrap_or_else(|_| Value::String(row.metadata.clone())),
            })
            .collect()
    }

    fn decode(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.into()))
    }

    /// Each damage, found the same way from text as from decoded rows.
    #[test]
    fn text_rows_verify_exactly_as_decoded_rows_do() {
        let intact = chain();
        let mut cases: Vec<(&str, Vec<StoredRow>)> = vec![("intact", intact.clone())];
        let mut pretty = intact.clone();
        // Stored as another writer would: spaced and in another key order;
        // the same JSON, so it verifies by the specification.
        pretty[1].payload = serde_json::to_string_pretty(&decode(&pretty[1].payload)).unwrap();
        pretty[1].metadata = pretty[1].metadata.replace("\":\"", "\": \"");
        cases.push(("not canonical, unchanged", pretty));
        let mut changed = intact.clone();
        changed[1].payload = changed[1].payload.replace("s2", "s9");
        cases.push(("payload changed", changed));
        let mut changed_metadata = intact.clone();
        changed_metadata[2].metadata = changed_metadata[2].metadata.replace(",a,b,", ",a,");
        cases.push(("metadata changed", changed_metadata));
        let mut broken = intact.clone();
        broken[1].metadata = "{not json".into();
        cases.push(("metadata unreadable", broken));
        let mut missing = intact.clone();
        missing.remove(1);
        cases.push(("missing", missing));
        let mut moved = intact.clone();
        moved[0].metadata = moved[0].metadata.replace("\"C1\"", "\"C2\"");
        cases.push(("moved", moved));
        let mut escaped = intact.clone();
        escaped[0].metadata = escaped[0].metadata.replace("\"C1\"", "\"\\u0043\\u0031\"");
        cases.push(("escaped case id", escaped));
        for (name, rows) in &cases {
            let from_text = verify_chain_of_text("C1", rows, decode);
            let from_values = verify_chain("C1", &decoded(rows));
            assert_eq!(from_text, from_values, "{name}");
        }
        assert_eq!(verify_chain_of_text("C1", &cases[0].1, decode).1, None);
        assert_eq!(verify_chain_of_text("C1", &cases[1].1, decode).1, None);
        let damage = |index: usize| verify_chain_of_text("C1", &cases[index].1, decode).1;
        assert_eq!(
            damage(2).map(|f| (f.sequence, f.damage)),
            Some((2, Damage::Changed))
        );
        assert_eq!(
            damage(3).map(|f| (f.sequence, f.damage)),
            Some((3, Damage::Changed))
        );
        assert_eq!(
            damage(5).map(|f| (f.sequence, f.damage)),
            Some((2, Damage::Missing))
        );
    }
}
