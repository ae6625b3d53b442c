//! How one alert moves between inactive, pending, firing and resolved: pure
//! functions of the previous alert, what was observed, the rule and the
//! time. No store, no clock, no lock, no mail.

use chrono::{DateTime, Utc};

use super::model::{Alert, HistoryEntry, State};
use super::observe::Observation;
use super::rules::Rule;

/// How long a resolved alert stays listed after it resolved.
const RESOLVED_SHOWN: chrono::TimeDelta = chrono::TimeDelta::hours(1);

/// The result of one observation for one alert.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Step {
    /// The alert as it now is; `None` when there is none (any more).
    pub(crate) alert: Option<Alert>,
    /// The transition the history records, if any.
    pub(crate) event: Option<&'static str>,
}

/// The texts a new alert shows, rendered only when an alert is created.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Texts {
    pub(crate) summary: String,
    pub(crate) description: String,
}

/// The next state of the alert of `rule` in `environment` for the host and
/// labels of `observation`, given the alert as it was (`previous`).
pub(crate) fn transition(
    previous: Option<&Alert>,
    observation: &Observation,
    rule: &Rule,
    environment: &str,
    now: DateTime<Utc>,
    texts: impl FnOnce() -> Texts,
) -> Step {
    let unchanged = |alert: Option<&Alert>| Step {
        alert: alert.cloned(),
        event: None,
    };
    match (observation.holds, previous.map(|a| a.state)) {
        (true, None | Some(State::Resolved | State::Inactive)) => {
            let state = if rule.for_.is_zero() {
                State::Firing
            } else {
                State::Pending
            };
            let mut changes = previous.map(|a| a.changes.clone()).unwrap_or_default();
            if state == State::Firing {
                changes.push(now);
            }
            let Texts {
                summary,
                description,
            } = texts();
            Step {
                alert: Some(Alert {
                    rule: rule.name.clone(),
                    environment: environment.to_owned(),
                    host: observation.host.clone(),
                    labels: observation.labels.clone(),
                    severity: rule.severity.clone(),
                    state,
                    since: now,
                    fired_at: (state == State::Firing).then_some(now),
                    resolved_at: None,
                    value: observation.value,
                    summary,
                    description,
                    detail: observation.detail.clone(),
                    last_notified: None,
                    inhibited: false,
                    silenced_by: None,
                    changes,
                    flapping: previous.is_some_and(|a| a.flapping),
                }),
                event: Some(if state == State::Firing {
                    "firing"
                } else {
                    "pending"
                }),
            }
        }
        (true, Some(State::Pending)) => {
            let mut alert = previous.expect("matched Some").clone();
            alert.value = observation.value;
            let held = (now - alert.since).to_std().unwrap_or_default();
            let fires = held >= rule.for_;
            if fires {
                alert.state = State::Firing;
                alert.changes.push(now);
                alert.fired_at = Some(now);
            }
            Step {
                alert: Some(alert),
                event: fires.then_some("firing"),
            }
        }
        (true, Some(State::Firing)) => {
            let mut alert = previous.expect("matched Some").clone();
            alert.value = observation.value;
            if !observation.detail.is_empty() {
                alert.detail.clone_from(&observation.detail);
            }
            Step {
                alert: Some(alert),
                event: None,
            }
        }
        (false, Some(State::Pending)) => Step {
            alert: None,
            event: Some("inactive"),
        },
        (false, Some(State::Firing)) => {
            let mut alert = previous.expect("matched Some").clone();
            resolve(&mut alert, now);
            alert.value = observation.value;
            Step {
                alert: Some(alert),
                event: Some("resolved"),
            }
        }
        (false, _) => unchanged(previous),
    }
}

/// An alert whose host or series was not observed at all: its condition is
/// gone. A firing one resolves (the entry says so), a pending one ends.
pub(crate) fn unobserved(alert: &mut Alert, now: DateTime<Utc>) -> Option<HistoryEntry> {
    match alert.state {
        State::Firing => {
            resolve(alert, now);
            Some(alert.entry(now, "resolved", "no longer observed".into()))
        }
        State::Pending => {
            alert.state = State::Inactive;
            None
        }
        State::Inactive | State::Resolved => None,
    }
}

/// Whether an alert is still worth keeping at `now`: inactive ones go, and
/// resolved ones an hour after they resolved.
pub(crate) fn kept(alert: &Alert, now: DateTime<Utc>) -> bool {
    match alert.state {
        State::Inactive => false,
        State::Resolved => alert
            .resolved_at
            .is_some_and(|at| now - at < RESOLVED_SHOWN),
        State::Pending | State::Firing => true,
    }
}

fn resolve(alert: &mut Alert, now: DateTime<Utc>) {
    alert.state = State::Resolved;
    alert.changes.push(now);
    alert.resolved_at = Some(now);
}
