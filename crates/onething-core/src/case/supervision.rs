//! The supervision notices (督办通知) of a case as its state keeps them: each
//! notice on a late step, and the agency's answer once given.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::Change;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisionRecord {
    pub step: String,
    pub notice: String,
    pub issued_at: DateTime<Utc>,
    pub answer_by: DateTime<Utc>,
    pub answer: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// Applies a supervision event to the case's notices.
pub(super) fn apply(notices: &mut Vec<SupervisionRecord>, change: Change, at: DateTime<Utc>) {
    match change {
        Change::SupervisionNoticeIssued {
            step,
            notice,
            answer_by,
            ..
        } => notices.push(SupervisionRecord {
            step,
            notice,
            issued_at: at,
            answer_by,
            answer: None,
            answered_at: None,
        }),
        Change::SupervisionAnswered { step, answer } => {
            if let Some(waiting) = notices
                .iter_mut()
                .rev()
                .find(|n| n.step == step && n.answer.is_none())
            {
                waiting.answer = Some(answer);
                waiting.answered_at = Some(at);
            }
        }
        _ => {}
    }
}
