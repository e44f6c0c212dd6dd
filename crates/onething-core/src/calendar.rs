//! Working-day calendars: legal time limits count working days, which skip
//! weekends and statutory holidays but include weekend make-up workdays (调休).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};

use crate::localized::Localized;

/// One year of a calendar: the State Council's holiday notice, or a
/// provisional year until that notice is added.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarYear {
    /// Days off, including days in a holiday break that fall on a weekday.
    pub holidays: BTreeSet<NaiveDate>,
    /// Weekend days that are working days (调休上班).
    pub workdays: BTreeSet<NaiveDate>,
    /// Not (yet) the official table: marked so by hand in the calendar file,
    /// or computed from the holiday rules in force ([`ProvisionalRule`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisional: bool,
}

/// How a year without an official table is computed: the statutory holidays
/// of the rules in force, with the dates of the movable feasts (lunar
/// calendar, solar terms) from a table in the calendar file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionalRule {
    /// The regulation the rule follows, for people reading the file.
    pub basis: String,
    /// Holidays on the same date every year, as (month, day).
    pub fixed: Vec<(u32, u32)>,
    /// Holidays around a movable feast: the feast's name, the offset of the
    /// first day off from the feast's date and the number of days.
    pub festivals: Vec<Festival>,
    /// The feasts' dates by year; a year is provisional-capable only if listed.
    pub dates: BTreeMap<i32, BTreeMap<String, NaiveDate>>,
    /// A holiday on a Saturday or Sunday (or on another holiday) gives a day
    /// off on the next working day after the break (补假).
    pub weekend_compensation: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Festival {
    pub name: String,
    pub from: i64,
    pub days: u32,
}

impl ProvisionalRule {
    /// The year computed from the rule, or `None` when the feasts' dates of
    /// that year are not in the table. Make-up working weekends (调休) and
    /// bridge days cannot be predicted: a provisional year has none.
    pub fn year(&self, year: i32) -> Option<CalendarYear> {
        let dates = self.dates.get(&year)?;
        let mut breaks: Vec<Vec<NaiveDate>> = Vec::new();
        // Fixed holidays on consecutive dates form one break (National Day).
        let mut fixed: Vec<NaiveDate> = self
            .fixed
            .iter()
            .filter_map(|(month, day)| NaiveDate::from_ymd_opt(year, *month, *day))
            .collect();
        fixed.sort();
        for date in fixed {
            match breaks.last_mut() {
                Some(days) if days.last() == Some(&(date - Duration::days(1))) => days.push(date),
                _ => breaks.push(vec![date]),
            }
        }
        for festival in &self.festivals {
            let feast = *dates.get(&festival.name)?;
            let first = feast + Duration::days(festival.from);
            breaks.push(
                (0..i64::from(festival.days))
                    .map(|offset| first + Duration::days(offset))
                    .collect(),
            );
        }
        breaks.sort();
        let mut holidays = BTreeSet::new();
        for days in &breaks {
            let mut owed = 0;
            for day in days {
                let on_weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
                if !holidays.insert(*day) || on_weekend {
                    owed += 1;
                }
            }
            if !self.weekend_compensation {
                continue;
            }
            let mut day = *days.last().expect("a break has days");
            while owed > 0 {
                day += Duration::days(1);
                let on_weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
                if !on_weekend && holidays.insert(day) {
                    owed -= 1;
                }
            }
        }
        Some(CalendarYear {
            holidays,
            workdays: BTreeSet::new(),
            provisional: true,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Calendar {
    pub id: String,
    pub name: Localized,
    /// Local time of the administration, east of UTC; a day ends at local midnight.
    pub utc_offset_minutes: i32,
    /// Official years, years marked provisional in the file, and the years
    /// computed from `provisional_rule` where neither exists.
    pub years: BTreeMap<i32, CalendarYear>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisional_rule: Option<ProvisionalRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CalendarError {
    #[error("calendar has no holiday table for the year {0}, neither official nor provisional (the calendar file must add the year)")]
    MissingYear(i32),
}

/// How far a calendar's tables reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The last day of the last official year.
    pub official_until: Option<NaiveDate>,
    /// The last day any table (official or provisional) covers.
    pub until: Option<NaiveDate>,
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
    /// Adds a provisional year from the rule for every year of the rule's
    /// table that the file gives no table for.
    pub fn fill_provisional_years(&mut self) {
        let Some(rule) = &self.provisional_rule else {
            return;
        };
        for year in rule.dates.keys() {
            if !self.years.contains_key(year) {
                if let Some(computed) = rule.year(*year) {
                    self.years.insert(*year, computed);
                }
            }
        }
    }

    pub fn is_provisional(&self, year: i32) -> bool {
        self.years.get(&year).is_some_and(|table| table.provisional)
    }

    /// The provisional years among those from `from` to `to` (both included).
    pub fn provisional_years_between(&self, from: NaiveDate, to: NaiveDate) -> Vec<i32> {
        let (first, last) = if from <= to {
            (from.year(), to.year())
        } else {
            (to.year(), from.year())
        };
        (first..=last)
            .filter(|year| self.is_provisional(*year))
            .collect()
    }

    pub fn coverage(&self) -> Coverage {
        let last_day = |year: i32| NaiveDate::from_ymd_opt(year, 12, 31);
        Coverage {
            official_until: self
                .years
                .iter()
                .rev()
                .find(|(_, table)| !table.provisional)
                .and_then(|(year, _)| last_day(*year)),
            until: self
                .years
                .keys()
                .next_back()
                .and_then(|year| last_day(*year)),
        }
    }

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

    /// Warnings when the official tables, or all tables, end within
    /// `horizon_days` of `today`: past the official tables due times are
    /// provisional; past all tables working-day limits are refused.
    pub fn coverage_warnings(&self, today: NaiveDate, horizon_days: i64) -> Vec<String> {
        let horizon = today + Duration::days(horizon_days);
        let coverage = self.coverage();
        let mut warnings = Vec::new();
        if let Some(official_until) = coverage.official_until.filter(|end| *end < horizon) {
            let days = (official_until - today).num_days();
            warnings.push(if days >= 0 {
                format!(
                    "calendar `{}`: the official holiday tables end on {official_until} (in {days} days); due times after it are provisional until the State Council's notice for {} is added to the calendar file and the workflows are reloaded",
                    self.id,
                    official_until.year() + 1
                )
            } else {
                format!(
                    "calendar `{}`: the official holiday tables ended on {official_until}; due times since are provisional until the State Council's notice for {} is added to the calendar file and the workflows are reloaded",
                    self.id,
                    official_until.year() + 1
                )
            });
        }
        if let Some(until) = coverage.until.filter(|end| *end < horizon) {
            warnings.push(format!(
                "calendar `{}` has no table, official or provisional, after {until}: a working-day limit that runs past it is refused until the calendar file adds the years after it",
                self.id
            ));
        }
        warnings
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

/// The years official in `old` that `new` has only provisionally or not at
/// all: `new` is older than `old` (a server that was not reloaded).
pub fn official_years_missing(old: &Calendar, new: &Calendar) -> Vec<i32> {
    old.years
        .iter()
        .filter(|(year, table)| {
            !table.provisional && new.years.get(year).is_none_or(|table| table.provisional)
        })
        .map(|(year, _)| *year)
        .collect()
}

/// What changed from one version of a calendar to the next, in words; empty
/// when nothing that counts working days changed.
pub fn describe_changes(old: &Calendar, new: &Calendar) -> Vec<String> {
    let id = &new.id;
    let mut changes = Vec::new();
    if old.utc_offset_minutes != new.utc_offset_minutes {
        changes.push(format!("calendar `{id}`: the UTC offset changed"));
    }
    let years: BTreeSet<i32> = old.years.keys().chain(new.years.keys()).copied().collect();
    for year in years {
        let kind = |table: &CalendarYear| {
            if table.provisional {
                "provisional"
            } else {
                "official"
            }
        };
        match (old.years.get(&year), new.years.get(&year)) {
            (Some(before), Some(after)) if before == after => {}
            (Some(before), Some(after)) if before.provisional && !after.provisional => {
                changes.push(format!(
                    "calendar `{id}`: the official table for {year} replaces the provisional year"
                ));
            }
            (Some(before), Some(after)) if !before.provisional && after.provisional => {
                changes.push(format!(
                    "calendar `{id}`: the table for {year} is provisional again"
                ));
            }
            (Some(_), Some(after)) => changes.push(format!(
                "calendar `{id}`: the {} table for {year} changed",
                kind(after)
            )),
            (None, Some(after)) => changes.push(format!(
                "calendar `{id}`: a {} table for {year} was added",
                kind(after)
            )),
            (Some(_), None) => {
                changes.push(format!("calendar `{id}`: the table for {year} was removed"));
            }
            (None, None) => {}
        }
    }
    changes
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

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    #[test]
    fn the_provisional_rule_gives_every_statutory_holiday_of_the_official_years() {
        let calendar = shipped();
        let rule = calendar.provisional_rule.as_ref().unwrap();
        for year in [2025, 2026] {
            let official = &calendar.years[&year];
            assert!(!official.provisional, "{year} is official");
            let provisional = rule.year(year).unwrap();
            let not_official: Vec<_> = provisional
                .holidays
                .difference(&official.holidays)
                .collect();
            assert!(
                not_official.is_empty(),
                "{year}: the rule gives days off the notice does not: {not_official:?}"
            );
            // The 13 statutory days, each on a weekday or given back on one.
            let statutory_weekdays = provisional
                .holidays
                .iter()
                .filter(|day| !matches!(day.weekday(), Weekday::Sat | Weekday::Sun))
                .count();
            assert_eq!(statutory_weekdays, 13, "{year}: {:?}", provisional.holidays);
        }
    }

    #[test]
    fn the_statutory_days_of_2026_are_the_notices_days_off_less_its_bridge_days() {
        let rule = shipped().provisional_rule.unwrap();
        let holidays: Vec<NaiveDate> = rule.year(2026).unwrap().holidays.into_iter().collect();
        let expected = [
            date(2026, 1, 1),
            // 除夕 to 初三.
            date(2026, 2, 16),
            date(2026, 2, 17),
            date(2026, 2, 18),
            date(2026, 2, 19),
            // 清明 on a Sunday, given back on Monday.
            date(2026, 4, 5),
            date(2026, 4, 6),
            // 05-02 is a Saturday, given back on Monday.
            date(2026, 5, 1),
            date(2026, 5, 2),
            date(2026, 5, 4),
            date(2026, 6, 19),
            date(2026, 9, 25),
            // 10-03 is a Saturday, given back on Monday.
            date(2026, 10, 1),
            date(2026, 10, 2),
            date(2026, 10, 3),
            date(2026, 10, 5),
        ];
        assert_eq!(holidays, expected);
    }

    #[test]
    fn the_feast_dates_of_the_calendar_file_agree_with_an_astronomical_computation() {
        use nongli::{ChineseDate, SolarTerm};
        let rule = shipped().provisional_rule.unwrap();
        assert!(rule.dates.len() >= 12, "ten years ahead at least");
        for (year, feasts) in &rule.dates {
            let lunar = |month, day| {
                ChineseDate::new(*year, month, false, day)
                    .unwrap()
                    .to_gregorian()
            };
            assert_eq!(feasts["spring_festival"], lunar(1, 1), "{year} 春节");
            assert_eq!(feasts["dragon_boat"], lunar(5, 5), "{year} 端午");
            assert_eq!(feasts["mid_autumn"], lunar(8, 15), "{year} 中秋");
            let qingming = (1..=10)
                .map(|day| date(*year, 4, day))
                .find(|day| SolarTerm::from_date(day) == Some(SolarTerm::Qingming))
                .unwrap();
            assert_eq!(feasts["qingming"], qingming, "{year} 清明");
        }
    }

    #[test]
    fn a_year_without_a_notice_is_provisional_and_an_official_one_is_not() {
        let calendar = shipped();
        assert!(!calendar.is_provisional(2026));
        assert!(calendar.is_provisional(2027));
        assert!(calendar.is_provisional(2036));
        assert_eq!(
            calendar.provisional_years_between(date(2026, 12, 20), date(2027, 1, 20)),
            vec![2027]
        );
        // The 2027 Spring Festival: 除夕 02-05 (Friday) to 初三 02-08 (Monday), two
        // days of it on the weekend given back on Tuesday and Wednesday.
        let days_off: Vec<bool> = (4..=11)
            .map(|day| calendar.is_working_day(date(2027, 2, day)).unwrap())
            .collect();
        assert_eq!(
            days_off,
            [true, false, false, false, false, false, false, true]
        );
        assert_eq!(
            calendar.is_working_day(date(2037, 3, 2)),
            Err(CalendarError::MissingYear(2037))
        );
    }

    #[test]
    fn a_working_day_limit_runs_into_the_provisional_year() {
        let calendar = shipped();
        let start = calendar.start_of_day(date(2026, 12, 20)) + Duration::hours(10);
        let due = calendar
            .due(
                start,
                TimeSpan {
                    amount: 20,
                    unit: TimeUnit::WorkingDays,
                },
            )
            .unwrap();
        // 12-21 to 12-31 has 9 working days; 2027-01-01 is New Year's Day.
        assert_eq!(calendar.local_date(due), date(2027, 1, 19));
    }

    #[test]
    fn a_year_marked_provisional_by_hand_is_kept_as_written() {
        let mut registry = crate::registry::Registry::default();
        let text = include_str!("../../../workflows/calendars/cn.toml").replace(
            "[provisional]",
            "[years.2027]\nprovisional = true\nholidays = [2027-01-01, 2027-01-04]\nworkdays = [2027-01-09]\n\n[provisional]",
        );
        registry.add_calendar(&text).unwrap();
        let calendar = &registry.calendars["cn"];
        assert!(calendar.is_provisional(2027));
        assert!(!calendar.is_working_day(date(2027, 1, 4)).unwrap());
        assert!(calendar.is_working_day(date(2027, 1, 9)).unwrap());
        // The rule's Spring Festival is not added to a year written by hand.
        assert!(calendar.is_working_day(date(2027, 2, 8)).unwrap());
    }

    #[test]
    fn an_official_table_replacing_a_provisional_year_is_described_as_such() {
        let old = shipped();
        let mut new = old.clone();
        assert!(describe_changes(&old, &new).is_empty());
        let mut official = new.years[&2027].clone();
        official.provisional = false;
        official.holidays.insert(date(2027, 2, 10));
        new.years.insert(2027, official);
        assert_eq!(
            describe_changes(&old, &new),
            vec!["calendar `cn`: the official table for 2027 replaces the provisional year"]
        );
    }

    #[test]
    fn coverage_warnings_come_when_the_tables_end_within_the_horizon() {
        let calendar = shipped();
        assert_eq!(
            calendar.coverage(),
            Coverage {
                official_until: Some(date(2026, 12, 31)),
                until: Some(date(2036, 12, 31)),
            }
        );
        assert!(calendar.coverage_warnings(date(2026, 6, 1), 90).is_empty());
        assert_eq!(
            calendar.coverage_warnings(date(2026, 12, 1), 90),
            vec!["calendar `cn`: the official holiday tables end on 2026-12-31 (in 30 days); due times after it are provisional until the State Council's notice for 2027 is added to the calendar file and the workflows are reloaded".to_string()]
        );
        let late = calendar.coverage_warnings(date(2036, 11, 1), 90);
        assert_eq!(late.len(), 2, "{late:?}");
        assert!(late[1].contains("no table, official or provisional, after 2036-12-31"));
    }
}
