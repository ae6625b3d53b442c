//! Alerting: rules evaluated on a timer against the store, alerts that move
//! through pending, firing and resolved, a history of every transition, and
//! mail for firing (again every `repeat_interval`) and resolved alerts.
//!
//! State and the mail outbox are saved after every evaluation, before any
//! mail is sent: after a restart an alert that was firing is still firing
//! (no second firing mail), and a mail not yet sent is still in the outbox
//! (none lost). A failed send stays in the outbox, retried with backoff, and
//! each failure is written to the history with its reason.
//!
//! While a host's `host_down` alert fires, that host's other alerts send no
//! mail (they are marked inhibited).

pub mod rules;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::notify::templates::{AlertMail, Templates};
use crate::notify::{Channel, Mail};
use crate::store::{LogQuery, MetricQuery, Store};
use rules::{Condition, Rule};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

/// One alert: a rule's condition for one host and label set.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub at: DateTime<Utc>,
    pub environment: String,
    pub rule: String,
    pub host: String,
    /// `pending`, `firing`, `resolved`, `inactive`, `notified`, `notify_failed`.
    pub event: String,
    pub value: f64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Outgoing {
    key: String,
    environment: String,
    rule: String,
    host: String,
    kind: String,
    subject: String,
    to: Vec<String>,
    text: String,
    html: String,
    attempts: u32,
    next_attempt: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    alerts: BTreeMap<String, Alert>,
    outbox: Vec<Outgoing>,
    #[serde(default)]
    silences: Vec<Silence>,
}

/// The alert engine.
#[derive(Debug)]
pub struct Engine {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    channel: Arc<dyn Channel>,
    templates: Templates,
    /// Replaced whole by a reload; an evaluation works on the set it started with.
    rules: std::sync::RwLock<Arc<Vec<Rule>>>,
    dir: PathBuf,
    saved: Mutex<Saved>,
}

fn key(rule: &str, environment: &str, host: &str, labels: &BTreeMap<String, String>) -> String {
    format!(
        "{environment}\u{1f}{rule}\u{1f}{host}\u{1f}{}",
        aerie_wire::ecs::encode_labels(labels)
    )
}

/// What one evaluation saw for one host and label set.
struct Observation {
    host: String,
    labels: BTreeMap<String, String>,
    holds: bool,
    value: f64,
    detail: String,
}

impl Engine {
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        channel: Arc<dyn Channel>,
    ) -> Result<Self, String> {
        let alerting = config
            .alerting
            .as_ref()
            .ok_or("alerting is not configured")?;
        let names: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
        let rules = rules::load(&alerting.rules_file, &names)?;
        let dir = config.data_dir.join("alerts");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let saved = match std::fs::read(dir.join("state.json")) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| format!("{}: {e}", dir.join("state.json").display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Saved::default(),
            Err(error) => return Err(format!("{}: {error}", dir.join("state.json").display())),
        };
        Ok(Self {
            config,
            store,
            channel,
            templates: Templates::built_in(),
            rules: std::sync::RwLock::new(Arc::new(rules)),
            dir,
            saved: Mutex::new(saved),
        })
    }

    /// Current alerts of `environment` (pending, firing, recently resolved).
    pub fn alerts(&self, environment: &str) -> Vec<Alert> {
        let saved = self.saved.lock().expect("alert state lock");
        saved
            .alerts
            .values()
            .filter(|a| a.environment == environment)
            .cloned()
            .collect()
    }

    fn current_rules(&self) -> Arc<Vec<Rule>> {
        Arc::clone(&self.rules.read().expect("rules lock"))
    }

    /// Reads the rules file again. A file that does not validate changes
    /// nothing: the current rules stay, and the error says why.
    pub fn reload(&self) -> Result<usize, String> {
        let alerting = self
            .config
            .alerting
            .as_ref()
            .ok_or("alerting is not configured")?;
        let names: Vec<String> = self
            .config
            .environments
            .iter()
            .map(|e| e.name.clone())
            .collect();
        match rules::load(&alerting.rules_file, &names) {
            Ok(rules) => {
                let count = rules.len();
                *self.rules.write().expect("rules lock") = Arc::new(rules);
                tracing::info!(rules = count, file = %alerting.rules_file.display(), "rules reloaded");
                Ok(count)
            }
            Err(error) => {
                let kept = self.current_rules().len();
                tracing::error!(%error, kept, "rules not reloaded; keeping the current ones");
                Err(format!("{error}; the {kept} current rules stay in force"))
            }
        }
    }

    /// Silences, current and recently ended.
    pub fn silences(&self) -> Vec<Silence> {
        self.saved
            .lock()
            .expect("alert state lock")
            .silences
            .clone()
    }

    /// Adds a silence; answers it with its id.
    pub fn silence(
        &self,
        matchers: BTreeMap<String, String>,
        author: &str,
        comment: &str,
        ends_at: DateTime<Utc>,
    ) -> Result<Silence, String> {
        let now = Utc::now();
        let silence = Silence {
            id: aerie_wire::event_id(&[
                author.as_bytes(),
                comment.as_bytes(),
                &now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes(),
            ])[..16]
                .to_owned(),
            matchers,
            author: author.to_owned(),
            comment: comment.to_owned(),
            starts_at: now,
            ends_at,
        };
        self.saved
            .lock()
            .expect("alert state lock")
            .silences
            .push(silence.clone());
        self.save()?;
        Ok(silence)
    }

    /// Ends a silence now; `None` if there is no such silence.
    pub fn expire(&self, id: &str) -> Result<Option<Silence>, String> {
        let now = Utc::now();
        let expired = {
            let mut saved = self.saved.lock().expect("alert state lock");
            saved
                .silences
                .iter_mut()
                .find(|s| s.id == id)
                .map(|silence| {
                    silence.ends_at = silence.ends_at.min(now);
                    silence.clone()
                })
        };
        self.save()?;
        Ok(expired)
    }

    /// History entries of `environment` since `from`, oldest first.
    pub fn history(&self, environment: &str, from: DateTime<Utc>) -> Vec<HistoryEntry> {
        let Ok(text) = std::fs::read_to_string(self.dir.join("history.jsonl")) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|line| serde_json::from_str::<HistoryEntry>(line).ok())
            .filter(|entry| entry.environment == environment && entry.at >= from)
            .collect()
    }

    fn record(&self, entries: &[HistoryEntry]) -> Result<(), String> {
        if entries.is_empty() {
            return Ok(());
        }
        let path = self.dir.join("history.jsonl");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut text = String::new();
        for entry in entries {
            text.push_str(&serde_json::to_string(entry).expect("history serializes"));
            text.push('\n');
        }
        file.write_all(text.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    fn save(&self) -> Result<(), String> {
        let json = serde_json::to_vec(&*self.saved.lock().expect("alert state lock"))
            .expect("alert state serializes");
        let path = self.dir.join("state.json");
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    async fn observe(
        &self,
        rule: &Rule,
        environment: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Observation>, String> {
        let since = |window: std::time::Duration| {
            now - chrono::Duration::from_std(window).unwrap_or_default()
        };
        match &rule.condition {
            Condition::Metric {
                metric,
                agg,
                op,
                threshold,
                match_labels,
                window,
            } => {
                let query = MetricQuery {
                    environment: environment.into(),
                    host: None,
                    name: metric.clone(),
                    from: since(*window),
                    to: now,
                };
                let series = self
                    .store
                    .metric_series(&query, i64::MAX / 4, *agg)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(series
                    .into_iter()
                    .filter(|s| match_labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
                    .filter_map(|s| {
                        let value = s.points.first()?.1;
                        Some(Observation {
                            holds: op.holds(value, *threshold),
                            host: s.host,
                            labels: s.labels,
                            value,
                            detail: String::new(),
                        })
                    })
                    .collect())
            }
            Condition::Log {
                query,
                count_above,
                window,
            } => {
                let page = self
                    .store
                    .logs(&LogQuery {
                        environment: environment.into(),
                        host: None,
                        text: Some(query.clone()),
                        level: None,
                        from: since(*window),
                        to: now,
                        limit: 1000,
                        cursor: None,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                let mut by_host: BTreeMap<String, (u64, String)> = BTreeMap::new();
                for line in page.lines {
                    let entry = by_host.entry(line.host).or_insert((0, line.message));
                    entry.0 += 1;
                }
                Ok(by_host
                    .into_iter()
                    .map(|(host, (count, newest))| Observation {
                        host,
                        labels: BTreeMap::new(),
                        holds: count > *count_above,
                        value: count as f64,
                        detail: newest,
                    })
                    .collect())
            }
            Condition::NoData { metric, window } => {
                let mut observations = Vec::new();
                for seen in self
                    .store
                    .hosts(environment)
                    .await
                    .map_err(|e| e.to_string())?
                {
                    let query = MetricQuery {
                        environment: environment.into(),
                        host: Some(seen.host.clone()),
                        name: metric.clone(),
                        from: since(*window),
                        to: now,
                    };
                    let points = self
                        .store
                        .metric_points(&query)
                        .await
                        .map_err(|e| e.to_string())?;
                    observations.push(Observation {
                        host: seen.host,
                        labels: BTreeMap::new(),
                        holds: points.is_empty(),
                        value: points.len() as f64,
                        detail: String::new(),
                    });
                }
                Ok(observations)
            }
            Condition::HostDown { window } => Ok(self
                .store
                .hosts(environment)
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|seen| {
                    let silent = (now - seen.last_seen).num_milliseconds() as f64 / 1000.0;
                    Observation {
                        host: seen.host,
                        labels: BTreeMap::new(),
                        holds: seen.last_seen < since(*window),
                        value: silent,
                        detail: String::new(),
                    }
                })
                .collect()),
        }
    }

    fn render(
        &self,
        rule: &Rule,
        template: &str,
        observation: &Observation,
        environment: &str,
    ) -> String {
        let mut registry = handlebars::Handlebars::new();
        registry.register_escape_fn(handlebars::no_escape);
        let values = serde_json::json!({
            "host": observation.host, "value": format_value(observation.value), "environment": environment,
            "rule": rule.name, "labels": observation.labels,
        });
        registry
            .render_template(template, &values)
            .unwrap_or_else(|e| format!("({template}: {e})"))
    }

    /// One evaluation of every rule, then the outbox. Answers a summary.
    pub async fn evaluate(&self) -> Result<String, String> {
        let now = Utc::now();
        let alerting = self
            .config
            .alerting
            .as_ref()
            .ok_or("alerting is not configured")?;
        let rules = self.current_rules();
        let mut history = Vec::new();
        let mut observed: Vec<(String, &Rule, String, Observation)> = Vec::new();
        for environment in &self.config.environments {
            for rule in rules.iter().filter(|r| r.applies_to(&environment.name)) {
                match self.observe(rule, &environment.name, now).await {
                    Ok(observations) => {
                        for observation in observations {
                            let key = key(
                                &rule.name,
                                &environment.name,
                                &observation.host,
                                &observation.labels,
                            );
                            observed.push((key, rule, environment.name.clone(), observation));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(rule = %rule.name, environment = %environment.name, %error, "rule not evaluated")
                    }
                }
            }
        }
        {
            let mut saved = self.saved.lock().expect("alert state lock");
            let mut seen_keys = std::collections::HashSet::new();
            for (key, rule, environment, observation) in &observed {
                seen_keys.insert(key.clone());
                let entry = |event: &str| HistoryEntry {
                    at: now,
                    environment: environment.clone(),
                    rule: rule.name.clone(),
                    host: observation.host.clone(),
                    event: event.into(),
                    value: observation.value,
                    message: String::new(),
                };
                let existing = saved.alerts.get(key).map(|a| a.state);
                match (observation.holds, existing) {
                    (true, None | Some(State::Resolved) | Some(State::Inactive)) => {
                        let state = if rule.for_.is_zero() {
                            State::Firing
                        } else {
                            State::Pending
                        };
                        let mut changes = saved
                            .alerts
                            .get(key)
                            .map(|a| a.changes.clone())
                            .unwrap_or_default();
                        let flapping = saved.alerts.get(key).is_some_and(|a| a.flapping);
                        if state == State::Firing {
                            changes.push(now);
                        }
                        saved.alerts.insert(
                            key.clone(),
                            Alert {
                                rule: rule.name.clone(),
                                environment: environment.clone(),
                                host: observation.host.clone(),
                                labels: observation.labels.clone(),
                                severity: rule.severity.clone(),
                                state,
                                since: now,
                                fired_at: (state == State::Firing).then_some(now),
                                resolved_at: None,
                                value: observation.value,
                                summary: self.render(rule, &rule.summary, observation, environment),
                                description: self.render(
                                    rule,
                                    &rule.description,
                                    observation,
                                    environment,
                                ),
                                detail: observation.detail.clone(),
                                last_notified: None,
                                inhibited: false,
                                silenced_by: None,
                                changes,
                                flapping,
                            },
                        );
                        history.push(entry(if state == State::Firing {
                            "firing"
                        } else {
                            "pending"
                        }));
                    }
                    (true, Some(State::Pending)) => {
                        let alert = saved.alerts.get_mut(key).expect("present");
                        alert.value = observation.value;
                        if (now - alert.since).to_std().unwrap_or_default() >= rule.for_ {
                            alert.state = State::Firing;
                            alert.changes.push(now);
                            alert.fired_at = Some(now);
                            history.push(entry("firing"));
                        }
                    }
                    (true, Some(State::Firing)) => {
                        let alert = saved.alerts.get_mut(key).expect("present");
                        alert.value = observation.value;
                        if !observation.detail.is_empty() {
                            alert.detail = observation.detail.clone();
                        }
                    }
                    (false, Some(State::Pending)) => {
                        saved.alerts.remove(key);
                        history.push(entry("inactive"));
                    }
                    (false, Some(State::Firing)) => {
                        let alert = saved.alerts.get_mut(key).expect("present");
                        alert.state = State::Resolved;
                        alert.changes.push(now);
                        alert.resolved_at = Some(now);
                        alert.value = observation.value;
                        history.push(entry("resolved"));
                    }
                    (false, _) => {}
                }
            }
            // Alerts whose host or series no longer shows up: the condition is gone.
            for (key, alert) in saved.alerts.iter_mut() {
                if seen_keys.contains(key) {
                    continue;
                }
                match alert.state {
                    State::Firing => {
                        alert.state = State::Resolved;
                        alert.changes.push(now);
                        alert.resolved_at = Some(now);
                        history.push(HistoryEntry {
                            at: now,
                            environment: alert.environment.clone(),
                            rule: alert.rule.clone(),
                            host: alert.host.clone(),
                            event: "resolved".into(),
                            value: alert.value,
                            message: "no longer observed".into(),
                        });
                    }
                    State::Pending => alert.state = State::Inactive,
                    _ => {}
                }
            }
            saved.alerts.retain(|_, alert| match alert.state {
                State::Inactive => false,
                State::Resolved => alert
                    .resolved_at
                    .is_some_and(|at| now - at < chrono::Duration::hours(1)),
                _ => true,
            });
            // Inhibition: a host that is down mails only about being down.
            let down_rules: std::collections::HashSet<&str> = rules
                .iter()
                .filter(|r| matches!(r.condition, Condition::HostDown { .. }))
                .map(|r| r.name.as_str())
                .collect();
            let down: std::collections::HashSet<(String, String)> = saved
                .alerts
                .values()
                .filter(|a| a.state == State::Firing && down_rules.contains(a.rule.as_str()))
                .map(|a| (a.environment.clone(), a.host.clone()))
                .collect();
            let repeat = chrono::Duration::from_std(alerting.repeat_interval)
                .unwrap_or(chrono::Duration::MAX);
            let mut mails = Vec::new();
            let flap_window =
                chrono::Duration::from_std(alerting.flap_window).unwrap_or(chrono::Duration::MAX);
            let silences: Vec<Silence> = saved
                .silences
                .iter()
                .filter(|s| s.active(now))
                .cloned()
                .collect();
            saved
                .silences
                .retain(|s| now - s.ends_at < chrono::Duration::days(7));
            for (key, alert) in saved.alerts.iter_mut() {
                alert.inhibited = !down_rules.contains(alert.rule.as_str())
                    && down.contains(&(alert.environment.clone(), alert.host.clone()));
                alert.silenced_by = silences
                    .iter()
                    .find(|s| s.matches(alert))
                    .map(|s| s.id.clone());
                // Flap damping: too many changes within the window hold the
                // alert's mail back until it settles.
                alert.changes.retain(|at| now - *at < flap_window);
                let flapping = alert.changes.len() > alerting.flap_threshold;
                if flapping != alert.flapping {
                    alert.flapping = flapping;
                    history.push(HistoryEntry {
                        at: now,
                        environment: alert.environment.clone(),
                        rule: alert.rule.clone(),
                        host: alert.host.clone(),
                        event: if flapping {
                            "flapping"
                        } else {
                            "flapping_ended"
                        }
                        .into(),
                        value: alert.value,
                        message: format!(
                            "{} changes within {}",
                            alert.changes.len(),
                            humantime::format_duration(alerting.flap_window)
                        ),
                    });
                }
                if alert.inhibited || alert.silenced_by.is_some() || alert.flapping {
                    continue;
                }
                let due = match alert.state {
                    State::Firing => alert
                        .last_notified
                        .is_none_or(|at| now - at >= repeat)
                        .then_some("firing"),
                    State::Resolved
                        if alert.last_notified.is_some()
                            && alert
                                .resolved_at
                                .is_some_and(|at| alert.last_notified < Some(at)) =>
                    {
                        Some("resolved")
                    }
                    _ => None,
                };
                if let Some(kind) = due {
                    alert.last_notified = Some(now);
                    mails.push((key.clone(), kind, alert.clone()));
                }
            }
            for (key, kind, alert) in mails {
                let Some(environment) = self.config.environment(&alert.environment) else {
                    continue;
                };
                let mail = self.templates.render(
                    &AlertMail {
                        status: kind.to_ascii_uppercase(),
                        resolved: kind == "resolved",
                        environment: alert.environment.clone(),
                        host: alert.host.clone(),
                        rule: alert.rule.clone(),
                        severity: alert.severity.clone(),
                        value: format_value(alert.value),
                        since: alert
                            .since
                            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        summary: alert.summary.clone(),
                        description: alert.description.clone(),
                        detail: alert.detail.clone(),
                        link: format!(
                            "{}/alerts?env={}",
                            alerting.dashboard_url.trim_end_matches('/'),
                            alert.environment
                        ),
                    },
                    &alerting.from,
                    &environment.recipients(),
                );
                match mail {
                    Ok(mail) => saved.outbox.push(Outgoing {
                        key,
                        environment: alert.environment,
                        rule: alert.rule,
                        host: alert.host,
                        kind: kind.into(),
                        subject: mail.subject,
                        to: mail.to,
                        text: mail.text,
                        html: mail.html,
                        attempts: 0,
                        next_attempt: now,
                    }),
                    Err(error) => {
                        tracing::error!(%error, rule = %alert.rule, "alert mail not rendered")
                    }
                }
            }
        }
        self.save()?;
        self.record(&history)?;
        let sent = self.drain(now).await?;
        let saved = self.saved.lock().expect("alert state lock");
        let firing = saved
            .alerts
            .values()
            .filter(|a| a.state == State::Firing)
            .count();
        Ok(format!(
            "{} rules, {firing} firing, {sent} mails sent, {} waiting",
            rules.len(),
            saved.outbox.len()
        ))
    }

    /// Sends what is due in the outbox; failures stay, with a later attempt.
    async fn drain(&self, now: DateTime<Utc>) -> Result<usize, String> {
        let due: Vec<Outgoing> = {
            let saved = self.saved.lock().expect("alert state lock");
            saved
                .outbox
                .iter()
                .filter(|o| o.next_attempt <= now && !o.to.is_empty())
                .cloned()
                .collect()
        };
        let from = self
            .config
            .alerting
            .as_ref()
            .map(|a| a.from.clone())
            .unwrap_or_default();
        let mut history = Vec::new();
        let mut sent = 0;
        for outgoing in due {
            let mail = Mail {
                from: from.clone(),
                to: outgoing.to.clone(),
                subject: outgoing.subject.clone(),
                text: outgoing.text.clone(),
                html: outgoing.html.clone(),
            };
            let result = self.channel.send(&mail).await;
            let mut saved = self.saved.lock().expect("alert state lock");
            let entry = |event: &str, message: String| HistoryEntry {
                at: Utc::now(),
                environment: outgoing.environment.clone(),
                rule: outgoing.rule.clone(),
                host: outgoing.host.clone(),
                event: event.into(),
                value: 0.0,
                message,
            };
            match result {
                Ok(()) => {
                    sent += 1;
                    saved.outbox.retain(|o| {
                        !(o.key == outgoing.key
                            && o.kind == outgoing.kind
                            && o.subject == outgoing.subject
                            && o.next_attempt == outgoing.next_attempt)
                    });
                    history.push(entry(
                        "notified",
                        format!("{} mail by {}", outgoing.kind, self.channel.describe()),
                    ));
                }
                Err(error) => {
                    tracing::warn!(%error, rule = %outgoing.rule, host = %outgoing.host, "alert mail not sent; will retry");
                    if let Some(waiting) = saved.outbox.iter_mut().find(|o| {
                        o.key == outgoing.key
                            && o.kind == outgoing.kind
                            && o.next_attempt == outgoing.next_attempt
                    }) {
                        waiting.attempts += 1;
                        let wait = 5i64.saturating_mul(1 << waiting.attempts.min(8)).min(600);
                        waiting.next_attempt = Utc::now() + chrono::Duration::seconds(wait);
                    }
                    history.push(entry("notify_failed", error.to_string()));
                }
            }
        }
        self.save()?;
        self.record(&history)?;
        Ok(sent)
    }
}

/// The mail channel `[alerting]` names.
pub async fn channel(config: &crate::config::ChannelConfig) -> Result<Arc<dyn Channel>, String> {
    use crate::config::ChannelConfig;
    use crate::notify::smtp::{SmtpChannel, SmtpSettings};
    Ok(match config {
        ChannelConfig::Smtp {
            host,
            port,
            security,
            username,
            password,
            ca_file,
            tls_name,
        } => {
            let ca_pem = match ca_file {
                Some(path) => {
                    Some(std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?)
                }
                None => None,
            };
            Arc::new(SmtpChannel::new(&SmtpSettings {
                host: host.clone(),
                port: *port,
                security: *security,
                username: username.clone(),
                password: password.clone(),
                ca_pem,
                tls_name: tls_name.clone(),
                timeout: std::time::Duration::from_secs(30),
            })?)
        }
        ChannelConfig::Ses => {
            let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
            Arc::new(crate::notify::ses::SesChannel::new(&sdk))
        }
    })
}

fn format_value(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}
