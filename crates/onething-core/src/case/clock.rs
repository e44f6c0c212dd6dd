//! A step's legal clock: its due time and warning point, counted from its
//! start and everything that moved it since (stops and extensions). One
//! function counts them, whether a step starts, resumes, is extended or is
//! counted again because the calendar changed, so that the four can never
//! disagree.

use chrono::{DateTime, Duration, Utc};

use super::state::{ClockMove, ClockStop};
use crate::calendar::{Calendar, CalendarError, TimeSpan, TimeUnit};

/// When a step's limit runs out and when it is warned of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    pub due: DateTime<Utc>,
    pub warn_at: Option<DateTime<Utc>>,
    /// The provisional calendar years the count went through.
    pub provisional_years: Vec<i32>,
}

/// Counts a step's due time and warning point on `calendar`.
pub fn deadline(
    calendar: &Calendar,
    started: DateTime<Utc>,
    moves: &[ClockMove],
    limit: TimeSpan,
    warn_before: Option<TimeSpan>,
) -> Result<Deadline, CalendarError> {
    let mut due = calendar.due(started, limit)?;
    let mut counts_working_days = limit.unit == TimeUnit::WorkingDays;
    for clock_move in moves {
        match clock_move {
            ClockMove::Stopped { from, to, by } => {
                due = shift(calendar, due, *from, *to, limit, *by)?;
            }
            ClockMove::Extended { length } => {
                counts_working_days |= length.unit == TimeUnit::WorkingDays;
                due = extend(calendar, due, *length)?;
            }
        }
    }
    let warn_at = match warn_before {
        Some(warn) => {
            counts_working_days |= warn.unit == TimeUnit::WorkingDays;
            Some(calendar.before(due, warn)?)
        }
        None => None,
    };
    let provisional_years = if counts_working_days {
        let first = warn_at.map_or(started, |warn_at| warn_at.min(started));
        // A day limit runs out at the start of the day after its last day.
        let last = due - Duration::seconds(1);
        calendar.provisional_years_between(calendar.local_date(first), calendar.local_date(last))
    } else {
        Vec::new()
    };
    Ok(Deadline {
        due,
        warn_at,
        provisional_years,
    })
}

/// The time of an escalation point `after_due` past a step's due time,
/// counted on from the due time as an extension is.
pub fn escalation_time(
    calendar: &Calendar,
    due: DateTime<Utc>,
    after_due: TimeSpan,
) -> Result<DateTime<Utc>, CalendarError> {
    extend(calendar, due, after_due)
}

/// Moves a due time `length` further on, counted from the old due time as a
/// new limit is counted from its start.
fn extend(
    calendar: &Calendar,
    due: DateTime<Utc>,
    length: TimeSpan,
) -> Result<DateTime<Utc>, CalendarError> {
    match length.unit {
        TimeUnit::Hours => Ok(due + Duration::hours(i64::from(length.amount))),
        // A day limit runs out at the start of the day after its last day;
        // counting on from that last day keeps whole days.
        TimeUnit::CalendarDays | TimeUnit::WorkingDays => {
            calendar.due(due - Duration::seconds(1), length)
        }
    }
}

/// Moves a due time by the time a step's clock stood still, in the limit's own unit.
fn shift(
    calendar: &Calendar,
    due: DateTime<Utc>,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: TimeSpan,
    stopped_by: ClockStop,
) -> Result<DateTime<Utc>, CalendarError> {
    let first_day = calendar.local_date(since);
    let last_day = calendar.local_date(until);
    // The day the agency stopped its own clock is not given back: else a
    // stop from 23:59 to 00:01 would win a whole day, again every night.
    let first_day_counts = stopped_by == ClockStop::Applicant || first_day == last_day;
    Ok(match limit.unit {
        TimeUnit::Hours => due + (until - since),
        TimeUnit::CalendarDays => {
            let mut days = (last_day - first_day).num_days();
            if !first_day_counts {
                days -= 1;
            }
            due + Duration::days(days.max(0))
        }
        TimeUnit::WorkingDays => {
            let mut paused = calendar.working_days_between(since, until)?;
            if !first_day_counts && calendar.is_working_day(first_day)? {
                paused -= 1;
            }
            if paused == 0 {
                due
            } else {
                calendar.due(
                    due - Duration::seconds(1),
                    TimeSpan {
                        amount: paused,
                        unit: TimeUnit::WorkingDays,
                    },
                )?
            }
        }
    })
}
