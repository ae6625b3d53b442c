//! `[[logs]]`: which files to follow, how their lines are parsed and joined.

use std::time::Duration;

use aerie_common::toml_file::FieldError;
use serde::{Deserialize, Serialize};

use super::Zone;

/// One `[[logs]]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// A name for this set of files; names the checkpoint file. Unique.
    pub name: String,
    /// Globs of files to follow. Include rotated names (`app.log*`) when
    /// logrotate uses copytruncate, so nothing written just before a
    /// truncation is lost.
    pub paths: Vec<String>,
    /// `product` (the default): `[timestamp] LEVEL - Logger message`, lines
    /// not starting with `[` joined onto the event before. `plain`: one event
    /// per line, timestamped when read.
    #[serde(default)]
    pub format: LogFormat,
    /// The product timestamps' zone: `local` (default) or `+HH:MM`.
    #[serde(default = "default_zone")]
    pub timezone: String,
    /// How long an event waits for more continuation lines. Default 1s.
    #[serde(default = "default_multiline_timeout", with = "humantime_serde")]
    pub multiline_timeout: Duration,
    /// Longer lines are cut (and counted). Default 1 MiB.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: bytesize::ByteSize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Product,
    Plain,
}

fn default_zone() -> String {
    "local".into()
}

fn default_multiline_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_max_line() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(1)
}

impl LogsConfig {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if !aerie_wire::valid_name(&self.name) {
            return Err(FieldError::new(
                format!("{field}.name"),
                format!("{:?}: use lowercase letters, digits and '-'", self.name),
            ));
        }
        if self.paths.is_empty() {
            return Err(FieldError::new(
                format!("{field}.paths"),
                "is empty: list at least one glob, e.g. [\"/opt/wso2/repository/logs/wso2carbon.log*\"]",
            ));
        }
        for (index, pattern) in self.paths.iter().enumerate() {
            if !pattern.starts_with('/') {
                return Err(FieldError::new(
                    format!("{field}.paths[{index}]"),
                    format!("{pattern:?} is not an absolute path"),
                ));
            }
            glob::Pattern::new(pattern).map_err(|error| {
                FieldError::new(
                    format!("{field}.paths[{index}]"),
                    format!("{pattern:?} is not a valid glob: {error}"),
                )
            })?;
        }
        if Zone::parse(&self.timezone).is_none() {
            return Err(FieldError::new(
                format!("{field}.timezone"),
                format!(
                    "{:?}: use \"local\" or an offset such as \"+00:00\"",
                    self.timezone
                ),
            ));
        }
        Ok(())
    }

    pub fn zone(&self) -> Zone {
        Zone::parse(&self.timezone).expect("validated")
    }
}
