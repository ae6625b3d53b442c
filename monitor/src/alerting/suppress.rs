//! What holds an alert's mail back without changing its state: inhibition (a
//! host that is down mails only about being down), silences, and flap
//! damping (too many changes within the flap window). Pure: the time and
//! the settings are passed in.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::model::{Alert, CHANNEL_RULE, HistoryEntry, Silence, State};
use super::rules::{Condition, Rule};

/// Flap damping: more than `threshold` changes within `window` hold mail back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flapping {
    pub(crate) window: Duration,
    pub(crate) threshold: usize,
}

/// Marks every alert inhibited, silenced and flapping as it is at `now`;
/// answers the history entries of alerts that began or stopped flapping.
pub(crate) fn suppress(
    alerts: &mut BTreeMap<String, Alert>,
    rules: &[Rule],
    silences: &[Silence],
    flapping: Flapping,
    now: DateTime<Utc>,
) -> Vec<HistoryEntry> {
    let down_rules: HashSet<&str> = rules
        .iter()
        .filter(|r| matches!(r.condition, Condition::HostDown { .. }))
        .map(|r| r.name.as_str())
        .collect();
    let down: HashSet<(String, String)> = alerts
        .values()
        .filter(|a| a.state == State::Firing && down_rules.contains(a.rule.as_str()))
        .map(|a| (a.environment.clone(), a.host.clone()))
        .collect();
    let active: Vec<&Silence> = silences.iter().filter(|s| s.active(now)).collect();
    let window = chrono::Duration::from_std(flapping.window).unwrap_or(chrono::Duration::MAX);
    let mut history = Vec::new();
    for alert in alerts.values_mut().filter(|a| a.rule != CHANNEL_RULE) {
        alert.inhibited = !down_rules.contains(alert.rule.as_str())
            && down.contains(&(alert.environment.clone(), alert.host.clone()));
        alert.silenced_by = active
            .iter()
            .find(|s| s.matches(alert))
            .map(|s| s.id.clone());
        alert.changes.retain(|at| now - *at < window);
        let flaps = alert.changes.len() > flapping.threshold;
        if flaps != alert.flapping {
            alert.flapping = flaps;
            let event = if flaps { "flapping" } else { "flapping_ended" };
            let message = format!(
                "{} changes within {}",
                alert.changes.len(),
                humantime::format_duration(flapping.window)
            );
            history.push(alert.entry(now, event, message));
        }
    }
    history
}

/// Whether an alert's mail is held back.
pub(crate) fn held_back(alert: &Alert) -> bool {
    alert.inhibited || alert.silenced_by.is_some() || alert.flapping
}
