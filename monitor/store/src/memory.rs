//! A store in memory, for unit tests of what sits on top of a store (the
//! alert engine, jobs, handlers): no files, no threads, answers at once. It
//! gives the same answers as the embedded store and Elasticsearch (it runs
//! the same conformance suite, but for surviving a restart) and reads log
//! queries with the embedded store's parser.
//!
//! It must never be used to serve: nothing it holds is durable.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Mutex;

use aerie_wire::{Event, EventBody};
use chrono::{DateTime, Utc};

use crate::embedded::logs::{line_matches, parse_query};
use crate::{
    ApiStatsRecord, DataKind, HostSeen, LogLine, LogPage, LogQuery, MetricQuery, Point, Store,
    StoreError, WriteBatch, WriteOutcome,
};

/// One stored event, with the order it arrived in.
#[derive(Debug, Clone)]
struct Stored {
    seq: u64,
    environment: String,
    host: String,
    event: Event,
}

#[derive(Debug, Default)]
struct Inner {
    /// (environment, id) of every event held.
    ids: HashSet<(String, String)>,
    events: Vec<Stored>,
    hosts: BTreeMap<(String, String), DateTime<Utc>>,
    sequence: u64,
}

/// A [`Store`] that keeps everything in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("memory store lock")
    }
}

/// A log line's place in "newest first": time, then arrival.
fn key(stored: &Stored) -> (i64, u64) {
    (
        stored
            .event
            .timestamp
            .timestamp_nanos_opt()
            .unwrap_or_default(),
        stored.seq,
    )
}

fn parse_cursor(cursor: &str) -> Option<(i64, u64)> {
    let (ts, seq) = cursor.split_once(':')?;
    Some((ts.parse().ok()?, seq.parse().ok()?))
}

fn bad_query(query: &str, reason: String) -> StoreError {
    StoreError::BadQuery {
        query: query.to_owned(),
        reason,
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    async fn write(&self, batch: &WriteBatch) -> Result<WriteOutcome, StoreError> {
        let mut inner = self.inner();
        let mut outcome = WriteOutcome::default();
        for event in &batch.events {
            if !inner
                .ids
                .insert((batch.environment.clone(), event.id.clone()))
            {
                outcome.duplicates += 1;
                continue;
            }
            inner.sequence += 1;
            let stored = Stored {
                seq: inner.sequence,
                environment: batch.environment.clone(),
                host: batch.host.clone(),
                event: event.clone(),
            };
            inner.events.push(stored);
            outcome.accepted += 1;
        }
        inner
            .hosts
            .insert((batch.environment.clone(), batch.host.clone()), Utc::now());
        Ok(outcome)
    }

    async fn hosts(&self, environment: &str) -> Result<Vec<HostSeen>, StoreError> {
        Ok(self
            .inner()
            .hosts
            .iter()
            .filter(|((env, _), _)| env == environment)
            .map(|((_, host), last_seen)| HostSeen {
                host: host.clone(),
                last_seen: *last_seen,
            })
            .collect())
    }

    async fn metric_names(&self, environment: &str) -> Result<Vec<String>, StoreError> {
        let names: BTreeSet<String> = self
            .inner()
            .events
            .iter()
            .filter(|s| s.environment == environment)
            .filter_map(|s| match &s.event.body {
                EventBody::Metric { name, .. } => Some(name.clone()),
                _ => None,
            })
            .collect();
        Ok(names.into_iter().collect())
    }

    async fn metric_points(&self, query: &MetricQuery) -> Result<Vec<Point>, StoreError> {
        Ok(self
            .inner()
            .events
            .iter()
            .filter(|s| s.environment == query.environment)
            .filter(|s| query.host.as_ref().is_none_or(|host| &s.host == host))
            .filter(|s| query.from <= s.event.timestamp && s.event.timestamp <= query.to)
            .filter_map(|s| match &s.event.body {
                EventBody::Metric {
                    name,
                    value,
                    labels,
                } if *name == query.name => Some(Point {
                    host: s.host.clone(),
                    labels: labels.clone(),
                    timestamp: s.event.timestamp,
                    value: *value,
                }),
                _ => None,
            })
            .collect())
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage, StoreError> {
        let text = query.text.as_deref().unwrap_or_default();
        let expr = parse_query(text).map_err(|syntax| bad_query(text, syntax.0))?;
        let below = match &query.cursor {
            Some(cursor) => Some(
                parse_cursor(cursor)
                    .ok_or_else(|| bad_query(cursor, "not a cursor this API returned".into()))?,
            ),
            None => None,
        };
        let inner = self.inner();
        let mut lines: Vec<(&Stored, LogLine)> = inner
            .events
            .iter()
            .filter(|s| s.environment == query.environment)
            .filter(|s| query.host.as_ref().is_none_or(|host| &s.host == host))
            .filter(|s| query.from <= s.event.timestamp && s.event.timestamp <= query.to)
            .filter(|s| below.is_none_or(|below| key(s) < below))
            .filter_map(|s| match &s.event.body {
                EventBody::Log {
                    file,
                    level,
                    logger,
                    message,
                    ..
                } => Some((
                    s,
                    LogLine {
                        id: s.event.id.clone(),
                        timestamp: s.event.timestamp,
                        host: s.host.clone(),
                        file: file.clone(),
                        level: level.clone(),
                        logger: logger.clone(),
                        message: message.clone(),
                    },
                )),
                _ => None,
            })
            .filter(|(_, line)| query.file.as_ref().is_none_or(|file| &line.file == file))
            .filter(|(_, line)| {
                query.level.as_ref().is_none_or(|level| {
                    line.level
                        .as_ref()
                        .is_some_and(|have| have.eq_ignore_ascii_case(level))
                })
            })
            .filter(|(_, line)| {
                line_matches(
                    &expr,
                    &line.message,
                    line.logger.as_deref(),
                    line.level.as_deref(),
                    &line.host,
                )
            })
            .collect();
        lines.sort_by_key(|(stored, _)| std::cmp::Reverse(key(stored)));
        let limit = query.limit.max(1);
        let next_cursor = (lines.len() > limit).then(|| {
            let (ts, seq) = key(lines[limit - 1].0);
            format!("{ts}:{seq}")
        });
        lines.truncate(limit);
        Ok(LogPage {
            lines: lines.into_iter().map(|(_, line)| line).collect(),
            next_cursor,
        })
    }

    async fn api_stats(
        &self,
        environment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ApiStatsRecord>, StoreError> {
        Ok(self
            .inner()
            .events
            .iter()
            .filter(|s| s.environment == environment)
            .filter_map(|s| match &s.event.body {
                EventBody::ApiStats {
                    api,
                    tenant,
                    window_end,
                    count,
                    faults,
                    min_ms,
                    max_ms,
                    avg_ms,
                    bytes,
                    ..
                } if from <= *window_end && *window_end <= to => Some(ApiStatsRecord {
                    host: s.host.clone(),
                    api: api.clone(),
                    tenant: tenant.clone(),
                    window_end: *window_end,
                    count: *count,
                    faults: *faults,
                    min_ms: *min_ms,
                    max_ms: *max_ms,
                    avg_ms: *avg_ms,
                    bytes: *bytes,
                }),
                _ => None,
            })
            .collect())
    }

    async fn delete_older_than(
        &self,
        kind: DataKind,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut inner = self.inner();
        let before = inner.events.len();
        inner.events.retain(|s| {
            let of_kind = matches!(
                (&s.event.body, kind),
                (EventBody::Metric { .. }, DataKind::Metrics)
                    | (EventBody::Log { .. }, DataKind::Logs)
                    | (EventBody::ApiStats { .. }, DataKind::ApiStats)
            );
            let time = match &s.event.body {
                EventBody::ApiStats { window_end, .. } => *window_end,
                _ => s.event.timestamp,
            };
            !(of_kind && time < cutoff)
        });
        Ok((before - inner.events.len()) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn the_memory_store_passes_the_conformance_suite() {
        crate::conformance::run(
            || {
                Box::pin(async {
                    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
                    store
                })
            },
            false,
        )
        .await;
    }
}
