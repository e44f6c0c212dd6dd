//! A case's rating (好差评) as its state keeps it, with the follow-up a bad
//! rating opens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub score: u8,
    pub comment: Option<String>,
    /// Efficiency, attitude, convenience: 1–5 each, as answered.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub aspects: std::collections::BTreeMap<String, u8>,
    /// The rules' default, recorded by the scheduler (默认评价).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_default: bool,
    pub follow_up_due: Option<DateTime<Utc>>,
    /// The follow-up as recorded: what was done, whether it solved the
    /// applicant's problem, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub result: String,
    pub resolved: bool,
    pub at: DateTime<Utc>,
}
