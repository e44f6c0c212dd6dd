//! Commands: what someone asks a case to do. Each carries its id, who asks
//! and when, so that deciding needs no clock and no id generator.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The registry id of the comprehensive window (综合窗口), which may open
/// a case of any bundle and act for the applicant.
pub const WINDOW_AGENCY: &str = "window";
/// The electronic supervision office (电子监察): it reads every case and
/// issues supervision notices (督办通知) on late steps, nothing else.
pub const SUPERVISION_AGENCY: &str = "supervision";
/// The questions a rating (好差评) answers beside the overall level, as the
/// national evaluation standard asks them: 办事效率, 服务态度, 办事便捷度.
pub const RATING_ASPECTS: [&str; 3] = ["efficiency", "attitude", "convenience"];

/// Who acts: an agency (optionally a named operator of it), the applicant,
/// or the engine itself (deadline checks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    Agency {
        agency: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operator: Option<String>,
    },
    Applicant {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    System,
}

impl Actor {
    /// Parses `AGENCY[/OPERATOR]`, `applicant[/ID]` or `system`.
    pub fn parse(text: &str) -> Option<Actor> {
        let (head, tail) = match text.split_once('/') {
            Some((head, tail)) => (head, Some(tail.to_string()).filter(|t| !t.is_empty())),
            None => (text, None),
        };
        match head {
            "" => None,
            "applicant" => Some(Actor::Applicant { id: tail }),
            "system" if tail.is_none() => Some(Actor::System),
            agency => Some(Actor::Agency {
                agency: agency.to_string(),
                operator: tail,
            }),
        }
    }

    pub fn agency(&self) -> Option<&str> {
        match self {
            Actor::Agency { agency, .. } => Some(agency),
            _ => None,
        }
    }

    pub fn is_window(&self) -> bool {
        self.agency() == Some(WINDOW_AGENCY)
    }
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::Agency {
                agency,
                operator: Some(operator),
            } => write!(f, "{agency}/{operator}"),
            Actor::Agency {
                agency,
                operator: None,
            } => write!(f, "{agency}"),
            Actor::Applicant { id: Some(id) } => write!(f, "applicant/{id}"),
            Actor::Applicant { id: None } => write!(f, "applicant"),
            Actor::System => write!(f, "system"),
        }
    }
}

/// How the application came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Window,
    Online,
    SelfService,
    /// 帮办代办: staff apply on the citizen's behalf.
    Proxy,
}

/// How the applicant provides a material at opening.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum MaterialProvision {
    Submitted,
    /// Fetched from the e-licence store or produced by an earlier step.
    Shared,
    /// Accepted with deficiency (容缺受理): to be supplied by the deadline.
    Promised {
        deadline: DateTime<Utc>,
    },
    /// Replaced by the applicant's signed commitment (告知承诺制).
    Commitment,
    /// Not needed for this case.
    Waived,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialDeclaration {
    pub material: String,
    #[serde(flatten)]
    pub provision: MaterialProvision,
}

/// What is asked of the case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Open {
        /// The new case's id, chosen by the caller (derived from the command id,
        /// so that repeating the open command finds the same case).
        case_id: String,
        workflow: String,
        form: Value,
        #[serde(default)]
        materials: Vec<MaterialDeclaration>,
        #[serde(default)]
        opted_in: Vec<String>,
        #[serde(default)]
        channel: Channel,
    },
    Complete {
        step: String,
        #[serde(default)]
        outputs: Value,
    },
    Return {
        step: String,
        to: String,
        reason: String,
    },
    Refuse {
        step: String,
        reason: String,
    },
    RequestSupplement {
        step: String,
        items: Vec<String>,
        reason: String,
    },
    /// 延期: the owning agency asks for more time before the limit runs out;
    /// `length` (e.g. `5 working days`) defaults to the longest allowed.
    Extend {
        step: String,
        #[serde(default)]
        length: Option<String>,
        reason: String,
    },
    /// The approving agency grants or denies a requested extension.
    DecideExtension {
        step: String,
        approve: bool,
        reason: String,
    },
    /// 特别程序: the agency stops its step's clock for a hearing, test,
    /// appraisal, expert review or public notice.
    Suspend {
        step: String,
        procedure: String,
        reason: String,
    },
    /// The special procedure is over: the clock runs again.
    Resume {
        step: String,
    },
    /// The applicant supplies what was asked (items by name) and promised materials.
    Supplement {
        #[serde(default)]
        items: serde_json::Map<String, Value>,
        #[serde(default)]
        materials: Vec<String>,
    },
    Pay {
        payer: String,
        amount: i64,
        receipt: String,
    },
    Withdraw {
        reason: String,
    },
    Rate {
        score: u8,
        #[serde(default)]
        comment: Option<String>,
        /// The questions of the national rules beside the overall score
        /// ([`RATING_ASPECTS`]: efficiency, attitude, convenience), each 1–5;
        /// any may be left out.
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        aspects: std::collections::BTreeMap<String, u8>,
    },
    /// The rules' default rating (默认评价) of an ended case the applicant
    /// did not rate within `after_days` natural days of its end; only the
    /// scheduler records it (e.g. Guangdong: 7 days, 3 = 基本满意).
    RateByDefault {
        score: u8,
        after_days: u32,
    },
    /// Attaches a scanned document, already stored by its SHA-256 (the
    /// window, or an agency with a step of the case under way).
    AttachDocument {
        document: super::event::DocumentRecord,
    },
    /// The window records the follow-up of a bad rating (差评回访整改): what
    /// was done, and whether the applicant's problem is solved.
    RecordFollowUp {
        result: String,
        resolved: bool,
    },
    /// Electronic supervision tells the agency of a late step to act and to
    /// answer (督办通知).
    Supervise {
        step: String,
        notice: String,
    },
    /// The step's agency answers the supervision notice on it.
    AnswerSupervision {
        step: String,
        answer: String,
    },
    /// A person of the step's agency takes its task on (认领/签收): the
    /// actor's operator is recorded as the step's 承办人 for this pass.
    /// Claiming a task another person of the agency holds re-assigns it;
    /// claiming it again as its holder changes nothing (no event).
    ClaimTask {
        step: String,
    },
    /// The dispatcher of a dispatched step chooses the agency that handles
    /// it (派单): `to` leads (主办), `with` co-handle (协办), all from the
    /// step's declared set.
    Dispatch {
        step: String,
        to: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        with: Vec<String>,
    },
    /// The lead of a dispatched step sends it back to its dispatcher (退单),
    /// which dispatches it again.
    SendBack {
        step: String,
        reason: String,
        /// The rule the send-back rests on (the 职责清单 item, say).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        basis: Option<String>,
    },
    /// A co-handler of a dispatched step reports its part (协办意见), once
    /// per dispatch.
    Report {
        step: String,
        text: String,
        #[serde(default, skip_serializing_if = "Value::is_null")]
        outputs: Value,
    },
    CheckDeadlines,
    /// Counts every running step's deadline again on the current calendar
    /// (the scheduler, after a calendar changed): `reason` says what changed.
    ReviseDeadlines {
        reason: String,
    },
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Open { .. } => "open",
            Action::Supervise { .. } => "supervise",
            Action::RecordFollowUp { .. } => "record_follow_up",
            Action::AnswerSupervision { .. } => "answer_supervision",
            Action::ClaimTask { .. } => "claim_task",
            Action::Dispatch { .. } => "dispatch",
            Action::SendBack { .. } => "send_back",
            Action::Report { .. } => "report",
            Action::Complete { .. } => "complete",
            Action::Return { .. } => "return",
            Action::Refuse { .. } => "refuse",
            Action::RequestSupplement { .. } => "request_supplement",
            Action::Extend { .. } => "extend",
            Action::DecideExtension { .. } => "decide_extension",
            Action::Suspend { .. } => "suspend",
            Action::Resume { .. } => "resume",
            Action::Supplement { .. } => "supplement",
            Action::Pay { .. } => "pay",
            Action::Withdraw { .. } => "withdraw",
            Action::Rate { .. } => "rate",
            Action::RateByDefault { .. } => "rate_by_default",
            Action::AttachDocument { .. } => "attach_document",
            Action::CheckDeadlines => "check_deadlines",
            Action::ReviseDeadlines { .. } => "revise_deadlines",
        }
    }
}

/// A command with its envelope: id (for idempotency), actor and time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseCommand {
    pub command_id: String,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub action: Action,
}
