//! The store as the monitor uses it, timed: every write and query goes to
//! the store it wraps unchanged, and its latency (and a write's stored and
//! duplicate events) is counted in [`Metrics`]. It changes no answer.

use std::sync::Arc;
use std::time::Instant;

use aerie_store::{
    Aggregation, ApiStatsRecord, DataKind, HostLogCount, HostSeen, LogPage, LogQuery, MetricQuery,
    Point, Series, SeriesValue, Store, StoreError, WriteBatch, WriteOutcome,
};
use aerie_wire::EventRef;
use chrono::{DateTime, Utc};

use super::Metrics;

/// A store whose calls are timed.
#[derive(Debug)]
pub struct TimedStore {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl TimedStore {
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn wrote(&self, started: Instant, outcome: &Result<WriteOutcome, StoreError>) {
        self.metrics.wrote("write", started);
        if let Ok(outcome) = outcome {
            self.metrics.stored(outcome.accepted, outcome.duplicates);
        }
    }
}

#[async_trait::async_trait]
impl Store for TimedStore {
    async fn write(&self, batch: &WriteBatch) -> Result<WriteOutcome, StoreError> {
        let started = Instant::now();
        let outcome = self.inner.write(batch).await;
        self.wrote(started, &outcome);
        outcome
    }

    async fn write_events(
        &self,
        environment: &str,
        host: &str,
        events: &[EventRef<'_>],
    ) -> Result<WriteOutcome, StoreError> {
        let started = Instant::now();
        let outcome = self.inner.write_events(environment, host, events).await;
        self.wrote(started, &outcome);
        outcome
    }

    async fn hosts(&self, environment: &str) -> Result<Vec<HostSeen>, StoreError> {
        let started = Instant::now();
        let answer = self.inner.hosts(environment).await;
        self.metrics.queried("hosts", started);
        answer
    }

    async fn metric_names(&self, environment: &str) -> Result<Vec<String>, StoreError> {
        let started = Instant::now();
        let answer = self.inner.metric_names(environment).await;
        self.metrics.queried("metric_names", started);
        answer
    }

    async fn metric_points(&self, query: &MetricQuery) -> Result<Vec<Point>, StoreError> {
        let started = Instant::now();
        let answer = self.inner.metric_points(query).await;
        self.metrics.queried("metric_points", started);
        answer
    }

    async fn metric_series(
        &self,
        query: &MetricQuery,
        step_ms: i64,
        aggregation: Aggregation,
    ) -> Result<Vec<Series>, StoreError> {
        let started = Instant::now();
        let answer = self.inner.metric_series(query, step_ms, aggregation).await;
        self.metrics.queried("metric_series", started);
        answer
    }

    async fn metric_window(
        &self,
        query: &MetricQuery,
        aggregation: Aggregation,
    ) -> Result<Vec<SeriesValue>, StoreError> {
        let started = Instant::now();
        let answer = self.inner.metric_window(query, aggregation).await;
        self.metrics.queried("metric_window", started);
        answer
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage, StoreError> {
        let started = Instant::now();
        let answer = self.inner.logs(query).await;
        self.metrics.queried("logs", started);
        answer
    }

    async fn count_logs_by_host(&self, query: &LogQuery) -> Result<Vec<HostLogCount>, StoreError> {
        let started = Instant::now();
        let answer = self.inner.count_logs_by_host(query).await;
        self.metrics.queried("count_logs_by_host", started);
        answer
    }

    async fn api_stats(
        &self,
        environment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ApiStatsRecord>, StoreError> {
        let started = Instant::now();
        let answer = self.inner.api_stats(environment, from, to).await;
        self.metrics.queried("api_stats", started);
        answer
    }

    async fn delete_older_than(
        &self,
        kind: DataKind,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let started = Instant::now();
        let answer = self.inner.delete_older_than(kind, cutoff).await;
        self.metrics.wrote("delete_older_than", started);
        answer
    }
}
