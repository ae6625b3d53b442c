//! Where the monitor keeps what agents send: one trait, two implementations
//! (the embedded store on local disk, and Elasticsearch), one conformance
//! suite run against both (`store::conformance`).
//!
//! A store acknowledges a write only once it is durable, and stores an event
//! whose id it already holds only once. Stores return raw points and records;
//! bucketing and summing are done once, here, for both.

mod aggregate;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod elasticsearch;
pub mod embedded;
pub mod fuzz;
mod log_counts;
pub mod memory;
pub mod shared;

use std::collections::BTreeMap;

use aerie_wire::{Event, EventRef};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub use aggregate::{
    Aggregation, ApiStatsRow, Series, SeriesValue, StepSummary, UnknownAggregation, bucket_series,
    step_start, sum_api_stats, summarise_sorted, summarise_window,
};
pub use log_counts::{CountBy, HostLogCount, LogBucket, LogCounter, LogCounts};

/// Why a store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the query {query:?} is not valid: {reason}")]
    BadQuery { query: String, reason: String },
    /// The store is busy (a cluster's write queue is full): nothing of the
    /// request was lost, and the same request sent again a moment later is
    /// stored once.
    #[error("the {store} store is busy: {reason}")]
    Busy { store: &'static str, reason: String },
    /// The store itself failed (a disk, a file it wrote, the cluster).
    #[error("the {store} store failed")]
    Backend {
        store: &'static str,
        #[source]
        source: BoxError,
    },
}

/// Any error, as a store's own failure carries it.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl StoreError {
    /// A failure of store `store`, with its cause.
    pub fn backend(store: &'static str, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            store,
            source: source.into(),
        }
    }
}

/// Events from one host of one environment, already validated.
#[derive(Debug, Clone)]
pub struct WriteBatch {
    pub environment: String,
    pub host: String,
    pub events: Vec<Event>,
}

/// What became of a batch: per event, stored now or already held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteOutcome {
    pub accepted: u64,
    pub duplicates: u64,
}

/// A host and when the monitor last heard from its agent.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostSeen {
    pub host: String,
    pub last_seen: DateTime<Utc>,
}

/// One metric sample as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub host: String,
    pub labels: BTreeMap<String, String>,
    pub timestamp: DateTime<Utc>,
    pub value: f64,
}

/// Which samples of a metric.
#[derive(Debug, Clone)]
pub struct MetricQuery {
    pub environment: String,
    pub host: Option<String>,
    pub name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// Which log events, newest first.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub environment: String,
    pub host: Option<String>,
    /// Words, "phrases", AND / OR / NOT.
    pub text: Option<String>,
    pub level: Option<String>,
    /// Only lines of this file (its full path).
    pub file: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub limit: usize,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One stored log event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    pub id: String,
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    pub host: String,
    pub file: String,
    pub level: Option<String>,
    pub logger: Option<String>,
    pub message: String,
}

/// A page of log events and where the next one starts.
#[derive(Debug, Clone, Serialize)]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    pub next_cursor: Option<String>,
}

/// One API statistics record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiStatsRecord {
    pub host: String,
    pub api: String,
    pub tenant: String,
    pub window_end: DateTime<Utc>,
    pub count: u64,
    pub faults: u64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub avg_ms: f64,
    pub bytes: u64,
}

/// Lines per page when [`Store::count_logs_by_host`] reads every page.
const COUNT_PAGE: usize = 5_000;

/// Kinds of data with their own retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    Metrics,
    Logs,
    ApiStats,
}

/// The storage behind the monitor.
#[async_trait::async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Stores a batch durably; events whose id is already held are counted
    /// as duplicates and not stored again.
    /// The batch is borrowed, so the caller can reuse its list of events.
    async fn write(&self, batch: &WriteBatch) -> Result<WriteOutcome, StoreError>;
    /// As [`Store::write`], for events as the ingest API reads them, log
    /// text borrowed from the request: a store may keep it without copying
    /// it first. By default the events are copied into a [`WriteBatch`].
    async fn write_events(
        &self,
        environment: &str,
        host: &str,
        events: &[EventRef<'_>],
    ) -> Result<WriteOutcome, StoreError> {
        let batch = WriteBatch {
            environment: environment.to_owned(),
            host: host.to_owned(),
            events: events.iter().cloned().map(EventRef::into_owned).collect(),
        };
        self.write(&batch).await
    }
    /// Every host seen in `environment`.
    async fn hosts(&self, environment: &str) -> Result<Vec<HostSeen>, StoreError>;
    /// Names of the metrics held for `environment`.
    async fn metric_names(&self, environment: &str) -> Result<Vec<String>, StoreError>;
    /// Raw samples, in no particular order.
    async fn metric_points(&self, query: &MetricQuery) -> Result<Vec<Point>, StoreError>;
    /// The samples of `query` in steps of `step_ms`, summarised. A store may
    /// do this where its data is; by default it is done on raw points.
    async fn metric_series(
        &self,
        query: &MetricQuery,
        step_ms: i64,
        aggregation: Aggregation,
    ) -> Result<Vec<Series>, StoreError> {
        Ok(bucket_series(
            self.metric_points(query).await?,
            step_ms,
            aggregation,
        ))
    }
    /// One value per series (host and label set) over the whole range of
    /// `query`: what a threshold rule compares. By default it is computed
    /// from the raw points.
    async fn metric_window(
        &self,
        query: &MetricQuery,
        aggregation: Aggregation,
    ) -> Result<Vec<SeriesValue>, StoreError> {
        Ok(summarise_window(
            self.metric_points(query).await?,
            aggregation,
        ))
    }
    async fn logs(&self, query: &LogQuery) -> Result<LogPage, StoreError>;
    /// Every line matching `query` (its `limit` and `cursor` are ignored),
    /// counted in all and, as `by` asks, per host and per bucket of time:
    /// what a log rule compares (per host) and the dashboard's hit
    /// histogram draws (per bucket). By default every page of
    /// [`Store::logs`] is read; a store that can count without reading the
    /// lines does.
    async fn count_logs(&self, query: &LogQuery, by: CountBy) -> Result<LogCounts, StoreError> {
        let mut counter = LogCounter::new(by);
        let mut page_query = LogQuery {
            limit: COUNT_PAGE,
            cursor: None,
            ..query.clone()
        };
        loop {
            let page = self.logs(&page_query).await?;
            for line in page.lines {
                let key = (line.timestamp.timestamp_micros(), 0);
                counter.add(&line.host, key, || line.message);
            }
            match page.next_cursor {
                Some(cursor) => page_query.cursor = Some(cursor),
                None => return Ok(counter.finish()),
            }
        }
    }
    /// Whether `holder` leads the work that must happen once (alert
    /// evaluation and mail, scheduled jobs) for the next `ttl`: the lease is
    /// taken when free or lapsed and renewed when `holder` has it. A store
    /// that one monitor owns always answers yes.
    async fn lead(&self, holder: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        let _ = (holder, ttl);
        Ok(true)
    }
    /// API statistics records whose window ended within the range.
    async fn api_stats(
        &self,
        environment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ApiStatsRecord>, StoreError>;
    /// Deletes data of `kind` older than `cutoff`; answers how much went.
    async fn delete_older_than(
        &self,
        kind: DataKind,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
}
