//! The store as the monitor uses it, timed: every write and query goes to
//! the store it wraps unchanged, and its latency (and a write's stored and
//! duplicate events) is counted in [`Metrics`]. It changes no answer.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use aerie_store::{
    Aggregation, ApiStatsRecord, CountBy, DataKind, HostSeen, LogCounts, LogPage, LogQuery,
    MetricQuery, Point, Series, SeriesValue, Store, StoreError, WriteBatch, WriteOutcome,
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

    /// A write, timed, with its stored and duplicate events counted.
    async fn write_timed(
        &self,
        write: impl Future<Output = Result<WriteOutcome, StoreError>>,
    ) -> Result<WriteOutcome, StoreError> {
        let started = Instant::now();
        let outcome = write.await;
        self.metrics.wrote("write", started);
        if let Ok(outcome) = &outcome {
            self.metrics.stored(outcome.accepted, outcome.duplicates);
        }
        outcome
    }

    /// Query `name`, timed.
    async fn query_timed<T>(&self, name: &'static str, query: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let answer = query.await;
        self.metrics.queried(name, started);
        answer
    }
}

#[async_trait::async_trait]
impl Store for TimedStore {
    async fn write(&self, batch: &WriteBatch) -> Result<WriteOutcome, StoreError> {
        self.write_timed(self.inner.write(batch)).await
    }

    async fn write_events(
        &self,
        environment: &str,
        host: &str,
        events: &[EventRef<'_>],
    ) -> Result<WriteOutcome, StoreError> {
        self.write_timed(self.inner.write_events(environment, host, events))
            .await
    }

    async fn hosts(&self, environment: &str) -> Result<Vec<HostSeen>, StoreError> {
        self.query_timed("hosts", self.inner.hosts(environment))
            .await
    }

    async fn metric_names(&self, environment: &str) -> Result<Vec<String>, StoreError> {
        self.query_timed("metric_names", self.inner.metric_names(environment))
            .await
    }

    async fn metric_points(&self, query: &MetricQuery) -> Result<Vec<Point>, StoreError> {
        self.query_timed("metric_points", self.inner.metric_points(query))
            .await
    }

    async fn metric_series(
        &self,
        query: &MetricQuery,
        step_ms: i64,
        aggregation: Aggregation,
    ) -> Result<Vec<Series>, StoreError> {
        self.query_timed(
            "metric_series",
            self.inner.metric_series(query, step_ms, aggregation),
        )
        .await
    }

    async fn metric_window(
        &self,
        query: &MetricQuery,
        aggregation: Aggregation,
    ) -> Result<Vec<SeriesValue>, StoreError> {
        self.query_timed(
            "metric_window",
            self.inner.metric_window(query, aggregation),
        )
        .await
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage, StoreError> {
        self.query_timed("logs", self.inner.logs(query)).await
    }

    async fn count_logs(&self, query: &LogQuery, by: CountBy) -> Result<LogCounts, StoreError> {
        self.query_timed("count_logs", self.inner.count_logs(query, by))
            .await
    }

    async fn lead(&self, holder: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        self.query_timed("lead", self.inner.lead(holder, ttl)).await
    }

    async fn api_stats(
        &self,
        environment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ApiStatsRecord>, StoreError> {
        self.query_timed("api_stats", self.inner.api_stats(environment, from, to))
            .await
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
