//! A case's rating (好差评) as its state keeps it, with the follow-up a bad
//! rating opens.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rating {
    pub score: u8,
    pub comment: Option<String>,
    pub follow_up_due: Option<DateTime<Utc>>,
}
