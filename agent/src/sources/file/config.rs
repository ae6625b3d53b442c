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
    /// `product` (the default): seed 000's `[timestamp] LEVEL - Logger
    /// message` or WSO2 Carbon's `[timestamp] LEVEL {logger} - message`
    /// (bracketed contexts before the level are skipped), lines not starting
    /// with `[` joined onto the event before. `plain`: one event per line,
    /// timestamped when read. `pattern`: another product's layout, read by
    /// `pattern`.
    #[serde(default)]
    pub format: LogFormat,
    /// With `format = "pattern"`: a regular expression with the named groups
    /// `time` and `message` (and, if the layout has them, `level` and
    /// `logger`). A line it matches starts an event; others join the event
    /// before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// With `format = "pattern"`: how `time` is written (chrono's strftime).
    /// Default `%Y-%m-%d %H:%M:%S,%3f`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_format: Option<String>,
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
    Pattern,
}

/// The time format of `pattern` when none is given.
pub const DEFAULT_TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S,%3f";

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
        self.validate_pattern(field)?;
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

    /// `pattern` and `time_format` make sense with `format = "pattern"` only,
    /// where the pattern compiles and names `time` and `message`.
    fn validate_pattern(&self, field: &str) -> Result<(), FieldError> {
        let bad = |key: &str, message: String| FieldError::new(format!("{field}.{key}"), message);
        let Some(pattern) = &self.pattern else {
            if self.format == LogFormat::Pattern {
                return Err(bad("pattern", "missing: format = \"pattern\" reads lines with a regular expression, e.g. pattern = '^(?P<time>\\S+ \\S+) (?P<level>[A-Z]+) (?P<message>.*)'".into()));
            }
            return Ok(());
        };
        if self.format != LogFormat::Pattern {
            return Err(bad(
                "pattern",
                "is given but format is not \"pattern\": add format = \"pattern\" or remove it"
                    .into(),
            ));
        }
        let regex = regex::Regex::new(pattern)
            .map_err(|error| bad("pattern", format!("is not a regular expression: {error}")))?;
        for group in ["time", "message"] {
            if !regex.capture_names().flatten().any(|name| name == group) {
                return Err(bad(
                    "pattern",
                    format!("has no group named {group}: write (?P<{group}>...)"),
                ));
            }
        }
        let time_format = self.time_format.as_deref().unwrap_or(DEFAULT_TIME_FORMAT);
        let items = chrono::format::StrftimeItems::new(time_format);
        if items
            .clone()
            .any(|item| matches!(item, chrono::format::Item::Error))
        {
            return Err(bad(
                "time_format",
                format!("{time_format:?} is not a strftime format, e.g. \"%Y-%m-%d %H:%M:%S\""),
            ));
        }
        Ok(())
    }

    pub fn zone(&self) -> Zone {
        Zone::parse(&self.timezone).expect("validated")
    }
}
