//! The case as people and programs read it: the shape of `case show --json`,
//! of the case summary read model and of API responses. Built from the state
//! alone, so "the case after event N" and "the case now" use the same code.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::state::{Case, CaseFile, StepState};
use crate::identifiers::{check_citizen_id, mask_citizen_id};
use crate::localized::Localized;
use crate::value_type::{Field, ValueKind};
use crate::workflow::Definition;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepView {
    pub id: String,
    pub agency: String,
    pub state: StepState,
    pub due: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub overdue: bool,
    pub passes: u32,
    pub outputs: Option<Value>,
    /// The data the step received when it started (`[[step.input]]`),
    /// typed: what its agency needs of the case to do the step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<super::event::InputValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requested_items: Vec<String>,
    /// The extension (延期) of this pass: its length and whether it is
    /// requested, granted or denied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<super::state::ExtensionRecord>,
    /// The due time and warning were counted on a provisional calendar year
    /// (no official holiday table yet): they are revised when it arrives.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
    /// Which years were provisional.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i32>,
    /// The statutory limit (法定时限) of a step that has one, beside the
    /// promised `due` above: its due time, warning point and marks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statutory: Option<super::state::StatutoryClock>,
    /// The escalation points (催办, 通报 …) reached in this pass, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<super::state::EscalationRecord>,
    /// The person of the agency who claimed the task (认领) in this pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// Of a multi-instance step: how many instances its list gave (listed
    /// after it as `step.1` …); the step is no one's task, they are.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub instances: usize,
    /// Of an instance: the element of its step's list it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Value>,
    /// The current dispatch of a dispatched step: lead, co-handlers and
    /// the reports made; absent while it awaits dispatch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<super::state::DispatchRecord>,
    /// How many times the step was sent back to its dispatcher (退单).
    #[serde(default, skip_serializing_if = "no_send_back")]
    pub sent_back: u32,
}

fn no_send_back(count: &u32) -> bool {
    *count == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentItemView {
    pub payee: String,
    pub label: Localized,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentView {
    pub step: String,
    pub payer: String,
    pub items: Vec<PaymentItemView>,
    pub total: i64,
    pub paid: bool,
    pub receipt: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseView {
    pub id: String,
    pub workflow: String,
    pub version: u32,
    pub hash: String,
    pub status: String,
    pub sequence: u64,
    pub channel: super::command::Channel,
    pub opened_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// The applicant's ID number (masked in lists and logs).
    pub applicant: Option<String>,
    pub form: Value,
    pub steps: Vec<StepView>,
    pub payments: Vec<PaymentView>,
    pub refunds: Vec<super::state::Refund>,
    pub delivered: Vec<String>,
    pub not_delivered: Vec<String>,
    /// Materials really provided by sharing: fetched from the e-licence
    /// store, or produced by a step that ran (see [`super::MaterialCounts`]).
    pub materials_not_submitted: usize,
    /// Materials replaced by the applicant's commitment (告知承诺); left
    /// out when none, as the view of a case was written before it existed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub materials_by_commitment: usize,
    /// Materials waived for this case; left out when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub materials_waived: usize,
    pub materials: Vec<super::event::MaterialRecord>,
    pub returns: u32,
    pub supplements: u32,
    pub rating: Option<super::state::Rating>,
    /// When the bundle's promised limit (承诺时限) runs out for this case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_by: Option<DateTime<Utc>>,
    /// The provisional calendar years the promised date was counted on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub promise_provisional_years: Vec<i32>,
    /// Scanned documents attached, by their SHA-256.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<super::event::DocumentRecord>,
    /// Supervision notices (督办通知) on late steps, and their answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supervision: Vec<super::supervision::SupervisionRecord>,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

impl CaseView {
    /// The steps now waiting on an agency (active, paused or suspended).
    pub fn open_tasks(&self) -> impl Iterator<Item = &StepView> {
        self.steps
            .iter()
            .filter(|step| step.state.is_started() && step.instances == 0)
    }

    pub fn is_overdue(&self) -> bool {
        self.open_tasks().any(|step| step.overdue)
    }

    /// A step now waiting on an agency is past its statutory limit.
    pub fn is_statutory_overdue(&self) -> bool {
        self.open_tasks()
            .any(|step| step.statutory.as_ref().is_some_and(|clock| clock.overdue))
    }
}

/// How much personal data a reader may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disclosure {
    Full,
    /// Citizen ID numbers masked.
    Masked,
}

fn identity_fields(definition: Option<&Definition>) -> Vec<String> {
    definition
        .map(|definition| {
            definition
                .form
                .iter()
                .filter(|field| field.kind == ValueKind::CitizenId)
                .map(|field| field.name.clone())
                .collect()
        })
        .unwrap_or_default()
}

/// Masks, in place, every value of an object of named values whose field
/// is declared `citizen_id`, or a list of `citizen_id` (by type, never by name).
pub fn mask_identities(fields: &[Field], data: &mut Value) {
    let Value::Object(map) = data else { return };
    for field in fields {
        let Some(value) = map.get_mut(&field.name) else {
            continue;
        };
        match (field.kind, value) {
            (ValueKind::CitizenId, Value::String(id)) => *id = mask_citizen_id(id),
            (ValueKind::List, Value::Array(items)) if field.items == Some(ValueKind::CitizenId) => {
                for item in items {
                    if let Value::String(id) = item {
                        *id = mask_citizen_id(id);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Masks the citizen ID numbers among a step's inputs, by their recorded type.
pub fn mask_inputs(inputs: &mut [super::event::InputValue]) {
    for input in inputs {
        match (input.kind, &mut input.value) {
            (ValueKind::CitizenId, Value::String(id)) => *id = mask_citizen_id(id),
            (ValueKind::List, Value::Array(items)) if input.items == Some(ValueKind::CitizenId) => {
                for item in items {
                    if let Value::String(id) = item {
                        *id = mask_citizen_id(id);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Without the definition the types are unknown: mask every text that is a
/// valid citizen ID number, wherever it is.
fn mask_anything_like_an_id(value: &mut Value) {
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        match value {
            Value::String(text) if check_citizen_id(text).is_ok() => {
                *text = mask_citizen_id(text);
            }
            Value::Array(items) => pending.extend(items.iter_mut()),
            Value::Object(map) => pending.extend(map.values_mut()),
            _ => {}
        }
    }
}

fn mask_form(definition: Option<&Definition>, form: &mut Value) {
    match definition {
        Some(definition) => mask_identities(&definition.form, form),
        None => mask_anything_like_an_id(form),
    }
}

fn mask_outputs(definition: Option<&Definition>, step: &str, outputs: &mut Value) {
    match definition {
        Some(definition) => {
            if let Some(step) = definition
                .steps
                .iter()
                .find(|candidate| candidate.id == step)
            {
                mask_identities(&step.outputs, outputs);
            }
        }
        None => mask_anything_like_an_id(outputs),
    }
}

/// Masks the citizen ID numbers of one stored event (its JSON payload: the
/// form of `case_opened`, the outputs of `step_completed`), for readers who
/// see them masked in the case itself.
pub fn mask_event_payload(definition: Option<&Definition>, payload: &mut Value) {
    let Some(change) = payload.get_mut("change") else {
        return;
    };
    match change.get("type").and_then(Value::as_str) {
        Some("case_opened") => {
            if let Some(form) = change.get_mut("form") {
                mask_form(definition, form);
            }
        }
        Some("step_completed") => {
            let step = change
                .get("step")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(outputs) = change.get_mut("outputs") {
                mask_outputs(definition, &step, outputs);
            }
        }
        Some("step_activated") => {
            let Some(inputs) = change.get_mut("inputs") else {
                return;
            };
            if let Ok(mut typed) =
                serde_json::from_value::<Vec<super::event::InputValue>>(inputs.clone())
            {
                mask_inputs(&mut typed);
                *inputs = serde_json::to_value(typed).unwrap_or_default();
            }
        }
        _ => {}
    }
}

pub fn view_file(
    file: &CaseFile,
    definition: Option<&Definition>,
    disclosure: Disclosure,
) -> CaseView {
    let identity_fields = identity_fields(definition);
    let applicant = identity_fields
        .first()
        .and_then(|field| file.form.get(field))
        .and_then(Value::as_str)
        .map(|id| match disclosure {
            Disclosure::Full => id.to_string(),
            Disclosure::Masked => mask_citizen_id(id),
        });
    let mut form = file.form.clone();
    if disclosure == Disclosure::Masked {
        mask_form(definition, &mut form);
    }
    let outputs = |step: &super::state::StepRecord| {
        let mut outputs = step.outputs.clone();
        if disclosure == Disclosure::Masked {
            if let Some(outputs) = &mut outputs {
                mask_outputs(definition, &step.id, outputs);
            }
        }
        outputs
    };
    let materials = super::figures::material_counts(file, definition);
    let inputs = |step: &super::state::StepRecord| {
        let mut inputs = step.inputs.clone();
        if disclosure == Disclosure::Masked {
            mask_inputs(&mut inputs);
        }
        inputs
    };
    CaseView {
        id: file.id.clone(),
        workflow: file.workflow.clone(),
        version: file.version,
        hash: file.hash.clone(),
        status: file.status.name().to_string(),
        sequence: file.sequence,
        channel: file.channel,
        opened_at: file.opened_at,
        ended_at: file.ended_at,
        applicant,
        form,
        steps: file
            .steps
            .iter()
            .map(|step| StepView {
                id: step.id.clone(),
                agency: step.agency.clone(),
                state: step.state,
                due: step.due,
                warn_at: step.warn_at,
                warned: step.warned,
                overdue: step.overdue,
                passes: step.passes,
                outputs: outputs(step),
                inputs: inputs(step),
                requested_items: step.requested_items.clone(),
                extension: step.extension.clone(),
                provisional: !step.provisional_years.is_empty(),
                provisional_years: step.provisional_years.clone(),
                statutory: step.statutory.clone(),
                escalations: step.escalations.clone(),
                claimed_by: step.claimed_by.clone(),
                instances: step.instances,
                item: step.item.clone(),
                dispatch: step.dispatch.clone(),
                sent_back: step.sent_back,
            })
            .collect(),
        payments: file
            .payments
            .iter()
            .map(|payment| PaymentView {
                step: payment.step.clone(),
                payer: payment.bill.payer.clone(),
                items: payment
                    .bill
                    .items
                    .iter()
                    .map(|item| PaymentItemView {
                        payee: item.payee.clone(),
                        label: item.label.clone(),
                        amount: item.amount,
                    })
                    .collect(),
                total: payment.bill.total,
                paid: payment.paid,
                receipt: payment.receipt.clone(),
            })
            .collect(),
        refunds: file.refunds.clone(),
        delivered: file.delivered.clone(),
        not_delivered: file.not_delivered.clone(),
        materials_not_submitted: materials.not_submitted as usize,
        materials_by_commitment: materials.by_commitment as usize,
        materials_waived: materials.waived as usize,
        materials: file.materials.clone(),
        returns: file.returns,
        supplements: file.supplements,
        rating: file.rating.clone(),
        promised_by: file.promised_by,
        promise_provisional_years: file.promise_provisional_years.clone(),
        documents: file.documents.clone(),
        supervision: file.supervision.clone(),
    }
}

/// The view of a case, or `None` before it is opened.
pub fn view(
    case: &Case,
    definition: Option<&Definition>,
    disclosure: Disclosure,
) -> Option<CaseView> {
    case.file()
        .map(|file| view_file(file, definition, disclosure))
}
