//! The product log format (seed 000):
//! `[2016-08-25 11:30:14,950]  INFO - WKABasedMembershipScheme Member joined [...]`
//! i.e. `[timestamp] LEVEL - Logger message`, the timestamp in the host's
//! local time (or the configured UTC offset).

use std::sync::LazyLock;

use chrono::{DateTime, FixedOffset, Local, NaiveDateTime, TimeZone, Utc};
use regex::Regex;

static PRODUCT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?s)^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3})\]\s+([A-Z]+)\s+-\s+(?:\{([^}]*)\}\s+-\s+)?(\S+)\s?(.*)$",
    )
    .expect("the product line pattern compiles")
});

/// A parsed product log event.
#[derive(Debug, PartialEq)]
pub struct Parsed<'a> {
    pub timestamp: DateTime<Utc>,
    pub level: &'a str,
    pub logger: &'a str,
    pub message: &'a str,
}

/// The time zone product timestamps are written in.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Local,
    Fixed(FixedOffset),
}

impl Zone {
    /// `"local"` or an offset such as `"+00:00"` or `"-05:30"`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "local" {
            return Some(Self::Local);
        }
        let probe = format!("2000-01-01T00:00:00{text}");
        DateTime::parse_from_rfc3339(&probe)
            .ok()
            .map(|time| Self::Fixed(*time.offset()))
    }

    fn to_utc(self, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Self::Local => Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.to_utc()),
            Self::Fixed(offset) => offset
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.to_utc()),
        }
    }
}

/// Parses one event (a line, with any continuation lines after a newline).
pub fn product_line(text: &str, zone: Zone) -> Option<Parsed<'_>> {
    if !text.starts_with('[') {
        return None;
    }
    let captures = PRODUCT_LINE.captures(text)?;
    let naive =
        NaiveDateTime::parse_from_str(captures.get(1)?.as_str(), "%Y-%m-%d %H:%M:%S,%3f").ok()?;
    Some(Parsed {
        timestamp: zone.to_utc(naive)?,
        level: captures.get(2)?.as_str(),
        logger: captures.get(4)?.as_str(),
        message: captures.get(5).map_or("", |m| m.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::parse("+00:00").unwrap()
    }

    #[test]
    fn parses_the_seed_line() {
        let parsed = product_line(
            "[2016-08-25 11:30:14,950]  INFO - WKABasedMembershipScheme Member joined [10.0.1.12:4000]",
            utc(),
        )
        .unwrap();
        assert_eq!(
            parsed.timestamp.to_rfc3339(),
            "2016-08-25T11:30:14.950+00:00"
        );
        assert_eq!(parsed.level, "INFO");
        assert_eq!(parsed.logger, "WKABasedMembershipScheme");
        assert_eq!(parsed.message, "Member joined [10.0.1.12:4000]");
    }

    #[test]
    fn keeps_a_stack_trace_in_the_message() {
        let text = "[2016-08-25 11:30:15,001] ERROR - ThrottleHandler Failed\njava.lang.OutOfMemoryError: Java heap space\n\tat a.B.c(B.java:1)";
        let parsed = product_line(text, utc()).unwrap();
        assert_eq!(parsed.level, "ERROR");
        assert!(
            parsed.message.ends_with("at a.B.c(B.java:1)"),
            "{}",
            parsed.message
        );
    }

    #[test]
    fn applies_the_configured_offset() {
        let zone = Zone::parse("+05:30").unwrap();
        let parsed = product_line("[2016-08-25 11:30:14,950] WARN - X y", zone).unwrap();
        assert_eq!(
            parsed.timestamp.to_rfc3339(),
            "2016-08-25T06:00:14.950+00:00"
        );
    }

    #[test]
    fn other_lines_do_not_parse() {
        assert_eq!(product_line("plain text", utc()), None);
        assert_eq!(product_line("[not a date] INFO - X y", utc()), None);
        assert!(Zone::parse("Mars/Olympus").is_none());
    }
}
