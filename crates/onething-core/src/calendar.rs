//! Working-day calendars: legal time limits count working days, which skip
//! weekends and statutory holidays but include weekend make-up workdays (调休).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::registry::Localized;

/// One year of a calendar, as the State Council's holiday notice gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarYear {
    /// Days off, including days in a holiday break that fall on a weekday.
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are working days (调休上班).
    pub workdays: BTreeSet<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    pub id: String,
    pub name: Localized,
    /// Local time of the administration, east of UTC; a day ends at local midnight.
    pub utc_offset_minutes: i32,
    pub years: BTreeMap<i32, CalendarYear>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CalendarError {
    #[error("calendar has no holiday table for the year {0}")]
    MissingYear(i32),
}

/// How a time limit is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    WorkingDays,
    CalendarDays,
    Hours,
}

/// An amount of time in one unit: `5 working days`, `30 calendar days`, `24 hours`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TimeSpan {
    pub amount: u32,
    pub unit: TimeUnit,
}

impl TimeSpan {
    /// Parses `N working day(s)`, `N calendar day(s)`, `N day(s)` (calendar),
    /// `N hour(s)`; also the Chinese `N个工作日`, `N日`/`N天`, `N小时`.
    pub fn parse(text: &str) -> Option<TimeSpan> {
        let text = text.trim();
        let digits_end = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let amount: u32 = text[..digits_end].parse().ok()?;
        let unit = match text[digits_end..].trim() {
            "working day" | "working days" | "个工作日" | "工作日" => TimeUnit::WorkingDays,
            "calendar day" | "calendar days" | "day" | "days" | "日" | "天" | "个自然日"
            | "自然日" => TimeUnit::CalendarDays,
            "hour" | "hours" | "小时" | "个小时" => TimeUnit::Hours,
            _ => return None,
        };
        Some(TimeSpan { amount, unit })
    }
}

impl std::fmt::Display for TimeSpan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.amount == 1 { "" } else { "s" };
        let unit = match self.unit {
            TimeUnit::WorkingDays => "working day",
            TimeUnit::CalendarDays => "calendar day",
            TimeUnit::Hours => "hour",
        };
        write!(f, "{} {unit}{plural}", self.amount)
    }
}

impl Calendar {
    fn offset(&self) -> FixedOffset {
        FixedOffset::east_opt(self.utc_offset_minutes * 60).expect("offset checked when parsed")
    }

    pub fn local_date(&self, instant: DateTime<Utc>) -> NaiveDate {
        instant.with_timezone(&self.offset()).date_naive()
    }

    fn start_of_day(&self, date: NaiveDate) -> DateTime<Utc> {
        self.offset()
            .from_local_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
            .single()
            .expect("a fixed offset has no gaps")
            .with_timezone(&Utc)
    }

    pub fn is_working_day(&self, date: NaiveDate) -> Result<bool, CalendarError> {
        let year = self
            .years
            .get(&date.year())
            .ok_or(CalendarError::MissingYear(date.year()))?;
        if year.workdays.contains(&date) {
            return Ok(true);
        }
        if year.holidays.contains(&date) {
            return Ok(false);
        }
        Ok(!matches!(date.weekday(), Weekday::Sat | Weekday::Sun))
    }

    /// The moment a time limit that starts at `start` runs out.
    ///
    /// Days are counted from the day after the start, as administrative law
    /// counts periods (the starting day is not included), and a limit in days
    /// runs out at the end of its last day, local time.
    pub fn due(
        &self,
        start: DateTime<Utc>,
        span: TimeSpan,
    ) -> Result<DateTime<Utc>, CalendarError> {
        match span.unit {
            TimeUnit::Hours => Ok(start + Duration::hours(i64::from(span.amount))),
            TimeUnit::CalendarDays => {
                let last = self.local_date(start) + Duration::days(i64::from(span.amount));
                Ok(self.start_of_day(last + Duration::days(1)))
            }
            TimeUnit::WorkingDays => {
                let mut date = self.local_date(start);
                let mut remaining = span.amount;
                while remaining > 0 {
                    date += Duration::days(1);
                    if self.is_working_day(date)? {
                        remaining -= 1;
                    }
                }
                Ok(self.start_of_day(date + Duration::days(1)))
            }
        }
    }

    /// The moment `span` before `due`: where a warning is raised.
    pub fn before(
        &self,
        due: DateTime<Utc>,
        span: TimeSpan,
    ) -> Result<DateTime<Utc>, CalendarError> {
        match span.unit {
            TimeUnit::Hours => Ok(due - Duration::hours(i64::from(span.amount))),
            TimeUnit::CalendarDays => Ok(due - Duration::days(i64::from(span.amount))),
            TimeUnit::WorkingDays => {
                // `due` is the start of the day after the last working day.
                let mut date = self.local_date(due);
                let mut remaining = span.amount;
                while remaining > 0 {
                    date -= Duration::days(1);
                    if self.is_working_day(date)? {
                        remaining -= 1;
                    }
                }
                Ok(self.start_of_day(date))
            }
        }
    }

    /// A warning when the holiday tables end within `horizon_days` of
    /// `today`: working-day limits that run past the last table are refused,
    /// so operators must add the next year (the State Council publishes it
    /// each November) before cases reach it.
    pub fn coverage_warning(&self, today: NaiveDate, horizon_days: i64) -> Option<String> {
        let last = *self.years.keys().next_back()?;
        let end = NaiveDate::from_ymd_opt(last, 12, 31)?;
        if today + Duration::days(horizon_days) <= end {
            return None;
        }
        Some(format!(
            "calendar `{}` has holiday tables up to {last} only: a working-day limit that runs past {end} is refused until the {} table is added",
            self.id,
            last + 1
        ))
    }

    /// Working days in `[from, to)` by local date: how far a paused clock moves a due time.
    pub fn working_days_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<u32, CalendarError> {
        let mut date = self.local_date(from);
        let end = self.local_date(to);
        let mut count = 0;
        while date < end {
            if self.is_working_day(date)? {
                count += 1;
            }
            date += Duration::days(1);
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Calendar {
        let mut registry = crate::registry::Registry::default();
        registry
            .add_calendar(include_str!("../../../workflows/calendars/cn.toml"))
            .unwrap();
        registry.calendars["cn"].clone()
    }

    #[test]
    fn the_coverage_warning_comes_when_the_tables_end_within_the_horizon() {
        let calendar = shipped();
        let last = *calendar.years.keys().next_back().unwrap();
        let date = |m, d| NaiveDate::from_ymd_opt(last, m, d).unwrap();
        assert_eq!(calendar.coverage_warning(date(6, 1), 92), None);
        assert_eq!(
            calendar.coverage_warning(date(11, 27), 92),
            Some(format!(
                "calendar `cn` has holiday tables up to {last} only: a working-day limit that runs past {last}-12-31 is refused until the {} table is added",
                last + 1
            ))
        );
        let next_year = NaiveDate::from_ymd_opt(last + 1, 1, 2).unwrap();
        assert_eq!(
            calendar.due(
                calendar.start_of_day(date(12, 30)),
                TimeSpan {
                    amount: 3,
                    unit: TimeUnit::WorkingDays
                }
            ),
            Err(CalendarError::MissingYear(next_year.year()))
        );
    }
}
