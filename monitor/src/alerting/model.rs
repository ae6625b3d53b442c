//! What the alert engine keeps and shows: alerts and their states, silences,
//! history entries. Data only: no I/O and no clock here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

/// One alert: a rule's condition for one host and label set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    pub environment: String,
    pub host: String,
    pub labels: BTreeMap<String, String>,
    pub severity: String,
    pub state: State,
    /// When the condition began to hold.
    pub since: DateTime<Utc>,
    pub fired_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub value: f64,
    pub summary: String,
    pub description: String,
    /// For log rules, the newest matching line.
    pub detail: String,
    pub last_notified: Option<DateTime<Utc>>,
    pub inhibited: bool,
    /// Muted by a silence (its id).
    #[serde(default)]
    pub silenced_by: Option<String>,
    /// When it last changed between firing and resolved (within the flap window).
    #[serde(default)]
    pub changes: Vec<DateTime<Utc>>,
    /// Changing state too often: its mail is held back until it settles.
    #[serde(default)]
    pub flapping: bool,
}

impl Alert {
    /// Its key among the engine's alerts.
    pub fn key(&self) -> String {
        key(&self.rule, &self.environment, &self.host, &self.labels)
    }

    /// A history entry about this alert.
    pub fn entry(&self, at: DateTime<Utc>, event: &str, message: String) -> HistoryEntry {
        HistoryEntry {
            at,
            environment: self.environment.clone(),
            rule: self.rule.clone(),
            host: self.host.clone(),
            event: event.into(),
            value: self.value,
            message,
        }
    }
}

/// The key of a rule's alert for one host and label set in one environment.
pub(crate) fn key(
    rule: &str,
    environment: &str,
    host: &str,
    labels: &BTreeMap<String, String>,
) -> String {
    format!(
        "{environment}\u{1f}{rule}\u{1f}{host}\u{1f}{}",
        aerie_wire::ecs::encode_labels(labels)
    )
}

/// Mutes the mail of alerts it matches until it ends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Silence {
    pub id: String,
    /// `environment`, `rule`, `host`, `severity`, or a label's name: all must
    /// equal the alert's.
    pub matchers: BTreeMap<String, String>,
    pub author: String,
    pub comment: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

impl Silence {
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    pub fn matches(&self, alert: &Alert) -> bool {
        self.matchers.iter().all(|(name, value)| {
            let actual = match name.as_str() {
                "environment" => Some(&alert.environment),
                "rule" => Some(&alert.rule),
                "host" => Some(&alert.host),
                "severity" => Some(&alert.severity),
                label => alert.labels.get(label),
            };
            actual == Some(value)
        })
    }
}

/// A transition or a notification event, as the history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub environment: String,
    pub rule: String,
    pub host: String,
    /// `pending`, `firing`, `resolved`, `inactive`, `notified`, `notify_failed`,
    /// `flapping`, `flapping_ended`.
    pub event: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The rule name of the alert the engine raises about its own mail channel.
pub const CHANNEL_RULE: &str = "notification-channel";

pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A measured value as mail and summaries show it: whole numbers without
/// decimals, others with two.
pub(crate) fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
