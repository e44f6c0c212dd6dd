//! A step's record in the case state: its state, its clocks (the promised
//! and the statutory), the escalations reached, and how they change when its
//! clock stops, restarts or is held over a return.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::event::{InputValue, StatutoryDeadline};
use super::state::StepState;
use crate::calendar::TimeSpan;
use crate::localized::Localized;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub agency: String,
    pub state: StepState,
    pub due: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub overdue: bool,
    pub activated_at: Option<DateTime<Utc>>,
    pub paused_since: Option<DateTime<Utc>>,
    /// Items asked for while paused.
    pub requested_items: Vec<String>,
    pub outputs: Option<Value>,
    /// The data the step received when it last started (`[[step.input]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputValue>,
    /// How many times the step was activated (more than one after a return).
    pub passes: u32,
    /// The extension (延期) asked for in this pass, if any: one per pass.
    #[serde(default)]
    pub extension: Option<ExtensionRecord>,
    /// What moved the clock since the step started in this pass: the due
    /// time is counted again from these when the calendar changes.
    #[serde(default)]
    pub clock: Vec<ClockMove>,
    /// The provisional calendar years the due time and warning depend on.
    #[serde(default)]
    pub provisional_years: Vec<i32>,
    /// The clock of the pass a return by the step's own agency interrupted,
    /// kept until the step starts again: if only its own agency's steps were
    /// done again by then, it goes on with this clock (no agency gives its
    /// own step more time by returning the case to itself).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_clock: Option<HeldClock>,
    /// Of a multi-instance step sent back by its own agency, the held clock
    /// of each instance by position: its instances start again from its list,
    /// and each takes up its clock as a single step would.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub held_instance_clocks: Vec<Option<HeldClock>>,
    /// The clock of the step's statutory limit (法定时限), beside the
    /// promised one above, when the step has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statutory: Option<StatutoryClock>,
    /// The escalation points reached in this pass, in the order reached.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<EscalationRecord>,
    /// When the step was last completed (the figures count its working days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// How many times this step sent the case back (退回, 退单).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub returns_made: u32,
    /// The person of the agency who claimed the task (认领) in this pass:
    /// a new pass (a return, a restart) starts unclaimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_by: Option<String>,
    /// Of a multi-instance step: how many instances its list gave in this
    /// pass (`step.1` … `step.n`, recorded after it); the step itself is no
    /// one's task, its instances are.
    #[serde(default, skip_serializing_if = "is_zero_usize")]
    pub instances: usize,
    /// Of an instance: the element of the list it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<Value>,
    /// The current dispatch of a dispatched step (派单): its lead (also in
    /// `agency`), co-handlers and the reports made. None while it awaits
    /// dispatch, when `agency` is its dispatcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<DispatchRecord>,
    /// How many times the step was sent back to its dispatcher (退单).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub sent_back: u32,
    /// The dispatches of a dispatched step that ended (sent back, or the
    /// case returned past the step), oldest first:
    /// each agency's part in the figures, beside the current lead's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub earlier_leads: Vec<EarlierLead>,
}

/// A dispatch of a step that ended: sent back, or taken away by a return
/// (whether the lead had completed the step or not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarlierLead {
    pub agency: String,
    /// Whether the lead sent it back (退单); otherwise a return took it away.
    pub sent_back: bool,
    /// Whether the dispatch's due time had passed by then.
    pub overdue: bool,
}

fn is_zero_usize(count: &usize) -> bool {
    *count == 0
}

/// Who handles a dispatched step in its current dispatch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchRecord {
    pub dispatcher: String,
    pub lead: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub co_handlers: Vec<String>,
    /// The co-handlers that reported their part, in the order they did.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported: Vec<String>,
}

impl DispatchRecord {
    /// The co-handlers still to report, in dispatch order.
    pub fn missing_reports(&self) -> Vec<String> {
        self.co_handlers
            .iter()
            .filter(|agency| !self.reported.contains(agency))
            .cloned()
            .collect()
    }
}

fn is_zero(count: &u32) -> bool {
    *count == 0
}

/// A step's statutory deadline and whether it was warned of and passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatutoryClock {
    pub due: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provisional_years: Vec<i32>,
    pub warned: bool,
    pub overdue: bool,
}

impl StatutoryClock {
    /// A new clock: nothing warned, nothing overdue.
    pub(super) fn started(deadline: Option<StatutoryDeadline>) -> Option<StatutoryClock> {
        deadline.map(|deadline| StatutoryClock {
            due: deadline.due,
            warn_at: deadline.warn_at,
            provisional_years: deadline.provisional_years,
            warned: false,
            overdue: false,
        })
    }

    /// The same clock with its deadline moved at `at`: a warning point moved
    /// into the future warns again when reached; an overdue mark stays (it
    /// was late), unless `clear_overdue` (a revision moved the due time on).
    pub(super) fn moved(
        previous: Option<&StatutoryClock>,
        deadline: Option<StatutoryDeadline>,
        at: DateTime<Utc>,
        clear_overdue: bool,
    ) -> Option<StatutoryClock> {
        let deadline = deadline?;
        let (warned, overdue) = previous.map_or((false, false), |p| (p.warned, p.overdue));
        Some(StatutoryClock {
            warned: warned && deadline.warn_at.is_none_or(|warn_at| warn_at <= at),
            overdue: overdue && !(clear_overdue && deadline.due > at),
            due: deadline.due,
            warn_at: deadline.warn_at,
            provisional_years: deadline.provisional_years,
        })
    }

    pub fn deadline(&self) -> StatutoryDeadline {
        StatutoryDeadline {
            due: self.due,
            warn_at: self.warn_at,
            provisional_years: self.provisional_years.clone(),
        }
    }
}

/// An escalation point the deadline check reached, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationRecord {
    pub id: String,
    pub name: Localized,
    pub at: DateTime<Utc>,
}

/// A running pass's clock, held over a return by the step's own agency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldClock {
    pub due: Option<DateTime<Utc>>,
    pub warn_at: Option<DateTime<Utc>>,
    pub warned: bool,
    pub overdue: bool,
    pub activated_at: Option<DateTime<Utc>>,
    pub extension: Option<ExtensionRecord>,
    pub clock: Vec<ClockMove>,
    pub provisional_years: Vec<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statutory: Option<StatutoryClock>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalations: Vec<EscalationRecord>,
    /// The steps the returns by its own agency sent back since: if one of
    /// another agency among those the step waits on was completed again,
    /// the step starts a new clock.
    pub reset: Vec<String>,
}

/// Who stopped a step's clock: the law gives back every day of a supplement
/// (补正, the applicant's turn), but of a special procedure the agency
/// decides on only the whole days after the day it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockStop {
    Applicant,
    Agency,
}

/// One thing that moved a running step's due time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClockMove {
    /// The clock stood still from `from` to `to`.
    Stopped {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        by: ClockStop,
    },
    /// An extension (延期) was granted.
    Extended { length: TimeSpan },
}

impl StepRecord {
    /// A step (or an instance) that has not started.
    pub(super) fn waiting(id: String, agency: String) -> StepRecord {
        StepRecord {
            id,
            agency,
            state: StepState::Waiting,
            due: None,
            warn_at: None,
            warned: false,
            overdue: false,
            activated_at: None,
            paused_since: None,
            requested_items: Vec::new(),
            outputs: None,
            inputs: Vec::new(),
            passes: 0,
            extension: None,
            clock: Vec::new(),
            provisional_years: Vec::new(),
            held_clock: None,
            held_instance_clocks: Vec::new(),
            statutory: None,
            escalations: Vec::new(),
            completed_at: None,
            returns_made: 0,
            claimed_by: None,
            instances: 0,
            item: None,
            dispatch: None,
            sent_back: 0,
            earlier_leads: Vec::new(),
        }
    }

    /// Whether this is a multi-instance step running or done through its
    /// instances: no task of its own.
    pub fn runs_instances(&self) -> bool {
        self.instances > 0
    }

    /// Active again after a supplement or a special procedure, with the due
    /// time moved by the time the clock stood still.
    pub(super) fn restart_clock(
        &mut self,
        at: DateTime<Utc>,
        by: ClockStop,
        due: Option<DateTime<Utc>>,
        warn_at: Option<DateTime<Utc>>,
        provisional_years: Vec<i32>,
        statutory: Option<StatutoryDeadline>,
    ) {
        self.statutory = StatutoryClock::moved(self.statutory.as_ref(), statutory, at, false);
        if let Some(from) = self.paused_since {
            self.clock.push(ClockMove::Stopped { from, to: at, by });
        }
        self.provisional_years = provisional_years;
        self.state = StepState::Active;
        self.paused_since = None;
        self.requested_items.clear();
        self.due = due;
        self.warn_at = warn_at;
        // A warning point moved into the future warns again when reached.
        if warn_at.is_some_and(|warn_at| warn_at > at) {
            self.warned = false;
        }
    }

    /// Keeps the running clock over a return by the step's own agency; a
    /// return by another agency's step lets the step start anew.
    pub(super) fn hold_clock(&mut self, returning_agency: &str, reset: &[String]) {
        if self.agency != returning_agency {
            self.held_clock = None;
            return;
        }
        if let Some(held) = &mut self.held_clock {
            for id in reset {
                if !held.reset.contains(id) {
                    held.reset.push(id.clone());
                }
            }
            return;
        }
        if self.state.is_started() && self.due.is_some() {
            self.held_clock = Some(HeldClock {
                due: self.due,
                warn_at: self.warn_at,
                warned: self.warned,
                overdue: self.overdue,
                activated_at: self.activated_at,
                extension: self.extension.clone(),
                clock: self.clock.clone(),
                provisional_years: self.provisional_years.clone(),
                statutory: self.statutory.clone(),
                escalations: self.escalations.clone(),
                reset: reset.to_vec(),
            });
        }
    }

    /// Dispatched now to `lead`: the step's clock starts afresh (the
    /// handling limit counts from dispatch), and the task is the lead's.
    pub(super) fn dispatched(
        &mut self,
        at: DateTime<Utc>,
        lead: String,
        co_handlers: Vec<String>,
        deadline: (Option<DateTime<Utc>>, Option<DateTime<Utc>>, Vec<i32>),
        statutory: Option<StatutoryDeadline>,
    ) {
        let dispatcher = std::mem::replace(&mut self.agency, lead.clone());
        self.dispatch = Some(DispatchRecord {
            dispatcher,
            lead,
            co_handlers,
            reported: Vec::new(),
        });
        self.activated_at = Some(at);
        (self.due, self.warn_at, self.provisional_years) = deadline;
        self.statutory = StatutoryClock::started(statutory);
        self.warned = false;
        self.overdue = false;
        self.clock.clear();
        self.extension = None;
        self.escalations.clear();
        self.claimed_by = None;
    }

    /// Back with its dispatcher (sent back, or the case returned past the
    /// step): no agency handles it and no clock runs until it is
    /// dispatched again.
    pub(super) fn undispatched(&mut self, sent_back: bool) {
        if let Some(dispatch) = self.dispatch.take() {
            self.earlier_leads.push(EarlierLead {
                agency: dispatch.lead,
                sent_back,
                overdue: self.overdue,
            });
            self.agency = dispatch.dispatcher;
        }
        self.due = None;
        self.warn_at = None;
        self.provisional_years.clear();
        self.statutory = None;
        self.warned = false;
        self.overdue = false;
        self.clock.clear();
        self.lapse_waiting_extension();
        self.escalations.clear();
        self.claimed_by = None;
    }

    /// A request still waiting when the step ends is never decided.
    pub(super) fn lapse_waiting_extension(&mut self) {
        if let Some(extension) = &mut self.extension {
            if extension.state == ExtensionState::Requested {
                extension.state = ExtensionState::Lapsed;
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionRecord {
    pub length: TimeSpan,
    pub state: ExtensionState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionState {
    Requested,
    Granted,
    Denied,
    /// The step ended before anyone decided.
    Lapsed,
}

impl ExtensionState {
    pub fn name(self) -> &'static str {
        match self {
            ExtensionState::Requested => "requested",
            ExtensionState::Granted => "granted",
            ExtensionState::Denied => "denied",
            ExtensionState::Lapsed => "lapsed",
        }
    }
}
