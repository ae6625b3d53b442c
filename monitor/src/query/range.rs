//! The one time-range rule of every query: `from` and `to` are `now`,
//! `now-<duration>` or RFC 3339, `to` defaults to now, and a range must
//! start before it ends (an empty or reversed range is refused, in the API
//! and on the dashboard alike).

use chrono::{DateTime, Utc};

use crate::timespec::{TimeSpecError, parse_time};

/// A checked range of time: `from` before `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Why a range was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("from: {0}")]
    From(TimeSpecError),
    #[error("to: {0}")]
    To(TimeSpecError),
    #[error("from ({}) is not before to ({})", rfc3339(*from), rfc3339(*to))]
    NotBefore {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl TimeRange {
    /// `from` (or `default_from` when absent) to `to` (or now), at `now`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        default_from: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, RangeError> {
        let from = parse_time(from.unwrap_or(default_from), now).map_err(RangeError::From)?;
        let to = parse_time(to.unwrap_or("now"), now).map_err(RangeError::To)?;
        if from >= to {
            return Err(RangeError::NotBefore { from, to });
        }
        Ok(Self { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2030-01-01T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_range_defaults_to_now_and_its_default_start() {
        let range = TimeRange::parse(None, None, "now-1h", now()).unwrap();
        assert_eq!(range.from, now() - chrono::Duration::hours(1));
        assert_eq!(range.to, now());
    }

    #[test]
    fn a_range_must_start_before_it_ends() {
        let reversed = TimeRange::parse(Some("now-1h"), Some("now-2h"), "now-1h", now());
        assert!(matches!(reversed, Err(RangeError::NotBefore { .. })));
        let empty = TimeRange::parse(Some("now"), Some("now"), "now-1h", now());
        assert_eq!(
            empty.unwrap_err().to_string(),
            "from (2030-01-01T12:00:00Z) is not before to (2030-01-01T12:00:00Z)"
        );
    }

    #[test]
    fn a_bad_time_names_its_parameter() {
        let error = TimeRange::parse(Some("yesterday"), None, "now-1h", now()).unwrap_err();
        assert!(error.to_string().starts_with("from: "), "{error}");
        let error = TimeRange::parse(None, Some("soon"), "now-1h", now()).unwrap_err();
        assert!(error.to_string().starts_with("to: "), "{error}");
    }
}
