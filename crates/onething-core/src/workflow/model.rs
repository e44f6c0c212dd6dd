//! The validated definition of a bundle: what the case engine runs and what
//! is stored, by content hash, next to every case that runs it.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::calendar::TimeSpan;
use crate::localized::Localized;
use crate::registry::Agency;
use crate::value_type::{Field, Requirement, ValueKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Definition {
    pub id: String,
    pub version: u32,
    /// `sha256:` and the hex digest of this definition's canonical JSON with
    /// `hash` left empty; it names this exact version forever.
    pub hash: String,
    pub title: Localized,
    pub basis: Vec<String>,
    pub description: String,
    pub calendar: String,
    pub effective_from: NaiveDate,
    pub effective_until: Option<NaiveDate>,
    /// The time limit set in law for the items this bundle joins (法定时限).
    pub statutory_limit: Option<TimeSpan>,
    /// The time limit the bundle promises end to end (承诺时限).
    pub promised_limit: Option<TimeSpan>,
    pub form: Vec<Field>,
    pub materials: Vec<Material>,
    pub steps: Vec<Step>,
    pub choices: Vec<Choice>,
    /// The agencies the bundle names, copied from the registry so that a stored
    /// definition stands on its own.
    pub agencies: Vec<Agency>,
    /// Rules over the form and outputs that must hold, checked when the
    /// case opens or when a named step completes. Left out of the stored
    /// definition when there are none, so definitions written before them
    /// keep their hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// The old way this bundle replaces, from its source; left out of the
    /// stored definition when not declared, so older definitions keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_reform: Option<BeforeReform>,
}

/// What the applicant went through before the reform joined the items
/// (`[before_reform]`): separate applications, materials handed over, trips
/// and working days in all, as the bundle's source states them. A figure
/// the source does not give is left out. The statistics compare every
/// completed case with these.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeforeReform {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applications: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub materials: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trips: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_days: Option<u32>,
    /// Where the figures come from (a plan, a report, with its date).
    pub source: String,
}

/// A named rule over the form and outputs (`[[check]]`): the number of
/// permit numbers equals the number of vehicles; the child is under one
/// year old on the application date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    pub id: String,
    /// When it is checked: on opening, or when a step completes.
    pub stage: CheckStage,
    /// A CEL condition saying where the check applies; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// A CEL condition that must hold.
    pub rule: String,
    /// What the applicant or the agency is told when the rule does not hold.
    pub message: Localized,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum CheckStage {
    /// Over the application form, before the case is opened.
    Opening,
    /// Over the form and the outputs of the step and those before it,
    /// before the step's completion is accepted.
    AfterStep { step: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Material {
    pub id: String,
    pub name: Localized,
    #[serde(flatten)]
    pub source: MaterialSource,
    /// Whether the case needs it at all (always, or when a condition over
    /// the form holds); an optional material is used when given.
    pub required: Requirement,
    /// May be promised and supplied later (容缺受理).
    pub deficiency_allowed: bool,
    /// May be replaced by the applicant's signed commitment (告知承诺制).
    pub commitment_allowed: bool,
}

/// Where a material comes from; only `Applicant` costs the citizen anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum MaterialSource {
    /// Submitted by the applicant.
    Applicant,
    /// Fetched from the electronic licence store (电子证照库).
    ELicence,
    /// Produced by an earlier step of the same case.
    Step { step: String },
}

impl MaterialSource {
    pub fn is_shared(&self) -> bool {
        !matches!(self, MaterialSource::Applicant)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Work done by the owning agency, finished with its outputs.
    Task,
    /// Money collected: bills computed on activation, done when all are paid.
    Payment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deliverable {
    pub id: String,
    pub name: Localized,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub id: String,
    pub title: Localized,
    /// The agency that holds the step: its owner, or for a dispatched step
    /// the dispatcher, which holds it until it chooses the agency that
    /// handles it.
    pub agency: String,
    /// The agency is chosen when the case runs (派单): the dispatcher picks
    /// a lead, and perhaps co-handlers, from a declared set. Left out of
    /// the stored definition when absent, so definitions written before
    /// it keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<Dispatch>,
    pub kind: StepKind,
    /// Steps that must be done (or skipped) first: several make a join.
    pub after: Vec<String>,
    /// What happens when every step it follows was skipped.
    #[serde(default, skip_serializing_if = "Join::is_default")]
    pub join: Join,
    /// A CEL condition; false means the step is skipped.
    pub when: Option<String>,
    /// The choice this step is a branch of.
    pub choice: Option<String>,
    /// Runs only if the applicant opted into it.
    pub opt_in: bool,
    pub uses: Vec<String>,
    pub outputs: Vec<Field>,
    /// The data the step receives (`[[step.input]]`): what its agency's
    /// task shows, evaluated when the step starts. Left out of the stored
    /// definition when there are none, so definitions written before them
    /// keep their hash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<StepInput>,
    pub deliverables: Vec<Deliverable>,
    pub time_limit: Option<TimeSpan>,
    pub warn_before: Option<TimeSpan>,
    /// Time limits that depend on the case: the first rule whose `when` holds
    /// sets the limit; `time_limit` applies when none does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_limits: Vec<TimeLimitRule>,
    /// How far the time limit may be extended (延期), and who approves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<Extension>,
    /// The limit the law sets for this step (法定时限), beside the promised
    /// `time_limit` (承诺时限) the agency is held to: overdue is recorded
    /// against each. Counted from the same start and moved by the same
    /// stops and extensions. Left out of the stored definition when absent,
    /// so definitions written before it keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statutory_limit: Option<TimeSpan>,
    /// When to warn that the statutory limit is running out, counted back from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statutory_warn_before: Option<TimeSpan>,
    /// The escalation points after the due time (催办, 通报 …), in order:
    /// the step's own, or the bundle's when the step declares none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<Escalation>,
    /// Earlier steps this step may send the case back to.
    pub returns_to: Vec<String>,
    /// Whether the step may ask the applicant for a supplement (补正).
    pub supplements: bool,
    /// Whether the agency may stop the step's clock for a special procedure
    /// (特别程序: hearing, testing, appraisal, expert review, public notice),
    /// whose time the law does not count in the limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub special_procedures: bool,
    pub rounding: Option<Rounding>,
    pub bills: Vec<Bill>,
    /// One task per element of a list (`for_each`): the list, whether the
    /// instances run in parallel or one after another, and the outputs as
    /// later steps see them. Left out of the stored definition when absent,
    /// so definitions written before it keep their hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_each: Option<ForEach>,
}

/// A multi-instance step's list and how its instances run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForEach {
    /// A CEL expression giving a list, over the form and the outputs of the
    /// steps before this one: one instance per element.
    pub list: String,
    pub instances: InstanceMode,
    /// The step's outputs as later steps see them: each output a `list` of
    /// the completed instances' values, in the order of the items.
    pub collected_outputs: Vec<Field>,
}

/// Whether a multi-instance step's instances all start together or one
/// after another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceMode {
    Parallel,
    Sequential,
}

impl InstanceMode {
    pub const ALL: [(&'static str, InstanceMode); 2] = [
        ("parallel", InstanceMode::Parallel),
        ("sequential", InstanceMode::Sequential),
    ];
}

/// The id of a step's `number`th instance (from 1): `vehicle_permit.2`.
pub fn instance_id(step: &str, number: usize) -> String {
    format!("{step}.{number}")
}

/// The step and number of an instance id (`vehicle_permit.2`), or `None`
/// for an id of a step.
pub fn split_instance_id(id: &str) -> Option<(&str, usize)> {
    let (step, number) = id.rsplit_once('.')?;
    if number.starts_with('0') || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((step, number.parse().ok().filter(|n| *n > 0)?))
}

impl Step {
    /// The outputs as later steps' expressions see them: for a
    /// multi-instance step, the list of the instances' values of each.
    pub fn outputs_seen_later(&self) -> &[Field] {
        match &self.for_each {
            Some(for_each) => &for_each.collected_outputs,
            None => &self.outputs,
        }
    }
}

/// How a dispatched step's agency is chosen: `agency = { any_of = [...],
/// dispatched_by = "hotline" }` with `co_handlers = N` on the step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispatch {
    /// The agencies the dispatcher may choose from, in file order.
    pub any_of: Vec<String>,
    /// The most co-handling agencies (协办单位) a dispatch may name beside
    /// the lead (主办单位); none when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub co_handlers: u32,
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

impl Step {
    /// The agency that dispatches the step, when its agency is chosen at
    /// run time.
    pub fn dispatcher(&self) -> Option<&str> {
        self.dispatch.as_ref().map(|_| self.agency.as_str())
    }
}

/// A named value a step receives from the form or from the steps before it
/// (the birth certificate number for household registration), typed, with
/// a fallback for when a step its value reads was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInput {
    pub name: String,
    pub label: Localized,
    #[serde(rename = "type")]
    pub kind: ValueKind,
    /// The element type of a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<ValueKind>,
    /// A CEL expression over the form and the outputs of earlier steps.
    pub value: String,
    /// A CEL expression used instead of `value` when a step `value` reads
    /// was skipped in the case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

/// How a step joins the steps it follows (`after`), when all of them were
/// skipped: skipped with them (the rule when `join` is not written), or
/// run once they are settled, whether they ran or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Join {
    #[default]
    SkipWithPredecessors,
    Settled,
}

impl Join {
    pub const ALL: [(&'static str, Join); 2] = [
        ("skip_with_predecessors", Join::SkipWithPredecessors),
        ("settled", Join::Settled),
    ];

    pub fn is_default(&self) -> bool {
        *self == Join::SkipWithPredecessors
    }
}

/// Why a step may be skipped: see [`Definition::why_may_be_skipped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipCause {
    Condition,
    OptIn,
    Branch,
    Upstream,
    /// A multi-instance step whose list may be empty.
    EmptyList,
}

impl SkipCause {
    /// The reason in words, after "which may be skipped".
    pub fn describe(self) -> &'static str {
        match self {
            SkipCause::Condition => "it has a `when`",
            SkipCause::OptIn => "it is `opt_in`",
            SkipCause::Branch => "it is a branch of a choice",
            SkipCause::Upstream => "every step it follows may be skipped",
            SkipCause::EmptyList => "its `for_each` list may be empty",
        }
    }
}

/// A time limit for the cases a condition picks out (urgent orders same day…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeLimitRule {
    pub when: String,
    pub limit: TimeSpan,
    pub warn_before: Option<TimeSpan>,
}

/// An extension of a step's time limit (延期): asked for by the owning agency
/// before the limit runs out, at most once per pass, for at most `limit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// The longest extension, in the unit extensions of this step are counted in.
    pub limit: TimeSpan,
    /// The agency that must approve (the hotline for its work orders); none
    /// means the owning agency extends on its own authority (its head's
    /// approval, recorded in the reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

impl Extension {
    /// The agency whose decision grants the extension.
    pub fn approver<'a>(&'a self, step: &'a Step) -> &'a str {
        self.approved_by.as_deref().unwrap_or(&step.agency)
    }
}

/// A point after a step's due time at which the case is escalated (a
/// reminder 催办 the day after, a notice of criticism 通报 a week later):
/// recorded once per pass of the step when the deadline check reaches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub id: String,
    pub name: Localized,
    /// How long after the step's (promised) due time, counted on the
    /// bundle's calendar as an extension is counted on from the due time.
    pub after_due: TimeSpan,
}

/// A group of steps of which exactly one runs: the first whose `when` holds;
/// the last branch has no condition and runs when none before it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub id: String,
    pub title: Localized,
    pub branches: Vec<String>,
}

/// How an amount computed as a decimal becomes whole fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// 四舍五入: halves away from zero.
    HalfUp,
    /// Banker's rounding: halves to the even fen.
    HalfEven,
    /// Toward zero (truncate).
    Down,
    /// Away from zero.
    Up,
}

impl Rounding {
    pub const ALL: [(&'static str, Rounding); 4] = [
        ("half_up", Rounding::HalfUp),
        ("half_even", Rounding::HalfEven),
        ("down", Rounding::Down),
        ("up", Rounding::Up),
    ];

    /// Rounds an amount in fen to whole fen.
    pub fn apply(self, fen: f64) -> f64 {
        match self {
            Rounding::HalfUp => fen.round(),
            Rounding::HalfEven => fen.round_ties_even(),
            Rounding::Down => fen.trunc(),
            Rounding::Up => {
                if fen.fract() == 0.0 {
                    fen
                } else {
                    fen.trunc() + fen.signum()
                }
            }
        }
    }
}

/// What one payer owes, split into items by payee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bill {
    pub payer: String,
    pub items: Vec<BillItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillItem {
    /// The agency the money goes to (taxes via the tax bureau, fees to finance).
    pub payee: String,
    pub label: Localized,
    /// A CEL expression giving the amount in fen; a decimal result is rounded
    /// by the step's rounding rule.
    pub amount: String,
}

impl Definition {
    /// The step of an id: a step's own, or an instance's of a
    /// multi-instance step (`vehicle_permit.2` gives `vehicle_permit`).
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps
            .iter()
            .find(|step| step.id == id)
            .or_else(|| self.multi_instance_step_of(id))
    }

    /// The multi-instance step an instance id names, if it is one.
    pub fn multi_instance_step_of(&self, id: &str) -> Option<&Step> {
        let (step, _) = split_instance_id(id)?;
        self.steps
            .iter()
            .find(|found| found.id == step && found.for_each.is_some())
    }

    pub fn agency(&self, id: &str) -> Option<&Agency> {
        self.agencies.iter().find(|agency| agency.id == id)
    }

    /// The canonical content hash: SHA-256 over the definition's JSON with an
    /// empty `hash`. Field order is fixed by the types and every collection is
    /// a list in file order, so the same meaning always gives the same bytes.
    pub fn content_hash(&self) -> String {
        let mut unhashed = self.clone();
        unhashed.hash = String::new();
        let canonical = serde_json::to_vec(&unhashed).expect("a definition serialises");
        let digest = Sha256::digest(&canonical);
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// Why a step may be skipped in some case, or `None` when it always
    /// runs (unless a step before it is refused, which cancels it too):
    /// it has a `when`, is opted into, is a branch of a choice, or every
    /// step it follows may be skipped and it is skipped with them.
    pub fn why_may_be_skipped(&self, step: &str) -> Option<SkipCause> {
        let mut visiting = Vec::new();
        self.skip_cause(step, &mut visiting)
    }

    fn skip_cause<'s>(&'s self, step: &'s str, visiting: &mut Vec<&'s str>) -> Option<SkipCause> {
        let found = self.step(step)?;
        if found.choice.is_some() {
            return Some(SkipCause::Branch);
        }
        if found.opt_in {
            return Some(SkipCause::OptIn);
        }
        if found.when.is_some() {
            return Some(SkipCause::Condition);
        }
        if found.for_each.is_some() {
            return Some(SkipCause::EmptyList);
        }
        if found.after.is_empty() || found.join == Join::Settled || visiting.contains(&step) {
            return None;
        }
        visiting.push(step);
        let upstream = found
            .after
            .iter()
            .all(|after| self.skip_cause(after, visiting).is_some());
        visiting.pop();
        upstream.then_some(SkipCause::Upstream)
    }

    /// Why `producer` may be skipped in a case in which `step` runs, or
    /// `None` when `step` is skipped whenever `producer` is (say both follow
    /// only a step that may be skipped, and are skipped with it).
    ///
    /// Tried on every combination of the steps' own reasons to be skipped
    /// (a `when`, `opt_in`, a choice) among `step` and the steps before it;
    /// with more than 16 of them, any producer that may be skipped counts.
    pub fn may_run_without(&self, step: &str, producer: &str) -> Option<SkipCause> {
        let cause = self.why_may_be_skipped(producer)?;
        let mut candidates = self.ancestors(step);
        candidates.push(step);
        let own: Vec<&str> = candidates
            .into_iter()
            .filter(|id| {
                self.step(id).is_some_and(|s| {
                    s.choice.is_some() || s.opt_in || s.when.is_some() || s.for_each.is_some()
                })
            })
            .collect();
        if own.len() > 16 {
            return Some(cause);
        }
        for combination in 0u32..(1 << own.len()) {
            let skipped_on_its_own = |id: &str| {
                own.iter()
                    .position(|o| *o == id)
                    .is_some_and(|i| combination & (1 << i) != 0)
            };
            let mut known = std::collections::HashMap::new();
            let producer_skipped = self.skipped(producer, &skipped_on_its_own, &mut known, 0);
            if producer_skipped && !self.skipped(step, &skipped_on_its_own, &mut known, 0) {
                return Some(cause);
            }
        }
        None
    }

    /// Whether `step` is skipped when exactly the steps `skipped_on_its_own`
    /// names are skipped for reasons of their own.
    fn skipped<'s>(
        &'s self,
        step: &'s str,
        skipped_on_its_own: &dyn Fn(&str) -> bool,
        known: &mut std::collections::HashMap<&'s str, bool>,
        depth: usize,
    ) -> bool {
        if let Some(skipped) = known.get(step) {
            return *skipped;
        }
        let Some(found) = self.step(step) else {
            return false;
        };
        let skipped = skipped_on_its_own(step)
            || (depth < self.steps.len()
                && found.join == Join::SkipWithPredecessors
                && !found.after.is_empty()
                && found
                    .after
                    .iter()
                    .all(|after| self.skipped(after, skipped_on_its_own, known, depth + 1)));
        known.insert(step, skipped);
        skipped
    }

    /// Every step that must be finished or skipped before `step` can start,
    /// directly or through others.
    pub fn ancestors(&self, step: &str) -> Vec<&str> {
        let mut found: Vec<&str> = Vec::new();
        let mut pending: Vec<&str> = self
            .step(step)
            .map(|s| s.after.iter().map(String::as_str).collect())
            .unwrap_or_default();
        while let Some(next) = pending.pop() {
            if found.contains(&next) || next == step {
                continue;
            }
            found.push(next);
            if let Some(s) = self.step(next) {
                pending.extend(s.after.iter().map(String::as_str));
            }
        }
        found
    }
}
