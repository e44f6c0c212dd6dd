//! Events: what happened to a case. They are stored forever, so their names
//! and shapes are a compatibility boundary: add fields with defaults, never
//! rename; a change of meaning is a new version with an upcaster.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::command::{Actor, Channel, MaterialProvision};
use crate::calendar::TimeSpan;
use crate::localized::Localized;
use crate::value_type::ValueKind;

/// Every event carries the command that caused it, who gave it and when,
/// so that replay alone can answer "who did what, when".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseEvent {
    pub command_id: String,
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSeed {
    pub id: String,
    pub agency: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentRecord {
    /// The material it is a scan of, when it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    /// The file's name as uploaded.
    pub name: String,
    /// `application/pdf`, `image/jpeg` or `image/png`.
    pub media_type: String,
    /// The SHA-256 of the content, in lower-case hex.
    pub sha256: String,
    pub size: u64,
}

/// The media types a scanned document may have.
pub const DOCUMENT_MEDIA_TYPES: [&str; 3] = ["application/pdf", "image/jpeg", "image/png"];
/// The largest document: 10 MiB.
pub const MAX_DOCUMENT_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaterialRecord {
    pub material: String,
    #[serde(flatten)]
    pub provision: MaterialProvision,
    /// Whether the applicant had to hand it over (false for shared data).
    pub from_applicant: bool,
}

/// One input of a step as it was evaluated when the step started: its name,
/// label and type as declared, and its value (`null` when the data it reads
/// was not given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputValue {
    pub name: String,
    pub label: Localized,
    #[serde(rename = "type")]
    pub kind: ValueKind,
    /// The element type of a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<ValueKind>,
    pub value: Value,
    /// The value came from the input's `fallback`: a step its `value`
    /// reads was skipped.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedBillItem {
    pub payee: String,
    pub label: Localized,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedBill {
    pub payer: String,
    pub items: Vec<IssuedBillItem>,
    pub total: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Its `when` condition was false.
    ConditionFalse,
    /// Every step it waits on was skipped.
    UpstreamSkipped,
    /// The applicant did not opt into it.
    NotOptedIn,
    /// Another branch of its choice runs.
    OtherBranch,
    /// A multi-instance step whose list was empty: no item, no task.
    NoItems,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// A step it depends on was refused.
    UpstreamRefused,
    Withdrawn,
    /// A promised material was not supplied in time.
    Terminated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseOutcome {
    Completed,
    PartiallyCompleted,
    Withdrawn,
    Terminated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    CaseOpened {
        case_id: String,
        workflow: String,
        version: u32,
        hash: String,
        channel: Channel,
        form: Value,
        materials: Vec<MaterialRecord>,
        opted_in: Vec<String>,
        steps: Vec<StepSeed>,
        /// The date the bundle's promised limit (承诺时限) runs out, counted
        /// from the application: what the receipt promises the applicant.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        promised_by: Option<DateTime<Utc>>,
        /// The provisional calendar years `promised_by` was counted on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        promise_provisional_years: Vec<i32>,
    },
    StepActivated {
        step: String,
        due: Option<DateTime<Utc>>,
        warn_at: Option<DateTime<Utc>>,
        /// The provisional calendar years (no official holiday table yet)
        /// that the due time or warning point was counted on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        provisional_years: Vec<i32>,
        /// The step takes up the clock of the pass that a return by its own
        /// agency interrupted (its start, stops, extension, warning and
        /// overdue marks), instead of starting a new one: only its own
        /// agency's steps were done again in between.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        continued: bool,
        /// The step's statutory deadline (法定时限), counted from the same
        /// start and moves, when the step has a statutory limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statutory: Option<StatutoryDeadline>,
        /// The data the step receives (`[[step.input]]`), evaluated as it
        /// starts: what its agency's task shows. Absent for a step that
        /// declares none, so events written before inputs keep their hash.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        inputs: Vec<InputValue>,
    },
    /// A multi-instance step (`for_each`) starts: its list, evaluated once,
    /// gives one instance per item, `step.1` … `step.n`, each of which then
    /// starts with its own `step_activated` (all at once, or one after
    /// another).
    StepInstancesStarted {
        step: String,
        items: Vec<Value>,
    },
    StepSkipped {
        step: String,
        reason: SkipReason,
        /// Why a condition could not be evaluated, when that is why it was skipped.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    BillsIssued {
        step: String,
        bills: Vec<IssuedBill>,
    },
    PaymentReceived {
        step: String,
        payer: String,
        amount: i64,
        receipt: String,
    },
    StepCompleted {
        step: String,
        outputs: Value,
    },
    StepReturned {
        step: String,
        to: String,
        reason: String,
        /// Every step set back to waiting, the target included.
        reset: Vec<String>,
    },
    StepRefused {
        step: String,
        reason: String,
    },
    StepCancelled {
        step: String,
        reason: CancelReason,
    },
    SupplementRequested {
        step: String,
        items: Vec<String>,
        reason: String,
    },
    SupplementProvided {
        items: serde_json::Map<String, Value>,
        materials: Vec<String>,
        /// Steps that resume, with their new due times.
        resumed: Vec<ResumedStep>,
    },
    /// An extension waits for the approving agency.
    ExtensionRequested {
        step: String,
        length: TimeSpan,
        reason: String,
    },
    /// The step's limit now runs to `due` (granted by its own agency on
    /// request, or by the approver).
    StepExtended {
        step: String,
        length: TimeSpan,
        reason: String,
        due: DateTime<Utc>,
        warn_at: Option<DateTime<Utc>>,
        /// The provisional calendar years (no official holiday table yet)
        /// that the due time or warning point was counted on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        provisional_years: Vec<i32>,
        /// The step's statutory deadline (法定时限), counted from the same
        /// start and moves, when the step has a statutory limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statutory: Option<StatutoryDeadline>,
    },
    ExtensionDenied {
        step: String,
        reason: String,
    },
    /// The step's clock stops for a special procedure.
    StepSuspended {
        step: String,
        procedure: String,
        reason: String,
    },
    /// The clock runs again; the due time moved by the time it stood still.
    StepResumed {
        step: String,
        due: Option<DateTime<Utc>>,
        warn_at: Option<DateTime<Utc>>,
        /// The provisional calendar years (no official holiday table yet)
        /// that the due time or warning point was counted on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        provisional_years: Vec<i32>,
        /// The step's statutory deadline (法定时限), counted from the same
        /// start and moves, when the step has a statutory limit.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statutory: Option<StatutoryDeadline>,
    },
    /// The calendar changed (e.g. the official holiday table replaced a
    /// provisional year): the step's due time and warning point, counted
    /// again from its start and its stops, are now these.
    DeadlineRevised {
        step: String,
        previous_due: Option<DateTime<Utc>>,
        due: Option<DateTime<Utc>>,
        previous_warn_at: Option<DateTime<Utc>>,
        warn_at: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        provisional_years: Vec<i32>,
        /// The calendar change that caused it, in words.
        reason: String,
        /// The step was marked overdue and, by the revised time, is not.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        overdue_cleared: bool,
        /// The step was warned and its revised warning point is still ahead.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        warning_cleared: bool,
        /// The statutory deadline counted again, when the step has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statutory: Option<StatutoryDeadline>,
        /// Like `overdue_cleared` and `warning_cleared`, for the statutory deadline.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        statutory_overdue_cleared: bool,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        statutory_warning_cleared: bool,
        /// The escalation points reached that, by the revised due time, are
        /// still ahead: they are reached again when their time comes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        escalations_cleared: Vec<String>,
    },
    /// The warning point of the promised limit (the step's `time_limit`).
    StepWarned {
        step: String,
    },
    /// Past the due time of the promised limit (承诺时限).
    StepOverdue {
        step: String,
    },
    /// The warning point of the step's statutory limit.
    StepStatutoryWarned {
        step: String,
    },
    /// Past the due time of the step's statutory limit (法定时限): what the
    /// supervision figures count as a breach of the law, apart from a
    /// broken promise.
    StepStatutoryOverdue {
        step: String,
    },
    /// The deadline check reached one of the step's escalation points
    /// (催办, 通报 …) after its due time.
    StepEscalated {
        step: String,
        escalation: String,
        /// The point's name as the bundle declared it, so the history reads
        /// without the definition.
        name: Localized,
    },
    MaterialDeadlineMissed {
        material: String,
    },
    CaseWithdrawn {
        reason: String,
    },
    RefundOwed {
        step: String,
        payer: String,
        payee: String,
        amount: i64,
    },
    CaseEnded {
        outcome: CaseOutcome,
        delivered: Vec<String>,
        not_delivered: Vec<String>,
    },
    CaseRated {
        score: u8,
        comment: Option<String>,
        #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
        aspects: std::collections::BTreeMap<String, u8>,
        /// Recorded by the scheduler when the applicant gave none in the
        /// period (默认评价); left out of the applicant's own ratings.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        by_default: bool,
    },
    /// The calendar changed: the promised date, counted again, is this.
    PromiseRevised {
        previous: Option<DateTime<Utc>>,
        promised_by: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        provisional_years: Vec<i32>,
        reason: String,
    },
    /// A scanned document (PDF, JPEG, PNG) was attached to the case: its
    /// content is stored apart, by this SHA-256, which the chain covers.
    DocumentAttached {
        document: DocumentRecord,
    },
    /// The follow-up of a bad rating is done.
    FollowUpRecorded {
        result: String,
        resolved: bool,
    },
    /// A supervision notice (督办通知) on a late step: its agency must answer
    /// by `answer_by`.
    SupervisionNoticeIssued {
        step: String,
        notice: String,
        answer_by: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        provisional_years: Vec<i32>,
    },
    SupervisionAnswered {
        step: String,
        answer: String,
    },
    /// A person of the step's agency took its task on (认领): `by` is the
    /// operator's name, the step's 承办人 until another claims it or the
    /// step starts a new pass.
    TaskClaimed {
        step: String,
        by: String,
    },
    /// The dispatcher chose the agencies of a dispatched step: `lead`
    /// handles and completes it, each of `co_handlers` reports its part.
    /// The step's clock starts here (the handling limit counts from
    /// dispatch).
    StepDispatched {
        step: String,
        lead: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        co_handlers: Vec<String>,
        due: Option<DateTime<Utc>>,
        warn_at: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        provisional_years: Vec<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statutory: Option<StatutoryDeadline>,
    },
    /// The lead sent the step back to its dispatcher (退单): it awaits
    /// dispatch again, and the reports of this dispatch no longer count.
    StepSentBack {
        step: String,
        by: String,
        to: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        basis: Option<String>,
    },
    /// A co-handler of a dispatched step reported its part.
    CoHandlerReported {
        step: String,
        agency: String,
        text: String,
        #[serde(default, skip_serializing_if = "Value::is_null")]
        outputs: Value,
    },
    FollowUpOpened {
        due: DateTime<Utc>,
        /// The provisional calendar years (no official holiday table yet)
        /// that the due time or warning point was counted on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        provisional_years: Vec<i32>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumedStep {
    pub step: String,
    pub due: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statutory: Option<StatutoryDeadline>,
}

/// When a step's statutory limit (法定时限) runs out and when it is warned
/// of, as counted when its clock started or moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatutoryDeadline {
    pub due: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_at: Option<DateTime<Utc>>,
    /// The provisional calendar years the count went through.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i32>,
}

impl Change {
    /// The stable name stored with the event.
    pub fn name(&self) -> &'static str {
        match self {
            Change::CaseOpened { .. } => "case_opened",
            Change::StepActivated { .. } => "step_activated",
            Change::StepInstancesStarted { .. } => "step_instances_started",
            Change::StepSkipped { .. } => "step_skipped",
            Change::BillsIssued { .. } => "bills_issued",
            Change::PaymentReceived { .. } => "payment_received",
            Change::StepCompleted { .. } => "step_completed",
            Change::StepReturned { .. } => "step_returned",
            Change::StepRefused { .. } => "step_refused",
            Change::StepCancelled { .. } => "step_cancelled",
            Change::SupplementRequested { .. } => "supplement_requested",
            Change::SupplementProvided { .. } => "supplement_provided",
            Change::ExtensionRequested { .. } => "extension_requested",
            Change::StepExtended { .. } => "step_extended",
            Change::ExtensionDenied { .. } => "extension_denied",
            Change::StepSuspended { .. } => "step_suspended",
            Change::StepResumed { .. } => "step_resumed",
            Change::DeadlineRevised { .. } => "deadline_revised",
            Change::StepWarned { .. } => "step_warned",
            Change::StepOverdue { .. } => "step_overdue",
            Change::StepStatutoryWarned { .. } => "step_statutory_warned",
            Change::StepStatutoryOverdue { .. } => "step_statutory_overdue",
            Change::StepEscalated { .. } => "step_escalated",
            Change::MaterialDeadlineMissed { .. } => "material_deadline_missed",
            Change::CaseWithdrawn { .. } => "case_withdrawn",
            Change::RefundOwed { .. } => "refund_owed",
            Change::CaseEnded { .. } => "case_ended",
            Change::CaseRated { .. } => "case_rated",
            Change::DocumentAttached { .. } => "document_attached",
            Change::FollowUpOpened { .. } => "follow_up_opened",
            Change::FollowUpRecorded { .. } => "follow_up_recorded",
            Change::SupervisionNoticeIssued { .. } => "supervision_notice_issued",
            Change::SupervisionAnswered { .. } => "supervision_answered",
            Change::TaskClaimed { .. } => "task_claimed",
            Change::StepDispatched { .. } => "step_dispatched",
            Change::StepSentBack { .. } => "step_sent_back",
            Change::CoHandlerReported { .. } => "co_handler_reported",
            Change::PromiseRevised { .. } => "promise_revised",
        }
    }
}

impl cqrs_es::DomainEvent for CaseEvent {
    fn event_type(&self) -> String {
        self.change.name().to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}
