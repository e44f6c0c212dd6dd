//! How long the catalogue lasts: the official holiday tables and the bundle
//! periods, reported in `/healthz` and `/metrics` so that an operator adds the
//! next year's holiday notice, or a bundle's next version, in time.

use chrono::{DateTime, Utc};
use onething_core::case::Library;

use crate::metrics::Metrics;

/// How far ahead an ending table or period is warned of. Long limits
/// (60 working days) reach about three months ahead.
pub const HORIZON_DAYS: i64 = 90;

/// Everything that ends within the horizon, in words.
pub fn warnings(library: &Library, now: DateTime<Utc>) -> Vec<String> {
    let mut warnings = Vec::new();
    for calendar in library.calendars() {
        warnings.extend(calendar.coverage_warnings(calendar.local_date(now), HORIZON_DAYS));
    }
    let definitions = library.current_definitions();
    for definition in &definitions {
        let today = library
            .calendar(&definition.calendar)
            .map_or_else(|| now.date_naive(), |calendar| calendar.local_date(now));
        let Some(until) = definition.effective_until else {
            continue;
        };
        let successor = definitions
            .iter()
            .any(|other| other.id == definition.id && other.effective_from > until);
        let days = (until - today).num_days();
        if successor || !(0..=HORIZON_DAYS).contains(&days) {
            continue;
        }
        warnings.push(format!(
            "workflow `{}` v{} is in force until {until} (in {days} days) and no later version is in the workflows folder: new cases are refused after it",
            definition.id, definition.version
        ));
    }
    let mut ids: Vec<&str> = definitions.iter().map(|d| d.id.as_str()).collect();
    ids.dedup();
    for id in ids {
        if let Err(error) = library.in_force(id, now) {
            warnings.push(error.to_string());
        }
    }
    warnings
}

/// Sets the gauges of days left: official holiday tables and any table per
/// calendar, and the period of each bundle version that has an end.
pub fn record_metrics(library: &Library, now: DateTime<Utc>, metrics: &Metrics) {
    for calendar in library.calendars() {
        let today = calendar.local_date(now);
        let coverage = calendar.coverage();
        if let Some(until) = coverage.official_until {
            metrics.set(
                "onething_calendar_official_until_days",
                &[("calendar", &calendar.id)],
                (until - today).num_days(),
            );
        }
        if let Some(until) = coverage.until {
            metrics.set(
                "onething_calendar_until_days",
                &[("calendar", &calendar.id)],
                (until - today).num_days(),
            );
        }
    }
    for definition in library.current_definitions() {
        let Some(until) = definition.effective_until else {
            continue;
        };
        let today = library
            .calendar(&definition.calendar)
            .map_or_else(|| now.date_naive(), |calendar| calendar.local_date(now));
        metrics.set(
            "onething_bundle_effective_until_days",
            &[
                ("bundle", &definition.id),
                ("version", &definition.version.to_string()),
            ],
            (until - today).num_days(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use onething_core::registry::Registry;
    use onething_core::workflow::parse_workflow;

    const BUNDLE: &str = r#"
id = "ends"
version = 1
title = { zh = "到期", en = "Ends" }
calendar = "cn"
effective_from = 2025-01-01
effective_until = 2027-01-31

[[step]]
id = "only"
title = { zh = "唯一", en = "Only" }
agency = "window"
time_limit = "5 working days"
"#;

    fn library() -> Library {
        let mut registry = Registry::default();
        registry
            .add_agencies(include_str!("../../../workflows/agencies.toml"))
            .unwrap();
        registry
            .add_calendar(include_str!("../../../workflows/calendars/cn.toml"))
            .unwrap();
        let library = Library::new();
        library.install(
            vec![parse_workflow(BUNDLE, &registry).unwrap()],
            registry.calendars.into_values().collect(),
        );
        library
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn an_ending_official_table_and_an_ending_bundle_period_are_warned_of() {
        let soon = warnings(&library(), at("2026-12-01T09:00:00+08:00"));
        assert_eq!(soon.len(), 2, "{soon:?}");
        assert!(soon[0].starts_with(
            "calendar `cn`: the official holiday tables end on 2026-12-31 (in 30 days)"
        ));
        assert_eq!(
            soon[1],
            "workflow `ends` v1 is in force until 2027-01-31 (in 61 days) and no later version is in the workflows folder: new cases are refused after it"
        );
        let later = warnings(&library(), at("2027-02-01T09:00:00+08:00"));
        assert!(
            later
                .iter()
                .any(|w| w.starts_with("bundle `ends` is not in force on 2027-02-01")),
            "{later:?}"
        );
    }

    #[test]
    fn the_days_left_are_gauges() {
        let metrics = Metrics::default();
        record_metrics(&library(), at("2026-12-01T09:00:00+08:00"), &metrics);
        let text = metrics.render();
        for line in [
            "onething_calendar_official_until_days{calendar=\"cn\"} 30",
            "onething_calendar_until_days{calendar=\"cn\"} 3683",
            "onething_bundle_effective_until_days{bundle=\"ends\",version=\"1\"} 61",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }
}
