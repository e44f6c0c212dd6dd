//! Tamper evidence: the hash chain of each case's events, the Merkle root of a
//! checkpoint over all cases, and the verification of both. Pure functions over
//! stored rows; `docs/audit.md` specifies every byte so that an auditor can
//! check a store without this code.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ed25519_dalek::{Signer, Verifier};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod stored_text;

pub use stored_text::{verify_chain_of_text, StoredRow};

/// The `prev_hash` of a case's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Serialises JSON canonically: object keys sorted by code point, no
/// whitespace, strings escaped as JSON requires and nothing more.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    CanonicalHasher(&mut out).value(value);
    String::from_utf8(out).expect("JSON text is UTF-8")
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        hex.push(DIGITS[usize::from(byte >> 4)] as char);
        hex.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    hex
}

/// Canonical JSON written straight into a buffer that is then hashed at
/// once: the same bytes as [`canonical_json`], without copying the values into
/// a new document first. The buffer is reused by each thread.
struct CanonicalHasher<'b>(&'b mut Vec<u8>);

impl CanonicalHasher<'_> {
    fn raw(&mut self, text: &str) {
        self.0.extend_from_slice(text.as_bytes());
    }

    fn string(&mut self, text: &str) {
        serde_json::to_writer(&mut *self.0, text).expect("writing into memory cannot fail");
    }

    /// An object's members in code-point order of their keys, leaving out `skip`.
    fn object(&mut self, map: &serde_json::Map<String, Value>, skip: Option<&str>) {
        let mut keys: Vec<&String> = map
            .keys()
            .filter(|key| Some(key.as_str()) != skip)
            .collect();
        keys.sort_unstable();
        self.raw("{");
        for (index, key) in keys.into_iter().enumerate() {
            if index > 0 {
                self.raw(",");
            }
            self.string(key);
            self.raw(":");
            self.value(&map[key]);
        }
        self.raw("}");
    }

    fn value(&mut self, value: &Value) {
        match value {
            Value::Object(map) => self.object(map, None),
            Value::Array(items) => {
                self.raw("[");
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        self.raw(",");
                    }
                    self.value(item);
                }
                self.raw("]");
            }
            Value::String(text) => self.string(text),
            scalar => serde_json::to_writer(&mut *self.0, scalar)
                .expect("writing into memory cannot fail"),
        }
    }
}

/// One stored event as the audit sees it: the row's own columns and JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub case_id: String,
    pub sequence: u64,
    pub event_type: String,
    pub event_version: String,
    pub payload: Value,
    pub metadata: Value,
}

/// The hash of an event: SHA-256 over the canonical JSON of
/// `{case_id, sequence, event_type, event_version, payload, metadata}`, where
/// `metadata` is the stored metadata without its `hash` (it keeps `prev_hash`).
/// The case id and sequence are the ones the event was written with (also
/// recorded in its metadata), so a moved or renumbered row no longer matches.
pub fn event_hash(
    case_id: &str,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    payload: &Value,
    metadata: &Value,
) -> String {
    event_hash_of_text(
        case_id,
        sequence,
        event_type,
        event_version,
        &canonical_json(payload),
        metadata,
    )
}

/// [`event_hash`] of a payload given as its canonical JSON text: a command
/// stores that same text, so the payload is written out once.
pub fn event_hash_of_text(
    case_id: &str,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    canonical_payload: &str,
    metadata: &Value,
) -> String {
    hash_of_parts(
        case_id,
        sequence,
        event_type,
        event_version,
        canonical_payload,
        |hasher| match metadata {
            Value::Object(map) => hasher.object(map, Some("hash")),
            other => hasher.value(other),
        },
    )
}

/// [`event_hash`] of a payload and an unhashed metadata object as canonical text.
pub fn event_hash_of_texts(
    case_id: &str,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    canonical_payload: &str,
    canonical_unhashed_metadata: &str,
) -> String {
    hash_of_parts(
        case_id,
        sequence,
        event_type,
        event_version,
        canonical_payload,
        |hasher| hasher.raw(canonical_unhashed_metadata),
    )
}

/// SHA-256 of the hashed object, put together in a buffer each thread reuses.
fn hash_of_parts(
    case_id: &str,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    canonical_payload: &str,
    write_metadata: impl FnOnce(&mut CanonicalHasher<'_>),
) -> String {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.clear();
        let mut hasher = CanonicalHasher(&mut buffer);
        // The members of the hashed object in code-point order of their keys:
        // case_id, event_type, event_version, metadata, payload, sequence.
        hasher.raw("{\"case_id\":");
        hasher.string(case_id);
        hasher.raw(",\"event_type\":");
        hasher.string(event_type);
        hasher.raw(",\"event_version\":");
        hasher.string(event_version);
        hasher.raw(",\"metadata\":");
        write_metadata(&mut hasher);
        hasher.raw(",\"payload\":");
        hasher.raw(canonical_payload);
        hasher.raw(",\"sequence\":");
        hasher.raw(&sequence.to_string());
        hasher.raw("}");
        hex(&Sha256::digest(buffer.as_slice()))
    })
}

/// [`event_hash`] as the specification states it: the canonical JSON text of
/// the whole object, then SHA-256. Kept to test the fast path against.
pub fn event_hash_by_specification(
    case_id: &str,
    sequence: u64,
    event_type: &str,
    event_version: &str,
    payload: &Value,
    metadata: &Value,
) -> String {
    let mut metadata = metadata.clone();
    if let Value::Object(map) = &mut metadata {
        map.remove("hash");
    }
    let input = serde_json::json!({
        "case_id": case_id,
        "sequence": sequence,
        "event_type": event_type,
        "event_version": event_version,
        "payload": payload,
        "metadata": metadata,
    });
    sha256_hex(canonical_json(&input).as_bytes())
}

/// What is wrong with a case's stored history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Damage {
    /// The event's payload or metadata is not what was hashed.
    Changed,
    /// An event is missing: the sequence jumps over this number.
    Missing,
    /// The event was written at another place in the case.
    Reordered { written_at: u64 },
    /// The event was written for another case.
    MovedFrom { case_id: String },
    /// The event does not follow the one before it (inserted or replaced).
    ChainBroken,
    /// The case ends before the head the checkpoint recorded.
    Truncated { head: u64, checkpoint_head: u64 },
    /// The event at the checkpoint's head is not the one the checkpoint recorded.
    RewrittenSinceCheckpoint,
    /// The checkpoint recorded this case; the store has no event of it.
    Deleted { checkpoint_head: u64 },
    /// The event attaches a document the store does not hold.
    DocumentMissing { sha256: String },
    /// The stored document's content no longer has the SHA-256 the event recorded.
    DocumentChanged { sha256: String },
}

impl Damage {
    pub fn describe(&self) -> String {
        match self {
            Damage::Changed => "payload or metadata changed".into(),
            Damage::Missing => "event missing (a gap in the sequence)".into(),
            Damage::Reordered { written_at } => {
                format!("events reordered (this event was written as number {written_at})")
            }
            Damage::MovedFrom { case_id } => format!("event moved from case {case_id}"),
            Damage::ChainBroken => "the chain is broken (an event was inserted or replaced)".into(),
            Damage::Truncated {
                head,
                checkpoint_head,
            } => {
                format!("tail truncated: the case ends at {head}, the checkpoint recorded {checkpoint_head}")
            }
            Damage::RewrittenSinceCheckpoint => {
                "history rewritten since the checkpoint (the head's hash differs)".into()
            }
            Damage::Deleted { checkpoint_head } => {
                format!("whole case deleted since the checkpoint (it had {checkpoint_head} events)")
            }
            Damage::DocumentMissing { sha256 } => {
                format!("the attached document {sha256} is not stored")
            }
            Damage::DocumentChanged { sha256 } => {
                format!(
                    "the attached document {sha256} was changed (its content has another SHA-256)"
                )
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub case_id: String,
    /// The first bad sequence.
    pub sequence: u64,
    pub damage: Damage,
}

fn text<'a>(metadata: &'a Value, key: &str) -> Option<&'a str> {
    metadata.get(key).and_then(Value::as_str)
}

/// The head of a verified chain: its last sequence and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub case_id: String,
    pub sequence: u64,
    pub hash: String,
}

/// What the chain check needs of one stored row, however it was read.
pub(crate) struct RowFacts<'a> {
    /// The row's own sequence column.
    pub sequence: u64,
    /// The case and sequence recorded in its metadata when it was written.
    pub written_case: Cow<'a, str>,
    pub written_sequence: Option<u64>,
    pub stored_hash: Cow<'a, str>,
    pub prev_hash: Option<Cow<'a, str>>,
}

/// Checks one case's rows, in the order of their stored sequence, by the
/// rules of `docs/audit.md`, whatever the rows were read as: `facts` reads a
/// row's columns and metadata, `hashes_to_stored` says whether it hashes to
/// the hash it stores (asked only when the checks before it pass).
pub(crate) fn check_chain<'r, R>(
    case_id: &str,
    rows: &'r [R],
    facts: impl Fn(&'r R) -> RowFacts<'r>,
    hashes_to_stored: impl Fn(&'r R, &RowFacts<'r>) -> bool,
) -> (Option<Head>, Option<Finding>) {
    let mut expected_sequence = 1;
    let mut previous: Cow<'r, str> = Cow::Borrowed(GENESIS);
    let mut finding = None;
    for row in rows {
        let facts = facts(row);
        let damage = if facts.written_case != case_id {
            Some((
                Damage::MovedFrom {
                    case_id: facts.written_case.to_string(),
                },
                facts.sequence,
            ))
        } else if facts.sequence > expected_sequence {
            Some((Damage::Missing, expected_sequence))
        } else if facts.written_sequence != Some(facts.sequence) {
            Some((
                Damage::Reordered {
                    written_at: facts.written_sequence.unwrap_or(0),
                },
                facts.sequence,
            ))
        } else if !hashes_to_stored(row, &facts) {
            Some((Damage::Changed, facts.sequence))
        } else if facts.prev_hash.as_deref() != Some(previous.as_ref()) {
            Some((Damage::ChainBroken, facts.sequence))
        } else {
            None
        };
        if let Some((damage, sequence)) = damage {
            finding = Some(Finding {
                case_id: case_id.to_string(),
                sequence,
                damage,
            });
            break;
        }
        expected_sequence = facts.sequence + 1;
        previous = facts.stored_hash;
    }
    let head = rows.last().map(|row| {
        let facts = facts(row);
        Head {
            case_id: case_id.to_string(),
            sequence: facts.sequence,
            hash: facts.stored_hash.into_owned(),
        }
    });
    (head, finding)
}

/// Checks one case's rows, in the order of their stored sequence. Returns the
/// head as stored and the first damage found, if any.
pub fn verify_chain(case_id: &str, rows: &[AuditRow]) -> (Option<Head>, Option<Finding>) {
    check_chain(
        case_id,
        rows,
        |row| RowFacts {
            sequence: row.sequence,
            written_case: Cow::Borrowed(text(&row.metadata, "case_id").unwrap_or_default()),
            written_sequence: text(&row.metadata, "sequence").and_then(|s| s.parse().ok()),
            stored_hash: Cow::Borrowed(text(&row.metadata, "hash").unwrap_or_default()),
            prev_hash: text(&row.metadata, "prev_hash").map(Cow::Borrowed),
        },
        |row, facts| {
            event_hash(
                case_id,
                row.sequence,
                &row.event_type,
                &row.event_version,
                &row.payload,
                &row.metadata,
            ) == facts.stored_hash
        },
    )
}

/// Compares a case with what a checkpoint recorded of it. `hash_at` gives
/// the stored hash of the case's event at a sequence.
pub fn check_against_checkpoint(
    recorded: &Head,
    stored_head: Option<&Head>,
    hash_at_recorded_sequence: Option<&str>,
) -> Option<Finding> {
    let finding = |sequence, damage| {
        Some(Finding {
            case_id: recorded.case_id.clone(),
            sequence,
            damage,
        })
    };
    match stored_head {
        None => finding(
            1,
            Damage::Deleted {
                checkpoint_head: recorded.sequence,
            },
        ),
        Some(head) if head.sequence < recorded.sequence => finding(
            head.sequence + 1,
            Damage::Truncated {
                head: head.sequence,
                checkpoint_head: recorded.sequence,
            },
        ),
        Some(_) if hash_at_recorded_sequence != Some(recorded.hash.as_str()) => {
            finding(recorded.sequence, Damage::RewrittenSinceCheckpoint)
        }
        Some(_) => None,
    }
}

/// A Merkle root over case heads, sorted by case id.
/// Leaf: SHA-256 of `leaf\n{case_id}\n{sequence}\n{hash}`; node: SHA-256 of
/// `node\n{left}\n{right}` (hex); an odd node is carried up unchanged; no
/// cases: SHA-256 of `empty`.
pub fn merkle_root(heads: &[Head]) -> String {
    let mut sorted: Vec<&Head> = heads.iter().collect();
    sorted.sort_by(|a, b| a.case_id.cmp(&b.case_id));
    let mut level: Vec<String> = sorted
        .iter()
        .map(|head| {
            sha256_hex(
                format!("leaf\n{}\n{}\n{}", head.case_id, head.sequence, head.hash).as_bytes(),
            )
        })
        .collect();
    if level.is_empty() {
        return sha256_hex(b"empty");
    }
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [left, right] => sha256_hex(format!("node\n{left}\n{right}").as_bytes()),
                [single] => single.clone(),
                _ => unreachable!("chunks of two"),
            })
            .collect();
    }
    level.pop().expect("one root")
}

/// A checkpoint: every case's head and one root over them, optionally signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub taken_at: String,
    pub cases: u64,
    pub events: u64,
    pub root: String,
    pub heads: Vec<Head>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

pub const CHECKPOINT_FORMAT: &str = "onething-checkpoint-1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint's root does not match its heads")]
    RootMismatch,
    #[error("the checkpoint's counts do not match its heads")]
    CountMismatch,
    #[error("the checkpoint's signature is not valid for its public key")]
    BadSignature,
    #[error("the signing key must be 64 hexadecimal characters (a 32-byte Ed25519 seed)")]
    BadKey,
    #[error("the trusted key must be 64 hexadecimal characters (an Ed25519 public key)")]
    BadTrustedKey,
    #[error("the checkpoint is not signed, and only a checkpoint signed with the trusted key is accepted")]
    Unsigned,
    #[error("the checkpoint is signed with the key {found}, not with the trusted key")]
    UntrustedKey { found: String },
}

fn decode_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.trim();
    if text.len() != N * 2 {
        return None;
    }
    let mut bytes = [0u8; N];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(index * 2..index * 2 + 2)?, 16).ok()?;
    }
    Some(bytes)
}

impl Checkpoint {
    pub fn new(taken_at: String, heads: Vec<Head>) -> Checkpoint {
        let mut heads = heads;
        heads.sort_by(|a, b| a.case_id.cmp(&b.case_id));
        Checkpoint {
            format: CHECKPOINT_FORMAT.to_string(),
            taken_at,
            cases: heads.len() as u64,
            events: heads.iter().map(|head| head.sequence).sum(),
            root: merkle_root(&heads),
            heads,
            public_key: None,
            signature: None,
        }
    }

    /// What is signed: the format, root, time and counts, one per line.
    pub fn signed_message(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.format, self.root, self.taken_at, self.cases, self.events
        )
    }

    /// Signs with an Ed25519 seed given as 64 hex characters.
    pub fn sign(&mut self, seed_hex: &str) -> Result<(), CheckpointError> {
        let seed: [u8; 32] = decode_hex(seed_hex).ok_or(CheckpointError::BadKey)?;
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let signature = key.sign(self.signed_message().as_bytes());
        self.public_key = Some(hex(key.verifying_key().as_bytes()));
        self.signature = Some(hex(&signature.to_bytes()));
        Ok(())
    }

    /// Checks the root, the counts and (when present) the signature.
    pub fn check(&self) -> Result<(), CheckpointError> {
        if merkle_root(&self.heads) != self.root {
            return Err(CheckpointError::RootMismatch);
        }
        if self.cases != self.heads.len() as u64
            || self.events != self.heads.iter().map(|h| h.sequence).sum::<u64>()
        {
            return Err(CheckpointError::CountMismatch);
        }
        if let (Some(public_key), Some(signature)) = (&self.public_key, &self.signature) {
            let key: [u8; 32] = decode_hex(public_key).ok_or(CheckpointError::BadSignature)?;
            let signature: [u8; 64] = decode_hex(signature).ok_or(CheckpointError::BadSignature)?;
            let key = ed25519_dalek::VerifyingKey::from_bytes(&key)
                .map_err(|_| CheckpointError::BadSignature)?;
            key.verify(
                self.signed_message().as_bytes(),
                &ed25519_dalek::Signature::from_bytes(&signature),
            )
            .map_err(|_| CheckpointError::BadSignature)?;
        }
        Ok(())
    }

    /// As [`Checkpoint::check`], and the checkpoint must be signed with the
    /// key `trusted` (an Ed25519 public key as 64 hex characters): the key
    /// written in the file itself proves nothing.
    pub fn check_trusted(&self, trusted: &str) -> Result<(), CheckpointError> {
        let trusted: [u8; 32] = decode_hex(trusted).ok_or(CheckpointError::BadTrustedKey)?;
        self.check()?;
        let (Some(public_key), Some(_)) = (&self.public_key, &self.signature) else {
            return Err(CheckpointError::Unsigned);
        };
        if decode_hex::<32>(public_key) != Some(trusted) {
            return Err(CheckpointError::UntrustedKey {
                found: public_key.clone(),
            });
        }
        Ok(())
    }

    pub fn heads_by_case(&self) -> BTreeMap<&str, &Head> {
        self.heads
            .iter()
            .map(|head| (head.case_id.as_str(), head))
            .collect()
    }
}

/// The public key (64 hex characters) of an Ed25519 seed given as hex: what
/// verifiers pass as the trusted key.
pub fn public_key_hex(seed_hex: &str) -> Result<String, CheckpointError> {
    let seed: [u8; 32] = decode_hex(seed_hex).ok_or(CheckpointError::BadKey)?;
    Ok(hex(ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .as_bytes()))
}

/// A new Ed25519 seed from 32 bytes of the caller's randomness, as hex.
pub fn seed_hex(random: [u8; 32]) -> String {
    hex(&random)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let value = json!({"b": 1, "a": {"d": [1, "x"], "c": null}, "é": "中文\n"});
        assert_eq!(
            canonical_json(&value),
            r#"{"a":{"c":null,"d":[1,"x"]},"b":1,"é":"中文\n"}"#
        );
    }

    #[test]
    fn the_streamed_event_hash_is_the_specified_one() {
        let payloads = [
            json!({"command_id": "c-1", "actor": {"kind": "agency", "agency": "police", "operator": "王警官"},
                   "at": "2026-06-01T02:00:00Z",
                   "change": {"type": "step_completed", "step": "s", "outputs": {"n": 1.5, "big": 9007199254740993_u64,
                   "neg": -3, "quote": "a\"b\\c\u{1}\t", "list": [true, null, {"z": 1, "a": []}], "é": "中文"}}}),
            json!([]),
            json!("plain"),
        ];
        let metadata = [
            json!({"prev_hash": GENESIS, "hash": "to be left out", "sequence": "3", "agencies": ",a,b,"}),
            json!({}),
            json!(null),
        ];
        for payload in &payloads {
            for metadata in &metadata {
                assert_eq!(
                    event_hash("C1", 3, "step_completed", "1", payload, metadata),
                    event_hash_by_specification("C1", 3, "step_completed", "1", payload, metadata),
                    "{payload} {metadata}"
                );
            }
        }
    }

    #[test]
    fn merkle_roots_depend_on_every_head() {
        let head = |case: &str, sequence, hash: &str| Head {
            case_id: case.into(),
            sequence,
            hash: hash.into(),
        };
        let heads = vec![head("B", 2, "bb"), head("A", 1, "aa"), head("C", 3, "cc")];
        let root = merkle_root(&heads);
        let mut reordered = heads.clone();
        reordered.reverse();
        assert_eq!(
            merkle_root(&reordered),
            root,
            "order of input does not matter"
        );
        let mut changed = heads.clone();
        changed[2].sequence = 4;
        assert_ne!(merkle_root(&changed), root);
        assert_eq!(merkle_root(&[]), sha256_hex(b"empty"));
    }

    #[test]
    fn signed_checkpoints_verify_and_tampered_ones_do_not() {
        let heads = vec![Head {
            case_id: "A".into(),
            sequence: 3,
            hash: "ab".into(),
        }];
        let mut checkpoint = Checkpoint::new("2025-01-01T00:00:00.000Z".into(), heads);
        checkpoint.sign(&"07".repeat(32)).unwrap();
        assert_eq!(checkpoint.check(), Ok(()));
        let mut forged = checkpoint.clone();
        forged.taken_at = "2025-01-02T00:00:00.000Z".into();
        assert_eq!(forged.check(), Err(CheckpointError::BadSignature));
        let mut forged = checkpoint.clone();
        forged.heads[0].sequence = 2;
        assert_eq!(forged.check(), Err(CheckpointError::RootMismatch));
        assert_eq!(checkpoint.clone().sign("zz"), Err(CheckpointError::BadKey));
    }
}
