//! How the store writes a time: RFC 3339 in UTC with milliseconds
//! (`2026-06-01T01:00:00.000Z`), so that text order is time order in every
//! backend's index and the event metadata reads the same everywhere.

use chrono::{DateTime, SecondsFormat, Utc};

/// A time as the store writes it.
pub fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stored time read back; `None` for text that is not RFC 3339.
pub fn read_stamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_reads_back_as_the_same_time_and_sorts_as_text() {
        let early = read_stamp("2026-06-01T09:00:00+08:00").unwrap();
        let late = early + chrono::Duration::milliseconds(1500);
        assert_eq!(stamp(early), "2026-06-01T01:00:00.000Z");
        assert_eq!(read_stamp(&stamp(late)), Some(late));
        assert!(stamp(early) < stamp(late));
        assert_eq!(read_stamp("yesterday"), None);
    }
}
