//! Runners for Aerie's own binaries in system tests (`tests/tests/`): the real
//! `aerie-monitor` and `aerie-agent`, each with a config the test writes, on
//! free loopback ports, stopped when dropped.
//!
//! The binaries are the workspace's debug builds: `scripts/test` (cargo
//! nextest over the whole workspace) builds them before any test runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use aerie_testkit::{ServiceProcess, wait_until, workspace_root};

/// The path of one of the workspace's binaries, or a panic that says how to build it.
pub fn binary(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` (scripts/test builds it)",
        path.display()
    );
    path
}

/// A port on 127.0.0.1 that was free a moment ago and that this test has
/// not been given before (the harness's servers share the memory).
pub fn free_port() -> u16 {
    aerie_testkit::free_port().expect("no free port on 127.0.0.1")
}

/// A line in the product log format (`[2026-11-21 10:00:00,000]  INFO - text`)
/// stamped with this host's local time now, as the agent reads it: a test
/// never depends on the day it runs, and its lines stay inside every
/// "the last N days" query and retention window.
pub fn product_log_line(level: &str, text: &str) -> String {
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f");
    format!("[{now}] {level:>5} - {text}\n")
}

/// `password`'s hash, made by `aerie-monitor hash-password`.
pub fn password_hash(password: &str) -> String {
    use std::io::Write;
    let mut child = Command::new(binary("aerie-monitor"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

pub const ENVIRONMENT: &str = "acme-prod";
pub const INGEST_TOKEN: &str = "acme-ingest-token";
pub const OPERATOR_TOKEN: &str = "operator-token";

/// The real monitor, with an embedded store in its own folder.
#[derive(Debug)]
pub struct Monitor {
    pub dir: tempfile::TempDir,
    port: u16,
    env: Vec<(&'static str, String)>,
    process: Option<ServiceProcess>,
    http: reqwest::Client,
}

/// Which store the monitor under test uses.
#[derive(Debug, Clone)]
pub enum StoreKind {
    Embedded,
    /// Elasticsearch at this URL (a real OpenSearch node in tests).
    Elasticsearch(String),
    /// Elasticsearch through any of these nodes, the first preferred.
    ElasticsearchNodes(Vec<String>),
}

impl Monitor {
    /// A monitor with the embedded store.
    pub async fn start() -> Self {
        Self::start_with(StoreKind::Embedded).await
    }

    pub async fn start_with(store: StoreKind) -> Self {
        Self::start_configured(store, |_| String::new(), Vec::new()).await
    }

    /// A monitor whose config gets `extra(dir)` appended (sections such as
    /// `[alerting]`, with files the test wrote in `dir`) and whose process
    /// gets `env` (AWS settings pointing at moto, say).
    pub async fn start_configured(
        store: StoreKind,
        extra: impl FnOnce(&Path) -> String,
        env: Vec<(&'static str, String)>,
    ) -> Self {
        Self::start_with_settings(store, "", extra, env).await
    }

    /// The same, with `settings` (top-level keys such as `max_batch_bytes`)
    /// before the config's first section.
    pub async fn start_with_settings(
        store: StoreKind,
        settings: &str,
        extra: impl FnOnce(&Path) -> String,
        env: Vec<(&'static str, String)>,
    ) -> Self {
        Self::start_full(store, settings, "", extra, env).await
    }

    /// The same, with `environment` (keys such as `backup_spec`) added to
    /// the environment's table.
    pub async fn start_full(
        store: StoreKind,
        settings: &str,
        environment: &str,
        extra: impl FnOnce(&Path) -> String,
        env: Vec<(&'static str, String)>,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let store = match store {
            StoreKind::Embedded => "[store]\nkind = \"embedded\"\n".to_owned(),
            StoreKind::Elasticsearch(url) => {
                format!("[store]\nkind = \"elasticsearch\"\nurl = \"{url}\"\n")
            }
            StoreKind::ElasticsearchNodes(urls) => {
                format!("[store]\nkind = \"elasticsearch\"\nurl = {urls:?}\n")
            }
        };
        let extra = extra(dir.path());
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n{settings}\n{store}\n[[environment]]\nname = \"{ENVIRONMENT}\"\ningest_token = \"{INGEST_TOKEN}\"\noperators = [\"oncall@acme.example\"]\n{environment}\n[[user]]\nname = \"ops\"\nrole = \"operator\"\ntoken = \"{OPERATOR_TOKEN}\"\n\n{extra}"
        );
        std::fs::write(dir.path().join("monitor.toml"), config).unwrap();
        let mut monitor = Self {
            dir,
            port,
            env,
            process: None,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        monitor.restart().await;
        monitor
    }

    /// Starts the monitor (again, on the same port and data) and waits until it answers.
    pub async fn restart(&mut self) {
        let mut command = Command::new(binary("aerie-monitor"));
        command
            .arg("serve")
            .arg("--config")
            .arg(self.dir.path().join("monitor.toml"))
            .envs(self.env.iter().map(|(key, value)| (*key, value.as_str())));
        self.process = Some(ServiceProcess::start("aerie-monitor", command).unwrap());
        let url = format!("{}/api/v1/openapi.json", self.url());
        wait_until(
            "the monitor to answer",
            Duration::from_secs(30),
            async || {
                self.http
                    .get(&url)
                    .send()
                    .await
                    .ok()
                    .filter(|r| r.status().is_success())
                    .map(drop)
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", self.log()));
    }

    pub fn kill_hard(&mut self) {
        if let Some(process) = &mut self.process {
            process.kill_hard();
        }
        self.process = None;
    }

    /// The running monitor's process id.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServiceProcess::id)
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ServiceProcess::log)
            .unwrap_or_default()
    }

    /// Sends one sample of metric `name` for `host`, stamped now, through
    /// the ingest API as the environment's agent would.
    pub async fn ingest_metric(&self, host: &str, name: &str, value: f64) {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let id = format!(
            "test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let batch = serde_json::json!({ "environment": ENVIRONMENT, "host": host, "agent": "test", "events": [
            { "id": id, "@timestamp": chrono::Utc::now().to_rfc3339(), "kind": "metric", "name": name, "value": value }
        ]});
        let response = self
            .http
            .post(format!("{}/api/v1/ingest", self.url()))
            .bearer_auth(INGEST_TOKEN)
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{response:?}");
    }

    /// `GET path` as the operator; the JSON answer, or `None` on any failure.
    pub async fn get(&self, path_and_query: &str) -> Option<serde_json::Value> {
        let response = self
            .http
            .get(format!("{}{path_and_query}", self.url()))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// Every log line matching `q`, all pages: (id, message).
    pub async fn all_logs(&self, q: &str) -> Vec<(String, String)> {
        let mut lines = Vec::new();
        let mut cursor = String::new();
        loop {
            let path =
                format!("/api/v1/logs?env={ENVIRONMENT}&q={q}&from=now-7d&limit=1000{cursor}");
            let Some(page) = self.get(&path).await else {
                return lines;
            };
            for line in page["lines"].as_array().into_iter().flatten() {
                lines.push((
                    line["id"].as_str().unwrap_or_default().to_owned(),
                    line["message"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return lines,
            }
        }
    }
}

/// The real agent, shipping to a monitor.
#[derive(Debug)]
pub struct Agent {
    pub dir: tempfile::TempDir,
    process: Option<ServiceProcess>,
}

fn agent_process(dir: &Path) -> ServiceProcess {
    let mut command = Command::new(binary("aerie-agent"));
    command
        .arg("run")
        .arg("--config")
        .arg(dir.join("agent.toml"));
    ServiceProcess::start("aerie-agent", command).unwrap()
}

impl Agent {
    /// An agent for `monitor_url` following `logs_glob`, collecting every `interval`.
    pub fn start(monitor_url: &str, logs_glob: &Path, interval: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "environment = \"{ENVIRONMENT}\"\nhost = \"this-host\"\ndata_dir = \"data\"\ninterval = \"{interval}\"\n[monitor]\nurl = \"{monitor_url}\"\ntoken = \"{INGEST_TOKEN}\"\n[[logs]]\nname = \"app\"\npaths = [\"{}\"]\nmultiline_timeout = \"200ms\"\n",
            logs_glob.display()
        );
        std::fs::write(dir.path().join("agent.toml"), config).unwrap();
        let process = Some(agent_process(dir.path()));
        Self { dir, process }
    }

    /// An agent run with `config` (its whole `agent.toml`).
    pub fn start_with_config(config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("agent.toml"), config).unwrap();
        let process = Some(agent_process(dir.path()));
        Self { dir, process }
    }

    /// Kills the agent with SIGKILL.
    pub fn kill_hard(&mut self) {
        if let Some(process) = &mut self.process {
            process.kill_hard();
        }
        self.process = None;
    }

    /// Starts it again with the same config and data.
    pub fn restart(&mut self) {
        self.process = Some(agent_process(self.dir.path()));
    }

    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ServiceProcess::log)
            .unwrap_or_default()
    }
}
