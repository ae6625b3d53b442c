//! The monitor's configuration: parsed with unknown fields refused, then
//! validated; every error names the file and the field and says how to fix
//! it. Every field is documented in `examples/monitor.toml`.

mod alerting;
mod dashboard;
mod environments;
mod periodic;
mod store;
mod tls;
mod users;

pub use alerting::{AlertingConfig, ChannelConfig, RawSes};
pub use dashboard::DashboardConfig;
pub use environments::{Environment, Quota, Webhook};
pub use periodic::{JobsConfig, Retention};
pub use store::StoreConfig;
pub use users::{Role, User};

use alerting::RawAlerting;
use environments::RawEnvironment;
use store::RawStore;
use tls::RawTls;
use users::RawUser;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A configuration problem: the file, the field and the fix.
pub use aerie_common::toml_file::FileError as ConfigError;
pub use aerie_common::toml_file::TomlFile;
use aerie_common::toml_file::Validate;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    /// HTTPS on `listen` when present.
    tls: Option<RawTls>,
    data_dir: PathBuf,
    #[serde(default)]
    store: RawStore,
    #[serde(default)]
    retention: Retention,
    /// An agent silent this long is down.
    #[serde(default = "default_down_after", with = "humantime_serde")]
    host_down_after: Duration,
    #[serde(default = "default_max_batch")]
    max_batch_bytes: bytesize::ByteSize,
    #[serde(default)]
    jobs: JobsConfig,
    alerting: Option<RawAlerting>,
    #[serde(default)]
    dashboard: DashboardConfig,
    #[serde(default, rename = "environment")]
    environments: Vec<RawEnvironment>,
    #[serde(default, rename = "user")]
    users: Vec<RawUser>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_down_after() -> Duration {
    Duration::from_secs(60)
}
fn default_max_batch() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(32)
}

/// The validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub tls: Option<crate::tls::TlsConfig>,
    pub data_dir: PathBuf,
    pub store: StoreConfig,
    pub retention: Retention,
    #[serde(with = "humantime_serde")]
    pub host_down_after: Duration,
    pub max_batch_bytes: bytesize::ByteSize,
    pub jobs: JobsConfig,
    pub alerting: Option<AlertingConfig>,
    pub dashboard: DashboardConfig,
    pub environments: Vec<Environment>,
    pub users: Vec<User>,
}

use aerie_common::toml_file::FieldError;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

pub use aerie_wire::valid_name;

/// Read with the one loader: `Config::load(file)` and `Config::parse(file,
/// text)`; the rules file is loaded by the alert engine's own loader.
impl TomlFile for Config {
    type Raw = RawConfig;
}

impl Config {
    /// The config as TOML with every secret masked.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the validated config serializes")
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }
}

impl Validate for RawConfig {
    type Valid = Config;

    fn validate(self, base: &Path) -> Result<Config, FieldError> {
        let store = self.store.validate(base)?;
        for (field, value) in [
            ("retention.metrics", self.retention.metrics),
            ("retention.logs", self.retention.logs),
            ("retention.api_stats", self.retention.api_stats),
            ("retention.alerts", self.retention.alerts),
            ("host_down_after", self.host_down_after),
            ("jobs.usage_every", self.jobs.usage_every),
            ("jobs.retention_every", self.jobs.retention_every),
        ] {
            if value < Duration::from_secs(1) {
                return Err(invalid(field, "must be at least 1s (e.g. \"30d\")"));
            }
        }
        let mut tokens = HashSet::new();
        let environments = environments::validate(self.environments, base, &mut tokens)?;
        let users = users::validate(self.users, base, &mut tokens, &environments)?;
        let alerting = self.alerting.map(|raw| raw.validate(base)).transpose()?;
        let tls = self.tls.map(|raw| raw.validate(base)).transpose()?;
        Ok(Config {
            listen: self.listen,
            tls,
            data_dir: base.join(self.data_dir),
            store,
            retention: self.retention,
            host_down_after: self.host_down_after,
            max_batch_bytes: self.max_batch_bytes,
            jobs: self.jobs,
            alerting,
            dashboard: self.dashboard,
            environments,
            users,
        })
    }
}
#[cfg(test)]
mod tests;
