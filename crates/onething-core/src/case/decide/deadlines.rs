//! A step's due time and warning point (of the promise, and of the law when
//! the step has a statutory limit), and the commands about them: the
//! scheduler's check for warnings, overdue steps, escalation points and
//! missed material promises, and the recount after a calendar changed.
//!
//! Every step deadline is counted by [`Decision::step_deadline`], which picks
//! the limit that applies to the case and counts it with
//! [`crate::case::deadline`]: starting, resuming, extending and revising a
//! step therefore cannot disagree.

use chrono::{DateTime, Utc};

use super::{forbidden, Decision};
use crate::calendar::TimeSpan;
use crate::case::clock::{deadline, escalation_time, Deadline};
use crate::case::command::{Actor, MaterialProvision};
use crate::case::error::CaseError;
use crate::case::event::{CancelReason, CaseOutcome, Change, StatutoryDeadline};
use crate::case::state::{CaseStatus, ClockMove, ClockStop, StatutoryClock, StepRecord, StepState};
use crate::expression;
use crate::workflow::Step;

/// A deadline as the events record it: no due time for a step without a
/// time limit.
pub(super) struct Counted {
    pub(super) due: Option<DateTime<Utc>>,
    pub(super) warn_at: Option<DateTime<Utc>>,
    pub(super) provisional_years: Vec<i32>,
    /// The statutory deadline, for a step with a statutory limit.
    pub(super) statutory: Option<StatutoryDeadline>,
}

impl From<Option<Deadline>> for Counted {
    fn from(deadline: Option<Deadline>) -> Counted {
        match deadline {
            Some(deadline) => Counted {
                due: Some(deadline.due),
                warn_at: deadline.warn_at,
                provisional_years: deadline.provisional_years,
                statutory: None,
            },
            None => Counted {
                due: None,
                warn_at: None,
                provisional_years: Vec::new(),
                statutory: None,
            },
        }
    }
}

impl Decision<'_> {
    /// Warns of and marks overdue the running steps whose time has come,
    /// against the promise and against the law, and records each escalation
    /// point reached: once each, since each is decided from the marks the
    /// case already holds. A material promised and not supplied in time
    /// ends the case.
    pub(super) fn check_deadlines(&mut self) -> Result<(), CaseError> {
        // Overdue marks and escalations (通报 is a sanction) are the
        // scheduler's record, never an agency's or the applicant's.
        if *self.actor() != Actor::System {
            return Err(forbidden(
                self.actor(),
                "check_deadlines",
                "deadlines are checked by the scheduler",
            ));
        }
        let file = self.opened()?;
        if file.status != CaseStatus::Open {
            return Ok(());
        }
        let now = self.now();
        let mut changes = Vec::new();
        for step in &file.steps {
            if step.state != StepState::Active {
                continue;
            }
            if step.warn_at.is_some_and(|warn_at| warn_at <= now) && !step.warned {
                changes.push(Change::StepWarned {
                    step: step.id.clone(),
                });
            }
            if step.due.is_some_and(|due| due <= now) && !step.overdue {
                changes.push(Change::StepOverdue {
                    step: step.id.clone(),
                });
            }
            if let Some(statutory) = &step.statutory {
                if statutory.warn_at.is_some_and(|warn_at| warn_at <= now) && !statutory.warned {
                    changes.push(Change::StepStatutoryWarned {
                        step: step.id.clone(),
                    });
                }
                if statutory.due <= now && !statutory.overdue {
                    changes.push(Change::StepStatutoryOverdue {
                        step: step.id.clone(),
                    });
                }
            }
            changes.extend(self.escalations_reached(step, now)?);
        }
        let missed: Vec<String> = file
            .materials
            .iter()
            .filter(|record| match record.provision {
                MaterialProvision::Promised { deadline } => {
                    deadline <= now && !file.supplied_materials.contains(&record.material)
                }
                _ => false,
            })
            .map(|record| record.material.clone())
            .collect();
        for change in changes {
            self.emit(change);
        }
        if !missed.is_empty() {
            for material in missed {
                self.emit(Change::MaterialDeadlineMissed { material });
            }
            self.cancel_live_steps(CancelReason::Terminated);
            self.end(CaseOutcome::Terminated);
        }
        Ok(())
    }

    /// Counts every running step's deadline again on the current calendar;
    /// a step whose times or provisional years differ from the recorded ones
    /// is revised.
    pub(super) fn revise_deadlines(&mut self, reason: &str) -> Result<(), CaseError> {
        if *self.actor() != Actor::System {
            return Err(forbidden(
                self.actor(),
                "revise_deadlines",
                "deadlines are revised by the scheduler when the calendar changes",
            ));
        }
        if self.opened()?.status != CaseStatus::Open {
            return Ok(());
        }
        let now = self.now();
        let mut revisions = Vec::new();
        for record in &self.file().steps {
            if !record.state.is_started() || record.due.is_none() {
                continue;
            }
            let step = self.step_definition(&record.id)?;
            let counted = self.recounted_deadline(step, record, &record.clock)?;
            let recorded_statutory = record.statutory.as_ref().map(StatutoryClock::deadline);
            if (
                counted.due,
                counted.warn_at,
                &counted.provisional_years,
                &counted.statutory,
            ) == (
                record.due,
                record.warn_at,
                &record.provisional_years,
                &recorded_statutory,
            ) {
                continue;
            }
            // A server still holding an older calendar must not undo the
            // revision of one that has the official table: a deadline never
            // comes to depend on a provisional year it did not depend on.
            let newly_provisional = |counted: &[i32], recorded: &[i32]| {
                counted.iter().any(|year| !recorded.contains(year))
            };
            if newly_provisional(&counted.provisional_years, &record.provisional_years)
                || newly_provisional(
                    counted
                        .statutory
                        .as_ref()
                        .map_or(&[], |s| &s.provisional_years),
                    recorded_statutory
                        .as_ref()
                        .map_or(&[], |s| &s.provisional_years),
                )
            {
                continue;
            }
            let statutory_clock = record.statutory.as_ref();
            let escalations_cleared = match counted.due {
                Some(due) => self.escalations_ahead(step, record, due, now),
                None => Vec::new(),
            };
            revisions.push(Change::DeadlineRevised {
                step: record.id.clone(),
                previous_due: record.due,
                due: counted.due,
                previous_warn_at: record.warn_at,
                warn_at: counted.warn_at,
                provisional_years: counted.provisional_years,
                reason: reason.to_string(),
                overdue_cleared: record.overdue && counted.due.is_some_and(|due| due > now),
                warning_cleared: record.warned
                    && counted.warn_at.is_some_and(|warn_at| warn_at > now),
                statutory_overdue_cleared: statutory_clock.is_some_and(|clock| clock.overdue)
                    && counted.statutory.as_ref().is_some_and(|s| s.due > now),
                statutory_warning_cleared: statutory_clock.is_some_and(|clock| clock.warned)
                    && counted
                        .statutory
                        .as_ref()
                        .and_then(|s| s.warn_at)
                        .is_some_and(|warn_at| warn_at > now),
                statutory: counted.statutory,
                escalations_cleared,
            });
        }
        let file = self.file();
        if file.promised_by.is_some() {
            let promise = self.promise(file.opened_at)?;
            let changed = (promise.due, &promise.provisional_years)
                != (file.promised_by, &file.promise_provisional_years);
            let newly_provisional = promise
                .provisional_years
                .iter()
                .any(|year| !file.promise_provisional_years.contains(year));
            if changed && !newly_provisional {
                revisions.push(Change::PromiseRevised {
                    previous: file.promised_by,
                    promised_by: promise.due,
                    provisional_years: promise.provisional_years,
                    reason: reason.to_string(),
                });
            }
        }
        for revision in revisions {
            self.emit(revision);
        }
        Ok(())
    }

    /// The deadline of `step` started at `started` and moved by `moves`,
    /// counted on the current calendar with the limit that applies to this
    /// case. The one place a step's due time and warning point are counted.
    pub(super) fn step_deadline(
        &self,
        step: &Step,
        started: DateTime<Utc>,
        moves: &[ClockMove],
    ) -> Result<Counted, CaseError> {
        let (limit, warn_before) = self.limits_for(step);
        let mut counted = Counted::from(match limit {
            Some(limit) => Some(deadline(self.calendar, started, moves, limit, warn_before)?),
            None => None,
        });
        // The law's limit runs from the same start and is moved by the same
        // stops and extensions as the promise: only its length differs.
        if let Some(limit) = step.statutory_limit {
            let statutory = deadline(
                self.calendar,
                started,
                moves,
                limit,
                step.statutory_warn_before,
            )?;
            counted.statutory = Some(StatutoryDeadline {
                due: statutory.due,
                warn_at: statutory.warn_at,
                provisional_years: statutory.provisional_years,
            });
        }
        Ok(counted)
    }

    /// The escalation points of a running step reached by `now` and not yet
    /// recorded in this pass, in order.
    fn escalations_reached(
        &self,
        record: &StepRecord,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>, CaseError> {
        let Some(due) = record.due else {
            return Ok(Vec::new());
        };
        let step = self.step_definition(&record.id)?;
        let mut reached = Vec::new();
        for escalation in &step.escalations {
            if record.escalations.iter().any(|r| r.id == escalation.id) {
                continue;
            }
            // A point past every holiday table (years ahead) cannot be
            // counted yet, and so is not reached yet: the check goes on.
            let Ok(point) = escalation_time(self.calendar, due, escalation.after_due) else {
                continue;
            };
            if point <= now {
                reached.push(Change::StepEscalated {
                    step: record.id.clone(),
                    escalation: escalation.id.clone(),
                    name: escalation.name.clone(),
                });
            }
        }
        Ok(reached)
    }

    /// The escalation points a step reached that, with its due time moved to
    /// `due`, lie ahead of `now` again.
    fn escalations_ahead(
        &self,
        step: &Step,
        record: &StepRecord,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        record
            .escalations
            .iter()
            .filter(|reached| {
                step.escalations
                    .iter()
                    .find(|escalation| escalation.id == reached.id)
                    .and_then(|escalation| {
                        escalation_time(self.calendar, due, escalation.after_due).ok()
                    })
                    .is_some_and(|point| point > now)
            })
            .map(|reached| reached.id.clone())
            .collect()
    }

    /// The deadline of a started step, counted again from its start with
    /// `moves` in place of the ones recorded.
    pub(super) fn recounted_deadline(
        &self,
        step: &Step,
        record: &StepRecord,
        moves: &[ClockMove],
    ) -> Result<Counted, CaseError> {
        match record.activated_at {
            Some(started) => self.step_deadline(step, started, moves),
            None => Ok(Counted::from(None)),
        }
    }

    /// The deadline of a step whose clock starts again now: moved on by the
    /// time it stood still.
    pub(super) fn resumed_deadline(
        &self,
        step: &Step,
        record: &StepRecord,
        stopped_by: ClockStop,
    ) -> Result<Counted, CaseError> {
        if record.due.is_none() {
            return Ok(Counted::from(None));
        }
        let mut moves = record.clock.clone();
        moves.push(ClockMove::Stopped {
            from: record.paused_since.unwrap_or(self.now()),
            to: self.now(),
            by: stopped_by,
        });
        self.recounted_deadline(step, record, &moves)
    }

    /// The promised date of a case applied for at `opened_at`.
    pub(super) fn promise(&self, opened_at: DateTime<Utc>) -> Result<Counted, CaseError> {
        Ok(Counted::from(match self.definition.promised_limit {
            Some(limit) => Some(deadline(self.calendar, opened_at, &[], limit, None)?),
            None => None,
        }))
    }

    /// The time limit and warning that apply to this case: the first rule
    /// whose condition holds, or the step's own.
    fn limits_for(&self, step: &Step) -> (Option<TimeSpan>, Option<TimeSpan>) {
        if !step.time_limits.is_empty() {
            let bindings = self.bindings(step);
            for rule in &step.time_limits {
                let holds = expression::compiled(&rule.when)
                    .and_then(|program| bindings.evaluate(&program).ok())
                    .is_some_and(|value| value == cel::Value::Bool(true));
                if holds {
                    return (Some(rule.limit), rule.warn_before);
                }
            }
        }
        (step.time_limit, step.warn_before)
    }
}
