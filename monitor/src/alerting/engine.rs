//! The alert engine: each evaluation observes every rule in the store,
//! moves the alerts along (see `transition`), marks what is held back
//! (`suppress`), puts the mail of due groups in the outbox (`group`), saves
//! the state, records the history, then sends what is due.
//!
//! The time of an evaluation is passed in ([`Engine::evaluate_at`]); the
//! engine never reads the clock on its own, so tests drive it through
//! minutes in milliseconds. The state lock is never held across a store
//! query or a send.
//!
//! The state is kept in the data directory, or, when monitor replicas share
//! an Elasticsearch store ([`Engine::shared_in`]), as one document of the
//! cluster's shared state: read again before each evaluation and each
//! answer about alerts and silences, and written only if no other replica
//! wrote it since ([`Engine::update`]: on a conflict the change is made
//! again on what is there now). So the replica that takes the lease over
//! carries on with the alerts where the last leader left them, and a
//! silence made through any replica holds on all.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use chrono::{DateTime, Utc};

use super::error::AlertError;
use super::group::{DueGroup, Timing, due_groups};
use super::history::History;
use super::model::{Alert, CHANNEL_RULE, HistoryEntry, Silence, State, key, rfc3339};
use super::observe::{Observation, observe};
use super::outbox::{
    ChannelHealth, Outgoing, Via, WEBHOOK_ATTEMPTS, alert_mail, group_hosts, group_mail,
};
use super::persist::{self, Saved};
use super::rules::{self, Rule};
use super::suppress::{Flapping, suppress};
use super::texts::RuleTexts;
use super::transition::{kept, transition, unobserved};
use crate::config::{AlertingConfig, Config};
use crate::notify::templates::{AlertMail, Templates};
use crate::notify::{Channel, Mail, SendError};
use crate::store::Store;
use crate::store::shared::{SharedState, Version};
use aerie_common::toml_file::FileError;

/// How long an ended silence is still listed.
const ENDED_SILENCES_SHOWN: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// One rules file, loaded: the rules and their compiled texts.
#[derive(Debug)]
struct RuleSet {
    rules: Vec<Rule>,
    texts: RuleTexts,
}

impl RuleSet {
    fn load(config: &Config, alerting: &AlertingConfig) -> Result<Self, FileError> {
        let names: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
        let rules = rules::load(&alerting.rules_file, &names)?;
        Ok(Self {
            texts: RuleTexts::new(&rules),
            rules,
        })
    }
}

/// The webhook channels, by environment and URL.
pub type Webhooks = BTreeMap<(String, String), Arc<dyn Channel>>;

/// The alert engine.
#[derive(Debug)]
pub struct Engine {
    config: Arc<Config>,
    store: Arc<dyn Store>,
    channel: Arc<dyn Channel>,
    fallback: Option<Arc<dyn Channel>>,
    webhooks: Webhooks,
    templates: Templates,
    /// Replaced whole by a reload; an evaluation works on the set it started with.
    rules: RwLock<Arc<RuleSet>>,
    dir: PathBuf,
    saved: Mutex<Saved>,
    /// The cluster's shared state, when the state is kept there.
    shared: Option<Arc<dyn SharedState>>,
    /// The version of the shared document `saved` was read or written at,
    /// held across each read and write of it, so a read for an answer never
    /// lands between a write's making and its version (which would pair an
    /// older state with the newer version, and the next write would lose
    /// the change between them).
    version: tokio::sync::Mutex<Option<Version>>,
    history: History,
}

/// How many times a change is made again after another replica wrote the
/// state first.
const ATTEMPTS: usize = 8;

/// What became of one send.
#[derive(Debug, PartialEq, Eq)]
enum Sent {
    Delivered,
    /// Not delivered: why, and whether it is dropped rather than retried.
    Failed {
        error: String,
        given_up: bool,
    },
}

/// What an outgoing is, in a log line or history entry.
fn what(outgoing: &Outgoing) -> &'static str {
    if outgoing.via == Via::Webhook {
        "post"
    } else {
        "mail"
    }
}

impl Engine {
    /// The engine of a monitor whose config has `[alerting]`, with its state
    /// and history read back from the data directory.
    pub fn new(
        config: Arc<Config>,
        store: Arc<dyn Store>,
        channel: Arc<dyn Channel>,
        fallback: Option<Arc<dyn Channel>>,
        webhooks: Webhooks,
        now: DateTime<Utc>,
    ) -> Result<Self, AlertError> {
        let alerting = config.alerting.as_ref().ok_or(AlertError::NotConfigured)?;
        let rules = RuleSet::load(&config, alerting)?;
        let dir = config.data_dir.join("alerts");
        std::fs::create_dir_all(&dir).map_err(AlertError::io(&dir, "create it"))?;
        let saved = persist::load(&dir)?;
        let history = History::open(&dir, config.retention.alerts, now)?;
        Ok(Self {
            store,
            channel,
            fallback,
            webhooks,
            templates: Templates::built_in(),
            rules: RwLock::new(Arc::new(rules)),
            dir,
            saved: Mutex::new(saved),
            shared: None,
            version: tokio::sync::Mutex::new(None),
            history,
            config,
        })
    }

    /// The same engine with its state in `shared`, the cluster several
    /// monitor replicas share, instead of the data directory.
    #[must_use]
    pub fn shared_in(mut self, shared: Arc<dyn SharedState>) -> Self {
        self.history = self.history.shared_in(Arc::clone(&shared));
        self.shared = Some(shared);
        *self.lock() = Saved::default();
        self
    }

    /// Reads the state again from the cluster (nothing to do when it is
    /// kept in the data directory): what another replica changed is seen.
    pub async fn refresh(&self) -> Result<(), AlertError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        let mut version = self.version.lock().await;
        *version = self.read_shared(&**shared).await?;
        Ok(())
    }

    /// Reads the shared document into `saved`; answers the version read.
    async fn read_shared(&self, shared: &dyn SharedState) -> Result<Option<Version>, AlertError> {
        let (saved, version) = match shared.get(persist::KIND, persist::KEY).await? {
            Some((body, version)) => (persist::from_shared(body)?, Some(version)),
            None => (Saved::default(), None),
        };
        *self.lock() = saved;
        Ok(version)
    }

    /// The engine with its state read again from the cluster, for an
    /// answer about alerts or silences; a cluster that cannot be read is
    /// logged and the state last read answers.
    pub async fn fresh(&self) -> &Self {
        if let Err(error) = self.refresh().await {
            let error = aerie_common::error_chain(&error);
            tracing::warn!(%error, "the alert state could not be read again; answering with the last one read");
        }
        self
    }

    /// Makes `change` to the state and saves it; answers what `change`
    /// answered. In the cluster the state is written only if no replica
    /// wrote it since it was read; otherwise it is read again and `change`
    /// made again on it, so `change` must depend on nothing but the state.
    async fn update<R>(&self, change: impl Fn(&mut Saved) -> R) -> Result<R, AlertError> {
        let Some(shared) = &self.shared else {
            let answer = change(&mut self.lock());
            self.save()?;
            return Ok(answer);
        };
        let mut version = self.version.lock().await;
        for _ in 0..ATTEMPTS {
            let (answer, body) = {
                let mut saved = self.lock();
                let answer = change(&mut saved);
                (answer, persist::to_shared(&saved))
            };
            let written = shared
                .put(persist::KIND, persist::KEY, &body, *version)
                .await?;
            if written.is_some() {
                *version = written;
                return Ok(answer);
            }
            *version = self.read_shared(&**shared).await?;
        }
        Err(AlertError::Contended { attempts: ATTEMPTS })
    }

    fn alerting(&self) -> &AlertingConfig {
        self.config
            .alerting
            .as_ref()
            .expect("the engine is built only with [alerting]")
    }

    fn current_rules(&self) -> Arc<RuleSet> {
        Arc::clone(&self.rules.read().expect("rules lock"))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Saved> {
        self.saved.lock().expect("alert state lock")
    }

    fn save(&self) -> Result<(), AlertError> {
        persist::save(&self.dir, &self.lock())
    }

    /// Current alerts of `environment` (pending, firing, recently resolved).
    pub fn alerts(&self, environment: &str) -> Vec<Alert> {
        self.lock()
            .alerts
            .values()
            .filter(|a| a.environment == environment)
            .cloned()
            .collect()
    }

    /// Names of the rules that apply to `environment`.
    pub fn rule_names(&self, environment: &str) -> Vec<String> {
        self.current_rules()
            .rules
            .iter()
            .filter(|r| r.applies_to(environment))
            .map(|r| r.name.clone())
            .collect()
    }

    /// Reads the rules file again. A file that does not validate changes
    /// nothing: the current rules stay, and the error says why.
    pub fn reload(&self) -> Result<usize, AlertError> {
        let alerting = self.alerting();
        match RuleSet::load(&self.config, alerting) {
            Ok(rules) => {
                let count = rules.rules.len();
                *self.rules.write().expect("rules lock") = Arc::new(rules);
                tracing::info!(rules = count, file = %alerting.rules_file.display(), "rules reloaded");
                Ok(count)
            }
            Err(source) => {
                let kept = self.current_rules().rules.len();
                tracing::error!(error = %source, kept, "rules not reloaded; keeping the current ones");
                Err(AlertError::RulesKept { source, kept })
            }
        }
    }

    /// Silences, current and recently ended.
    pub fn silences(&self) -> Vec<Silence> {
        self.lock().silences.clone()
    }

    /// Adds a silence from `now`; answers it with its id.
    pub async fn silence(
        &self,
        matchers: BTreeMap<String, String>,
        author: &str,
        comment: &str,
        ends_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Silence, AlertError> {
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
        self.update(|saved| saved.silences.push(silence.clone()))
            .await?;
        Ok(silence)
    }

    /// Ends a silence at `now`; `None` if there is no such silence.
    pub async fn expire(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Silence>, AlertError> {
        self.update(|saved| {
            saved
                .silences
                .iter_mut()
                .find(|s| s.id == id)
                .map(|silence| {
                    silence.ends_at = silence.ends_at.min(now);
                    silence.clone()
                })
        })
        .await
    }

    /// History entries of `environment` since `from`, oldest first.
    pub async fn history(
        &self,
        environment: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<HistoryEntry>, AlertError> {
        self.history.since(environment, from).await
    }

    /// One evaluation now.
    pub async fn evaluate(&self) -> Result<String, AlertError> {
        self.evaluate_at(Utc::now()).await
    }

    /// One evaluation of every rule at `now`, then the outbox. Answers a summary.
    pub async fn evaluate_at(&self, now: DateTime<Utc>) -> Result<String, AlertError> {
        let rules = self.current_rules();
        self.refresh().await?;
        let observed = self.observe_all(&rules, now).await;
        let history = self
            .update(|saved| self.advance(saved, &rules, &observed, now))
            .await?;
        self.history.record(&history, now).await?;
        let sent = self.drain(now).await?;
        let saved = self.lock();
        let firing = saved
            .alerts
            .values()
            .filter(|a| a.state == State::Firing)
            .count();
        Ok(format!(
            "{} rules, {firing} firing, {sent} mails sent, {} waiting",
            rules.rules.len(),
            saved.outbox.len()
        ))
    }

    /// What every rule sees in every environment it applies to: (alert key,
    /// rule index, environment, observation). A rule the store cannot answer
    /// is logged and left out of this evaluation.
    async fn observe_all(
        &self,
        rules: &RuleSet,
        now: DateTime<Utc>,
    ) -> Vec<(String, usize, String, Observation)> {
        let mut observed = Vec::new();
        for environment in &self.config.environments {
            let applying = rules.rules.iter().enumerate();
            for (index, rule) in applying.filter(|(_, r)| r.applies_to(&environment.name)) {
                match observe(&*self.store, rule, &environment.name, now).await {
                    Ok(observations) => {
                        observed.extend(observations.into_iter().map(|observation| {
                            let key = key(
                                &rule.name,
                                &environment.name,
                                &observation.host,
                                &observation.labels,
                            );
                            (key, index, environment.name.clone(), observation)
                        }));
                    }
                    Err(error) => {
                        let error = aerie_common::error_chain(&error);
                        tracing::warn!(rule = %rule.name, environment = %environment.name, %error, "rule not evaluated");
                    }
                }
            }
        }
        observed
    }

    /// Moves every alert along for what was observed, marks what is held
    /// back and queues the mail of due groups. Answers the history entries.
    fn advance(
        &self,
        saved: &mut Saved,
        rules: &RuleSet,
        observed: &[(String, usize, String, Observation)],
        now: DateTime<Utc>,
    ) -> Vec<HistoryEntry> {
        let alerting = self.alerting();
        let mut history = Vec::new();
        let mut seen = HashSet::new();
        for (key, index, environment, observation) in observed {
            seen.insert(key.as_str());
            let rule = &rules.rules[*index];
            let step = transition(
                saved.alerts.get(key),
                observation,
                rule,
                environment,
                now,
                || rules.texts.render(*index, rule, observation, environment),
            );
            if let Some(event) = step.event {
                history.push(HistoryEntry {
                    at: now,
                    environment: environment.clone(),
                    rule: rule.name.clone(),
                    host: observation.host.clone(),
                    event: event.into(),
                    value: observation.value,
                    message: String::new(),
                });
            }
            match step.alert {
                Some(alert) => saved.alerts.insert(key.clone(), alert),
                None => saved.alerts.remove(key),
            };
        }
        for (key, alert) in &mut saved.alerts {
            if !seen.contains(key.as_str()) && alert.rule != CHANNEL_RULE {
                history.extend(unobserved(alert, now));
            }
        }
        saved.alerts.retain(|_, alert| kept(alert, now));
        saved
            .silences
            .retain(|s| now - s.ends_at < ENDED_SILENCES_SHOWN);
        let flapping = Flapping {
            window: alerting.flap_window,
            threshold: alerting.flap_threshold,
        };
        history.extend(suppress(
            &mut saved.alerts,
            &rules.rules,
            &saved.silences,
            flapping,
            now,
        ));
        let timing = Timing {
            wait: alerting.group_wait,
            interval: alerting.group_interval,
            repeat: alerting.repeat_interval,
        };
        for group in due_groups(&mut saved.alerts, &mut saved.groups, timing, now) {
            self.queue_group_mail(saved, &group, now);
        }
        history
    }

    /// Sends what is due in the outbox; failures stay, with a later attempt.
    /// A primary channel failing for too long raises the channel alert.
    async fn drain(&self, now: DateTime<Utc>) -> Result<usize, AlertError> {
        let (due, mut history) = self
            .update(|saved| {
                let mut history = Vec::new();
                self.raise_channel_alert(saved, now, &mut history);
                // A post to a webhook the config no longer names goes nowhere.
                saved
                    .outbox
                    .retain(|o| o.via != Via::Webhook || self.channel_for(o).is_some());
                let due: Vec<Outgoing> = saved
                    .outbox
                    .iter()
                    .filter(|o| o.next_attempt <= now && !o.to.is_empty())
                    .filter(|o| self.channel_for(o).is_some())
                    .cloned()
                    .collect();
                (due, history)
            })
            .await?;
        let mut sent = 0;
        for outgoing in due {
            let channel = self.channel_for(&outgoing).expect("filtered above");
            let mail = Mail {
                from: self.alerting().from.clone(),
                to: outgoing.to.clone(),
                subject: outgoing.subject.clone(),
                text: outgoing.text.clone(),
                html: outgoing.html.clone(),
                alert: outgoing.alert.clone(),
                key: format!("{}.{}", outgoing.environment, outgoing.id),
            };
            let outcome = self.judge(&outgoing, channel.send(&mail).await);
            if outcome == Sent::Delivered {
                sent += 1;
            }
            let entries = self
                .update(|saved| self.settle(saved, &outgoing, &**channel, &outcome, now))
                .await?;
            history.extend(entries);
        }
        self.history.record(&history, now).await?;
        Ok(sent)
    }

    /// What became of `outgoing`'s send, decided and logged once (the state
    /// change it makes may be made again on a conflict; this is not).
    fn judge(&self, outgoing: &Outgoing, result: Result<(), SendError>) -> Sent {
        let failure = match result {
            Ok(()) => return Sent::Delivered,
            Err(failure) => failure,
        };
        let mut error = aerie_common::error_chain(&failure);
        let given_up = outgoing.via == Via::Webhook
            && (failure.permanent || outgoing.attempts + 1 >= WEBHOOK_ATTEMPTS);
        if given_up {
            tracing::warn!(%error, rule = %outgoing.rule, hosts = ?outgoing.hosts, attempts = outgoing.attempts + 1, "webhook post not delivered; dropped");
            error.push_str("; not retried");
        } else {
            let what = what(outgoing);
            tracing::warn!(%error, rule = %outgoing.rule, hosts = ?outgoing.hosts, "alert {what} not sent; will retry");
        }
        Sent::Failed { error, given_up }
    }

    /// Records in the state what became of `outgoing`'s send: gone from
    /// the outbox once sent (or given up), else tried again later; the
    /// primary channel's health. Answers its history entries.
    fn settle(
        &self,
        saved: &mut Saved,
        outgoing: &Outgoing,
        channel: &dyn Channel,
        sent: &Sent,
        now: DateTime<Utc>,
    ) -> Vec<HistoryEntry> {
        let entries = |event: &str, message: String| -> Vec<HistoryEntry> {
            outgoing
                .hosts
                .iter()
                .map(|host| HistoryEntry {
                    at: now,
                    environment: outgoing.environment.clone(),
                    rule: outgoing.rule.clone(),
                    host: host.clone(),
                    event: event.into(),
                    value: 0.0,
                    message: message.clone(),
                })
                .collect()
        };
        match sent {
            Sent::Delivered => {
                saved.outbox.retain(|o| o.id != outgoing.id);
                let by = format!(
                    "{} {} by {}",
                    outgoing.kind,
                    what(outgoing),
                    channel.describe()
                );
                let mut history = entries("notified", by);
                if outgoing.via == Via::Primary && saved.channel.failing_since.is_some() {
                    self.resolve_channel_alert(saved, now, &mut history);
                }
                history
            }
            Sent::Failed { error, given_up } => {
                if *given_up {
                    saved.outbox.retain(|o| o.id != outgoing.id);
                }
                if let Some(waiting) = saved.outbox.iter_mut().find(|o| o.id == outgoing.id) {
                    waiting.failed(now);
                }
                if outgoing.via == Via::Primary {
                    saved.channel.failing_since.get_or_insert(now);
                    saved.channel.last_error.clone_from(error);
                }
                entries("notify_failed", error.clone())
            }
        }
    }

    /// The channel an outgoing goes through; none for a webhook the config
    /// no longer names, or the fallback when there is none.
    fn channel_for(&self, outgoing: &Outgoing) -> Option<&Arc<dyn Channel>> {
        match outgoing.via {
            Via::Primary => Some(&self.channel),
            Via::Fallback => self.fallback.as_ref(),
            Via::Webhook => self
                .webhooks
                .get(&(outgoing.environment.clone(), outgoing.to.first()?.clone())),
        }
    }

    /// Renders a group's mail into the outbox, to the environment's
    /// recipients, and its post to each of the environment's webhooks.
    fn queue_group_mail(&self, saved: &mut Saved, group: &DueGroup, now: DateTime<Utc>) {
        let Some(environment) = self.config.environment(&group.environment) else {
            return;
        };
        let mail = group_mail(group, &self.alerting().dashboard_url);
        self.queue_for(saved, environment, &mail, group_hosts(group), now);
    }

    /// Queues `mail` to the environment's recipients and each of its webhooks.
    fn queue_for(
        &self,
        saved: &mut Saved,
        environment: &crate::config::Environment,
        mail: &AlertMail,
        hosts: Vec<String>,
        now: DateTime<Utc>,
    ) {
        let kind = if mail.resolved { "resolved" } else { "firing" };
        let to = environment.recipients();
        self.queue(saved, mail, Via::Primary, hosts.clone(), kind, &to, now);
        for hook in &environment.webhooks {
            let url = std::slice::from_ref(&hook.url);
            self.queue(saved, mail, Via::Webhook, hosts.clone(), kind, url, now);
        }
    }

    /// Tells `alert`'s environment about an event the engine does not
    /// evaluate itself (a tenant crossing its quota): a history entry, and
    /// its mail (and webhook posts) in the outbox, sent with the next
    /// evaluation's sends and retried like any other.
    pub async fn announce(&self, alert: &Alert, now: DateTime<Utc>) -> Result<(), AlertError> {
        let Some(environment) = self.config.environment(&alert.environment) else {
            return Ok(());
        };
        let mail = alert_mail(alert, &self.alerting().dashboard_url);
        let hosts = vec![alert.host.clone()];
        self.update(|saved| self.queue_for(saved, environment, &mail, hosts.clone(), now))
            .await?;
        let event = if alert.state == State::Resolved {
            "resolved"
        } else {
            "firing"
        };
        self.history
            .record(&[alert.entry(now, event, alert.summary.clone())], now)
            .await?;
        Ok(())
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
        match self.templates.render(alert, &self.alerting().from, to) {
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
                    alert: mail.alert,
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
        let Some(since) = saved.channel.failing_since else {
            return;
        };
        let after = chrono::Duration::from_std(self.alerting().channel_failing_after)
            .unwrap_or(chrono::Duration::MAX);
        if saved.channel.raised || now - since < after {
            return;
        }
        saved.channel.raised = true;
        let describe = self.channel.describe();
        let mut waiting: BTreeMap<String, usize> = BTreeMap::new();
        for outgoing in saved.outbox.iter().filter(|o| o.via == Via::Primary) {
            *waiting.entry(outgoing.environment.clone()).or_default() += 1;
        }
        for (environment, count) in waiting {
            let alert = Alert {
                rule: CHANNEL_RULE.into(),
                environment: environment.clone(),
                host: "aerie-monitor".into(),
                labels: BTreeMap::from([("channel".to_owned(), describe.clone())]),
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
            history.push(alert.entry(now, "firing", saved.channel.last_error.clone()));
            self.queue_channel_mail(saved, &alert, now);
            saved.alerts.insert(alert.key(), alert);
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
            let mut entry = alert.entry(
                now,
                "resolved",
                format!("{} delivers again", self.channel.describe()),
            );
            entry.value = 0.0;
            history.push(entry);
            let alert = alert.clone();
            self.queue_channel_mail(saved, &alert, now);
        }
    }

    /// Queues the channel alert's mail through the other channel, to the
    /// operators only: the customer is told about their alerts, not about
    /// our plumbing.
    fn queue_channel_mail(&self, saved: &mut Saved, alert: &Alert, now: DateTime<Utc>) {
        if self.fallback.is_none() {
            return;
        }
        let Some(environment) = self.config.environment(&alert.environment) else {
            return;
        };
        let mail = alert_mail(alert, &self.alerting().dashboard_url);
        let kind = if mail.resolved { "resolved" } else { "firing" };
        let hosts = vec![alert.host.clone()];
        self.queue(
            saved,
            &mail,
            Via::Fallback,
            hosts,
            kind,
            &environment.operators,
            now,
        );
    }
}
