//! The monitor's configuration: parsed with unknown fields refused, then
//! validated; every error names the file and the field and says how to fix
//! it. Every field is documented in `examples/monitor.toml`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aerie_wire::Secret;
use serde::{Deserialize, Serialize};

/// A configuration problem: the file, the field and the fix.
pub use aerie_common::toml_file::FileError as ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
enum RawStore {
    #[default]
    Embedded,
    Elasticsearch {
        url: String,
        username: Option<String>,
        password: Option<String>,
        password_file: Option<PathBuf>,
        #[serde(default = "default_prefix")]
        index_prefix: String,
    },
}

fn default_prefix() -> String {
    "aerie".into()
}

/// How often the periodic jobs run (each also runs at start and on demand).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    #[serde(default = "minutes_5", with = "humantime_serde")]
    pub usage_every: Duration,
    #[serde(default = "hour_1", with = "humantime_serde")]
    pub retention_every: Duration,
}

fn minutes_5() -> Duration {
    Duration::from_secs(300)
}
fn hour_1() -> Duration {
    Duration::from_secs(3600)
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            usage_every: minutes_5(),
            retention_every: hour_1(),
        }
    }
}

/// How long each kind of data is kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default = "days_30", with = "humantime_serde")]
    pub metrics: Duration,
    #[serde(default = "days_14", with = "humantime_serde")]
    pub logs: Duration,
    #[serde(default = "days_90", with = "humantime_serde")]
    pub api_stats: Duration,
    /// The alert history (transitions and notifications).
    #[serde(default = "days_90", with = "humantime_serde")]
    pub alerts: Duration,
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * 24 * 3600)
}
fn days_30() -> Duration {
    days(30)
}
fn days_14() -> Duration {
    days(14)
}
fn days_90() -> Duration {
    days(90)
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            metrics: days_30(),
            logs: days_14(),
            api_stats: days_90(),
            alerts: days_90(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvironment {
    name: String,
    customer: Option<String>,
    ingest_token: Option<String>,
    ingest_token_file: Option<PathBuf>,
    #[serde(default)]
    operators: Vec<String>,
    #[serde(default)]
    customer_contacts: Vec<String>,
    #[serde(default)]
    notify_customer: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlerting {
    rules_file: PathBuf,
    #[serde(default = "seconds_15", with = "humantime_serde")]
    evaluate_every: Duration,
    #[serde(default = "hours_4", with = "humantime_serde")]
    repeat_interval: Duration,
    #[serde(default = "minutes_10", with = "humantime_serde")]
    flap_window: Duration,
    #[serde(default = "four")]
    flap_threshold: usize,
    #[serde(default = "seconds_10", with = "humantime_serde")]
    group_wait: Duration,
    #[serde(default = "minutes_1", with = "humantime_serde")]
    group_interval: Duration,
    /// `smtp` or `ses`: which of the two sends alert mail when both are set.
    channel: Option<String>,
    #[serde(default = "minutes_10", with = "humantime_serde")]
    channel_failing_after: Duration,
    from: String,
    dashboard_url: String,
    smtp: Option<RawSmtp>,
    ses: Option<RawSes>,
}

fn seconds_15() -> Duration {
    Duration::from_secs(15)
}
fn seconds_10() -> Duration {
    Duration::from_secs(10)
}
fn minutes_1() -> Duration {
    Duration::from_secs(60)
}
fn hours_4() -> Duration {
    Duration::from_secs(4 * 3600)
}
fn minutes_10() -> Duration {
    Duration::from_secs(600)
}
fn four() -> usize {
    4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: u16,
    #[serde(default = "starttls")]
    security: crate::notify::smtp::Security,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    tls_name: Option<String>,
}

fn starttls() -> crate::notify::smtp::Security {
    crate::notify::smtp::Security::Starttls
}

/// Amazon SES: region, endpoint and credentials come from the standard SDK
/// configuration (environment, profile, instance role).
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawSes {}

/// Where alert mail goes out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChannelConfig {
    Smtp {
        host: String,
        port: u16,
        security: crate::notify::smtp::Security,
        username: Option<String>,
        password: Option<Secret>,
        ca_file: Option<PathBuf>,
        tls_name: Option<String>,
    },
    Ses,
}

/// Alert rules and notifications.
#[derive(Debug, Clone, Serialize)]
pub struct AlertingConfig {
    pub rules_file: PathBuf,
    #[serde(with = "humantime_serde")]
    pub evaluate_every: Duration,
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// More than `flap_threshold` changes between firing and resolved within
    /// `flap_window` mark an alert flapping and hold its mail back.
    #[serde(with = "humantime_serde")]
    pub flap_window: Duration,
    pub flap_threshold: usize,
    /// A group (an environment's alerts of one rule) waits `group_wait`
    /// after its first alert fires, so alerts firing together go in one mail.
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// Once a group has mailed, changes to it (a host more firing, one
    /// resolved) wait this long after its last mail.
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    pub from: String,
    pub dashboard_url: String,
    /// Sends alert mail.
    pub channel: ChannelConfig,
    /// The other channel, when both are configured: it carries the alert
    /// that `channel` has failed for longer than `channel_failing_after`.
    pub fallback: Option<ChannelConfig>,
    #[serde(with = "humantime_serde")]
    pub channel_failing_after: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: String,
    role: Role,
    token: Option<String>,
    token_file: Option<PathBuf>,
    /// RFC 3339; the API token is refused from then on.
    token_expires: Option<String>,
    /// Dashboard login: an argon2 hash (`aerie-monitor hash-password`).
    password_hash: Option<String>,
    #[serde(default)]
    environments: Vec<String>,
}

/// The web dashboard's sessions and logins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// How long a login lasts without being used.
    #[serde(default = "hours_12", with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Failed logins allowed per user name and client address within
    /// `login_window`; more are refused until the window passes.
    #[serde(default = "five")]
    pub max_login_failures: usize,
    #[serde(default = "minutes_5", with = "humantime_serde")]
    pub login_window: Duration,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            session_ttl: hours_12(),
            max_login_failures: five(),
            login_window: minutes_5(),
        }
    }
}

fn hours_12() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn five() -> usize {
    5
}

/// What a user may do: operators everything, viewers read their environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    Viewer,
}

/// Where data is kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StoreConfig {
    Embedded,
    Elasticsearch {
        url: String,
        username: Option<String>,
        password: Option<Secret>,
        index_prefix: String,
    },
}

/// A customer environment whose agents send data.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    pub customer: Option<String>,
    pub ingest_token: Secret,
    /// Who is told of every alert.
    pub operators: Vec<String>,
    /// The customer's contacts, told too when `notify_customer` is set.
    pub customer_contacts: Vec<String>,
    pub notify_customer: bool,
}

impl Environment {
    /// Who receives this environment's alert mail.
    pub fn recipients(&self) -> Vec<String> {
        let mut to = self.operators.clone();
        if self.notify_customer {
            to.extend(self.customer_contacts.iter().cloned());
        }
        to
    }
}

/// Someone who queries the API.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// For the API; a dashboard-only user has none.
    pub token: Option<Secret>,
    pub token_expires: Option<chrono::DateTime<chrono::Utc>>,
    /// For the dashboard; an API-only user has none.
    pub password_hash: Option<Secret>,
    /// For viewers, the environments they may see.
    pub environments: Vec<String>,
}

impl User {
    /// Whether this user may read `environment`.
    pub fn can_read(&self, environment: &str) -> bool {
        self.role == Role::Operator || self.environments.iter().any(|e| e == environment)
    }
}

/// The validated configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
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

type FieldError = (String, String);

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    (field.into(), message.into())
}

pub use aerie_wire::valid_name;

impl Config {
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        aerie_common::toml_file::load(file, RawConfig::validate)
    }

    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        aerie_common::toml_file::parse(file, text, RawConfig::validate)
    }

    /// The config as TOML with every secret masked.
    pub fn to_masked_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the validated config serializes")
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }
}

impl RawConfig {
    fn validate(self, base: &Path) -> Result<Config, FieldError> {
        let store = match self.store {
            RawStore::Embedded => StoreConfig::Embedded,
            RawStore::Elasticsearch {
                url,
                username,
                password,
                password_file,
                index_prefix,
            } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        "store.url",
                        format!("{url:?} is not an http or https URL"),
                    ));
                }
                let password =
                    Secret::from_inline_or_file("store.password", password, password_file, base)?;
                if password.is_some() && username.is_none() {
                    return Err(invalid(
                        "store.username",
                        "missing: a password is set, so name the user too",
                    ));
                }
                StoreConfig::Elasticsearch {
                    url,
                    username,
                    password,
                    index_prefix,
                }
            }
        };
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
        let mut environments = Vec::new();
        for (index, raw) in self.environments.into_iter().enumerate() {
            let field = format!("environment[{index}]");
            if !valid_name(&raw.name) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!(
                        "{:?}: use lowercase letters, digits and '-', starting with a letter",
                        raw.name
                    ),
                ));
            }
            if environments
                .iter()
                .any(|e: &Environment| e.name == raw.name)
            {
                return Err(invalid(
                    format!("{field}.name"),
                    format!("{:?} is listed twice", raw.name),
                ));
            }
            let token = Secret::from_inline_or_file(
                &format!("{field}.ingest_token"),
                raw.ingest_token,
                raw.ingest_token_file,
                base,
            )?
            .ok_or_else(|| {
                invalid(
                    format!("{field}.ingest_token_file"),
                    "missing: every environment needs an ingest token for its agents",
                )
            })?;
            if !tokens.insert(token.expose().to_owned()) {
                return Err(invalid(
                    format!("{field}.ingest_token"),
                    "is already used by another environment or user: tokens must be unique",
                ));
            }
            for (list, values) in [
                ("operators", &raw.operators),
                ("customer_contacts", &raw.customer_contacts),
            ] {
                if let Some(bad) = values
                    .iter()
                    .find(|address| !address.contains('@') || address.contains(char::is_whitespace))
                {
                    return Err(invalid(
                        format!("{field}.{list}"),
                        format!("{bad:?} is not an email address"),
                    ));
                }
            }
            if raw.notify_customer && raw.customer_contacts.is_empty() {
                return Err(invalid(
                    format!("{field}.customer_contacts"),
                    "notify_customer is set but no contact is listed",
                ));
            }
            environments.push(Environment {
                name: raw.name,
                customer: raw.customer,
                ingest_token: token,
                operators: raw.operators,
                customer_contacts: raw.customer_contacts,
                notify_customer: raw.notify_customer,
            });
        }
        let mut users = Vec::new();
        for (index, raw) in self.users.into_iter().enumerate() {
            let field = format!("user[{index}]");
            if raw.name.trim().is_empty() {
                return Err(invalid(format!("{field}.name"), "is empty"));
            }
            let token = Secret::from_inline_or_file(
                &format!("{field}.token"),
                raw.token,
                raw.token_file,
                base,
            )?;
            if token.is_none() && raw.password_hash.is_none() {
                return Err(invalid(
                    format!("{field}.token_file"),
                    "missing: give the user an API token (token or token_file), a dashboard password (password_hash), or both",
                ));
            }
            if let Some(token) = &token
                && !tokens.insert(token.expose().to_owned())
            {
                return Err(invalid(
                    format!("{field}.token"),
                    "is already used by an environment or another user: tokens must be unique",
                ));
            }
            let token_expires = match &raw.token_expires {
                None => None,
                Some(text) => Some(
                    chrono::DateTime::parse_from_rfc3339(text)
                        .map_err(|e| {
                            invalid(
                                format!("{field}.token_expires"),
                                format!("{text:?} is not an RFC 3339 time ({e}): write e.g. \"2027-01-31T00:00:00Z\""),
                            )
                        })?
                        .to_utc(),
                ),
            };
            if let Some(hash) = &raw.password_hash
                && let Err(error) = argon2::PasswordHash::new(hash)
            {
                return Err(invalid(
                    format!("{field}.password_hash"),
                    format!(
                        "not an argon2 hash ({error}): make one with `aerie-monitor hash-password`"
                    ),
                ));
            }
            match raw.role {
                Role::Viewer if raw.environments.is_empty() => {
                    return Err(invalid(
                        format!("{field}.environments"),
                        "a viewer must list the environments they may see",
                    ));
                }
                Role::Operator if !raw.environments.is_empty() => {
                    return Err(invalid(
                        format!("{field}.environments"),
                        "operators see every environment: remove the list, or make the user a viewer",
                    ));
                }
                _ => {}
            }
            if let Some(unknown) = raw
                .environments
                .iter()
                .find(|name| !environments.iter().any(|e| &e.name == *name))
            {
                return Err(invalid(
                    format!("{field}.environments"),
                    format!("{unknown:?} is not a configured environment"),
                ));
            }
            if users.iter().any(|u: &User| u.name == raw.name) {
                return Err(invalid(
                    format!("{field}.name"),
                    format!("{:?} is used twice: user names must be unique", raw.name),
                ));
            }
            users.push(User {
                name: raw.name,
                role: raw.role,
                token,
                token_expires,
                password_hash: raw.password_hash.map(Secret::new),
                environments: raw.environments,
            });
        }
        let alerting = match self.alerting {
            None => None,
            Some(raw) => {
                let smtp = match raw.smtp {
                    Some(smtp) => Some(ChannelConfig::Smtp {
                        password: Secret::from_inline_or_file(
                            "alerting.smtp.password",
                            smtp.password,
                            smtp.password_file,
                            base,
                        )?,
                        host: smtp.host,
                        port: smtp.port,
                        security: smtp.security,
                        username: smtp.username,
                        ca_file: smtp.ca_file.map(|path| base.join(path)),
                        tls_name: smtp.tls_name,
                    }),
                    None => None,
                };
                let ses = raw.ses.map(|_| ChannelConfig::Ses);
                let (channel, fallback) = match (smtp, ses, raw.channel.as_deref()) {
                    (Some(smtp), None, None | Some("smtp")) => (smtp, None),
                    (None, Some(ses), None | Some("ses")) => (ses, None),
                    (Some(smtp), Some(ses), Some("smtp")) => (smtp, Some(ses)),
                    (Some(smtp), Some(ses), Some("ses")) => (ses, Some(smtp)),
                    (None, None, _) => {
                        return Err(invalid(
                            "alerting",
                            "no channel: add [alerting.smtp] (the customer's server) or [alerting.ses]",
                        ));
                    }
                    (Some(_), Some(_), None) => {
                        return Err(invalid(
                            "alerting.channel",
                            "both [alerting.smtp] and [alerting.ses] are set: say which one sends alert mail with channel = \"smtp\" or \"ses\" (the other carries the alert that it is failing)",
                        ));
                    }
                    (_, _, Some(other)) => {
                        return Err(invalid(
                            "alerting.channel",
                            format!(
                                "{other:?} is not a configured channel: use \"smtp\" with [alerting.smtp] or \"ses\" with [alerting.ses]"
                            ),
                        ));
                    }
                };
                if !raw.from.contains('@') {
                    return Err(invalid(
                        "alerting.from",
                        format!("{:?} is not an email address", raw.from),
                    ));
                }
                if !(raw.dashboard_url.starts_with("http://")
                    || raw.dashboard_url.starts_with("https://"))
                {
                    return Err(invalid(
                        "alerting.dashboard_url",
                        format!("{:?} is not an http or https URL", raw.dashboard_url),
                    ));
                }
                // The file itself is read and checked by the alert engine's
                // own loader (`alerting::rules`), at start and at each reload.
                let rules_file = base.join(raw.rules_file);
                Some(AlertingConfig {
                    rules_file,
                    evaluate_every: raw.evaluate_every,
                    repeat_interval: raw.repeat_interval,
                    flap_window: raw.flap_window,
                    flap_threshold: raw.flap_threshold,
                    group_wait: raw.group_wait,
                    group_interval: raw.group_interval,
                    from: raw.from,
                    dashboard_url: raw.dashboard_url,
                    channel,
                    fallback,
                    channel_failing_after: raw.channel_failing_after,
                })
            }
        };
        Ok(Config {
            listen: self.listen,
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
