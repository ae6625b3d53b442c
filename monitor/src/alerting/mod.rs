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
//!
//! Mail goes out per group, an environment's alerts of one rule: one mail for
//! all the hosts that fired within `group_wait`, then one per
//! `group_interval` at most while the group changes. When the primary channel has failed for longer
//! than `channel_failing_after`, the engine raises a [`CHANNEL_RULE`] alert
//! of its own, mailed to the operators through the other channel.

pub mod rules;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::notify::templates::{AlertMail, MailItem, Templates};
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
    id: u64,
    environment: String,
    rule: String,
    /// The hosts of the alerts it tells about.
    hosts: Vec<String>,
    kind: String,
    subject: String,
    to: Vec<String>,
    text: String,
    html: String,
    attempts: u32,
    next_attempt: DateTime<Utc>,
    #[serde(default)]
    via: Via,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    alerts: BTreeMap<String, Alert>,
    outbox: Vec<Outgoing>,
    #[serde(default)]
    silences: Vec<Silence>,
    #[serde(default)]
    groups: BTreeMap<String, Group>,
    #[serde(default)]
    channel: ChannelHealth,
    /// The last outbox id handed out.
    #[serde(default)]
    sequence: u64,
}

/// The alert engine.
#[derive(Debug)]
pub struct Engine {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    channel: Arc<dyn Channel>,
    fallback: Option<Arc<dyn Channel>>,
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
        fallback: Option<Arc<dyn Channel>>,
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
            fallback,
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

    /// Names of the rules that apply to `environment`.
    pub fn rule_names(&self, environment: &str) -> Vec<String> {
        self.current_rules()
            .iter()
            .filter(|r| r.applies_to(environment))
            .map(|r| r.name.clone())
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
                        file: None,
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
            Condition::BackupAge {
                metric,
                max_age,
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
                    .metric_series(&query, i64::MAX / 4, crate::store::Aggregation::Max)
                    .await
                    .map_err(|e| e.to_string())?;
                let limit = max_age.as_secs_f64();
                let mut observations: Vec<Observation> = series
                    .into_iter()
                    .filter_map(|s| {
                        let newest = s.points.first()?.1;
                        let age = now.timestamp() as f64 - newest;
                        Some(Observation {
                            host: s.host,
                            labels: s.labels,
                            holds: age > limit,
                            value: age,
                            detail: format!(
                                "newest good backup: {}",
                                DateTime::from_timestamp(newest as i64, 0)
                                    .map(rfc3339)
                                    .unwrap_or_else(|| newest.to_string())
                            ),
                        })
                    })
                    .collect();
                if observations.is_empty() {
                    observations.push(Observation {
                        host: "(no backups)".into(),
                        labels: BTreeMap::new(),
                        holds: true,
                        value: window.as_secs_f64(),
                        detail: format!(
                            "no {metric} reported within {}",
                            humantime::format_duration(*window)
                        ),
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
                if seen_keys.contains(key) || alert.rule == CHANNEL_RULE {
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
            let mut history_flags = Vec::new();
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
            for alert in saved.alerts.values_mut() {
                if alert.rule == CHANNEL_RULE {
                    continue;
                }
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
                    history_flags.push(HistoryEntry {
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
            }
            history.extend(history_flags);
            for group in self.due_groups(&mut saved, now) {
                self.queue_group_mail(&mut saved, &group, now);
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
    /// A primary channel failing for too long raises the channel alert.
    async fn drain(&self, now: DateTime<Utc>) -> Result<usize, String> {
        let mut history = Vec::new();
        let due: Vec<Outgoing> = {
            let mut saved = self.saved.lock().expect("alert state lock");
            self.raise_channel_alert(&mut saved, now, &mut history);
            saved
                .outbox
                .iter()
                .filter(|o| o.next_attempt <= now && !o.to.is_empty())
                .filter(|o| o.via == Via::Primary || self.fallback.is_some())
                .cloned()
                .collect()
        };
        let from = self
            .config
            .alerting
            .as_ref()
            .map(|a| a.from.clone())
            .unwrap_or_default();
        let mut sent = 0;
        for outgoing in due {
            let channel = match outgoing.via {
                Via::Primary => &self.channel,
                Via::Fallback => self.fallback.as_ref().expect("filtered above"),
            };
            let mail = Mail {
                from: from.clone(),
                to: outgoing.to.clone(),
                subject: outgoing.subject.clone(),
                text: outgoing.text.clone(),
                html: outgoing.html.clone(),
            };
            let result = channel.send(&mail).await;
            let mut saved = self.saved.lock().expect("alert state lock");
            let entries = |event: &str, message: String| {
                outgoing
                    .hosts
                    .iter()
                    .map(|host| HistoryEntry {
                        at: Utc::now(),
                        environment: outgoing.environment.clone(),
                        rule: outgoing.rule.clone(),
                        host: host.clone(),
                        event: event.into(),
                        value: 0.0,
                        message: message.clone(),
                    })
                    .collect::<Vec<_>>()
            };
            match result {
                Ok(()) => {
                    sent += 1;
                    saved.outbox.retain(|o| o.id != outgoing.id);
                    history.extend(entries(
                        "notified",
                        format!("{} mail by {}", outgoing.kind, channel.describe()),
                    ));
                    if outgoing.via == Via::Primary && saved.channel.failing_since.is_some() {
                        self.resolve_channel_alert(&mut saved, Utc::now(), &mut history);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, rule = %outgoing.rule, hosts = ?outgoing.hosts, "alert mail not sent; will retry");
                    if let Some(waiting) = saved.outbox.iter_mut().find(|o| o.id == outgoing.id) {
                        waiting.attempts += 1;
                        let wait = 5i64.saturating_mul(1 << waiting.attempts.min(8)).min(600);
                        waiting.next_attempt = Utc::now() + chrono::Duration::seconds(wait);
                    }
                    if outgoing.via == Via::Primary {
                        saved.channel.failing_since.get_or_insert(now);
                        saved.channel.last_error = error.to_string();
                    }
                    history.extend(entries("notify_failed", error.to_string()));
                }
            }
        }
        self.save()?;
        self.record(&history)?;
        Ok(sent)
    }
}

/// The rule name of the alert the engine raises about its own mail channel.
pub const CHANNEL_RULE: &str = "notification-channel";

/// Which configured channel carries a mail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Via {
    /// The channel `[alerting]` sends alert mail with.
    #[default]
    Primary,
    /// The other one: it carries only the alert that the primary is failing.
    Fallback,
}

/// The notification state of one group: an environment's alerts of one rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Group {
    /// When a change (an alert newly firing or resolved) began to wait for
    /// the group's next mail.
    pending_since: Option<DateTime<Utc>>,
    last_sent: Option<DateTime<Utc>>,
}

/// How the primary channel has been doing.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ChannelHealth {
    /// The first failure since the last success.
    failing_since: Option<DateTime<Utc>>,
    last_error: String,
    /// The channel alert is firing.
    raised: bool,
}

/// A group's mail, due now.
struct DueGroup {
    environment: String,
    rule: String,
    firing: Vec<Alert>,
    resolved: Vec<Alert>,
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
        _ => false,
    }
}

fn held_back(alert: &Alert) -> bool {
    alert.inhibited || alert.silenced_by.is_some() || alert.flapping
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn mail_item(alert: &Alert) -> MailItem {
    MailItem {
        status: if alert.state == State::Resolved {
            "RESOLVED"
        } else {
            "FIRING"
        }
        .into(),
        host: alert.host.clone(),
        labels: alert
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", "),
        value: format_value(alert.value),
        since: rfc3339(alert.since),
        summary: alert.summary.clone(),
        detail: alert.detail.clone(),
    }
}

impl Engine {
    /// Groups whose mail is due now. A group mails `group_wait` after its
    /// first news, then news waits until `group_interval` after its last
    /// mail; with no news, firing alerts are mailed again every
    /// `repeat_interval`. Alerts inhibited, silenced or flapping are left
    /// out. Every alert in a mail is marked notified.
    fn due_groups(&self, saved: &mut Saved, now: DateTime<Utc>) -> Vec<DueGroup> {
        let Some(alerting) = self.config.alerting.as_ref() else {
            return Vec::new();
        };
        let duration =
            |d: std::time::Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX);
        let (wait, interval, repeat) = (
            duration(alerting.group_wait),
            duration(alerting.group_interval),
            duration(alerting.repeat_interval),
        );
        let mut members: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for (key, alert) in &saved.alerts {
            if alert.rule != CHANNEL_RULE {
                members
                    .entry((alert.environment.clone(), alert.rule.clone()))
                    .or_default()
                    .push(key.clone());
            }
        }
        let mut due = Vec::new();
        let mut live = std::collections::HashSet::new();
        for ((environment, rule), keys) in members {
            let group_key = format!("{environment}\u{1f}{rule}");
            let eligible: Vec<String> = keys
                .into_iter()
                .filter(|k| !held_back(&saved.alerts[k]))
                .collect();
            let alerts = &saved.alerts;
            let news = eligible.iter().any(|k| has_news(&alerts[k]));
            let repeat_due = eligible.iter().any(|k| {
                let alert = &alerts[k];
                alert.state == State::Firing
                    && alert.last_notified.is_some_and(|at| now - at >= repeat)
            });
            if alerts.values().any(|a| {
                a.environment == environment && a.rule == rule && a.state != State::Resolved
            }) || news
            {
                live.insert(group_key.clone());
            }
            let group = saved.groups.entry(group_key).or_default();
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
                let alert = saved.alerts.get_mut(key).expect("a member");
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
        // A group with nothing firing or pending and nothing left to say
        // starts afresh (with `group_wait`) next time.
        saved.groups.retain(|key, _| live.contains(key));
        due
    }

    /// Renders a group's mail into the outbox.
    fn queue_group_mail(&self, saved: &mut Saved, group: &DueGroup, now: DateTime<Utc>) {
        let (Some(alerting), Some(environment)) = (
            self.config.alerting.as_ref(),
            self.config.environment(&group.environment),
        ) else {
            return;
        };
        let resolved = group.firing.is_empty();
        let shown = if resolved {
            &group.resolved
        } else {
            &group.firing
        };
        let first = &shown[0];
        let count = shown.len();
        let mut hosts: Vec<String> = shown.iter().map(|a| a.host.clone()).collect();
        hosts.dedup();
        let many = group.firing.len() + group.resolved.len() > 1;
        let alert = AlertMail {
            status: if resolved { "RESOLVED" } else { "FIRING" }.into(),
            resolved,
            many,
            count,
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
            link: format!(
                "{}/alerts?env={}",
                alerting.dashboard_url.trim_end_matches('/'),
                group.environment
            ),
        };
        let mut hosts: Vec<String> = group
            .firing
            .iter()
            .chain(&group.resolved)
            .map(|a| a.host.clone())
            .collect();
        hosts.sort();
        hosts.dedup();
        self.queue(
            saved,
            &alert,
            Via::Primary,
            hosts,
            if resolved { "resolved" } else { "firing" },
            &environment.recipients(),
            now,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn queue(
        &self,
        saved: &mut Saved,
        alert: &AlertMail,
        via: Via,
        hosts: Vec<String>,
        kind: &str,
        to: &[String],
        now: DateTime<Utc>,
    ) {
        let from = self
            .config
            .alerting
            .as_ref()
            .map(|a| a.from.as_str())
            .unwrap_or_default();
        match self.templates.render(alert, from, to) {
            Ok(mail) => {
                saved.sequence += 1;
                saved.outbox.push(Outgoing {
                    id: saved.sequence,
                    environment: alert.environment.clone(),
                    rule: alert.rule.clone(),
                    hosts,
                    kind: kind.into(),
                    subject: mail.subject,
                    to: mail.to,
                    text: mail.text,
                    html: mail.html,
                    attempts: 0,
                    next_attempt: now,
                    via,
                });
            }
            Err(error) => tracing::error!(%error, rule = %alert.rule, "alert mail not rendered"),
        }
    }

    /// Raises the channel alert once the primary channel has failed for
    /// longer than `channel_failing_after`: one alert per environment whose
    /// mail waits, mailed to its operators through the other channel.
    fn raise_channel_alert(
        &self,
        saved: &mut Saved,
        now: DateTime<Utc>,
        history: &mut Vec<HistoryEntry>,
    ) {
        let Some(alerting) = self.config.alerting.as_ref() else {
            return;
        };
        let Some(since) = saved.channel.failing_since else {
            return;
        };
        if saved.channel.raised
            || now - since
                < chrono::Duration::from_std(alerting.channel_failing_after)
                    .unwrap_or(chrono::Duration::MAX)
        {
            return;
        }
        saved.channel.raised = true;
        let describe = self.channel.describe();
        let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
        for outgoing in saved.outbox.iter().filter(|o| o.via == Via::Primary) {
            *waiting.entry(outgoing.environment.clone()).or_default() += 1;
        }
        for (environment, count) in waiting {
            let labels = BTreeMap::from([("channel".to_owned(), describe.clone())]);
            let alert = Alert {
                rule: CHANNEL_RULE.into(),
                environment: environment.clone(),
                host: "aerie-monitor".into(),
                labels: labels.clone(),
                severity: "critical".into(),
                state: State::Firing,
                since,
                fired_at: Some(now),
                resolved_at: None,
                value: count as f64,
                summary: format!(
                    "Alert mail through {describe} has failed since {}",
                    rfc3339(since)
                ),
                description: format!(
                    "{count} alert mail(s) for {environment} wait in the outbox and are retried; they go out once {describe} works again. Check its settings in monitor.toml (server, credentials, sender) and reload or restart the monitor."
                ),
                detail: saved.channel.last_error.clone(),
                last_notified: None,
                inhibited: false,
                silenced_by: None,
                changes: Vec::new(),
                flapping: false,
            };
            history.push(HistoryEntry {
                at: now,
                environment: environment.clone(),
                rule: CHANNEL_RULE.into(),
                host: alert.host.clone(),
                event: "firing".into(),
                value: alert.value,
                message: saved.channel.last_error.clone(),
            });
            self.queue_channel_mail(saved, &alert, now);
            saved
                .alerts
                .insert(key(CHANNEL_RULE, &environment, &alert.host, &labels), alert);
        }
    }

    /// The channel works again: its alerts resolve (mailed through the other channel).
    fn resolve_channel_alert(
        &self,
        saved: &mut Saved,
        now: DateTime<Utc>,
        history: &mut Vec<HistoryEntry>,
    ) {
        saved.channel = ChannelHealth::default();
        let raised: Vec<String> = saved
            .alerts
            .iter()
            .filter(|(_, a)| a.rule == CHANNEL_RULE && a.state == State::Firing)
            .map(|(k, _)| k.clone())
            .collect();
        for key in raised {
            let alert = saved.alerts.get_mut(&key).expect("present");
            alert.state = State::Resolved;
            alert.resolved_at = Some(now);
            let alert = alert.clone();
            history.push(HistoryEntry {
                at: now,
                environment: alert.environment.clone(),
                rule: CHANNEL_RULE.into(),
                host: alert.host.clone(),
                event: "resolved".into(),
                value: 0.0,
                message: format!("{} delivers again", self.channel.describe()),
            });
            self.queue_channel_mail(saved, &alert, now);
        }
    }

    fn queue_channel_mail(&self, saved: &mut Saved, alert: &Alert, now: DateTime<Utc>) {
        if self.fallback.is_none() {
            return;
        }
        let (Some(alerting), Some(environment)) = (
            self.config.alerting.as_ref(),
            self.config.environment(&alert.environment),
        ) else {
            return;
        };
        let resolved = alert.state == State::Resolved;
        let mail = AlertMail {
            status: if resolved { "RESOLVED" } else { "FIRING" }.into(),
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
            link: format!(
                "{}/alerts?env={}",
                alerting.dashboard_url.trim_end_matches('/'),
                alert.environment
            ),
        };
        // Operators only: the customer is told about their alerts, not about our plumbing.
        self.queue(
            saved,
            &mail,
            Via::Fallback,
            vec![alert.host.clone()],
            if resolved { "resolved" } else { "firing" },
            &environment.operators,
            now,
        );
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
