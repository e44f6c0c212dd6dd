//! The shared registries that every workflow refers to: the agencies and the
//! working-day calendars. Parsed from text; where the text lives is not known here.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, CalendarYear, Festival, ProvisionalRule};
use crate::diagnostic::Diagnostic;
use crate::toml_reader::{date_value, parse_document, Located, Table};

// Kept here too, where it was first defined, so that paths outside the core
// keep working.
pub use crate::localized::Localized;

/// What kind of body an agency is; it decides nothing in the engine but is
/// shown to people and used to group dashboards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyKind {
    /// The comprehensive window (综合窗口) that takes applications for every bundle.
    Window,
    /// A government department.
    Government,
    /// A public institution such as a hospital.
    PublicInstitution,
    /// A utility or other enterprise that takes part in a bundle.
    Enterprise,
    /// The 12345 hotline centre.
    Hotline,
}

impl AgencyKind {
    const ALL: [(&'static str, AgencyKind); 5] = [
        ("window", AgencyKind::Window),
        ("government", AgencyKind::Government),
        ("public_institution", AgencyKind::PublicInstitution),
        ("enterprise", AgencyKind::Enterprise),
        ("hotline", AgencyKind::Hotline),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agency {
    pub id: String,
    pub name: Localized,
    pub kind: AgencyKind,
}

/// Every agency and calendar that workflows may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    pub agencies: BTreeMap<String, Agency>,
    pub calendars: BTreeMap<String, Calendar>,
}

/// Checks that an id is lower-case ASCII letters, digits and `_` or `-`,
/// starting with a letter: ids end up in URLs, file names and expressions.
pub fn check_id(id: &Located<String>, what: &str, diagnostics: &mut Vec<Diagnostic>) -> bool {
    let valid = id.value.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !valid {
        diagnostics.push(Diagnostic::new(
            id.span.clone(),
            format!(
                "{what} id `{}` must start with a lower-case letter and use only a-z, 0-9, `_` and `-`",
                id.value
            ),
        ));
    }
    valid
}

impl Registry {
    /// Parses the agencies file and adds its agencies.
    pub fn add_agencies(&mut self, text: &str) -> Result<(), Vec<Diagnostic>> {
        let document = parse_document(text)?;
        let mut diagnostics = Vec::new();
        let root = Table::new(document.get_ref(), document.span());
        for table in root.tables("agency", &mut diagnostics) {
            let id = table.required_string("id", &mut diagnostics);
            let name = table.localized("name", true, &mut diagnostics);
            let kind = table.required_string("kind", &mut diagnostics);
            table.finish(&mut diagnostics);
            let kind = kind.and_then(|kind| {
                let found = AgencyKind::ALL
                    .iter()
                    .find(|(name, _)| *name == kind.value)
                    .map(|(_, kind)| *kind);
                if found.is_none() {
                    let known: Vec<_> = AgencyKind::ALL.iter().map(|(name, _)| *name).collect();
                    diagnostics.push(Diagnostic::new(
                        kind.span.clone(),
                        format!(
                            "unknown agency kind `{}` (expected one of: {})",
                            kind.value,
                            known.join(", ")
                        ),
                    ));
                }
                found
            });
            let (Some(id), Some(name), Some(kind)) = (id, name, kind) else {
                continue;
            };
            if !check_id(&id, "agency", &mut diagnostics) {
                continue;
            }
            if self.agencies.contains_key(&id.value) {
                diagnostics.push(Diagnostic::new(
                    id.span.clone(),
                    format!("duplicate agency id `{}`", id.value),
                ));
                continue;
            }
            self.agencies.insert(
                id.value.clone(),
                Agency {
                    id: id.value,
                    name,
                    kind,
                },
            );
        }
        root.finish(&mut diagnostics);
        if diagnostics.is_empty() {
            Ok(())
        } else {
            crate::diagnostic::sort(&mut diagnostics);
            Err(diagnostics)
        }
    }

    /// Parses one calendar file and adds it.
    pub fn add_calendar(&mut self, text: &str) -> Result<(), Vec<Diagnostic>> {
        let document = parse_document(text)?;
        let mut diagnostics = Vec::new();
        let root = Table::new(document.get_ref(), document.span());
        let id = root.required_string("id", &mut diagnostics);
        let name = root.localized("name", true, &mut diagnostics);
        let utc_offset = root.required_string("utc_offset", &mut diagnostics);
        let offset_minutes = utc_offset.as_ref().and_then(|offset| {
            let parsed = parse_utc_offset(&offset.value);
            if parsed.is_none() {
                diagnostics.push(Diagnostic::new(
                    offset.span.clone(),
                    format!("`{}` is not a UTC offset like +08:00", offset.value),
                ));
            }
            parsed
        });
        let mut years = BTreeMap::new();
        if let Some(years_table) = root.table("years", &mut diagnostics) {
            for (year, value) in years_table.entries() {
                let Ok(number) = year.value.parse::<i32>() else {
                    diagnostics.push(Diagnostic::new(
                        year.span.clone(),
                        format!("`{}` is not a year", year.value),
                    ));
                    continue;
                };
                let Some(table) = Table::from_value(value, "a calendar year", &mut diagnostics)
                else {
                    continue;
                };
                table.allow(&["source"]);
                let provisional = table.boolean("provisional", &mut diagnostics);
                let holidays = table.dates("holidays", &mut diagnostics);
                let workdays = table.dates("workdays", &mut diagnostics);
                table.finish(&mut diagnostics);
                for date in holidays.iter().chain(&workdays) {
                    if chrono::Datelike::year(&date.value) != number {
                        diagnostics.push(Diagnostic::new(
                            date.span.clone(),
                            format!("{} is not in the year {number}", date.value),
                        ));
                    }
                }
                years.insert(
                    number,
                    CalendarYear {
                        holidays: holidays.into_iter().map(|d| d.value).collect(),
                        workdays: workdays.into_iter().map(|d| d.value).collect(),
                        provisional: provisional.unwrap_or(false),
                    },
                );
            }
        }
        let provisional_rule = root
            .table("provisional", &mut diagnostics)
            .and_then(|table| provisional_rule(&table, &mut diagnostics));
        root.finish(&mut diagnostics);
        let (Some(id), Some(name), Some(offset_minutes)) = (id, name, offset_minutes) else {
            return Err(diagnostics);
        };
        check_id(&id, "calendar", &mut diagnostics);
        if self.calendars.contains_key(&id.value) {
            diagnostics.push(Diagnostic::new(
                id.span.clone(),
                format!("duplicate calendar id `{}`", id.value),
            ));
        }
        if !diagnostics.is_empty() {
            crate::diagnostic::sort(&mut diagnostics);
            return Err(diagnostics);
        }
        let mut calendar = Calendar {
            id: id.value.clone(),
            name,
            utc_offset_minutes: offset_minutes,
            years,
            provisional_rule,
        };
        calendar.fill_provisional_years();
        self.calendars.insert(id.value, calendar);
        Ok(())
    }
}

/// Reads `[provisional]`: the holiday rules in force and the feasts' dates.
fn provisional_rule(
    table: &Table<'_, '_>,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<ProvisionalRule> {
    table.allow(&["dates_source"]);
    let basis = table.required_string("basis", diagnostics);
    let weekend_compensation = table.boolean("weekend_compensation", diagnostics);
    let mut fixed = Vec::new();
    for day in table.strings("fixed", diagnostics) {
        let parsed = day.value.split_once('-').and_then(|(month, day)| {
            let (month, day) = (month.parse::<u32>().ok()?, day.parse::<u32>().ok()?);
            // 2024 is a leap year: every month-day that can exist does.
            NaiveDate::from_ymd_opt(2024, month, day).map(|_| (month, day))
        });
        match parsed {
            Some(month_day) => fixed.push(month_day),
            None => diagnostics.push(Diagnostic::new(
                day.span.clone(),
                format!("`{}` is not a month and day like 05-01", day.value),
            )),
        }
    }
    let mut festivals: Vec<Festival> = Vec::new();
    for festival in table.tables("festivals", diagnostics) {
        let name = festival.required_string("name", diagnostics);
        let from = festival
            .integer("from", diagnostics)
            .map_or(0, |from| from.value);
        let days = festival.integer("days", diagnostics);
        festival.finish(diagnostics);
        let days = match days {
            Some(days) if (1..=15).contains(&days.value) => days.value as u32,
            Some(days) => {
                diagnostics.push(Diagnostic::new(
                    days.span.clone(),
                    format!("`days` must be from 1 to 15, found {}", days.value),
                ));
                continue;
            }
            None => {
                diagnostics.push(Diagnostic::new(festival.span(), "missing key `days`"));
                continue;
            }
        };
        let Some(name) = name else { continue };
        if !(-15..=15).contains(&from) {
            diagnostics.push(Diagnostic::new(
                festival.span(),
                format!("`from` must be from -15 to 15 days, found {from}"),
            ));
            continue;
        }
        festivals.push(Festival {
            name: name.value,
            from,
            days,
        });
    }
    let mut dates = BTreeMap::new();
    if let Some(years) = table.table("dates", diagnostics) {
        for (year, value) in years.entries() {
            let Ok(number) = year.value.parse::<i32>() else {
                diagnostics.push(Diagnostic::new(
                    year.span.clone(),
                    format!("`{}` is not a year", year.value),
                ));
                continue;
            };
            let Some(feasts) = Table::from_value(value, "the feasts of a year", diagnostics) else {
                continue;
            };
            let mut of_year = BTreeMap::new();
            for (feast, value) in feasts.entries() {
                if !festivals
                    .iter()
                    .any(|festival| festival.name == feast.value)
                {
                    let known: Vec<&str> = festivals.iter().map(|f| f.name.as_str()).collect();
                    diagnostics.push(Diagnostic::new(
                        feast.span.clone(),
                        format!(
                            "`{}` is not one of the festivals (known: {})",
                            feast.value,
                            known.join(", ")
                        ),
                    ));
                    continue;
                }
                let Some(date) = date_value(value, &feast.value, diagnostics) else {
                    continue;
                };
                if chrono::Datelike::year(&date.value) != number {
                    diagnostics.push(Diagnostic::new(
                        date.span.clone(),
                        format!("{} is not in the year {number}", date.value),
                    ));
                    continue;
                }
                of_year.insert(feast.value, date.value);
            }
            let missing: Vec<&str> = festivals
                .iter()
                .filter(|festival| !of_year.contains_key(&festival.name))
                .map(|festival| festival.name.as_str())
                .collect();
            if !missing.is_empty() {
                diagnostics.push(Diagnostic::new(
                    year.span.clone(),
                    format!("the year {number} has no date for: {}", missing.join(", ")),
                ));
                continue;
            }
            dates.insert(number, of_year);
        }
    }
    table.finish(diagnostics);
    Some(ProvisionalRule {
        basis: basis?.value,
        fixed,
        festivals,
        dates,
        weekend_compensation: weekend_compensation.unwrap_or(false),
    })
}

fn parse_utc_offset(text: &str) -> Option<i32> {
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (hours, minutes) = rest.split_once(':')?;
    let hours: i32 = hours.parse().ok()?;
    let minutes: i32 = minutes.parse().ok()?;
    if hours > 14 || minutes >= 60 {
        return None;
    }
    Some(sign * (hours * 60 + minutes))
}
