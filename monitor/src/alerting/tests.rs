//! The engine driven through minutes in milliseconds: the in-memory store,
//! a channel that records what it is given (and can fail on demand), and
//! the time passed in.

use aerie_common::toml_file::TomlFile as _;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aerie_wire::{Event, EventBody};
use chrono::{DateTime, Duration, Utc};

use super::{Engine, State};
use crate::config::Config;
use crate::notify::{Channel, Mail, SendError};
use crate::store::memory::MemoryStore;
use crate::store::{Store, WriteBatch};

const ENV: &str = "acme-prod";

/// A channel that keeps every mail it is given, after failing `failures` sends.
#[derive(Debug, Default)]
struct Recorder {
    sent: Mutex<Vec<Mail>>,
    failures: AtomicUsize,
}

#[async_trait::async_trait]
impl Channel for Recorder {
    fn describe(&self) -> String {
        "recorder".into()
    }

    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(SendError {
                channel: "recorder".into(),
                source: "535 authentication failed".into(),
                permanent: true,
            });
        }
        self.sent.lock().unwrap().push(mail.clone());
        Ok(())
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    config: Arc<Config>,
    store: Arc<dyn Store>,
    mail: Arc<Recorder>,
    engine: Engine,
    /// When the test began: every time below is relative to it.
    t0: DateTime<Utc>,
}

impl Harness {
    fn new(rules: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("rules.toml"), rules).unwrap();
        let file = dir.path().join("monitor.toml");
        let text = format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\n[[environment]]\nname = \"{ENV}\"\ningest_token = \"acme-ingest-token\"\noperators = [\"oncall@acme.example\"]\n\n[alerting]\nrules_file = \"rules.toml\"\nrepeat_interval = \"4h\"\nflap_window = \"10m\"\nflap_threshold = 4\ngroup_wait = \"10s\"\ngroup_interval = \"1m\"\nfrom = \"Aerie <alerts@ops.example>\"\ndashboard_url = \"https://monitor.ops.example\"\n[alerting.ses]\n"
        );
        let config = Arc::new(Config::parse(&file, &text).unwrap_or_else(|e| panic!("{e}")));
        std::fs::create_dir_all(&config.data_dir).unwrap();
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let mail = Arc::new(Recorder::default());
        let t0 = Utc::now();
        let engine = Self::engine(&config, &store, &mail, t0);
        Self {
            _dir: dir,
            config,
            store,
            mail,
            engine,
            t0,
        }
    }

    fn engine(
        config: &Arc<Config>,
        store: &Arc<dyn Store>,
        mail: &Arc<Recorder>,
        now: DateTime<Utc>,
    ) -> Engine {
        let channel: Arc<dyn Channel> = Arc::clone(mail) as _;
        Engine::new(
            Arc::clone(config),
            Arc::clone(store),
            channel,
            None,
            Default::default(),
            now,
        )
        .unwrap()
    }

    /// The engine as a restarted monitor would build it.
    fn restart(&mut self, now: DateTime<Utc>) {
        self.engine = Self::engine(&self.config, &self.store, &self.mail, now);
    }

    fn at(&self, seconds: i64) -> DateTime<Utc> {
        self.t0 + Duration::seconds(seconds)
    }

    async fn metric(&self, host: &str, name: &str, value: f64, at: DateTime<Utc>) {
        let id = aerie_wire::event_id(&[
            host.as_bytes(),
            name.as_bytes(),
            &at.timestamp_millis().to_le_bytes(),
        ]);
        let event = Event {
            id,
            timestamp: at,
            body: EventBody::Metric {
                name: name.into(),
                value,
                labels: BTreeMap::new(),
            },
        };
        self.write(host, vec![event]).await;
    }

    async fn log_lines(&self, host: &str, message: &str, count: usize, at: DateTime<Utc>) {
        let events = (0..count)
            .map(|n| Event {
                id: aerie_wire::event_id(&[host.as_bytes(), message.as_bytes(), &n.to_le_bytes()]),
                timestamp: at + Duration::milliseconds(n as i64),
                body: EventBody::Log {
                    file: "/opt/wso2/repository/logs/wso2carbon.log".into(),
                    level: Some("ERROR".into()),
                    logger: Some("ThrottleDataPublisher".into()),
                    message: message.into(),
                    parsed: true,
                    origin: None,
                },
            })
            .collect();
        self.write(host, events).await;
    }

    async fn write(&self, host: &str, events: Vec<Event>) {
        let batch = WriteBatch {
            environment: ENV.into(),
            host: host.into(),
            events,
        };
        self.store.write(&batch).await.unwrap();
    }

    async fn evaluate(&self, seconds: i64) -> String {
        self.engine
            .evaluate_at(self.at(seconds))
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn state(&self, rule: &str, host: &str) -> Option<State> {
        self.engine
            .alerts(ENV)
            .into_iter()
            .find(|a| a.rule == rule && a.host == host)
            .map(|a| a.state)
    }

    fn subjects(&self) -> Vec<String> {
        self.mail
            .sent
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.subject.clone())
            .collect()
    }

    async fn events(&self, rule: &str) -> Vec<String> {
        self.engine
            .history(ENV, DateTime::<Utc>::MIN_UTC)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.rule == rule)
            .map(|e| e.event)
            .collect()
    }
}

const HEAP_HIGH: &str = "[[rule]]\nname = \"heap-high\"\nkind = \"metric\"\nmetric = \"jvm.heap.used.pct\"\nagg = \"max\"\nop = \">\"\nthreshold = 90.0\nwindow = \"1m\"\nfor = \"20s\"\nsummary = \"{{host}} heap at {{value}}%\"\n";

#[tokio::test]
async fn a_metric_alert_fires_only_after_its_for_duration_and_resolves_with_one_mail_each() {
    let h = Harness::new(HEAP_HIGH);
    h.metric("gw-1", "jvm.heap.used.pct", 95.0, h.at(0)).await;
    h.evaluate(0).await;
    assert_eq!(h.state("heap-high", "gw-1"), Some(State::Pending));
    h.evaluate(15).await;
    assert_eq!(
        h.state("heap-high", "gw-1"),
        Some(State::Pending),
        "15 s < for"
    );
    assert!(h.subjects().is_empty());
    h.metric("gw-1", "jvm.heap.used.pct", 96.0, h.at(20)).await;
    h.evaluate(20).await;
    assert_eq!(h.state("heap-high", "gw-1"), Some(State::Firing));
    assert!(h.subjects().is_empty(), "the group waits group_wait first");
    h.evaluate(30).await;
    let subjects = h.subjects();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(subjects[0].contains("FIRING"), "{subjects:?}");
    let sent = h.mail.sent.lock().unwrap()[0].clone();
    // The summary is rendered when the alert begins (pending, at 95%).
    assert!(sent.text.contains("gw-1 heap at 95%"), "{}", sent.text);
    h.evaluate(40).await;
    assert_eq!(h.subjects().len(), 1, "no second firing mail");

    h.metric("gw-1", "jvm.heap.used.pct", 40.0, h.at(100)).await;
    h.evaluate(100).await;
    assert_eq!(h.state("heap-high", "gw-1"), Some(State::Resolved));
    h.evaluate(200).await;
    let subjects = h.subjects();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects[1].contains("RESOLVED"), "{subjects:?}");
    assert_eq!(
        h.events("heap-high").await,
        ["pending", "firing", "notified", "resolved", "notified"]
    );
}

#[tokio::test]
async fn a_pending_alert_whose_condition_ends_before_for_never_mails() {
    let h = Harness::new(HEAP_HIGH);
    h.metric("gw-1", "jvm.heap.used.pct", 95.0, h.at(0)).await;
    h.evaluate(0).await;
    h.metric("gw-1", "jvm.heap.used.pct", 20.0, h.at(70)).await;
    h.evaluate(70).await;
    assert_eq!(h.state("heap-high", "gw-1"), None);
    h.evaluate(200).await;
    assert!(h.subjects().is_empty());
    assert_eq!(h.events("heap-high").await, ["pending", "inactive"]);
}

#[tokio::test]
async fn a_log_rule_counts_every_matching_line_not_one_page() {
    let rules = "[[rule]]\nname = \"throttle-errors\"\nkind = \"log\"\nquery = \"quota AND exceeded\"\ncount_above = 1200\nwindow = \"5m\"\nsummary = \"{{host}} logged {{value}} quota errors\"\n";
    let h = Harness::new(rules);
    h.log_lines("gw-1", "zanzibar quota exceeded", 1500, h.at(-60))
        .await;
    h.log_lines("gw-2", "zanzibar quota exceeded", 30, h.at(-60))
        .await;
    h.evaluate(0).await;
    let alerts = h.engine.alerts(ENV);
    let gw1 = alerts
        .iter()
        .find(|a| a.host == "gw-1")
        .expect("gw-1 fires");
    assert_eq!(gw1.state, State::Firing);
    assert_eq!(gw1.value, 1500.0);
    assert_eq!(gw1.detail, "zanzibar quota exceeded");
    assert_eq!(
        h.state("throttle-errors", "gw-2"),
        None,
        "30 lines stay below"
    );
    h.evaluate(10).await;
    let sent = h.mail.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].text.contains("gw-1 logged 1500 quota errors"),
        "{}",
        sent[0].text
    );
}

const DOWN_AND_CPU: &str = "[[rule]]\nname = \"host-down\"\nkind = \"host_down\"\nwindow = \"1m\"\nseverity = \"critical\"\nsummary = \"{{host}} is down\"\n\n[[rule]]\nname = \"cpu-seen\"\nkind = \"metric\"\nmetric = \"system.cpu.total.pct\"\nop = \">=\"\nthreshold = 0.0\nwindow = \"10m\"\nsummary = \"{{host}} reports CPU\"\n";

#[tokio::test]
async fn a_host_that_is_down_mails_only_about_being_down() {
    let h = Harness::new(DOWN_AND_CPU);
    // The store saw the host now (wall clock); two minutes on it is silent.
    h.metric("gw-1", "system.cpu.total.pct", 12.0, h.at(0))
        .await;
    h.evaluate(120).await;
    h.evaluate(130).await;
    assert_eq!(h.state("host-down", "gw-1"), Some(State::Firing));
    assert_eq!(h.state("cpu-seen", "gw-1"), Some(State::Firing));
    let cpu = h
        .engine
        .alerts(ENV)
        .into_iter()
        .find(|a| a.rule == "cpu-seen")
        .unwrap();
    assert!(cpu.inhibited);
    let subjects = h.subjects();
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(subjects[0].contains("host-down"), "{subjects:?}");
}

#[tokio::test]
async fn a_silence_holds_mail_back_until_it_expires_then_the_alert_is_mailed() {
    let h = Harness::new(HEAP_HIGH.replace("for = \"20s\"\n", "").as_str());
    let matchers = BTreeMap::from([("rule".to_owned(), "heap-high".to_owned())]);
    let silence = h
        .engine
        .silence(matchers, "ops", "planned restart", h.at(300), h.at(0))
        .await
        .unwrap();
    for seconds in [0, 20, 40, 200] {
        h.metric("gw-1", "jvm.heap.used.pct", 99.0, h.at(seconds))
            .await;
        h.evaluate(seconds).await;
    }
    assert_eq!(h.state("heap-high", "gw-1"), Some(State::Firing));
    assert!(h.subjects().is_empty(), "silenced");
    let alert = h.engine.alerts(ENV).remove(0);
    assert_eq!(alert.silenced_by.as_deref(), Some(silence.id.as_str()));
    h.engine.expire(&silence.id, h.at(210)).await.unwrap();
    h.metric("gw-1", "jvm.heap.used.pct", 99.0, h.at(220)).await;
    h.evaluate(220).await;
    h.evaluate(240).await;
    assert_eq!(h.subjects().len(), 1, "mailed once the silence ended");
}

#[tokio::test]
async fn an_alert_that_changes_too_often_is_marked_flapping_and_held_back() {
    let h = Harness::new(HEAP_HIGH.replace("for = \"20s\"\n", "").as_str());
    // Up and down every 70 s: more than 4 changes within the 10 min window.
    for step in 0..8 {
        let at = step * 70;
        let value = if step % 2 == 0 { 99.0 } else { 10.0 };
        h.metric("gw-1", "jvm.heap.used.pct", value, h.at(at)).await;
        h.evaluate(at).await;
        h.evaluate(at + 15).await;
    }
    let events = h.events("heap-high").await;
    assert!(events.contains(&"flapping".to_owned()), "{events:?}");
    let alert = h.engine.alerts(ENV).remove(0);
    assert!(alert.flapping);
    let mails_while_flapping = h.subjects().len();
    for step in 8..10 {
        let at = step * 70;
        let value = if step % 2 == 0 { 99.0 } else { 10.0 };
        h.metric("gw-1", "jvm.heap.used.pct", value, h.at(at)).await;
        h.evaluate(at).await;
        h.evaluate(at + 15).await;
    }
    assert_eq!(
        h.subjects().len(),
        mails_while_flapping,
        "held back while flapping"
    );
    assert!(mails_while_flapping < 8, "{:?}", h.subjects());
}

#[tokio::test]
async fn alerts_of_one_rule_firing_together_go_out_in_one_mail() {
    let h = Harness::new(HEAP_HIGH.replace("for = \"20s\"\n", "").as_str());
    for host in ["gw-1", "gw-2", "gw-3"] {
        h.metric(host, "jvm.heap.used.pct", 97.0, h.at(0)).await;
    }
    h.evaluate(0).await;
    h.evaluate(10).await;
    let sent = h.mail.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1, "one mail for the group");
    for host in ["gw-1", "gw-2", "gw-3"] {
        assert!(sent[0].text.contains(host), "{host} in {}", sent[0].text);
    }
}

#[tokio::test]
async fn a_failed_send_is_retried_with_backoff_and_survives_a_restart() {
    let mut h = Harness::new(HEAP_HIGH.replace("for = \"20s\"\n", "").as_str());
    h.mail.failures.store(2, Ordering::SeqCst);
    h.metric("gw-1", "jvm.heap.used.pct", 97.0, h.at(0)).await;
    h.evaluate(0).await;
    h.evaluate(10).await; // due: fails (1)
    h.evaluate(11).await; // backoff: not tried again yet
    assert_eq!(h.mail.failures.load(Ordering::SeqCst), 1);
    h.restart(h.at(12));
    h.evaluate(25).await; // tried again after 10 s: fails (2)
    h.evaluate(50).await; // after 20 s more: delivered
    assert_eq!(h.subjects().len(), 1);
    let events = h.events("heap-high").await;
    assert_eq!(
        events.iter().filter(|e| *e == "notify_failed").count(),
        2,
        "{events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("notified"));
    h.evaluate(55).await;
    assert_eq!(h.subjects().len(), 1, "sent once");
}

/// Counts the questions the engine asks of the store.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn Store>,
    calls: Mutex<Vec<&'static str>>,
}

#[async_trait::async_trait]
impl Store for Counting {
    async fn write(
        &self,
        batch: &WriteBatch,
    ) -> Result<crate::store::WriteOutcome, crate::store::StoreError> {
        self.inner.write(batch).await
    }
    async fn hosts(
        &self,
        environment: &str,
    ) -> Result<Vec<crate::store::HostSeen>, crate::store::StoreError> {
        self.calls.lock().unwrap().push("hosts");
        self.inner.hosts(environment).await
    }
    async fn metric_names(
        &self,
        environment: &str,
    ) -> Result<Vec<String>, crate::store::StoreError> {
        self.inner.metric_names(environment).await
    }
    async fn metric_points(
        &self,
        query: &crate::store::MetricQuery,
    ) -> Result<Vec<crate::store::Point>, crate::store::StoreError> {
        self.calls.lock().unwrap().push("metric_points");
        self.inner.metric_points(query).await
    }
    async fn logs(
        &self,
        query: &crate::store::LogQuery,
    ) -> Result<crate::store::LogPage, crate::store::StoreError> {
        self.calls.lock().unwrap().push("logs");
        self.inner.logs(query).await
    }
    async fn api_stats(
        &self,
        environment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<crate::store::ApiStatsRecord>, crate::store::StoreError> {
        self.inner.api_stats(environment, from, to).await
    }
    async fn delete_older_than(
        &self,
        kind: crate::store::DataKind,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, crate::store::StoreError> {
        self.inner.delete_older_than(kind, cutoff).await
    }
}

#[tokio::test]
async fn a_no_data_rule_asks_the_store_twice_whatever_the_number_of_hosts() {
    let rules = "[[rule]]\nname = \"heap-silent\"\nkind = \"no_data\"\nmetric = \"jvm.heap.used.pct\"\nwindow = \"1m\"\nsummary = \"{{host}} sends no heap data\"\n";
    let h = Harness::new(rules);
    for n in 0..20 {
        let host = format!("gw-{n}");
        let name = if n < 15 {
            "jvm.heap.used.pct"
        } else {
            "system.load.1"
        };
        h.metric(&host, name, 1.0, h.at(0)).await;
    }
    let counting = Arc::new(Counting {
        inner: Arc::clone(&h.store),
        calls: Mutex::default(),
    });
    let store: Arc<dyn Store> = Arc::clone(&counting) as _;
    let channel: Arc<dyn Channel> = Arc::clone(&h.mail) as _;
    let engine = Engine::new(
        Arc::clone(&h.config),
        store,
        channel,
        None,
        Default::default(),
        h.at(0),
    )
    .unwrap();
    engine.evaluate_at(h.at(10)).await.unwrap();
    assert_eq!(
        counting.calls.lock().unwrap().len(),
        2,
        "{:?}",
        counting.calls
    );
    let mut silent: Vec<String> = engine
        .alerts(ENV)
        .into_iter()
        .filter(|a| a.state == State::Firing)
        .map(|a| a.host)
        .collect();
    silent.sort();
    assert_eq!(silent, ["gw-15", "gw-16", "gw-17", "gw-18", "gw-19"]);
}

#[tokio::test]
async fn a_replica_taking_over_carries_the_pending_alert_on_and_it_is_mailed_once() {
    let h = Harness::new(HEAP_HIGH);
    let shared = Arc::new(crate::store::shared::MemoryShared::default());
    let replica = || {
        Harness::engine(&h.config, &h.store, &h.mail, h.at(0))
            .shared_in(Arc::clone(&shared) as Arc<dyn crate::store::shared::SharedState>)
    };
    let (first, second) = (replica(), replica());
    h.metric("gw-1", "jvm.heap.used.pct", 95.0, h.at(0)).await;
    first.evaluate_at(h.at(0)).await.unwrap();
    // The first leader is gone; the second carries on from the state it
    // left: pending since 0 s, so firing at 20 s, not pending afresh.
    for seconds in [20, 40, 60] {
        h.metric("gw-1", "jvm.heap.used.pct", 95.0, h.at(seconds))
            .await;
        second.evaluate_at(h.at(seconds)).await.unwrap();
        if seconds == 20 {
            let alert = second.alerts(ENV).remove(0);
            assert_eq!(alert.state, State::Firing, "{alert:?}");
        }
    }
    assert_eq!(h.subjects().len(), 1, "{:?}", h.subjects());
    // Either replica answers the same history, whoever wrote it.
    let events = async |engine: &Engine| -> Vec<String> {
        let history = engine.history(ENV, DateTime::<Utc>::MIN_UTC).await;
        history.unwrap().into_iter().map(|e| e.event).collect()
    };
    // (the first's pending, the second's firing and mail).
    assert_eq!(events(&first).await, ["pending", "firing", "notified"]);
    assert_eq!(events(&first).await, events(&second).await);
    // A silence made through the replica that stands by, whose state is
    // stale, is written on what the leader saved and holds there.
    let matchers = BTreeMap::from([("rule".to_owned(), "heap-high".to_owned())]);
    let silence = first
        .silence(matchers, "ops", "planned restart", h.at(600), h.at(70))
        .await
        .unwrap();
    second.evaluate_at(h.at(80)).await.unwrap();
    let held = second.fresh().await.silences();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].id, silence.id);
    let alert = second.alerts(ENV).remove(0);
    assert_eq!(alert.silenced_by.as_deref(), Some(silence.id.as_str()));
    assert_eq!(first.fresh().await.alerts(ENV), second.alerts(ENV));
}

/// Shared state whose writes take a while, as a cluster's do.
#[derive(Debug, Default)]
struct SlowWrites(crate::store::shared::MemoryShared);

#[async_trait::async_trait]
impl crate::store::shared::SharedState for SlowWrites {
    async fn get(
        &self,
        kind: &str,
        key: &str,
    ) -> Result<Option<(serde_json::Value, crate::store::shared::Version)>, crate::store::StoreError>
    {
        self.0.get(kind, key).await
    }

    async fn put(
        &self,
        kind: &str,
        key: &str,
        body: &serde_json::Value,
        read_at: Option<crate::store::shared::Version>,
    ) -> Result<Option<crate::store::shared::Version>, crate::store::StoreError> {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        self.0.put(kind, key, body, read_at).await
    }

    async fn remove(&self, kind: &str, key: &str) -> Result<(), crate::store::StoreError> {
        self.0.remove(kind, key).await
    }

    async fn prune(
        &self,
        kind: &str,
        field: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, crate::store::StoreError> {
        self.0.prune(kind, field, before).await
    }

    async fn list(
        &self,
        kind: &str,
        field: &str,
        from: DateTime<Utc>,
        equal: (&str, &str),
    ) -> Result<Vec<serde_json::Value>, crate::store::StoreError> {
        self.0.list(kind, field, from, equal).await
    }
}

#[tokio::test]
async fn answers_read_while_a_change_is_written_never_make_the_next_change_lose_it() {
    let h = Harness::new(HEAP_HIGH);
    let shared: Arc<dyn crate::store::shared::SharedState> = Arc::new(SlowWrites::default());
    let replica =
        || Harness::engine(&h.config, &h.store, &h.mail, h.at(0)).shared_in(Arc::clone(&shared));
    let engine = replica();
    let silence = |rule: &str| {
        let matchers = BTreeMap::from([("rule".to_owned(), rule.to_owned())]);
        engine.silence(matchers, "ops", "maintenance", h.at(600), h.at(0))
    };
    // Pages asking for the silences while the first one is being written
    // (50 ms), and no longer.
    let (first, ()) = tokio::join!(silence("heap-high"), async {
        for _ in 0..4 {
            engine.fresh().await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    });
    first.unwrap();
    silence("cpu-high").await.unwrap();
    let kept: Vec<String> = replica()
        .fresh()
        .await
        .silences()
        .into_iter()
        .map(|s| s.matchers["rule"].clone())
        .collect();
    assert_eq!(kept, ["heap-high", "cpu-high"]);
}
