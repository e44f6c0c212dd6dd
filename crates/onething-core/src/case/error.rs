//! Why a case refuses a command. Every variant is the case saying no; none is
//! an infrastructure failure (those live in the store's error type).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::CalendarError;
use crate::value_type::ValueProblem;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum CaseError {
    #[error("no such case")]
    NotOpened,
    #[error("the case is already open")]
    AlreadyOpened,
    #[error("unknown workflow `{workflow}`")]
    UnknownWorkflow { workflow: String },
    /// No version of the bundle is in force on the application date.
    #[error("bundle `{workflow}` is not in force on {date} (its versions: {}); cases already open run to their end", periods.join("; "))]
    NotInForce {
        workflow: String,
        date: String,
        periods: Vec<String>,
    },
    #[error("the definition {hash} this case runs on is not available")]
    UnknownDefinition { hash: String },
    #[error("the calendar `{calendar}` is not available")]
    UnknownCalendar { calendar: String },
    /// Everything wrong with an application, at once: form fields
    /// (`form.NAME`), materials (`materials.ID`) and chosen services (`opted_in`).
    #[error("the application has {} problem(s): {}", problems.len(), join(problems))]
    InvalidApplication { problems: Vec<ValueProblem> },
    #[error("{actor} may not {action}: {reason}")]
    Forbidden {
        actor: String,
        action: String,
        reason: String,
    },
    /// An agency acting on a step of a bundle that does not name it (a typo,
    /// or an agency of another bundle).
    #[error("no agency \"{agency}\" in workflow `{workflow}` (its agencies: {})", known.join(", "))]
    UnknownAgency {
        agency: String,
        workflow: String,
        known: Vec<String>,
    },
    /// A command dated before the case's last event (or its opening): a
    /// case's events are kept in the order of their times.
    #[error(
        "the command is dated {}, before the case's last event at {}: a case's events are kept in time order",
        at.to_rfc3339(),
        last_event_at.to_rfc3339()
    )]
    BeforeLastEvent {
        at: DateTime<Utc>,
        last_event_at: DateTime<Utc>,
    },
    #[error("unknown step `{step}`")]
    UnknownStep { step: String },
    #[error("step `{step}` is {state}, not active")]
    StepNotActive { step: String, state: String },
    #[error("the outputs of step `{step}` have {} problem(s): {}", problems.len(), join(problems))]
    InvalidOutputs {
        step: String,
        problems: Vec<ValueProblem>,
    },
    #[error("step `{step}` is a payment: it completes when every bill is paid")]
    PaymentStep { step: String },
    #[error("step `{step}` cannot return to `{to}` (allowed: {})", allowed.join(", "))]
    NotAReturnTarget {
        step: String,
        to: String,
        allowed: Vec<String>,
    },
    /// The target was skipped in this case: nothing of it was done, so
    /// nothing can be done again; only the returning step would start anew.
    #[error("step `{step}` cannot return to `{to}`: it was skipped in this case, so there is nothing of it to do again")]
    ReturnToSkippedStep { step: String, to: String },
    #[error("cannot return past step `{step}`: payments for it were already received")]
    ReturnPastPayment { step: String },
    #[error("step `{step}` may not ask for supplements")]
    SupplementNotAllowed { step: String },
    #[error("a supplement request must list at least one item")]
    NoSupplementItems,
    #[error("step `{step}` has no extension (延期) in its workflow")]
    ExtensionNotAllowed { step: String },
    #[error("step `{step}` already had its extension in this pass ({state})")]
    ExtensionUsed { step: String, state: String },
    #[error("the time limit of step `{step}` ran out at {due}: an extension is asked for before the limit")]
    ExtensionTooLate { step: String, due: String },
    #[error(
        "`{length}` is not an extension step `{step}` allows: at most {limit}, in the same unit"
    )]
    InvalidExtensionLength {
        step: String,
        length: String,
        limit: String,
    },
    #[error("no extension of step `{step}` is waiting for a decision")]
    NoExtensionRequested { step: String },
    #[error("step `{step}` may not stop its clock for a special procedure")]
    SpecialProceduresNotAllowed { step: String },
    #[error("step `{step}` is {state}, not suspended")]
    NotSuspended { step: String, state: String },
    #[error("name the special procedure (hearing, testing, appraisal, expert review…)")]
    MissingProcedure,
    #[error("nothing is waiting to be supplied")]
    NothingToSupplement,
    /// Supplied items whose values are out of bounds (`items.NAME`), at once.
    #[error("the supplement has {} problem(s): {}", problems.len(), join(problems))]
    InvalidSupplement { problems: Vec<ValueProblem> },
    #[error("the supplement is missing {}", items.join(", "))]
    MissingSupplementItems { items: Vec<String> },
    #[error("unknown or not promised material(s): {}", materials.join(", "))]
    NotPromised { materials: Vec<String> },
    #[error("no unpaid bill for payer `{payer}`")]
    NoSuchBill { payer: String },
    #[error("payer `{payer}` owes {expected} fen, not {given}")]
    WrongAmount {
        payer: String,
        expected: i64,
        given: i64,
    },
    #[error("a receipt reference is required")]
    MissingReceipt,
    #[error("a reason is required")]
    MissingReason,
    #[error("the case is {status}")]
    CaseEnded { status: String },
    #[error("the case is still open; it can be rated when it has ended")]
    CaseNotEnded,
    #[error("the case was already rated")]
    AlreadyRated,
    #[error("the applicant may still rate the case until {until}; no default rating before then")]
    RatingPeriodNotOver {
        until: chrono::DateTime<chrono::Utc>,
    },
    #[error("the case has no follow-up of a bad rating waiting to be recorded")]
    NoFollowUp,
    #[error("step `{step}` is not late (neither warned nor overdue): supervision notices are for late steps")]
    NotLate { step: String },
    #[error("step `{step}` already has a supervision notice waiting for its answer")]
    SupervisionPending { step: String },
    #[error("step `{step}` has no supervision notice waiting for an answer")]
    NoSupervisionNotice { step: String },
    /// A claim (认领) names the person who takes the task on: an agency
    /// acting without a named operator cannot claim.
    #[error("claiming step `{step}` needs the person who takes it on: act as a named operator of the agency (AGENCY/NAME, or the X-Operator header)")]
    ClaimWithoutOperator { step: String },
    #[error("step `{step}` has a fixed agency `{agency}`: only a step declared with `agency = {{ any_of = [...], dispatched_by = ... }}` is dispatched")]
    NotDispatchable { step: String, agency: String },
    #[error("step `{step}` awaits dispatch by `{dispatcher}`: no agency handles it yet")]
    AwaitingDispatch { step: String, dispatcher: String },
    #[error("step `{step}` is already dispatched to `{lead}`: the lead sends it back before it is dispatched again")]
    AlreadyDispatched { step: String, lead: String },
    /// Every agency of a dispatch outside the step's set, at once.
    #[error("step `{step}` may be dispatched only to {}: not to {}", allowed.join(", "), agencies.join(", "))]
    OutsideDispatchSet {
        step: String,
        agencies: Vec<String>,
        allowed: Vec<String>,
    },
    #[error("step `{step}` takes at most {allowed} co-handler(s), not {count}")]
    TooManyCoHandlers {
        step: String,
        count: usize,
        allowed: u32,
    },
    #[error("`{agency}` is named twice in the dispatch of step `{step}` (a lead and its co-handlers are different agencies)")]
    NamedTwice { step: String, agency: String },
    #[error("`{agency}` does not co-handle step `{step}` in its current dispatch{}", lead.as_ref().map(|lead| format!(" (its lead `{lead}` completes it)")).unwrap_or_default())]
    NotACoHandler {
        step: String,
        agency: String,
        lead: Option<String>,
    },
    #[error("`{agency}` already reported its part of step `{step}` in this dispatch")]
    AlreadyReported { step: String, agency: String },
    #[error("a co-handler's report says what it did: the text is empty")]
    EmptyReport,
    /// The lead completes a step only once every co-handler reported.
    #[error("step `{step}` waits for the report of {}", missing.join(", "))]
    ReportsMissing { step: String, missing: Vec<String> },
    /// Everything wrong with a document to attach, at once.
    #[error("the document has {} problem(s): {}", problems.len(), join(problems))]
    InvalidDocument { problems: Vec<ValueProblem> },
    #[error("a rating is from 1 (very unsatisfied) to 5 (very satisfied), not {score}")]
    InvalidScore { score: u8 },
    /// Every wrong answer of a rating, at once.
    #[error("the rating has {} problem(s): {}", problems.len(), problems.join("; "))]
    InvalidRating { problems: Vec<String> },
    #[error("{0}")]
    Calendar(CalendarError),
    #[error("step `{step}`: {message}")]
    Expression { step: String, message: String },
    /// An input of a step that would start cannot be evaluated for this
    /// case, or gives a value of another type: the command that would
    /// start it is refused, so that no task starts with wrong data.
    #[error("step `{step}` cannot start: its input `{input}` {reason}")]
    Input {
        step: String,
        input: String,
        reason: String,
    },
    /// A multi-instance step's `for_each` cannot be evaluated in this case,
    /// or does not give a list: the command that would start it is refused.
    #[error("step `{step}` cannot start: its `for_each` {reason}")]
    ForEach { step: String, reason: String },
    /// A command named a multi-instance step that runs one task per item:
    /// each instance is done, returned to, refused or supplemented apart.
    #[error("step `{step}` runs one task per item: name one of its instances ({})", instances.join(", "))]
    InstanceRequired {
        step: String,
        instances: Vec<String>,
    },
    /// An instance id beyond the instances the step's list gave.
    #[error("step `{step}` has no instance `{instance}` in this case (its instances: {})", if instances.is_empty() { "none yet".to_string() } else { instances.join(", ") })]
    UnknownInstance {
        step: String,
        instance: String,
        instances: Vec<String>,
    },
}

fn join(problems: &[ValueProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<CalendarError> for CaseError {
    fn from(error: CalendarError) -> CaseError {
        CaseError::Calendar(error)
    }
}
