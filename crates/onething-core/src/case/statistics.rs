//! The figures a service centre's dashboard shows for a bundle: volume by
//! outcome and channel, on-time rate and time used against the promise and
//! against the law, escalations, supplements and returns, materials the
//! applicants did not have to bring, and satisfaction. A pure function of
//! case views.

use std::collections::BTreeMap;

use serde::Serialize;

use super::figures::{handed_over, trips_made};
use super::savings::{savings, CompletedTotals, Savings};
use super::view::CaseView;
use crate::calendar::{Calendar, TimeUnit};
use crate::workflow::Definition;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Statistics {
    pub cases: u64,
    /// Cases by status: open, completed, partially_completed, withdrawn, terminated.
    pub by_status: BTreeMap<String, u64>,
    /// Cases by channel: window, online, self_service, proxy.
    pub by_channel: BTreeMap<String, u64>,
    /// Share of cases applied for online or at a self-service terminal (网办率).
    pub online_rate: Option<f64>,
    /// Open cases with a step past its due time now.
    pub overdue_now: u64,
    /// Ended cases in which no step ever went past its due time, as a share of
    /// ended cases: on time against the promise (the steps' `time_limit`).
    pub on_time_rate: Option<f64>,
    /// Open cases with a step past its statutory limit (法定时限) now.
    pub statutory_overdue_now: u64,
    /// On time against the law: of the ended cases with a step counted
    /// against a statutory limit, the share in which no step went past it.
    pub statutory_on_time_rate: Option<f64>,
    /// Ended cases in which some step went past its statutory limit.
    pub statutory_overdue_ended: u64,
    /// Escalation points reached (催办, 通报 …), by escalation id: how many
    /// steps of the cases reached each.
    pub escalations: BTreeMap<String, u64>,
    /// Cases with at least one escalation.
    pub escalated_cases: u64,
    /// Average working days from opening to the end, over ended cases.
    pub average_working_days: Option<f64>,
    /// The bundle's promised and statutory limits and the compression 1 − promised ÷ statutory.
    pub promised_limit: Option<String>,
    pub statutory_limit: Option<String>,
    pub time_limit_compression: Option<f64>,
    /// Share of cases asked for a supplement (补正) at least once.
    pub supplement_rate: Option<f64>,
    /// Share of cases sent back (退回) at least once.
    pub return_rate: Option<f64>,
    /// Materials the applicants did not have to hand over because they were
    /// shared (an e-licence fetched, or produced by a step that ran), in all
    /// and per case.
    pub materials_not_submitted: u64,
    pub materials_not_submitted_per_case: Option<f64>,
    /// Materials replaced by a commitment (告知承诺), and waived.
    pub materials_by_commitment: u64,
    pub materials_waived: u64,
    /// Ratings (好差评): share of ended cases rated, share of ratings 4–5,
    /// ratings of 1–2 and their follow-ups.
    pub rated: u64,
    pub rating_rate: Option<f64>,
    pub good_rate: Option<f64>,
    pub bad_ratings: u64,
    /// The completed cases against the bundle's before-reform baseline;
    /// none when the bundle declares none.
    pub savings: Option<Savings>,
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Computes the figures over `cases`; `definition` and `calendar` give the
/// bundle's limits and count working days (without them those stay empty).
pub fn statistics(
    cases: &[CaseView],
    definition: Option<&Definition>,
    calendar: Option<&Calendar>,
) -> Statistics {
    let mut figures = Statistics {
        cases: cases.len() as u64,
        ..Statistics::default()
    };
    let mut ended = 0u64;
    let mut ended_on_time = 0u64;
    let mut ended_under_law = 0u64;
    let mut working_days = Vec::new();
    let mut supplemented = 0u64;
    let mut returned = 0u64;
    let mut good = 0u64;
    let mut completed = CompletedTotals::default();
    for case in cases {
        *figures.by_status.entry(case.status.clone()).or_default() += 1;
        let channel = serde_json::to_value(case.channel)
            .ok()
            .and_then(|value| value.as_str().map(str::to_string))
            .unwrap_or_default();
        *figures.by_channel.entry(channel).or_default() += 1;
        if case.status == "open" && case.is_overdue() {
            figures.overdue_now += 1;
        }
        if case.status == "open" && case.is_statutory_overdue() {
            figures.statutory_overdue_now += 1;
        }
        let mut escalated = false;
        for step in &case.steps {
            for reached in &step.escalations {
                *figures.escalations.entry(reached.id.clone()).or_default() += 1;
                escalated = true;
            }
        }
        figures.escalated_cases += u64::from(escalated);
        if let Some(ended_at) = case.ended_at {
            ended += 1;
            if !case.steps.iter().any(|step| step.overdue) {
                ended_on_time += 1;
            }
            let statutory: Vec<_> = case
                .steps
                .iter()
                .filter_map(|s| s.statutory.as_ref())
                .collect();
            if !statutory.is_empty() {
                ended_under_law += 1;
                figures.statutory_overdue_ended +=
                    u64::from(statutory.iter().any(|clock| clock.overdue));
            }
            let days = calendar.and_then(|c| c.working_days_between(case.opened_at, ended_at).ok());
            if let Some(days) = days {
                working_days.push(f64::from(days));
            }
            if case.status == "completed" {
                completed.cases += 1;
                completed.trips_made += u64::from(trips_made(case.channel, case.supplements));
                completed.materials_submitted += case
                    .materials
                    .iter()
                    .filter(|record| handed_over(record, definition))
                    .count() as u64;
                if let Some(days) = days {
                    completed.working_days_total += u64::from(days);
                    completed.working_days_counted += 1;
                }
            }
        }
        supplemented += u64::from(case.supplements > 0);
        returned += u64::from(case.returns > 0);
        figures.materials_not_submitted += case.materials_not_submitted as u64;
        figures.materials_by_commitment += case.materials_by_commitment as u64;
        figures.materials_waived += case.materials_waived as u64;
        if let Some(rating) = &case.rating {
            figures.rated += 1;
            good += u64::from(rating.score >= 4);
            figures.bad_ratings += u64::from(rating.score <= 2);
        }
    }
    // 网办率: applications made online or at a self-service terminal;
    // window and assisted (帮办代办) applications are not.
    let online = ["online", "self_service"]
        .iter()
        .map(|channel| figures.by_channel.get(*channel).copied().unwrap_or(0))
        .sum();
    figures.online_rate = share(online, figures.cases);
    figures.on_time_rate = share(ended_on_time, ended);
    figures.statutory_on_time_rate = share(
        ended_under_law - figures.statutory_overdue_ended,
        ended_under_law,
    );
    figures.average_working_days = (!working_days.is_empty())
        .then(|| working_days.iter().sum::<f64>() / working_days.len() as f64);
    figures.supplement_rate = share(supplemented, figures.cases);
    figures.return_rate = share(returned, figures.cases);
    figures.materials_not_submitted_per_case =
        share(figures.materials_not_submitted, figures.cases);
    figures.rating_rate = share(figures.rated, ended);
    figures.good_rate = share(good, figures.rated);
    if let Some(definition) = definition {
        figures.savings = definition
            .before_reform
            .as_ref()
            .map(|baseline| savings(baseline, completed));
        figures.promised_limit = definition.promised_limit.map(|limit| limit.to_string());
        figures.statutory_limit = definition.statutory_limit.map(|limit| limit.to_string());
        if let (Some(promised), Some(statutory)) =
            (definition.promised_limit, definition.statutory_limit)
        {
            if promised.unit == statutory.unit
                && statutory.unit != TimeUnit::Hours
                && statutory.amount > 0
            {
                figures.time_limit_compression =
                    Some(1.0 - f64::from(promised.amount) / f64::from(statutory.amount));
            }
        }
    }
    figures
}
