//! Alert rules, from a TOML file: parsed with unknown fields refused, then
//! validated; every error names the file, the rule and the reason. The fields
//! are documented in `examples/rules.toml`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aerie_common::toml_file::{self, FieldError, FileError};
use serde::{Deserialize, Serialize};

use crate::store::Aggregation;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    /// One environment, or every one when absent.
    environment: Option<String>,
    #[serde(default = "default_severity")]
    severity: String,
    kind: String,
    metric: Option<String>,
    agg: Option<String>,
    op: Option<String>,
    threshold: Option<f64>,
    #[serde(default)]
    match_labels: BTreeMap<String, String>,
    query: Option<String>,
    /// Log rules fire when more than this many lines match in the window.
    count_above: Option<u64>,
    #[serde(default, with = "humantime_serde::option")]
    window: Option<Duration>,
    #[serde(default, rename = "for", with = "humantime_serde::option")]
    for_: Option<Duration>,
    /// Backup rules: how old the newest good backup may be.
    #[serde(default, with = "humantime_serde::option")]
    max_age: Option<Duration>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    summary: String,
    #[serde(default)]
    description: String,
}

fn default_severity() -> String {
    "warning".into()
}

/// How a measured value is compared with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    Above,
    AtLeast,
    Below,
    AtMost,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Above => value > threshold,
            Self::AtLeast => value >= threshold,
            Self::Below => value < threshold,
            Self::AtMost => value <= threshold,
        }
    }
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `agg` of `metric` over `window` compared with `threshold`, per host
    /// and label set (only those matching `match_labels`).
    Metric {
        metric: String,
        agg: Aggregation,
        op: Op,
        threshold: f64,
        match_labels: BTreeMap<String, String>,
        window: Duration,
    },
    /// More than `count_above` log lines matching `query` within `window`, per host.
    Log {
        query: String,
        count_above: u64,
        window: Duration,
    },
    /// No sample of `metric` from a host within `window`.
    NoData { metric: String, window: Duration },
    /// A host's agent silent for `window`.
    HostDown { window: Duration },
    /// The newest good backup older than `max_age`. Backups report the Unix
    /// time (seconds) of their last success as `metric` (by default
    /// [`BACKUP_METRIC`]), per host and label set (e.g. `target = "rds"`);
    /// an environment with no such report within `window` fires too.
    BackupAge {
        metric: String,
        max_age: Duration,
        window: Duration,
    },
}

/// What a backup reports on success: the Unix time of its newest good copy.
pub const BACKUP_METRIC: &str = "aerie.backup.last_success.timestamp";

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub environment: Option<String>,
    pub severity: String,
    pub condition: Condition,
    /// How long the condition must hold before the alert fires.
    pub for_: Duration,
    pub labels: BTreeMap<String, String>,
    /// Handlebars templates over `host`, `value`, `environment`, `rule`, `labels`.
    pub summary: String,
    pub description: String,
}

impl Rule {
    pub fn applies_to(&self, environment: &str) -> bool {
        self.environment
            .as_deref()
            .is_none_or(|wanted| wanted == environment)
    }
}

/// Reads and validates a rules file; `environments` are the configured ones.
pub fn load(file: &Path, environments: &[String]) -> Result<Vec<Rule>, FileError> {
    toml_file::load(file, |raw, _| validate_all(raw, environments))
}

pub fn parse(file: &Path, text: &str, environments: &[String]) -> Result<Vec<Rule>, FileError> {
    toml_file::parse(file, text, |raw, _| validate_all(raw, environments))
}

fn validate_all(raw: RawRules, environments: &[String]) -> Result<Vec<Rule>, FieldError> {
    let mut rules: Vec<Rule> = Vec::new();
    for (index, raw) in raw.rules.into_iter().enumerate() {
        let field = format!("rule {:?} (rule[{index}])", raw.name);
        let rule = validate(raw, environments, &field)?;
        if rules
            .iter()
            .any(|other| other.name == rule.name && other.environment == rule.environment)
        {
            return Err(FieldError::new(field, "the name is used twice"));
        }
        rules.push(rule);
    }
    Ok(rules)
}

fn validate(raw: RawRule, environments: &[String], field: &str) -> Result<Rule, FieldError> {
    let bad = |reason: String| FieldError::new(field, reason);
    if !crate::config::valid_name(&raw.name) {
        return Err(bad("name: use lowercase letters, digits and '-'".into()));
    }
    if let Some(environment) = &raw.environment
        && !environments.contains(environment)
    {
        return Err(bad(format!(
            "environment {environment:?} is not configured in the monitor"
        )));
    }
    if !["critical", "warning", "info"].contains(&raw.severity.as_str()) {
        return Err(bad(format!(
            "severity {:?}: use critical, warning or info",
            raw.severity
        )));
    }
    let condition = condition(&raw, &bad)?;
    let mut templates = handlebars::Handlebars::new();
    templates.set_strict_mode(true);
    for (name, text) in [("summary", &raw.summary), ("description", &raw.description)] {
        templates
            .register_template_string(name, text)
            .map_err(|e| bad(format!("{name}: {e}")))?;
        templates
            .render(name, &template_sample())
            .map_err(|e| bad(format!("{name}: {e}")))?;
    }
    Ok(Rule {
        name: raw.name,
        environment: raw.environment,
        severity: raw.severity,
        condition,
        for_: raw.for_.unwrap_or_default(),
        labels: raw.labels,
        summary: raw.summary,
        description: raw.description,
    })
}

/// The condition a rule watches, by its `kind`; `bad` names the rule.
fn condition(raw: &RawRule, bad: &impl Fn(String) -> FieldError) -> Result<Condition, FieldError> {
    let window = |default: Option<Duration>| {
        raw.window
            .or(default)
            .ok_or_else(|| bad("window is missing (e.g. window = \"5m\")".to_owned()))
    };
    let metric = || {
        raw.metric.clone().filter(|m| !m.is_empty()).ok_or_else(|| {
            bad("metric is missing (e.g. metric = \"system.cpu.total.pct\")".to_owned())
        })
    };
    Ok(match raw.kind.as_str() {
        "metric" => {
            let agg = raw
                .agg
                .as_deref()
                .unwrap_or("avg")
                .parse::<Aggregation>()
                .map_err(|unknown| bad(unknown.to_string()))?;
            let op = match raw.op.as_deref().unwrap_or(">") {
                ">" => Op::Above,
                ">=" => Op::AtLeast,
                "<" => Op::Below,
                "<=" => Op::AtMost,
                other => return Err(bad(format!("op {other:?}: use >, >=, < or <="))),
            };
            let threshold = raw
                .threshold
                .ok_or_else(|| bad("threshold is missing (e.g. threshold = 90.0)".into()))?;
            Condition::Metric {
                metric: metric()?,
                agg,
                op,
                threshold,
                match_labels: raw.match_labels.clone(),
                window: window(None)?,
            }
        }
        "log" => {
            let query = raw
                .query
                .clone()
                .filter(|q| !q.trim().is_empty())
                .ok_or_else(|| {
                    bad(
                        "query is missing (e.g. query = \"log.level:ERROR AND OutOfMemoryError\")"
                            .into(),
                    )
                })?;
            check_query(&query).map_err(|unbalanced| bad(unbalanced.to_string()))?;
            Condition::Log {
                query,
                count_above: raw.count_above.unwrap_or(0),
                window: window(None)?,
            }
        }
        "no_data" => Condition::NoData {
            metric: metric()?,
            window: window(None)?,
        },
        "host_down" => Condition::HostDown {
            window: window(Some(Duration::from_secs(60)))?,
        },
        "backup_age" => {
            let max_age = raw
                .max_age
                .ok_or_else(|| bad("max_age is missing (e.g. max_age = \"26h\")".into()))?;
            let window = window(Some(Duration::from_secs(35 * 86400)))?;
            if window <= max_age {
                return Err(bad(format!(
                    "window ({}) must be longer than max_age ({}): it is how far back the newest backup is looked for",
                    humantime::format_duration(window),
                    humantime::format_duration(max_age)
                )));
            }
            Condition::BackupAge {
                metric: raw.metric.clone().unwrap_or_else(|| BACKUP_METRIC.into()),
                max_age,
                window,
            }
        }
        other => {
            return Err(bad(format!(
                "kind {other:?} is not one of metric, log, no_data, host_down, backup_age"
            )));
        }
    })
}

/// A log query whose quotes or parentheses do not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unbalanced {
    #[error("query {0:?}: a quote is not closed")]
    Quote(String),
    #[error("query {0:?}: a ')' has no '('")]
    Close(String),
    #[error("query {0:?}: a '(' is not closed")]
    Open(String),
}

/// A log query must parse: quotes closed, parentheses balanced.
fn check_query(query: &str) -> Result<(), Unbalanced> {
    if query.matches('"').count() % 2 == 1 {
        return Err(Unbalanced::Quote(query.to_owned()));
    }
    let mut depth = 0i32;
    for c in query.chars() {
        depth += match c {
            '(' => 1,
            ')' => -1,
            _ => 0,
        };
        if depth < 0 {
            return Err(Unbalanced::Close(query.to_owned()));
        }
    }
    if depth != 0 {
        return Err(Unbalanced::Open(query.to_owned()));
    }
    Ok(())
}

/// The values rule templates may use.
pub fn template_sample() -> serde_json::Value {
    serde_json::json!({ "host": "gw-1", "value": "93.5", "environment": "acme-prod", "rule": "heap-high", "labels": { "mount": "/" } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(text: &str) -> Result<Vec<Rule>, FileError> {
        parse(
            Path::new("/etc/aerie/rules.toml"),
            text,
            &["acme-prod".to_owned()],
        )
    }

    #[test]
    fn the_shipped_example_parses() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/rules.toml");
        let rules = load(&example, &["acme-prod".to_owned()]).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            rules
                .iter()
                .any(|r| matches!(r.condition, Condition::Log { .. }))
        );
        assert!(
            rules
                .iter()
                .any(|r| matches!(r.condition, Condition::HostDown { .. }))
        );
        assert!(rules.iter().any(|r| matches!(
            &r.condition,
            Condition::BackupAge { metric, max_age, .. }
                if metric == BACKUP_METRIC && *max_age == Duration::from_secs(26 * 3600)
        )));
    }

    #[test]
    fn bad_rules_name_the_file_the_rule_and_the_reason() {
        let base = "[[rule]]\nname = \"r\"\nkind = \"metric\"\nmetric = \"m\"\nthreshold = 1.0\nwindow = \"5m\"\nsummary = \"s\"\n";
        let cases = [
            (
                base.replace("kind = \"metric\"", "kind = \"gauge\""),
                "kind \"gauge\" is not one of",
            ),
            (
                base.replace("window = \"5m\"", "window = \"five minutes\""),
                "window",
            ),
            (
                base.replace("threshold = 1.0\n", ""),
                "threshold is missing",
            ),
            (format!("{base}agg = \"median\"\n"), "avg, min, max, p95"),
            (
                base.replace("summary = \"s\"", "summary = \"{{#if host}}\""),
                "summary",
            ),
            (
                base.replace("summary = \"s\"", "summary = \"{{hostname}}\""),
                "summary",
            ),
            (
                base.replace("kind = \"metric\"", "kind = \"log\"\nquery = \"(ERROR\""),
                "'(' is not closed",
            ),
            (
                format!("{base}environment = \"initech\"\n"),
                "not configured",
            ),
            (
                format!("{base}colour = \"red\"\n"),
                "unknown field `colour`",
            ),
            (
                base.replace("kind = \"metric\"", "kind = \"backup_age\""),
                "max_age is missing",
            ),
            (
                base.replace(
                    "kind = \"metric\"",
                    "kind = \"backup_age\"\nmax_age = \"26h\"",
                ),
                "window (5m) must be longer than max_age (1day 2h)",
            ),
        ];
        for (text, reason) in cases {
            let error = parse_one(&text).unwrap_err().to_string();
            assert!(error.starts_with("/etc/aerie/rules.toml"), "{error}");
            assert!(error.contains(reason), "expected {reason:?} in {error}");
        }
        assert!(parse_one(base).is_ok());
    }
}
