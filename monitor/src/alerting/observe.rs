//! What a rule sees in the store at one moment: one observation per host
//! and label set, each saying whether the condition holds.
//!
//! Each rule costs the store one or two questions whatever the number of
//! hosts or matching lines: one aggregate per series over the window, or
//! matching log lines counted per host. Observing never changes an alert.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::model::rfc3339;
use super::rules::{Condition, Rule};
use crate::store::{Aggregation, LogQuery, MetricQuery, Store, StoreError};

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
    let since =
        |window: std::time::Duration| now - chrono::Duration::from_std(window).unwrap_or_default();
    let metric = |name: &str, window| MetricQuery {
        environment: environment.into(),
        host: None,
        name: name.into(),
        from: since(window),
        to: now,
    };
    match &rule.condition {
        Condition::Metric {
            metric: name,
            agg,
            op,
            threshold,
            match_labels,
            window,
        } => Ok(store
            .metric_window(&metric(name, *window), *agg)
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
        } => {
            let counts = store
                .count_logs_by_host(&LogQuery {
                    environment: environment.into(),
                    host: None,
                    text: Some(query.clone()),
                    level: None,
                    file: None,
                    from: since(*window),
                    to: now,
                    limit: 0,
                    cursor: None,
                })
                .await?;
            Ok(counts
                .into_iter()
                .map(|count| Observation {
                    holds: count.count > *count_above,
                    value: count.count as f64,
                    host: count.host,
                    labels: BTreeMap::new(),
                    detail: count.newest,
                })
                .collect())
        }
        Condition::NoData {
            metric: name,
            window,
        } => {
            let reporting: BTreeSet<String> = store
                .metric_window(&metric(name, *window), Aggregation::Max)
                .await?
                .into_iter()
                .map(|s| s.host)
                .collect();
            Ok(store
                .hosts(environment)
                .await?
                .into_iter()
                .map(|seen| {
                    let reports = reporting.contains(&seen.host);
                    Observation::of_host(seen.host, !reports, f64::from(u8::from(reports)))
                })
                .collect())
        }
        Condition::BackupAge {
            metric: name,
            max_age,
            window,
        } => {
            let limit = max_age.as_secs_f64();
            let mut observations: Vec<Observation> = store
                .metric_window(&metric(name, *window), Aggregation::Max)
                .await?
                .into_iter()
                .map(|s| {
                    let newest = s.value;
                    let age = now.timestamp() as f64 - newest;
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
                        "no {name} reported within {}",
                        humantime::format_duration(*window)
                    ),
                    ..Observation::of_host("(no backups)".into(), true, window.as_secs_f64())
                });
            }
            Ok(observations)
        }
        Condition::HostDown { window } => Ok(store
            .hosts(environment)
            .await?
            .into_iter()
            .map(|seen| {
                let silent = (now - seen.last_seen).num_milliseconds() as f64 / 1000.0;
                let holds = seen.last_seen < since(*window);
                Observation::of_host(seen.host, holds, silent)
            })
            .collect()),
    }
}
