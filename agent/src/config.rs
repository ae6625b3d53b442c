//! The agent's configuration: parsed from TOML with unknown fields refused,
//! then validated into the types the components use. Every error names the
//! file and the field, says what is wrong and how to fix it.
//!
//! The fields are documented in `examples/agent.toml`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::sinks::elasticsearch::ElasticsearchConfig;
use crate::sinks::monitor::MonitorConfig;
use crate::sources::api_stats::AccessLogConfig;
use crate::sources::file::LogsConfig;
use crate::sources::host::{HealthCheckConfig, NtpConfig, ProcessCheckConfig};
use crate::sources::jvm::JvmConfig;

/// A problem with one field, before the file name is known.
pub use aerie_common::toml_file::FieldError;
/// A configuration problem: the file, the field and the fix.
pub use aerie_common::toml_file::FileError as ConfigError;
pub use aerie_common::toml_file::TomlFile;
use aerie_common::toml_file::Validate;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    environment: String,
    host: Option<String>,
    data_dir: PathBuf,
    #[serde(default = "default_interval", with = "humantime_serde")]
    interval: Duration,
    monitor: Option<crate::sinks::monitor::RawMonitorConfig>,
    elasticsearch: Option<crate::sinks::elasticsearch::RawElasticsearchConfig>,
    #[serde(default)]
    queue: QueueConfig,
    #[serde(default)]
    logs: Vec<LogsConfig>,
    access_log: Option<AccessLogConfig>,
    #[serde(default)]
    jvm: JvmConfig,
    #[serde(default)]
    health: Vec<HealthCheckConfig>,
    #[serde(default)]
    process: Vec<ProcessCheckConfig>,
    ntp: Option<NtpConfig>,
    metrics: Option<RawMetricsConfig>,
}

/// `[metrics]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetricsConfig {
    listen: String,
}

/// `[metrics]`: the agent's own counters for Prometheus at `GET /metrics`
/// on `listen` (a local address such as `127.0.0.1:9101`); off without it.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsConfig {
    pub listen: std::net::SocketAddr,
}

impl RawMetricsConfig {
    fn validate(self) -> Result<MetricsConfig, FieldError> {
        let listen = self.listen.parse().map_err(|_| {
            FieldError::new(
                "metrics.listen",
                format!(
                    "{:?} is not an address to listen on: write IP:port, e.g. \"127.0.0.1:9101\" (a local address: the counters need no network)",
                    self.listen
                ),
            )
        })?;
        Ok(MetricsConfig { listen })
    }
}

fn default_interval() -> Duration {
    Duration::from_secs(10)
}

/// The disk queue's budget.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Bytes the queue may hold on disk before the agent stops reading.
    #[serde(default = "default_queue_bytes")]
    pub max_bytes: bytesize::ByteSize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_bytes: default_queue_bytes(),
        }
    }
}

fn default_queue_bytes() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(256)
}

/// Where events go.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkConfig {
    Monitor(MonitorConfig),
    Elasticsearch(ElasticsearchConfig),
}

/// The validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub environment: String,
    pub host: String,
    pub data_dir: PathBuf,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    pub sink: SinkConfig,
    pub queue: QueueConfig,
    pub logs: Vec<LogsConfig>,
    pub access_log: Option<AccessLogConfig>,
    pub jvm: JvmConfig,
    pub health: Vec<HealthCheckConfig>,
    pub process: Vec<ProcessCheckConfig>,
    pub ntp: Option<NtpConfig>,
    pub metrics: Option<MetricsConfig>,
}

/// Read with the one loader: `Config::load(file)` and `Config::parse(file,
/// text)`, relative paths such as `token_file` taken from the file's folder.
impl TomlFile for Config {
    type Raw = RawConfig;
}

impl Config {
    /// The config as TOML with every secret masked, for `aerie-agent check`.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the validated config serializes")
    }

    /// Token or password material, for tests that check nothing leaks.
    pub fn secrets(&self) -> Vec<&Secret> {
        match &self.sink {
            SinkConfig::Monitor(monitor) => vec![&monitor.token],
            SinkConfig::Elasticsearch(es) => es.password.iter().collect(),
        }
    }
}

impl Validate for RawConfig {
    type Valid = Config;

    fn validate(self, base: &Path) -> Result<Config, FieldError> {
        if !valid_name(&self.environment) {
            return Err(FieldError::new(
                "environment",
                format!(
                    "{:?} is not a valid environment name: use lowercase letters, digits and '-', starting with a letter (e.g. \"acme-prod\")",
                    self.environment
                ),
            ));
        }
        let host = match self.host {
            Some(host) if host.trim().is_empty() => {
                return Err(FieldError::new(
                    "host",
                    "is empty: give the host's name, or leave the field out to use the system host name",
                ));
            }
            Some(host) => host,
            None => sysinfo::System::host_name().map_err(|_| {
                FieldError::new(
                    "host",
                    "the system host name is unknown: set host = \"name\"",
                )
            })?,
        };
        if self.interval < Duration::from_secs(1) {
            return Err(FieldError::new(
                "interval",
                "must be at least 1s (e.g. \"10s\")",
            ));
        }
        let sink = match (self.monitor, self.elasticsearch) {
            (Some(monitor), None) => SinkConfig::Monitor(monitor.validate(base)?),
            (None, Some(es)) => SinkConfig::Elasticsearch(es.validate(base)?),
            (None, None) => {
                return Err(FieldError::new(
                    "monitor",
                    "no destination: add a [monitor] section (url, token_file) or an [elasticsearch] section (url)",
                ));
            }
            (Some(_), Some(_)) => {
                return Err(FieldError::new(
                    "elasticsearch",
                    "both [monitor] and [elasticsearch] are set: keep one",
                ));
            }
        };
        if self.queue.max_bytes.as_u64() < 1024 * 1024 {
            return Err(FieldError::new(
                "queue.max_bytes",
                "must be at least 1 MiB (e.g. \"256 MiB\")",
            ));
        }
        for (index, logs) in self.logs.iter().enumerate() {
            logs.validate(&format!("logs[{index}]"))?;
            if logs.max_line_bytes.as_u64() * 4 > self.queue.max_bytes.as_u64() {
                return Err(FieldError::new(
                    format!("logs[{index}].max_line_bytes"),
                    format!(
                        "{} is more than a quarter of queue.max_bytes ({}): lower it or raise queue.max_bytes",
                        logs.max_line_bytes, self.queue.max_bytes
                    ),
                ));
            }
        }
        if let Some(access_log) = &self.access_log {
            access_log.validate("access_log")?;
        }
        for (index, check) in self.health.iter().enumerate() {
            check.validate(&format!("health[{index}]"))?;
        }
        for (index, check) in self.process.iter().enumerate() {
            check.validate(&format!("process[{index}]"))?;
        }
        Ok(Config {
            environment: self.environment,
            host,
            data_dir: base.join(self.data_dir),
            interval: self.interval,
            sink,
            queue: self.queue,
            logs: self.logs,
            access_log: self.access_log,
            jvm: self.jvm,
            health: self.health,
            process: self.process,
            ntp: self.ntp,
            metrics: self.metrics.map(RawMetricsConfig::validate).transpose()?,
        })
    }
}

pub use aerie_wire::valid_name;

#[cfg(test)]
mod tests;
