//! What every event must be to be stored, on both ingest paths (the agents'
//! `/api/v1/ingest` and the Elasticsearch-compatible `_bulk`): one rule,
//! checked event by event, so that a bad event is refused with its reason
//! and never costs the good ones.
//!
//! Time: an event more than a day in the future is refused (it would top
//! "newest first" for ever); one older than its kind's retention is refused
//! too (the next retention run would delete it). Nothing is clamped: a
//! time the sender gave is stored as given or not at all.

use aerie_wire::{EventBody, EventRef};
use chrono::{DateTime, Duration, Utc};

use crate::config::Retention;

/// The longest log message stored.
pub(super) const MAX_MESSAGE: usize = 1024 * 1024;

/// Why one event is refused (the others are still stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum Invalid {
    #[error("id must be 1 to 128 characters")]
    Id,
    #[error("@timestamp {0} is more than a day in the future")]
    Future(String),
    #[error(
        "@timestamp {at} is older than the {kind} retention ({keep}): it would be deleted at once"
    )]
    Past {
        at: String,
        kind: &'static str,
        keep: String,
    },
    #[error("log message is longer than 1 MiB")]
    LongMessage,
    #[error("metric name must be 1 to 255 characters")]
    MetricName,
    #[error("metric {0} has a value that is not a finite number")]
    MetricValue(String),
    #[error("api statistics need an api name and a count above 0")]
    ApiStats,
    #[error("host {0:?} is not a host name: 1 to 255 characters, none of them a control character")]
    Host(String),
}

/// Refuses a host name that is empty, too long or holds a control character
/// (a line break would forge log lines wherever hosts are listed).
pub(super) fn check_host(host: &str) -> Result<(), Invalid> {
    if host.trim().is_empty() || host.len() > 255 || host.chars().any(char::is_control) {
        return Err(Invalid::Host(host.to_owned()));
    }
    Ok(())
}

/// Why `event` cannot be stored at `now`, if it cannot.
pub(super) fn check(
    event: &EventRef<'_>,
    now: DateTime<Utc>,
    retention: &Retention,
) -> Result<(), Invalid> {
    let id = event.id();
    if id.is_empty() || id.len() > 128 {
        return Err(Invalid::Id);
    }
    let at = event.timestamp();
    if at > now + Duration::days(1) {
        return Err(Invalid::Future(at.to_rfc3339()));
    }
    let (kind, keep) = match event {
        EventRef::Log(_) => ("logs", retention.logs),
        EventRef::Other(other) => match other.body {
            EventBody::Metric { .. } => ("metrics", retention.metrics),
            EventBody::ApiStats { .. } => ("api statistics", retention.api_stats),
            EventBody::Log { .. } => ("logs", retention.logs),
        },
    };
    let oldest = Duration::from_std(keep)
        .ok()
        .and_then(|keep| now.checked_sub_signed(keep));
    if oldest.is_some_and(|oldest| at < oldest) {
        return Err(Invalid::Past {
            at: at.to_rfc3339(),
            kind,
            keep: humantime::format_duration(keep).to_string(),
        });
    }
    // Log events are always read as `EventRef::Log`, never as `Other`.
    let event = match event {
        EventRef::Log(log) if log.message.len() > MAX_MESSAGE => {
            return Err(Invalid::LongMessage);
        }
        EventRef::Log(_) => return Ok(()),
        EventRef::Other(event) => event,
    };
    match &event.body {
        EventBody::Metric { name, value, .. } => {
            if name.is_empty() || name.len() > 255 {
                return Err(Invalid::MetricName);
            }
            if !value.is_finite() {
                return Err(Invalid::MetricValue(name.clone()));
            }
        }
        EventBody::ApiStats { api, count, .. } if api.is_empty() || *count == 0 => {
            return Err(Invalid::ApiStats);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(message_len: usize, at: DateTime<Utc>) -> EventRef<'static> {
        EventRef::Log(aerie_wire::LogRef {
            id: "a".into(),
            timestamp: at,
            file: "/f".into(),
            level: None,
            logger: None,
            message: "x".repeat(message_len).into(),
            parsed: false,
            origin: None,
        })
    }

    fn retention() -> Retention {
        let day = std::time::Duration::from_secs(86_400);
        Retention {
            metrics: day * 30,
            logs: day * 14,
            api_stats: day * 90,
            alerts: day * 90,
        }
    }

    #[test]
    fn a_log_message_over_one_mib_is_refused_and_one_at_the_limit_is_not() {
        let now = Utc::now();
        assert_eq!(check(&log(MAX_MESSAGE, now), now, &retention()), Ok(()));
        assert_eq!(
            check(&log(MAX_MESSAGE + 1, now), now, &retention()).map_err(|e| e.to_string()),
            Err("log message is longer than 1 MiB".to_owned())
        );
    }

    #[test]
    fn a_time_a_day_ahead_or_past_its_kinds_retention_is_refused_and_one_within_is_not() {
        let now = Utc::now();
        let hours = Duration::hours;
        assert_eq!(check(&log(1, now + hours(23)), now, &retention()), Ok(()));
        assert!(matches!(
            check(&log(1, now + hours(25)), now, &retention()),
            Err(Invalid::Future(_))
        ));
        assert_eq!(
            check(&log(1, now - hours(13 * 24)), now, &retention()),
            Ok(())
        );
        let old = check(&log(1, now - hours(15 * 24)), now, &retention()).unwrap_err();
        assert!(old.to_string().contains("logs retention (14days)"), "{old}");
    }

    #[test]
    fn a_host_with_a_line_break_or_nothing_in_it_is_refused() {
        assert_eq!(check_host("gw-1"), Ok(()));
        for bad in ["", " ", "gw\n1", "gw\u{7}", &"h".repeat(256)] {
            assert!(check_host(bad).is_err(), "{bad:?}");
        }
    }
}
