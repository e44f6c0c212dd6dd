//! The case as the API writes it: a copy of the core's [`CaseView`] with
//! OpenAPI schemas, so that the document describes every field and the core
//! needs to know nothing of utoipa. Built from the view, field by field; a
//! test proves it serialises exactly as the view does.

use chrono::{DateTime, Utc};
use onething_core::calendar::{TimeSpan, TimeUnit};
use onething_core::case::{
    self, CaseView, Channel, ExtensionState, InputValue, MaterialProvision, PaymentView, StepState,
    StepView,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A case: its status, every step with its due time, the bills, the
/// materials and what was delivered.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Case)]
pub struct CaseResource {
    /// The case number (`C` and 16 hexadecimal digits).
    pub id: String,
    pub workflow: String,
    pub version: u32,
    /// The definition's hash (`sha256:…`): the case always runs on it.
    pub hash: String,
    pub status: CaseStatus,
    /// The number of events; the sequence of the last one.
    pub sequence: u64,
    pub channel: ChannelName,
    pub opened_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The applicant's ID number (masked for readers who see it masked).
    pub applicant: Option<String>,
    /// The application form: field name → value.
    #[schema(value_type = Object)]
    pub form: Value,
    pub steps: Vec<StepResource>,
    pub payments: Vec<Bill>,
    pub refunds: Vec<Refund>,
    /// The deliverables issued.
    pub delivered: Vec<String>,
    /// The deliverables not issued (refused or cancelled steps).
    pub not_delivered: Vec<String>,
    /// Materials the applicant did not hand over because they were shared:
    /// an e-licence fetched from the store, or produced by a step that ran.
    pub materials_not_submitted: usize,
    /// Materials replaced by the applicant's commitment (告知承诺); absent
    /// when none, as in the core's view.
    #[serde(skip_serializing_if = "is_zero")]
    pub materials_by_commitment: usize,
    /// Materials waived for this case; absent when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub materials_waived: usize,
    pub materials: Vec<Material>,
    pub returns: u32,
    pub supplements: u32,
    pub rating: Option<Rating>,
    /// When the bundle's promised limit (承诺时限) runs out for this case.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised_by: Option<DateTime<Utc>>,
    /// The provisional calendar years the promised date was counted on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub promise_provisional_years: Vec<i32>,
    /// Scanned documents attached (their content is stored by SHA-256).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<Document>,
    /// Supervision notices (督办通知) on late steps, and their answers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub supervision: Vec<SupervisionNotice>,
}

/// A supervision notice (督办通知) on a late step, and the agency's answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupervisionNotice {
    pub step: String,
    pub notice: String,
    pub issued_at: DateTime<Utc>,
    /// The agency answers by this time.
    pub answer_by: DateTime<Utc>,
    pub answer: Option<String>,
    pub answered_at: Option<DateTime<Utc>>,
}

/// A scanned document attached to a case.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Document {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub material: Option<String>,
    pub name: String,
    pub media_type: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    Open,
    Completed,
    PartiallyCompleted,
    Withdrawn,
    Terminated,
}

impl CaseStatus {
    pub fn name(self) -> &'static str {
        match self {
            CaseStatus::Open => "open",
            CaseStatus::Completed => "completed",
            CaseStatus::PartiallyCompleted => "partially_completed",
            CaseStatus::Withdrawn => "withdrawn",
            CaseStatus::Terminated => "terminated",
        }
    }

    fn from_name(name: &str) -> CaseStatus {
        match name {
            "completed" => CaseStatus::Completed,
            "partially_completed" => CaseStatus::PartiallyCompleted,
            "withdrawn" => CaseStatus::Withdrawn,
            "terminated" => CaseStatus::Terminated,
            _ => CaseStatus::Open,
        }
    }
}

/// How the application came in.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Channel)]
pub enum ChannelName {
    Window,
    Online,
    SelfService,
    /// 帮办代办: staff apply on the citizen's behalf.
    Proxy,
}

impl From<Channel> for ChannelName {
    fn from(channel: Channel) -> ChannelName {
        match channel {
            Channel::Window => ChannelName::Window,
            Channel::Online => ChannelName::Online,
            Channel::SelfService => ChannelName::SelfService,
            Channel::Proxy => ChannelName::Proxy,
        }
    }
}

/// One step of the case.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Step)]
pub struct StepResource {
    pub id: String,
    pub agency: String,
    pub state: StepStatus,
    pub due: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub overdue: bool,
    /// How many times the step has run (more than one after a return).
    pub passes: u32,
    /// The outputs it completed with: name → value.
    #[schema(value_type = Option<Object>)]
    pub outputs: Option<Value>,
    /// The data the step received when it started (`[[step.input]]`), in
    /// the order declared: what its agency needs of the case to do it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<Input>,
    /// The items of a pending supplement request (补正).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requested_items: Vec<String>,
    /// The extension (延期) of this pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<Extension>,
    /// The due time was counted on a provisional calendar year.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i32>,
    /// The statutory limit (法定时限) of a step that has one, beside the
    /// promised `due`: overdue against the law is marked apart.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statutory: Option<StatutoryLimit>,
    /// The escalation points (催办, 通报 …) reached in this pass, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<EscalationReached>,
    /// The person of the agency who claimed the task (认领) in this pass;
    /// absent while nobody has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// Of a multi-instance step (`for_each`): how many instances its list
    /// gave, listed after it as `step.1` …; the step is no one's task.
    #[serde(skip_serializing_if = "is_zero")]
    pub instances: usize,
    /// Of an instance (`step.n`): the element of its step's list it is for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub item: Option<Value>,
    /// Who handles a dispatched step (派单) in its current dispatch; absent
    /// while it awaits dispatch and for other steps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<StepDispatch>,
    /// How many times the step was sent back to its dispatcher (退单).
    #[serde(skip_serializing_if = "no_send_back")]
    pub sent_back: u32,
}

fn no_send_back(count: &u32) -> bool {
    *count == 0
}

/// The current dispatch of a step: its dispatcher, its lead (主办), its
/// co-handlers (协办) and those of them that reported.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StepDispatch {
    pub dispatcher: String,
    pub lead: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub co_handlers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reported: Vec<String>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

/// One input of a step, typed as its workflow declares it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Input {
    pub name: String,
    pub label: Text,
    /// The value's type, as in a workflow file: `text`, `integer`,
    /// `decimal`, `money` (fen), `date`, `boolean`, `one_of`, `list`,
    /// `citizen_id` (masked for readers who see ID numbers masked),
    /// `credit_code` or `phone`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The element type of a `list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<String>,
    /// The value; `null` when the data it reads was not given.
    #[schema(value_type = Object)]
    pub value: Value,
    /// The value came from the input's fallback: a step its value reads
    /// was skipped in this case.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
}

impl From<InputValue> for Input {
    fn from(input: InputValue) -> Input {
        Input {
            name: input.name,
            label: Text {
                zh: input.label.zh,
                en: input.label.en,
            },
            kind: input.kind.name().to_string(),
            items: input.items.map(|items| items.name().to_string()),
            value: input.value,
            fallback: input.fallback,
        }
    }
}

/// A step's statutory deadline and its marks.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatutoryLimit {
    pub due: DateTime<Utc>,
    pub warn_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub overdue: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i32>,
}

/// An escalation point the deadline check reached, and when.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EscalationReached {
    pub id: String,
    pub name: Text,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = StepState)]
pub enum StepStatus {
    Waiting,
    Active,
    /// Active, with the clock stopped for a supplement (补正).
    Paused,
    /// Active, with the clock stopped for a special procedure (特别程序).
    Suspended,
    Completed,
    Skipped,
    Refused,
    Cancelled,
}

impl From<StepState> for StepStatus {
    fn from(state: StepState) -> StepStatus {
        match state {
            StepState::Waiting => StepStatus::Waiting,
            StepState::Active => StepStatus::Active,
            StepState::Paused => StepStatus::Paused,
            StepState::Suspended => StepStatus::Suspended,
            StepState::Completed => StepStatus::Completed,
            StepState::Skipped => StepStatus::Skipped,
            StepState::Refused => StepStatus::Refused,
            StepState::Cancelled => StepStatus::Cancelled,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Extension {
    pub length: Span,
    pub state: ExtensionStatus,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionStatus {
    Requested,
    Granted,
    Denied,
    /// The step ended before anyone decided.
    Lapsed,
}

/// An amount of time in one unit: `{"amount": 5, "unit": "working_days"}`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct Span {
    pub amount: u32,
    pub unit: Unit,
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    WorkingDays,
    CalendarDays,
    Hours,
}

impl From<TimeSpan> for Span {
    fn from(span: TimeSpan) -> Span {
        Span {
            amount: span.amount,
            unit: match span.unit {
                TimeUnit::WorkingDays => Unit::WorkingDays,
                TimeUnit::CalendarDays => Unit::CalendarDays,
                TimeUnit::Hours => Unit::Hours,
            },
        }
    }
}

/// A payer's bill of a payment step (税费同缴: one bill, items per payee).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Bill {
    pub step: String,
    pub payer: String,
    pub items: Vec<BillItem>,
    /// In fen (1 yuan = 100 fen).
    pub total: i64,
    pub paid: bool,
    pub receipt: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BillItem {
    pub payee: String,
    pub label: Text,
    /// In fen.
    pub amount: i64,
}

/// Text in Chinese and English.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Text {
    pub zh: String,
    pub en: String,
}

/// A payment owed back after a withdrawal.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Refund {
    pub step: String,
    pub payer: String,
    pub payee: String,
    /// In fen.
    pub amount: i64,
}

/// How a material was provided at opening.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Material {
    pub material: String,
    pub status: MaterialStatus,
    /// With `promised` (容缺受理): when it is to be supplied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// Whether the applicant had to hand it over (false for shared data).
    pub from_applicant: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MaterialStatus {
    Submitted,
    /// Fetched from the e-licence store or produced by an earlier step.
    Shared,
    /// Accepted with deficiency (容缺受理): to be supplied by the deadline.
    Promised,
    /// Replaced by the applicant's signed commitment (告知承诺制).
    Commitment,
    /// Not needed for this case.
    Waived,
}

/// The applicant's rating (好差评).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Rating {
    /// 1 (very unsatisfied) to 5 (very satisfied).
    pub score: u8,
    pub comment: Option<String>,
    /// The national questions beside the overall score, 1–5 each.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub aspects: std::collections::BTreeMap<String, u8>,
    /// A bad rating is followed up (回访) by this time.
    pub follow_up_due: Option<DateTime<Utc>>,
    /// The follow-up as the window recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
}

/// The follow-up of a bad rating (差评回访整改), as recorded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FollowUp {
    pub result: String,
    /// Whether the applicant's problem is solved.
    pub resolved: bool,
    pub at: DateTime<Utc>,
}

impl From<CaseView> for CaseResource {
    fn from(view: CaseView) -> CaseResource {
        CaseResource {
            id: view.id,
            workflow: view.workflow,
            version: view.version,
            hash: view.hash,
            status: CaseStatus::from_name(&view.status),
            sequence: view.sequence,
            channel: view.channel.into(),
            opened_at: view.opened_at,
            ended_at: view.ended_at,
            applicant: view.applicant,
            form: view.form,
            steps: view.steps.into_iter().map(StepResource::from).collect(),
            payments: view.payments.into_iter().map(Bill::from).collect(),
            refunds: view
                .refunds
                .into_iter()
                .map(|refund| Refund {
                    step: refund.step,
                    payer: refund.payer,
                    payee: refund.payee,
                    amount: refund.amount,
                })
                .collect(),
            delivered: view.delivered,
            not_delivered: view.not_delivered,
            materials_not_submitted: view.materials_not_submitted,
            materials_by_commitment: view.materials_by_commitment,
            materials_waived: view.materials_waived,
            materials: view.materials.into_iter().map(Material::from).collect(),
            returns: view.returns,
            supplements: view.supplements,
            rating: view.rating.map(|rating| Rating {
                score: rating.score,
                comment: rating.comment,
                aspects: rating.aspects,
                follow_up_due: rating.follow_up_due,
                follow_up: rating.follow_up.map(|f| FollowUp {
                    result: f.result,
                    resolved: f.resolved,
                    at: f.at,
                }),
            }),
            promised_by: view.promised_by,
            promise_provisional_years: view.promise_provisional_years,
            documents: view
                .documents
                .into_iter()
                .map(|d| Document {
                    material: d.material,
                    name: d.name,
                    media_type: d.media_type,
                    sha256: d.sha256,
                    size: d.size,
                })
                .collect(),
            supervision: view
                .supervision
                .into_iter()
                .map(|n| SupervisionNotice {
                    step: n.step,
                    notice: n.notice,
                    issued_at: n.issued_at,
                    answer_by: n.answer_by,
                    answer: n.answer,
                    answered_at: n.answered_at,
                })
                .collect(),
        }
    }
}

impl From<StepView> for StepResource {
    fn from(step: StepView) -> StepResource {
        StepResource {
            id: step.id,
            agency: step.agency,
            state: step.state.into(),
            due: step.due,
            warn_at: step.warn_at,
            warned: step.warned,
            overdue: step.overdue,
            passes: step.passes,
            outputs: step.outputs,
            inputs: step.inputs.into_iter().map(Input::from).collect(),
            requested_items: step.requested_items,
            extension: step.extension.map(|extension| Extension {
                length: extension.length.into(),
                state: match extension.state {
                    ExtensionState::Requested => ExtensionStatus::Requested,
                    ExtensionState::Granted => ExtensionStatus::Granted,
                    ExtensionState::Denied => ExtensionStatus::Denied,
                    ExtensionState::Lapsed => ExtensionStatus::Lapsed,
                },
            }),
            provisional: step.provisional,
            provisional_years: step.provisional_years,
            statutory: step.statutory.map(|clock| StatutoryLimit {
                due: clock.due,
                warn_at: clock.warn_at,
                warned: clock.warned,
                overdue: clock.overdue,
                provisional_years: clock.provisional_years,
            }),
            escalations: step
                .escalations
                .into_iter()
                .map(|reached| EscalationReached {
                    id: reached.id,
                    name: Text {
                        zh: reached.name.zh,
                        en: reached.name.en,
                    },
                    at: reached.at,
                })
                .collect(),
            claimed_by: step.claimed_by,
            instances: step.instances,
            item: step.item,
            dispatch: step.dispatch.map(|dispatch| StepDispatch {
                dispatcher: dispatch.dispatcher,
                lead: dispatch.lead,
                co_handlers: dispatch.co_handlers,
                reported: dispatch.reported,
            }),
            sent_back: step.sent_back,
        }
    }
}

impl From<PaymentView> for Bill {
    fn from(payment: PaymentView) -> Bill {
        Bill {
            step: payment.step,
            payer: payment.payer,
            items: payment
                .items
                .into_iter()
                .map(|item| BillItem {
                    payee: item.payee,
                    label: Text {
                        zh: item.label.zh,
                        en: item.label.en,
                    },
                    amount: item.amount,
                })
                .collect(),
            total: payment.total,
            paid: payment.paid,
            receipt: payment.receipt,
        }
    }
}

impl From<case::MaterialRecord> for Material {
    fn from(record: case::MaterialRecord) -> Material {
        let (status, deadline) = match record.provision {
            MaterialProvision::Submitted => (MaterialStatus::Submitted, None),
            MaterialProvision::Shared => (MaterialStatus::Shared, None),
            MaterialProvision::Promised { deadline } => (MaterialStatus::Promised, Some(deadline)),
            MaterialProvision::Commitment => (MaterialStatus::Commitment, None),
            MaterialProvision::Waived => (MaterialStatus::Waived, None),
        };
        Material {
            material: record.material,
            status,
            deadline,
            from_applicant: record.from_applicant,
        }
    }
}
