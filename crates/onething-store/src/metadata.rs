//! What is recorded with every event beside its payload: who, when, through
//! which channel, on which definition, and the hash chain. Typed here;
//! stored as a JSON object of strings, written out exactly as it always has
//! been (the event hashes cover that text, and old stores must verify).

use serde_json::{Map, Value};

/// The attribution and chain of one stored event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMetadata {
    /// Stable and unique, derived from the case and the sequence.
    pub event_id: String,
    pub case_id: String,
    pub sequence: u64,
    /// The command that appended the event (its `Idempotency-Key`).
    pub command_id: String,
    /// Groups the commands of one request or one run (the command id when
    /// none was given).
    pub correlation_id: String,
    /// `police`, `police/王警官`, `applicant`, `system`.
    pub actor: String,
    /// The command's action (`complete`, `check_deadlines`, …); absent in
    /// stores written before it was recorded.
    pub action: Option<String>,
    /// `window`, `agency`, `auditor`, `admin`, `applicant` or `system`.
    pub role: String,
    /// `api`, `cli` or `scheduler`.
    pub channel: String,
    /// When the store recorded it (RFC 3339, UTC, milliseconds), as written.
    pub recorded_at: String,
    /// The definition the case runs on (`sha256:…`).
    pub definition_hash: String,
    /// The agencies that take part in the case, as `,hospital,police,window,`
    /// (so that a feed filter is one `LIKE`).
    pub agencies: String,
    pub prev_hash: String,
    pub hash: String,
}

impl EventMetadata {
    /// The stored object, without `hash` (what the hash is computed over).
    pub fn to_unhashed_value(&self) -> Value {
        let mut fields = Map::new();
        let mut put = |key: &str, value: &str| {
            fields.insert(key.to_string(), Value::String(value.to_string()));
        };
        put("event_id", &self.event_id);
        put("case_id", &self.case_id);
        put("sequence", &self.sequence.to_string());
        put("command_id", &self.command_id);
        put("correlation_id", &self.correlation_id);
        put("actor", &self.actor);
        if let Some(action) = &self.action {
            put("action", action);
        }
        put("role", &self.role);
        put("channel", &self.channel);
        put("recorded_at", &self.recorded_at);
        put("definition_hash", &self.definition_hash);
        put("agencies", &self.agencies);
        put("prev_hash", &self.prev_hash);
        Value::Object(fields)
    }

    /// The stored object, `hash` included.
    pub fn to_value(&self) -> Value {
        let mut value = self.to_unhashed_value();
        value["hash"] = Value::String(self.hash.clone());
        value
    }

    /// The stored object's canonical JSON text (keys in code-point order),
    /// with or without `hash`: the same bytes as [`Self::to_value`] written
    /// out, without building the object first.
    pub fn canonical_text(&self, with_hash: bool) -> String {
        let sequence = self.sequence.to_string();
        // In code-point order of the keys.
        let members: [(&str, Option<&str>); 14] = [
            ("action", self.action.as_deref()),
            ("actor", Some(&self.actor)),
            ("agencies", Some(&self.agencies)),
            ("case_id", Some(&self.case_id)),
            ("channel", Some(&self.channel)),
            ("command_id", Some(&self.command_id)),
            ("correlation_id", Some(&self.correlation_id)),
            ("definition_hash", Some(&self.definition_hash)),
            ("event_id", Some(&self.event_id)),
            ("hash", with_hash.then_some(self.hash.as_str())),
            ("prev_hash", Some(&self.prev_hash)),
            ("recorded_at", Some(&self.recorded_at)),
            ("role", Some(&self.role)),
            ("sequence", Some(&sequence)),
        ];
        let mut text: Vec<u8> = Vec::with_capacity(512);
        text.push(b'{');
        for (key, value) in members {
            let Some(value) = value else { continue };
            if text.len() > 1 {
                text.push(b',');
            }
            text.push(b'"');
            text.extend_from_slice(key.as_bytes());
            text.extend_from_slice(b"\":");
            // serde_json's escaping is the canonical one.
            serde_json::to_writer(&mut text, value).expect("writing into memory cannot fail");
        }
        text.push(b'}');
        String::from_utf8(text).expect("JSON text is UTF-8")
    }

    /// Reads a stored object. Missing fields are empty (stores written by
    /// earlier versions lack some); a value that is not a string is taken
    /// as its JSON text, as earlier readers did.
    pub fn from_value(value: &Value) -> EventMetadata {
        let text = |key: &str| match value.get(key) {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let field = |key: &str| text(key).unwrap_or_default();
        EventMetadata {
            event_id: field("event_id"),
            case_id: field("case_id"),
            sequence: text("sequence")
                .and_then(|sequence| sequence.parse().ok())
                .unwrap_or_default(),
            command_id: field("command_id"),
            correlation_id: field("correlation_id"),
            actor: field("actor"),
            action: text("action"),
            role: field("role"),
            channel: field("channel"),
            recorded_at: field("recorded_at"),
            definition_hash: field("definition_hash"),
            agencies: field("agencies"),
            prev_hash: field("prev_hash"),
            hash: field("hash"),
        }
    }

    /// When it was recorded, if the stored text is a time.
    pub fn recorded_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        chrono::DateTime::parse_from_rfc3339(&self.recorded_at)
            .ok()
            .map(|time| time.with_timezone(&chrono::Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_object_reads_and_writes_back_to_the_same_text() {
        let stored = r#"{"action":"complete","actor":"police/王警官","agencies":",hospital,police,window,","case_id":"C1","channel":"api","command_id":"k1","correlation_id":"k1","definition_hash":"sha256:ab","event_id":"e-1","hash":"sha256:cd","prev_hash":"sha256:00","recorded_at":"2026-06-01T01:00:00.000Z","role":"agency","sequence":"3"}"#;
        let value: Value = serde_json::from_str(stored).unwrap();
        let metadata = EventMetadata::from_value(&value);
        assert_eq!(metadata.sequence, 3);
        assert_eq!(metadata.action.as_deref(), Some("complete"));
        assert_eq!(metadata.to_value().to_string(), stored);
        assert_eq!(metadata.canonical_text(true), stored);
        let mut unhashed = value.clone();
        unhashed.as_object_mut().unwrap().remove("hash");
        assert_eq!(metadata.canonical_text(false), unhashed.to_string());
        let quoted = EventMetadata {
            actor: "police/\"王\"\\\n\u{1}".into(),
            ..metadata
        };
        assert_eq!(quoted.canonical_text(true), quoted.to_value().to_string());
    }

    #[test]
    fn an_older_object_without_an_action_stays_without_one() {
        let stored = r#"{"actor":"system","case_id":"C1","hash":"h","sequence":"1"}"#;
        let metadata = EventMetadata::from_value(&serde_json::from_str(stored).unwrap());
        assert_eq!(metadata.action, None);
        assert!(metadata.to_value().get("action").is_none());
        assert_eq!(
            metadata.canonical_text(true),
            metadata.to_value().to_string()
        );
    }
}
