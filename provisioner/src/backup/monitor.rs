//! What a backup run tells the monitor, and what it asks of it: the day's
//! log export (gzip NDJSON in ECS names, from the monitor's store), the
//! time of the last success (`aerie.backup.last_success.timestamp`, which
//! the `backup_age` alert rule watches) and, on failure, an ERROR log
//! event naming what failed (which a log rule alerts on).
//!
//! [`Monitor`] is a trait so the monitor itself can run backups headless
//! with its own store behind it; [`HttpMonitor`] is the CLI's, over the
//! monitor's API. Tokens are never logged or put in an error.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDate, Utc};

use super::BackupError;
use aerie_wire::{Event, EventBody, IngestRequest};

/// The metric a successful run reports (seconds since the epoch).
pub const BACKUP_METRIC: &str = "aerie.backup.last_success.timestamp";
/// The host name backup reports carry.
pub const BACKUP_HOST: &str = "aerie-backup";
/// The logger of a failed run's event.
pub const BACKUP_LOGGER: &str = "aerie.backup";

/// The monitor, as a backup run uses it.
#[async_trait::async_trait]
pub trait Monitor: Send + Sync {
    /// Every log event of the environment on `day` (UTC), as gzip NDJSON
    /// streamed into the file `out`; `false`, with nothing written, when
    /// this monitor cannot be asked for them (no API token).
    async fn export_logs(&self, day: NaiveDate, out: &Path) -> Result<bool, BackupError>;
    /// Run `run` completed at `at`.
    async fn succeeded(&self, run: &str, at: DateTime<Utc>) -> Result<(), BackupError>;
    /// A run failed at `at`; `what` says what.
    async fn failed(&self, what: &str, at: DateTime<Utc>) -> Result<(), BackupError>;
}

/// The monitor over HTTP: the query API (an operator's token) for the
/// export, the ingest API (the environment's ingest token) for reports.
#[derive(Clone)]
pub struct HttpMonitor {
    pub url: String,
    pub environment: String,
    /// An operator's API token (`AERIE_MONITOR_TOKEN`); without one, no
    /// logs are exported.
    pub api_token: Option<String>,
    /// The environment's ingest token (from Secrets Manager).
    pub ingest_token: String,
    pub http: reqwest::Client,
}

impl std::fmt::Debug for HttpMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMonitor")
            .field("url", &self.url)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

impl HttpMonitor {
    fn failed(&self, message: impl Into<String>, source: Option<reqwest::Error>) -> BackupError {
        BackupError::Monitor {
            url: self.url.clone(),
            message: message.into(),
            source: source.map(|e| Box::new(e.without_url()) as _),
        }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }

    async fn ingest(&self, event: Event) -> Result<(), BackupError> {
        self.send(BACKUP_HOST, vec![event]).await
    }

    /// Sends `events` of `host` through the ingest API; an event refused
    /// is an error.
    pub async fn send(&self, host: &str, events: Vec<Event>) -> Result<(), BackupError> {
        let request = IngestRequest {
            environment: self.environment.clone(),
            host: host.to_owned(),
            agent: format!("{host}/{}", env!("CARGO_PKG_VERSION")),
            events,
        };
        let answer = self
            .http
            .post(self.endpoint(aerie_wire::INGEST_PATH))
            .bearer_auth(&self.ingest_token)
            .json(&request)
            .send()
            .await
            .map_err(|e| self.failed("the report was not delivered", Some(e)))?;
        let status = answer.status();
        let body: aerie_wire::IngestResponse = answer
            .error_for_status()
            .map_err(|e| self.failed(format!("ingest answered {status}"), Some(e)))?
            .json()
            .await
            .map_err(|e| self.failed("ingest answered no account", Some(e)))?;
        match body.rejected.first() {
            Some(rejected) => Err(self.failed(
                format!("ingest refused the report: {}", rejected.reason),
                None,
            )),
            None => Ok(()),
        }
    }
}

#[async_trait::async_trait]
impl Monitor for HttpMonitor {
    async fn export_logs(&self, day: NaiveDate, out: &Path) -> Result<bool, BackupError> {
        use tokio::io::AsyncWriteExt as _;
        let Some(token) = &self.api_token else {
            return Ok(false);
        };
        let day_text = day.to_string();
        let answer = self
            .http
            .get(self.endpoint("/api/v1/logs/export"))
            .query(&[("env", self.environment.as_str()), ("day", &day_text)])
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| self.failed("the log export was not answered", Some(e)))?;
        let status = answer.status();
        let mut answer = answer
            .error_for_status()
            .map_err(|e| self.failed(format!("the log export answered {status}"), Some(e)))?;
        let io = |source| BackupError::Io {
            path: out.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::create(out).await.map_err(io)?;
        while let Some(chunk) = answer
            .chunk()
            .await
            .map_err(|e| self.failed("the log export broke off", Some(e)))?
        {
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        Ok(true)
    }

    async fn succeeded(&self, run: &str, at: DateTime<Utc>) -> Result<(), BackupError> {
        self.ingest(success_event(&self.environment, run, at)).await
    }

    async fn failed(&self, what: &str, at: DateTime<Utc>) -> Result<(), BackupError> {
        self.ingest(failure_event(&self.environment, what, at))
            .await
    }
}

/// The report of run `run`'s success at `at`: the time as the metric.
pub fn success_event(environment: &str, run: &str, at: DateTime<Utc>) -> Event {
    Event {
        id: aerie_wire::event_id(&[b"backup", environment.as_bytes(), run.as_bytes()]),
        timestamp: at,
        body: EventBody::Metric {
            name: BACKUP_METRIC.to_owned(),
            value: at.timestamp() as f64,
            labels: BTreeMap::new(),
        },
    }
}

/// The report of a failed run: an ERROR log event naming what failed.
pub fn failure_event(environment: &str, what: &str, at: DateTime<Utc>) -> Event {
    let stamp = at.to_rfc3339();
    Event {
        id: aerie_wire::event_id(&[b"backup-failed", stamp.as_bytes(), what.as_bytes()]),
        timestamp: at,
        body: EventBody::Log {
            file: "aerie-backup".to_owned(),
            level: Some("ERROR".to_owned()),
            logger: Some(BACKUP_LOGGER.to_owned()),
            message: format!("backup of {environment} failed: {what}"),
            parsed: true,
            origin: None,
        },
    }
}
