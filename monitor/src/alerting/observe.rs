//! What a rule sees in the store at one moment: one observation per host
//! and label set, each saying whether the condition holds.
//!
//! Each rule costs the store one or two questions whatever the number of
//! hosts or matching lines: one aggregate per series over the window, or
//! matching log lines counted per host. Observing never changes an alert.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::model::rfc3339;
use super::rules::{Condition, Rule};
use crate::store::{Aggregation, CountBy, LogQuery, MetricQuery, Store, StoreError};

/// What one evaluation saw for one host and label set.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Observation {
    pub(crate) host: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) holds: bool,
    pub(crate) value: f64,
    /// For log rules the newest matching line; for backup rules the newest backup.
    pub(crate) detail: String,
}

impl Observation {
    fn of_host(host: String, holds: bool, value: f64) -> Self {
        Self {
            host,
            labels: BTreeMap::new(),
            holds,
            value,
            detail: String::new(),
        }
    }
}

/// What `rule` sees of `environment` at `now`.
pub(crate) async fn observe(
    store: &dyn Store,
    rule: &Rule,
    environment: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Observation>, StoreError> {
    let at = At { environment, now };
    match &rule.condition {
        Condition::Metric {
            metric,
            agg,
            op,
            threshold,
            match_labels,
            window,
        } => Ok(store
            .metric_window(&at.metric(metric, *window), *agg)
            .await?
            .into_iter()
            .filter(|s| match_labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| Observation {
                holds: op.holds(s.value, *threshold),
                host: s.host,
                labels: s.labels,
                value: s.value,
                detail: String::new(),
            })
            .collect()),
        Condition::Log {
            query,
            count_above,
            window,
        } => log_counts(store, &at, query, *count_above, *window).await,
        Condition::NoData { metric, window } => no_data(store, &at, metric, *window).await,
        Condition::BackupAge {
            metric,
            max_age,
            window,
        } => backup_age(store, &at, metric, *max_age, *window).await,
        Condition::HostDown { window } => Ok(store
            .hosts(environment)
            .await?
            .into_iter()
            .map(|seen| {
                let silent = (now - seen.last_seen).num_milliseconds() as f64 / 1000.0;
                let holds = seen.last_seen < at.since(*window);
                Observation::of_host(seen.host, holds, silent)
            })
            .collect()),
    }
}

/// The environment and the moment an evaluation looks at.
struct At<'a> {
    environment: &'a str,
    now: DateTime<Utc>,
}

impl At<'_> {
    fn since(&self, window: Duration) -> DateTime<Utc> {
        self.now - chrono::Duration::from_std(window).unwrap_or_default()
    }

    fn metric(&self, name: &str, window: Duration) -> MetricQuery {
        MetricQuery {
            environment: self.environment.into(),
            host: None,
            name: name.into(),
            from: self.since(window),
            to: self.now,
        }
    }
}

/// Every line matching `query` within `window`, counted per host.
async fn log_counts(
    store: &dyn Store,
    at: &At<'_>,
    query: &str,
    count_above: u64,
    window: Duration,
) -> Result<Vec<Observation>, StoreError> {
    let counts = store
        .count_logs(
            &LogQuery {
                environment: at.environment.into(),
                host: None,
                text: Some(query.to_owned()),
                level: None,
                file: None,
                from: at.since(window),
                to: at.now,
                limit: 0,
                cursor: None,
            },
            // The window is the rule's one bucket: none asked.
            CountBy {
                hosts: true,
                buckets: None,
            },
        )
        .await?;
    Ok(counts
        .hosts
        .into_iter()
        .map(|count| Observation {
            holds: count.count > count_above,
            value: count.count as f64,
            host: count.host,
            labels: BTreeMap::new(),
            detail: count.newest,
        })
        .collect())
}

/// Every host the store knows, holding when it sent no `metric` within
/// `window`: two questions whatever the number of hosts.
async fn no_data(
    store: &dyn Store,
    at: &At<'_>,
    metric: &str,
    window: Duration,
) -> Result<Vec<Observation>, StoreError> {
    let reporting: BTreeSet<String> = store
        .metric_window(&at.metric(metric, window), Aggregation::Max)
        .await?
        .into_iter()
        .map(|s| s.host)
        .collect();
    Ok(store
        .hosts(at.environment)
        .await?
        .into_iter()
        .map(|seen| {
            let reports = reporting.contains(&seen.host);
            Observation::of_host(seen.host, !reports, f64::from(u8::from(reports)))
        })
        .collect())
}

/// The age of the newest good backup per series; no report at all within
/// `window` holds too.
async fn backup_age(
    store: &dyn Store,
    at: &At<'_>,
    metric: &str,
    max_age: Duration,
    window: Duration,
) -> Result<Vec<Observation>, StoreError> {
    let limit = max_age.as_secs_f64();
    let mut observations: Vec<Observation> = store
        .metric_window(&at.metric(metric, window), Aggregation::Max)
        .await?
        .into_iter()
        .map(|s| {
            let newest = s.value;
            let age = at.now.timestamp() as f64 - newest;
            Observation {
                host: s.host,
                labels: s.labels,
                holds: age > limit,
                value: age,
                detail: format!(
                    "newest good backup: {}",
                    DateTime::from_timestamp(newest as i64, 0)
                        .map(rfc3339)
                        .unwrap_or_else(|| newest.to_string())
                ),
            }
        })
        .collect();
    if observations.is_empty() {
        observations.push(Observation {
            detail: format!(
                "no {metric} reported within {}",
                humantime::format_duration(window)
            ),
            ..Observation::of_host("(no backups)".into(), true, window.as_secs_f64())
        });
    }
    Ok(observations)
}
