//! Times and durations in query parameters: `now`, `now-15m`, or RFC 3339;
//! durations as `30s`, `15m`, `1h`, `7d`.

use chrono::{DateTime, Utc};

/// Parses a `from`/`to` value relative to `now`.
pub fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Some(ago) = text.strip_prefix("now-") {
        let duration = parse_duration(ago)?;
        return chrono::Duration::from_std(duration)
            .ok()
            .and_then(|duration| now.checked_sub_signed(duration))
            .ok_or_else(|| format!("{text:?} is too far in the past"));
    }
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.to_utc())
        .map_err(|_| format!("{text:?} is not a time: use RFC 3339 (2026-11-21T10:00:00Z), \"now\" or \"now-<duration>\" (now-15m)"))
}

pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|_| format!("{text:?} is not a duration: write e.g. 30s, 15m, 1h or 7d"))
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
                .contains("RFC 3339")
        );
        assert!(
            parse_time("now-soon", now)
                .unwrap_err()
                .contains("not a duration")
        );
    }
}
