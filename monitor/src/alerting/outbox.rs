//! The outbox: rendered mails waiting to be sent, each retried with backoff
//! until its channel takes it, and the health of the primary channel that
//! decides when the engine raises its own channel alert.
//!
//! Building a mail's content from alerts is pure and lives here too; sending
//! is the engine's (it owns the channels).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::group::DueGroup;
use super::model::{Alert, State, format_value, rfc3339};
use crate::notify::templates::{AlertMail, MailItem};

/// A rendered mail waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Outgoing {
    pub(crate) id: u64,
    pub(crate) environment: String,
    pub(crate) rule: String,
    /// The hosts of the alerts it tells about.
    pub(crate) hosts: Vec<String>,
    pub(crate) kind: String,
    pub(crate) subject: String,
    pub(crate) to: Vec<String>,
    pub(crate) text: String,
    pub(crate) html: String,
    pub(crate) attempts: u32,
    pub(crate) next_attempt: DateTime<Utc>,
    #[serde(default)]
    pub(crate) via: Via,
    /// What the mail says, for the webhook's JSON.
    #[serde(default)]
    pub(crate) alert: AlertMail,
}

impl Outgoing {
    /// Records a failed attempt: the next one waits 10 s, 20 s, 40 s ...
    /// up to ten minutes.
    pub(crate) fn failed(&mut self, now: DateTime<Utc>) {
        self.attempts += 1;
        let wait = 5i64.saturating_mul(1 << self.attempts.min(8)).min(600);
        self.next_attempt = now + chrono::Duration::seconds(wait);
    }
}

/// Which configured channel carries a mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Via {
    /// The channel `[alerting]` sends alert mail with.
    #[default]
    Primary,
    /// The other one: it carries only the alert that the primary is failing.
    Fallback,
    /// One of the environment's webhooks, the one whose URL is the
    /// outgoing's only `to`.
    Webhook,
}

/// How many times a webhook delivery is tried before it is dropped (the
/// backoff makes that about an hour); mail is retried until it goes.
pub(crate) const WEBHOOK_ATTEMPTS: u32 = 12;

/// How the primary channel has been doing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChannelHealth {
    /// The first failure since the last success.
    pub(crate) failing_since: Option<DateTime<Utc>>,
    pub(crate) last_error: String,
    /// The channel alert is firing.
    pub(crate) raised: bool,
}

fn status(resolved: bool) -> String {
    if resolved { "RESOLVED" } else { "FIRING" }.into()
}

fn link(dashboard_url: &str, environment: &str) -> String {
    format!(
        "{}/alerts?env={environment}",
        dashboard_url.trim_end_matches('/')
    )
}

pub(crate) fn mail_item(alert: &Alert) -> MailItem {
    MailItem {
        status: status(alert.state == State::Resolved),
        host: alert.host.clone(),
        labels: alert
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        label_set: alert.labels.clone(),
        value: format_value(alert.value),
        since: rfc3339(alert.since),
        ended: match (alert.state, alert.resolved_at) {
            (State::Resolved, Some(at)) => rfc3339(at),
            _ => String::new(),
        },
        summary: alert.summary.clone(),
        detail: alert.detail.clone(),
    }
}

/// The mail of a group that is due: its firing alerts, or when none fires,
/// its resolved ones.
pub(crate) fn group_mail(group: &DueGroup, dashboard_url: &str) -> AlertMail {
    let resolved = group.firing.is_empty();
    let shown = if resolved {
        &group.resolved
    } else {
        &group.firing
    };
    let first = &shown[0];
    let mut hosts: Vec<String> = shown.iter().map(|a| a.host.clone()).collect();
    hosts.dedup();
    let many = group.firing.len() + group.resolved.len() > 1;
    AlertMail {
        status: status(resolved),
        resolved,
        many,
        count: shown.len(),
        environment: group.environment.clone(),
        host: hosts.join(", "),
        rule: group.rule.clone(),
        severity: first.severity.clone(),
        value: format_value(first.value),
        since: rfc3339(shown.iter().map(|a| a.since).min().unwrap_or(first.since)),
        summary: match (many, group.firing.len(), group.resolved.len()) {
            (false, _, _) => first.summary.clone(),
            (true, firing, 0) => format!("{firing} alerts firing"),
            (true, 0, resolved) => format!("{resolved} alerts resolved"),
            (true, firing, resolved) => format!("{firing} firing, {resolved} resolved"),
        },
        description: first.description.clone(),
        detail: first.detail.clone(),
        alerts: group
            .firing
            .iter()
            .chain(&group.resolved)
            .map(mail_item)
            .collect(),
        link: link(dashboard_url, &group.environment),
    }
}

/// The hosts a group's mail tells about, sorted, each once.
pub(crate) fn group_hosts(group: &DueGroup) -> Vec<String> {
    let mut hosts: Vec<String> = group
        .firing
        .iter()
        .chain(&group.resolved)
        .map(|a| a.host.clone())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// The mail of one alert on its own (the engine's channel alert).
pub(crate) fn alert_mail(alert: &Alert, dashboard_url: &str) -> AlertMail {
    let resolved = alert.state == State::Resolved;
    AlertMail {
        status: status(resolved),
        resolved,
        many: false,
        count: 1,
        environment: alert.environment.clone(),
        host: alert.host.clone(),
        rule: alert.rule.clone(),
        severity: alert.severity.clone(),
        value: format_value(alert.value),
        since: rfc3339(alert.since),
        summary: alert.summary.clone(),
        description: alert.description.clone(),
        detail: alert.detail.clone(),
        alerts: vec![mail_item(alert)],
        link: link(dashboard_url, &alert.environment),
    }
}
