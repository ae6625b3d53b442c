//! Grouping: an environment's alerts of one rule share their mail. A group
//! mails `group_wait` after its first news, then news waits until
//! `group_interval` after its last mail; with no news, firing alerts are
//! mailed again every `repeat_interval`. Pure: the time is passed in.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Alert, CHANNEL_RULE, State};
use super::suppress::held_back;

/// The notification state of one group: an environment's alerts of one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Group {
    /// When a change (an alert newly firing or resolved) began to wait for
    /// the group's next mail.
    pub(crate) pending_since: Option<DateTime<Utc>>,
    pub(crate) last_sent: Option<DateTime<Utc>>,
}

/// The group timings of `[alerting]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub(crate) wait: Duration,
    pub(crate) interval: Duration,
    pub(crate) repeat: Duration,
}

/// A group's mail, due now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DueGroup {
    pub(crate) environment: String,
    pub(crate) rule: String,
    pub(crate) firing: Vec<Alert>,
    pub(crate) resolved: Vec<Alert>,
}

/// Whether `alert` has news its group has not mailed: it fired and was never
/// mailed, or it resolved after its firing mail.
fn has_news(alert: &Alert) -> bool {
    match alert.state {
        State::Firing => alert.last_notified.is_none(),
        State::Resolved => {
            alert.last_notified.is_some()
                && alert
                    .resolved_at
                    .is_some_and(|at| alert.last_notified < Some(at))
        }
        State::Inactive | State::Pending => false,
    }
}

/// Groups whose mail is due at `now`. Alerts inhibited, silenced or flapping
/// are left out; every alert put in a mail is marked notified. Groups with
/// nothing firing or pending and nothing left to say are forgotten, so they
/// start afresh (with `group_wait`) next time.
pub(crate) fn due_groups(
    alerts: &mut BTreeMap<String, Alert>,
    groups: &mut BTreeMap<String, Group>,
    timing: Timing,
    now: DateTime<Utc>,
) -> Vec<DueGroup> {
    let duration = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
    let (wait, interval, repeat) = (
        duration(timing.wait),
        duration(timing.interval),
        duration(timing.repeat),
    );
    let mut members: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (key, alert) in alerts.iter().filter(|(_, a)| a.rule != CHANNEL_RULE) {
        members
            .entry((alert.environment.clone(), alert.rule.clone()))
            .or_default()
            .push(key.clone());
    }
    let mut due = Vec::new();
    let mut live = HashSet::new();
    for ((environment, rule), keys) in members {
        let group_key = format!("{environment}\u{1f}{rule}");
        let unresolved = keys.iter().any(|k| alerts[k].state != State::Resolved);
        let eligible: Vec<String> = keys
            .into_iter()
            .filter(|k| !held_back(&alerts[k]))
            .collect();
        let news = eligible.iter().any(|k| has_news(&alerts[k]));
        let repeat_due = eligible.iter().any(|k| {
            let alert = &alerts[k];
            alert.state == State::Firing && alert.last_notified.is_some_and(|at| now - at >= repeat)
        });
        if unresolved || news {
            live.insert(group_key.clone());
        }
        let group = groups.entry(group_key).or_default();
        if news && group.pending_since.is_none() {
            group.pending_since = Some(now);
        }
        let send = if news {
            match group.last_sent {
                None => group.pending_since.is_some_and(|at| now - at >= wait),
                Some(last) => now - last >= interval,
            }
        } else {
            repeat_due
        };
        if !send {
            continue;
        }
        group.last_sent = Some(now);
        group.pending_since = None;
        let mut mail = DueGroup {
            environment,
            rule,
            firing: Vec::new(),
            resolved: Vec::new(),
        };
        for key in &eligible {
            let alert = alerts.get_mut(key).expect("a member");
            match alert.state {
                State::Firing => {
                    alert.last_notified = Some(now);
                    mail.firing.push(alert.clone());
                }
                State::Resolved if has_news(alert) => {
                    alert.last_notified = Some(now);
                    mail.resolved.push(alert.clone());
                }
                _ => {}
            }
        }
        if !(mail.firing.is_empty() && mail.resolved.is_empty()) {
            due.push(mail);
        }
    }
    groups.retain(|key, _| live.contains(key));
    due
}
