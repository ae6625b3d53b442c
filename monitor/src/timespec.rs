//! Times and durations in query parameters: `now`, `now-15m`, or RFC 3339;
//! durations as `30s`, `15m`, `1h`, `7d`.

use chrono::{DateTime, Utc};

/// A time or duration that does not read; each names the text and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeSpecError {
    #[error("{0:?} is too far in the past")]
    TooFar(String),
    #[error(
        "{0:?} is not a time: use RFC 3339 (2026-11-21T10:00:00Z), \"now\" or \"now-<duration>\" (now-15m)"
    )]
    NotATime(String),
    #[error("{0:?} is not a duration: write e.g. 30s, 15m, 1h or 7d")]
    NotADuration(String),
}

/// Parses a `from`/`to` value relative to `now`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, TimeSpecError> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(ago) = text.strip_prefix("now-") {
        let duration = parse_duration(ago)?;
        return chrono::Duration::from_std(duration)
            .ok()
            .and_then(|duration| now.checked_sub_signed(duration))
            .ok_or_else(|| TimeSpecError::TooFar(text.to_owned()));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.to_utc())
        .map_err(|_| TimeSpecError::NotATime(text.to_owned()))
}

/// Parses a duration such as `15m`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, TimeSpecError> {
    humantime::parse_duration(text.trim()).map_err(|_| TimeSpecError::NotADuration(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_and_absolute_times_parse() {
        let now: DateTime<Utc> = "2026-11-21T12:00:00Z".parse().unwrap();
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(
            parse_time("now-1h", now).unwrap().to_rfc3339(),
            "2026-11-21T11:00:00+00:00"
        );
        assert_eq!(
            parse_time("now-7d", now).unwrap().to_rfc3339(),
            "2026-11-14T12:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-21T10:00:00+02:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-21T08:00:00+00:00"
        );
        assert!(
            parse_time("yesterday", now)
                .unwrap_err()
                .to_string()
                .contains("RFC 3339")
        );
        assert!(
            parse_time("now-soon", now)
                .unwrap_err()
                .to_string()
                .contains("not a duration")
        );
    }
}
