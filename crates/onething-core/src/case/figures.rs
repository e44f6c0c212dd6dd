//! The facts one case contributes to the supervision dashboard, as flat
//! numbers: one row for the case and one per step that ran. The store keeps
//! them as read models beside the summary, so a dashboard over any number
//! of cases is a few `GROUP BY`s, never a decode of every case.
//!
//! A pure function of the case's state, its definition's limits and the
//! calendar; what each figure means is said on its field.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::command::{Channel, MaterialProvision};
use super::event::MaterialRecord;
use super::state::{CaseFile, CaseStatus, StepRecord, StepState};
use crate::calendar::Calendar;
use crate::workflow::{Definition, MaterialSource};

/// The dashboard facts of one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseFigures {
    pub case: CaseFacts,
    pub steps: Vec<StepFacts>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseFacts {
    pub status: String,
    pub channel: String,
    pub opened_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// A step waiting on an agency is past its promised (or statutory) due time now.
    pub overdue_now: bool,
    pub statutory_overdue_now: bool,
    /// Ended with no step past its promised due time; none while open.
    pub on_time: Option<bool>,
    /// Some step was counted against a statutory limit (法定时限), and whether one went past it.
    pub statutory_counted: bool,
    pub statutory_overdue: bool,
    /// Escalation points (催办, 通报 …) reached over its steps.
    pub escalations: u32,
    /// Working days from opening to the end, once ended and the calendar is known.
    pub working_days: Option<u32>,
    pub supplemented: bool,
    pub returned: bool,
    /// Completed with no supplement and no return: the applicant came once (一次办结).
    pub one_go: bool,
    /// Materials really provided by sharing (材料免提交): fetched from the
    /// e-licence store, or produced by a step that ran ([`material_counts`]).
    pub materials_not_submitted: u32,
    /// Materials replaced by the applicant's signed commitment (告知承诺).
    pub materials_by_commitment: u32,
    /// Materials not needed for this case (waived).
    pub materials_waived: u32,
    /// Trips the applicant made ([`trips_made`]).
    pub trips_made: u32,
    /// Materials the applicant handed over ([`MaterialCounts::submitted`]).
    pub materials_submitted: u32,
    /// Trips saved against going to each agency that did a step once.
    pub trips_saved: u32,
    /// The 好差评 score, 1–5, and the state of a bad rating's follow-up.
    pub rating: Option<u8>,
    pub follow_up: Option<FollowUpState>,
    /// The last call-back's answer, from a completed step's boolean output
    /// `satisfied` (12345: 回访满意).
    pub satisfied: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FollowUpState {
    /// Asked for, not yet recorded.
    Due,
    /// Recorded, the applicant's problem not solved.
    Unresolved,
    /// Recorded and solved.
    Resolved,
}

impl FollowUpState {
    pub fn name(self) -> &'static str {
        match self {
            FollowUpState::Due => "due",
            FollowUpState::Unresolved => "unresolved",
            FollowUpState::Resolved => "resolved",
        }
    }
}

/// The facts of one step that ran at least once.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StepFacts {
    pub step: String,
    pub agency: String,
    pub state: String,
    /// How many times it was activated, and how many times it sent the case back.
    pub passes: u32,
    pub returns_made: u32,
    /// Marks of the current (or last) pass.
    pub warned: bool,
    pub overdue: bool,
    pub statutory_overdue: bool,
    /// Waiting on its agency now (active, paused, suspended).
    pub open: bool,
    /// Completed, and then whether within its due time and in how many working days.
    pub completed: bool,
    pub on_time: Option<bool>,
    pub working_days: Option<u32>,
}

/// How a case's materials were provided, for the reform's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MaterialCounts {
    /// Provided by sharing: fetched from the e-licence store (declared
    /// shared, so the licence existed), or produced by a step of the case
    /// that completed. A material of a step that was skipped, cancelled or
    /// has not yet completed is not counted; neither is a commitment, a
    /// waiver, nor an e-licence the applicant had to bring on paper.
    pub not_submitted: u32,
    /// Replaced by a commitment (告知承诺).
    pub by_commitment: u32,
    pub waived: u32,
    /// Handed over by the applicant: uploaded or on paper, promised for
    /// later, or an e-licence brought on paper (what the applicant still
    /// brings, for the comparison with the old way).
    pub submitted: u32,
}

/// Trips the applicant made: one to a window at intake (none online), one
/// more per supplement.
pub fn trips_made(channel: Channel, supplements: u32) -> u32 {
    u32::from(matches!(channel, Channel::Window | Channel::Proxy)) + supplements
}

/// Counts the case's materials by how they were provided. Without the
/// definition the source of a shared material is unknown, and every one
/// declared shared counts.
pub fn material_counts(file: &CaseFile, definition: Option<&Definition>) -> MaterialCounts {
    let mut counts = MaterialCounts::default();
    for record in &file.materials {
        match record.provision {
            MaterialProvision::Shared => {
                let source = definition
                    .and_then(|d| d.materials.iter().find(|m| m.id == record.material))
                    .map(|material| &material.source);
                let provided = match source {
                    Some(MaterialSource::Step { step }) => file
                        .step(step)
                        .is_some_and(|producer| producer.state == StepState::Completed),
                    Some(MaterialSource::Applicant) => false,
                    Some(MaterialSource::ELicence) | None => true,
                };
                counts.not_submitted += u32::from(provided);
            }
            MaterialProvision::Commitment => counts.by_commitment += 1,
            MaterialProvision::Waived => counts.waived += 1,
            MaterialProvision::Submitted | MaterialProvision::Promised { .. } => {}
        }
        counts.submitted += u32::from(handed_over(record, definition));
    }
    counts
}

/// Whether the applicant handed `record` over: uploaded or on paper,
/// promised for later, or a shared material whose source is the applicant
/// (an e-licence brought on paper).
pub fn handed_over(record: &MaterialRecord, definition: Option<&Definition>) -> bool {
    match record.provision {
        MaterialProvision::Submitted | MaterialProvision::Promised { .. } => true,
        MaterialProvision::Shared => definition
            .and_then(|d| d.materials.iter().find(|m| m.id == record.material))
            .is_some_and(|material| material.source == MaterialSource::Applicant),
        MaterialProvision::Commitment | MaterialProvision::Waived => false,
    }
}

/// The facts of `file`; `calendar` counts working days (without it they
/// stay empty), `definition` says where its materials come from.
pub fn figures(
    file: &CaseFile,
    definition: Option<&Definition>,
    calendar: Option<&Calendar>,
) -> CaseFigures {
    let materials = material_counts(file, definition);
    let working_days = |from: DateTime<Utc>, to: DateTime<Utc>| {
        calendar.and_then(|calendar| calendar.working_days_between(from, to).ok())
    };
    let ran: Vec<_> = file.steps.iter().filter(|step| step.passes > 0).collect();
    let open = |state: StepState| state.is_started();
    let ended = file.ended_at.is_some();
    let statutory: Vec<_> = ran.iter().filter_map(|s| s.statutory.as_ref()).collect();
    let mut agencies: Vec<&str> = ran.iter().map(|step| step.agency.as_str()).collect();
    agencies.sort_unstable();
    agencies.dedup();
    let trips_made = trips_made(file.channel, file.supplements);
    let satisfied = ran
        .iter()
        .filter(|step| step.state == StepState::Completed)
        .filter_map(|step| Some((step.completed_at?, step.outputs.as_ref()?.get("satisfied")?)))
        .filter_map(|(at, value)| Some((at, value.as_bool()?)))
        .max_by_key(|(at, _)| *at)
        .map(|(_, satisfied)| satisfied);
    let case = CaseFacts {
        status: file.status.name().to_string(),
        channel: channel_name(file.channel).to_string(),
        opened_at: file.opened_at,
        ended_at: file.ended_at,
        overdue_now: ran.iter().any(|s| open(s.state) && s.overdue),
        statutory_overdue_now: ran
            .iter()
            .any(|s| open(s.state) && s.statutory.as_ref().is_some_and(|c| c.overdue)),
        on_time: ended.then(|| !ran.iter().any(|step| step.overdue)),
        statutory_counted: !statutory.is_empty(),
        statutory_overdue: statutory.iter().any(|clock| clock.overdue),
        escalations: ran.iter().map(|step| step.escalations.len() as u32).sum(),
        working_days: file
            .ended_at
            .and_then(|end| working_days(file.opened_at, end)),
        supplemented: file.supplements > 0,
        returned: file.returns > 0,
        one_go: file.status == CaseStatus::Completed && file.supplements == 0 && file.returns == 0,
        materials_not_submitted: materials.not_submitted,
        materials_by_commitment: materials.by_commitment,
        materials_waived: materials.waived,
        trips_made,
        materials_submitted: materials.submitted,
        trips_saved: (agencies.len() as u32).saturating_sub(trips_made),
        rating: file.rating.as_ref().map(|rating| rating.score),
        follow_up: file.rating.as_ref().and_then(|rating| {
            match (&rating.follow_up, rating.follow_up_due) {
                (Some(done), _) if done.resolved => Some(FollowUpState::Resolved),
                (Some(_), _) => Some(FollowUpState::Unresolved),
                (None, Some(_)) => Some(FollowUpState::Due),
                (None, None) => None,
            }
        }),
        satisfied,
    };
    // A multi-instance step's work is its instances': the step itself is
    // no one's task, so no agency's pass, completion or open step.
    let is_instances_step = |step: &StepRecord| {
        step.item.is_none()
            && definition
                .and_then(|definition| definition.step(&step.id))
                .is_some_and(|defined| defined.for_each.is_some())
    };
    let mut steps = Vec::new();
    for step in ran.iter().filter(|step| !is_instances_step(step)) {
        let completed = step.state == StepState::Completed;
        let mut current = StepFacts {
            step: step.id.clone(),
            agency: step.agency.clone(),
            state: step.state.name().to_string(),
            passes: step.passes,
            returns_made: step.returns_made,
            warned: step.warned,
            overdue: step.overdue,
            statutory_overdue: step.statutory.as_ref().is_some_and(|c| c.overdue),
            open: open(step.state),
            completed,
            on_time: completed.then_some(!step.overdue),
            working_days: match (completed, step.activated_at, step.completed_at) {
                (true, Some(from), Some(to)) => working_days(from, to),
                _ => None,
            },
        };
        if step.dispatch.is_some() {
            // A lead's passes are the dispatches it received.
            current.passes = 1;
        }
        steps.extend(earlier_leads(step, &mut current));
        steps.push(current);
    }
    CaseFigures { case, steps }
}

/// Each agency a dispatched step was dispatched to before, with its
/// dispatches and send-backs (退单), one row per agency; the current lead's
/// earlier dispatches count in `current` (its marks stay those of the
/// dispatch it has now).
fn earlier_leads(step: &StepRecord, current: &mut StepFacts) -> Vec<StepFacts> {
    let mut rows: Vec<StepFacts> = Vec::new();
    for lead in &step.earlier_leads {
        if step.dispatch.is_some() && lead.agency == current.agency {
            current.passes += 1;
            current.returns_made += u32::from(lead.sent_back);
            continue;
        }
        let index = match rows.iter().position(|row| row.agency == lead.agency) {
            Some(index) => index,
            None => {
                rows.push(StepFacts {
                    step: step.id.clone(),
                    agency: lead.agency.clone(),
                    ..StepFacts::default()
                });
                rows.len() - 1
            }
        };
        let row = &mut rows[index];
        row.state = if lead.sent_back {
            "sent_back"
        } else {
            "returned"
        }
        .to_string();
        row.passes += 1;
        row.returns_made += u32::from(lead.sent_back);
        row.overdue |= lead.overdue;
    }
    rows
}

/// A channel as it is written in events and the API.
pub fn channel_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Window => "window",
        Channel::Online => "online",
        Channel::SelfService => "self_service",
        Channel::Proxy => "proxy",
    }
}
