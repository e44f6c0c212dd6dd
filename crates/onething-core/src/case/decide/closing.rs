//! Ending a case: the applicant withdraws (refunds owed for what was paid),
//! every ending records what was delivered, and an ended case is rated once;
//! a bad rating opens a follow-up.

use super::{forbidden, is_applicant_or_window, require_reason, Decision};
use crate::calendar::{TimeSpan, TimeUnit};
use crate::case::clock::deadline;
use crate::case::command::RATING_ASPECTS;
use crate::case::error::CaseError;
use crate::case::event::{CancelReason, CaseOutcome, Change};
use crate::case::state::{CaseStatus, StepState};

/// Working days within which a bad rating must be followed up.
pub const FOLLOW_UP_WORKING_DAYS: u32 = 15;

impl Decision<'_> {
    pub(super) fn withdraw(&mut self, reason: &str) -> Result<(), CaseError> {
        if !is_applicant_or_window(self.actor()) {
            return Err(forbidden(
                self.actor(),
                "withdraw",
                "only the applicant withdraws, directly or through the window",
            ));
        }
        self.open_case()?;
        require_reason(reason)?;
        self.emit(Change::CaseWithdrawn {
            reason: reason.to_string(),
        });
        self.cancel_live_steps(CancelReason::Withdrawn);
        let refunds: Vec<(String, String, String, i64)> = self
            .file()
            .payments
            .iter()
            .filter(|payment| payment.paid && payment.bill.total > 0)
            .flat_map(|payment| {
                payment
                    .bill
                    .items
                    .iter()
                    .filter(|item| item.amount > 0)
                    .map(|item| {
                        (
                            payment.step.clone(),
                            payment.bill.payer.clone(),
                            item.payee.clone(),
                            item.amount,
                        )
                    })
            })
            .collect();
        for (step, payer, payee, amount) in refunds {
            self.emit(Change::RefundOwed {
                step,
                payer,
                payee,
                amount,
            });
        }
        self.end(CaseOutcome::Withdrawn);
        Ok(())
    }

    pub(super) fn rate(
        &mut self,
        score: u8,
        comment: Option<&str>,
        aspects: &std::collections::BTreeMap<String, u8>,
    ) -> Result<(), CaseError> {
        if !is_applicant_or_window(self.actor()) {
            return Err(forbidden(
                self.actor(),
                "rate",
                "ratings come from the applicant",
            ));
        }
        let file = self.opened()?;
        if file.status == CaseStatus::Open {
            return Err(CaseError::CaseNotEnded);
        }
        if file.rating.is_some() {
            return Err(CaseError::AlreadyRated);
        }
        if !(1..=5).contains(&score) {
            return Err(CaseError::InvalidScore { score });
        }
        let problems: Vec<String> = aspects
            .iter()
            .filter_map(|(aspect, value)| {
                if !RATING_ASPECTS.contains(&aspect.as_str()) {
                    Some(format!(
                        "`{aspect}` is not a question of the rating (one of {})",
                        RATING_ASPECTS.join(", ")
                    ))
                } else if !(1..=5).contains(value) {
                    Some(format!("`{aspect}` is from 1 to 5, not {value}"))
                } else {
                    None
                }
            })
            .collect();
        if !problems.is_empty() {
            return Err(CaseError::InvalidRating { problems });
        }
        self.emit(Change::CaseRated {
            score,
            comment: comment.map(str::to_string),
            aspects: aspects.clone(),
            by_default: false,
        });
        self.follow_up_if_bad(score)
    }

    /// The rules' default rating, once the period for the applicant's own is over.
    pub(super) fn rate_by_default(&mut self, score: u8, after_days: u32) -> Result<(), CaseError> {
        if *self.actor() != crate::case::Actor::System {
            return Err(forbidden(
                self.actor(),
                "rate_by_default",
                "only the scheduler records the default rating",
            ));
        }
        let file = self.opened()?;
        let Some(ended_at) = file.ended_at else {
            return Err(CaseError::CaseNotEnded);
        };
        if file.rating.is_some() {
            return Err(CaseError::AlreadyRated);
        }
        if !(1..=5).contains(&score) {
            return Err(CaseError::InvalidScore { score });
        }
        let until = ended_at + chrono::Duration::days(i64::from(after_days));
        if self.now() < until {
            return Err(CaseError::RatingPeriodNotOver { until });
        }
        self.emit(Change::CaseRated {
            score,
            comment: None,
            aspects: Default::default(),
            by_default: true,
        });
        self.follow_up_if_bad(score)
    }

    /// A rating of 1 or 2 opens its follow-up (差评回访整改).
    fn follow_up_if_bad(&mut self, score: u8) -> Result<(), CaseError> {
        if score <= 2 {
            let follow_up = deadline(
                self.calendar,
                self.now(),
                &[],
                TimeSpan {
                    amount: FOLLOW_UP_WORKING_DAYS,
                    unit: TimeUnit::WorkingDays,
                },
                None,
            )?;
            self.emit(Change::FollowUpOpened {
                due: follow_up.due,
                provisional_years: follow_up.provisional_years,
            });
        }
        Ok(())
    }

    /// The window that took the application answers for the follow-up of
    /// its bad rating (谁受理谁回访).
    pub(super) fn record_follow_up(
        &mut self,
        result: &str,
        resolved: bool,
    ) -> Result<(), CaseError> {
        if !self.actor().is_window() {
            return Err(forbidden(
                self.actor(),
                "record_follow_up",
                "the follow-up of a rating is recorded by the window",
            ));
        }
        let file = self.opened()?;
        let waiting = file
            .rating
            .as_ref()
            .is_some_and(|r| r.follow_up_due.is_some() && r.follow_up.is_none());
        if !waiting {
            return Err(CaseError::NoFollowUp);
        }
        require_reason(result)?;
        self.emit(Change::FollowUpRecorded {
            result: result.trim().to_string(),
            resolved,
        });
        Ok(())
    }

    pub(super) fn cancel_live_steps(&mut self, reason: CancelReason) {
        let live: Vec<String> = self
            .file()
            .steps
            .iter()
            .filter(|step| step.state.is_live())
            .map(|step| step.id.clone())
            .collect();
        for step in live {
            self.emit(Change::StepCancelled { step, reason });
        }
    }

    /// Ends the case: what the completed steps deliver is delivered, what
    /// refused or cancelled steps would have delivered is not.
    pub(super) fn end(&mut self, outcome: CaseOutcome) {
        let file = self.file();
        let mut delivered = Vec::new();
        let mut not_delivered = Vec::new();
        for step in &self.definition.steps {
            let state = file.step(&step.id).expect("seeded").state;
            let list = match state {
                StepState::Completed => &mut delivered,
                StepState::Refused | StepState::Cancelled => &mut not_delivered,
                _ => continue,
            };
            list.extend(step.deliverables.iter().map(|d| d.id.clone()));
        }
        self.emit(Change::CaseEnded {
            outcome,
            delivered,
            not_delivered,
        });
    }
}
