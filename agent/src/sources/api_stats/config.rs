//! `[access_log]`: the gateway access log turned into per-API statistics.

use std::time::Duration;

use aerie_common::toml_file::FieldError;
use serde::{Deserialize, Serialize};

use super::DEFAULT_PATTERN;

/// `[access_log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// Names the checkpoint file. Default `access`.
    #[serde(default = "default_name")]
    pub name: String,
    /// Globs of the gateway's access logs.
    pub paths: Vec<String>,
    /// A regular expression with named groups `time`, `status`, `duration_ms`,
    /// and either `path` (API and tenant taken from it) or `api` and `tenant`;
    /// `bytes` optional. The default reads the format in `access_log.rs`.
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// `strftime` format of the `time` group.
    #[serde(default = "default_time_format")]
    pub time_format: String,
    /// Publish when this many requests have been counted. 0: off.
    #[serde(default = "default_threshold")]
    pub threshold: u64,
    /// Publish at the latest this long after a window opens.
    #[serde(default = "default_interval", with = "humantime_serde")]
    pub interval: Duration,
}

fn default_name() -> String {
    "access".into()
}
fn default_pattern() -> String {
    DEFAULT_PATTERN.into()
}
pub(super) fn default_time_format() -> String {
    "%d/%b/%Y:%H:%M:%S %z".into()
}
fn default_threshold() -> u64 {
    1000
}
fn default_interval() -> Duration {
    Duration::from_secs(60)
}

impl AccessLogConfig {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.paths.is_empty() {
            return Err(FieldError::new(
                format!("{field}.paths"),
                "is empty: list the gateway access log globs",
            ));
        }
        let regex = regex::Regex::new(&self.pattern).map_err(|error| {
            FieldError::new(
                format!("{field}.pattern"),
                format!("is not a valid regular expression: {error}"),
            )
        })?;
        let names: Vec<&str> = regex.capture_names().flatten().collect();
        for required in ["time", "status", "duration_ms"] {
            if !names.contains(&required) {
                return Err(FieldError::new(
                    format!("{field}.pattern"),
                    format!("has no named group (?P<{required}>...)"),
                ));
            }
        }
        let names_api = names.contains(&"api") && names.contains(&"tenant");
        if !(names.contains(&"path") || names_api) {
            return Err(FieldError::new(
                format!("{field}.pattern"),
                "needs a (?P<path>...) group, or both (?P<api>...) and (?P<tenant>...)",
            ));
        }
        if self.interval < Duration::from_secs(1) {
            return Err(FieldError::new(
                format!("{field}.interval"),
                "must be at least 1s",
            ));
        }
        Ok(())
    }
}
