//! The embedded store, under the data directory, no other service: logs in
//! a log store of ours (`logs`: compressed chunks scanned newest first),
//! metric samples in a time-series store of ours (`tsdb`: a series' samples
//! in time order), API statistics in a tantivy index. Survives restarts.

mod catalog;
mod error;
pub(crate) mod logs;
pub use logs::LogMemory;
mod schema;
mod tsdb;
mod varint;
mod wal;
mod writer;

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tantivy::collector::{Count, DocSetCollector};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Term, Value};
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument};
use tokio::sync::{mpsc, oneshot};

use aerie_wire::{EventBody, EventRef};

use super::{
    Aggregation, ApiStatsRecord, CountBy, DataKind, HostSeen, LogCounts, LogPage, LogQuery,
    MetricQuery, Point, Series, StepSummary, Store, StoreError, WriteBatch, WriteOutcome,
    summarise_sorted,
};
use catalog::Catalog;
use schema::{Fields, KIND_API_STATS};

/// Segments of a size merged together.
const MERGE_AT: usize = 16;

/// The embedded store.
pub struct EmbeddedStore {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    catalog: Arc<Catalog>,
    metrics: tsdb::MetricStore,
    logs: logs::LogStore,
    commands: mpsc::Sender<writer::Command>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Drop for EmbeddedStore {
    /// Closes the writer's channel and waits for it to finish, so the index
    /// lock is free for the next open.
    fn drop(&mut self) {
        let (closed, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.commands, closed));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // The times hosts were last heard from since the last save.
        if let Err(error) = self.catalog.save() {
            tracing::warn!(%error, "cannot save the host catalog");
        }
    }
}

fn backend(error: impl Into<super::BoxError>) -> StoreError {
    StoreError::backend("embedded", error)
}

impl EmbeddedStore {
    /// Opens the store in `dir` (created if needed), with the logs' default
    /// memory.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        Self::open_with(dir, LogMemory::default())
    }

    /// Opens the store in `dir` (created if needed), the logs keeping
    /// `memory` in memory.
    pub fn open_with(dir: &Path, memory: LogMemory) -> Result<Self, StoreError> {
        let index_dir = dir.join("index");
        std::fs::create_dir_all(&index_dir)
            .map_err(|e| backend(format!("{}: {e}", index_dir.display())))?;
        let (schema, fields) = schema::schema();
        let directory = tantivy::directory::MmapDirectory::open(&index_dir).map_err(backend)?;
        let index = Index::open_or_create(directory, schema)
            .map_err(|e| backend(format!("{}: {e}", index_dir.display())))?;
        let writer: tantivy::IndexWriter = index
            .writer(64 * 1024 * 1024)
            .map_err(|e| backend(format!("{}: {e}", index_dir.display())))?;
        // Every acknowledged batch is a commit, so a segment: merging them in
        // larger groups rewrites each document fewer times.
        let mut merges = tantivy::indexer::LogMergePolicy::default();
        merges.set_min_num_segments(MERGE_AT);
        writer.set_merge_policy(Box::new(merges));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(backend)?;
        let catalog = Arc::new(Catalog::load(dir.join("hosts.json")).map_err(backend)?);
        let metrics = tsdb::MetricStore::open(&dir.join("metrics")).map_err(backend)?;
        let logs = logs::LogStore::open(&dir.join("logs"), memory).map_err(backend)?;
        let (commands, receiver) = mpsc::channel(256);
        let (thread_reader, thread_fields, thread_catalog) =
            (reader.clone(), fields.clone(), Arc::clone(&catalog));
        let thread = std::thread::Builder::new()
            .name("embedded-writer".into())
            .spawn(move || {
                writer::run(
                    writer,
                    thread_reader,
                    thread_fields,
                    thread_catalog,
                    receiver,
                )
            })
            .map_err(backend)?;
        Ok(Self {
            index,
            reader,
            fields,
            catalog,
            metrics,
            logs,
            commands,
            thread: Some(thread),
        })
    }

    fn term(&self, field: tantivy::schema::Field, text: &str) -> Box<dyn Query> {
        Box::new(TermQuery::new(
            Term::from_field_text(field, text),
            IndexRecordOption::Basic,
        ))
    }

    fn time_range(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Box<dyn Query> {
        let date = |at: DateTime<Utc>| {
            Term::from_field_date(
                self.fields.ts,
                tantivy::DateTime::from_timestamp_micros(at.timestamp_micros()),
            )
        };
        Box::new(RangeQuery::new(
            Bound::Included(date(from)),
            Bound::Included(date(to)),
        ))
    }

    /// kind AND env AND the given clauses.
    fn all(&self, kind: &str, environment: &str, mut clauses: Vec<Box<dyn Query>>) -> BooleanQuery {
        clauses.push(self.term(self.fields.kind, kind));
        clauses.push(self.term(self.fields.env, environment));
        BooleanQuery::new(
            clauses
                .into_iter()
                .map(|clause| (Occur::Must, clause))
                .collect(),
        )
    }

    fn read_metric(&self, query: &MetricQuery) -> Result<Vec<tsdb::SeriesPoints>, StoreError> {
        self.metrics.read(&metric_range(query)).map_err(backend)
    }

    fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    async fn command(&self, command: writer::Command) -> Result<(), StoreError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| backend("the writer thread has stopped"))
    }
}

impl EmbeddedStore {
    /// Stores one host's log lines and other events: each kind in its own
    /// store, read in place.
    async fn write_all<'e>(
        &self,
        environment: &str,
        host: &str,
        lines: impl Iterator<Item = logs::NewLine<'e>>,
        others: Vec<&aerie_wire::Event>,
    ) -> Result<WriteOutcome, StoreError> {
        let mut outcome = WriteOutcome::default();
        let mut lines = lines.peekable();
        if lines.peek().is_some() {
            // Hosts are heard from before their lines can be read.
            self.catalog.saw(environment, host, chrono::Utc::now());
            let (stored, duplicates) = self.write_logs(environment, host, lines)?;
            outcome.accepted += stored;
            outcome.duplicates += duplicates;
        }
        let metrics = others
            .iter()
            .filter(|event| matches!(event.body, EventBody::Metric { .. }))
            .count();
        if metrics > 0 {
            // Hosts are heard from before their samples can be read.
            self.catalog.saw(environment, host, chrono::Utc::now());
            let mut samples: Vec<tsdb::Sample<'_>> = Vec::with_capacity(metrics);
            samples.extend(others.iter().filter_map(|event| match &event.body {
                EventBody::Metric {
                    name,
                    value,
                    labels,
                } => Some(tsdb::Sample {
                    name,
                    labels,
                    millis: event.timestamp.timestamp_millis(),
                    value: *value,
                }),
                _ => None,
            }));
            let (stored, duplicates) =
                tokio::task::block_in_place(|| self.metrics.write(environment, host, &samples))
                    .map_err(backend)?;
            outcome.accepted += stored;
            outcome.duplicates += duplicates;
        }
        if others.len() == metrics {
            if let Err(error) = self.catalog.save_due() {
                tracing::warn!(%error, "cannot save the host catalog");
            }
            return Ok(outcome);
        }
        let batch = WriteBatch {
            environment: environment.to_owned(),
            host: host.to_owned(),
            events: others
                .into_iter()
                .filter(|event| matches!(event.body, EventBody::ApiStats { .. }))
                .cloned()
                .collect(),
        };
        let (reply, answer) = oneshot::channel();
        self.command(writer::Command::Write(batch, reply)).await?;
        let rest = answer
            .await
            .map_err(|_| backend("the writer thread has stopped"))??;
        outcome.accepted += rest.accepted;
        outcome.duplicates += rest.duplicates;
        Ok(outcome)
    }

    /// Stores log lines in parts, so that no list here is as long as the
    /// batch, with one sync at the end.
    fn write_logs<'e>(
        &self,
        environment: &str,
        host: &str,
        mut lines: std::iter::Peekable<impl Iterator<Item = logs::NewLine<'e>>>,
    ) -> Result<(u64, u64), StoreError> {
        let (mut stored, mut duplicates, mut mark) = (0, 0, 0);
        let mut part = Vec::with_capacity(logs::APPEND_LINES);
        while lines.peek().is_some() {
            part.clear();
            part.extend(lines.by_ref().take(logs::APPEND_LINES));
            let (new, repeated, written) =
                tokio::task::block_in_place(|| self.logs.append(environment, host, &part))
                    .map_err(backend)?;
            stored += new;
            duplicates += repeated;
            mark = written;
        }
        tokio::task::block_in_place(|| self.logs.sync(mark)).map_err(backend)?;
        Ok((stored, duplicates))
    }
}

/// A log event's line for the log store (named functions, not closures: an
/// async caller needs their lifetimes spelt out).
/// The query's text as a parsed search; a syntax error is a
/// [`StoreError::BadQuery`] saying what is wrong.
fn parsed(query: &LogQuery) -> Result<logs::Expr, StoreError> {
    let text = query.text.as_deref().unwrap_or_default();
    logs::parse(text).map_err(|syntax| StoreError::BadQuery {
        query: text.to_owned(),
        reason: syntax.0,
    })
}

/// The query as the log store searches it, from below the key `below`
/// (a page's cursor). Levels are compared in any case.
fn search_of<'a>(
    query: &'a LogQuery,
    expr: &'a logs::Expr,
    below: Option<(i64, u64)>,
) -> logs::Search<'a> {
    logs::Search {
        environment: &query.environment,
        host: query.host.as_deref(),
        level: query.level.as_deref(),
        file: query.file.as_deref(),
        from: query.from.timestamp_micros(),
        to: query.to.timestamp_micros(),
        below,
        limit: query.limit,
        expr,
    }
}

fn line_of_event(event: &aerie_wire::Event) -> Option<logs::NewLine<'_>> {
    match &event.body {
        EventBody::Log {
            file,
            level,
            logger,
            message,
            origin,
            ..
        } => Some(logs::NewLine {
            ts: event.timestamp.timestamp_micros(),
            file,
            level: level.as_deref(),
            logger: logger.as_deref(),
            id: &event.id,
            origin: *origin,
            message,
        }),
        _ => None,
    }
}

fn line_of_ref<'a>(event: &'a EventRef<'_>) -> Option<logs::NewLine<'a>> {
    match event {
        EventRef::Log(log) => Some(logs::NewLine {
            ts: log.timestamp.timestamp_micros(),
            file: &log.file,
            level: log.level.as_deref(),
            logger: log.logger.as_deref(),
            id: &log.id,
            origin: log.origin,
            message: &log.message,
        }),
        EventRef::Other(_) => None,
    }
}

fn metric_range(query: &MetricQuery) -> tsdb::Range<'_> {
    tsdb::Range {
        environment: &query.environment,
        name: &query.name,
        host: query.host.as_deref(),
        from: query.from.timestamp_millis(),
        to: query.to.timestamp_millis(),
    }
}

fn text_of(document: &TantivyDocument, field: tantivy::schema::Field) -> Option<&str> {
    document.get_first(field).and_then(|value| value.as_str())
}

fn u64_of(document: &TantivyDocument, field: tantivy::schema::Field) -> u64 {
    document
        .get_first(field)
        .and_then(|value| value.as_u64())
        .unwrap_or(0)
}

fn f64_of(document: &TantivyDocument, field: tantivy::schema::Field) -> f64 {
    document
        .get_first(field)
        .and_then(|value| value.as_f64())
        .unwrap_or(0.0)
}

fn date_of(document: &TantivyDocument, field: tantivy::schema::Field) -> DateTime<Utc> {
    document
        .get_first(field)
        .and_then(|value| value.as_datetime())
        .and_then(|date| DateTime::from_timestamp_micros(date.into_timestamp_micros()))
        .unwrap_or_default()
}

#[async_trait::async_trait]
impl Store for EmbeddedStore {
    async fn write(&self, batch: &WriteBatch) -> Result<WriteOutcome, StoreError> {
        let lines = batch.events.iter().filter_map(line_of_event);
        let others = batch
            .events
            .iter()
            .filter(|event| !matches!(event.body, EventBody::Log { .. }))
            .collect();
        self.write_all(&batch.environment, &batch.host, lines, others)
            .await
    }

    async fn write_events(
        &self,
        environment: &str,
        host: &str,
        events: &[EventRef<'_>],
    ) -> Result<WriteOutcome, StoreError> {
        let lines = events.iter().filter_map(line_of_ref);
        let others = events
            .iter()
            .filter_map(|event| match event {
                EventRef::Other(event) => Some(event),
                EventRef::Log(_) => None,
            })
            .collect();
        self.write_all(environment, host, lines, others).await
    }

    async fn hosts(&self, environment: &str) -> Result<Vec<HostSeen>, StoreError> {
        Ok(self.catalog.hosts(environment))
    }

    async fn metric_names(&self, environment: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.metrics.names(environment))
    }

    async fn metric_points(&self, query: &MetricQuery) -> Result<Vec<Point>, StoreError> {
        let found = tokio::task::block_in_place(|| self.read_metric(query))?;
        Ok(found
            .into_iter()
            .flat_map(|series| {
                let (host, labels) = (series.info.host, series.info.labels);
                series.points.into_iter().map(move |(millis, value)| Point {
                    host: host.clone(),
                    labels: labels.clone(),
                    timestamp: DateTime::from_timestamp_millis(millis).unwrap_or_default(),
                    value,
                })
            })
            .collect())
    }

    async fn metric_series(
        &self,
        query: &MetricQuery,
        step_ms: i64,
        aggregation: Aggregation,
    ) -> Result<Vec<Series>, StoreError> {
        let range = metric_range(query);
        // Avg, min and max are summed up as the samples are read; p95 needs
        // every sample of a step.
        let summary = StepSummary::new(range.from, range.to, step_ms, 100_000)
            .filter(|_| aggregation != Aggregation::P95);
        let mut series: Vec<Series> = match summary {
            Some(summary) => tokio::task::block_in_place(|| {
                self.metrics.scan(
                    &range,
                    || summary.clone(),
                    |steps, millis, value| steps.add(millis, value),
                )
            })
            .map_err(backend)?
            .into_iter()
            .map(|(info, steps)| Series {
                points: steps.finish(aggregation),
                host: info.host,
                labels: info.labels,
            })
            .collect(),
            None => tokio::task::block_in_place(|| self.read_metric(query))?
                .into_iter()
                .map(|series| Series {
                    points: summarise_sorted(&series.points, step_ms, aggregation),
                    host: series.info.host,
                    labels: series.info.labels,
                })
                .collect(),
        };
        series.sort_by(|a, b| (&a.host, &a.labels).cmp(&(&b.host, &b.labels)));
        Ok(series)
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage, StoreError> {
        let expr = parsed(query)?;
        let below = match &query.cursor {
            Some(cursor) => {
                Some(
                    logs::parse_cursor(cursor).ok_or_else(|| StoreError::BadQuery {
                        query: cursor.clone(),
                        reason: "not a cursor this API returned".into(),
                    })?,
                )
            }
            None => None,
        };
        let search = search_of(query, &expr, below);
        let page = tokio::task::block_in_place(|| logs::in_pool(|| self.logs.search(&search)))
            .map_err(backend)?;
        Ok(LogPage {
            lines: page.lines,
            next_cursor: page.next.map(logs::cursor),
        })
    }

    async fn count_logs(&self, query: &LogQuery, by: CountBy) -> Result<LogCounts, StoreError> {
        let expr = parsed(query)?;
        let search = search_of(query, &expr, None);
        tokio::task::block_in_place(|| logs::in_pool(|| self.logs.count(&search, by)))
            .map_err(backend)
    }

    async fn api_stats(
        &self,
        environment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ApiStatsRecord>, StoreError> {
        let query = self.all(KIND_API_STATS, environment, vec![self.time_range(from, to)]);
        let searcher = self.searcher();
        let fields = &self.fields;
        tokio::task::block_in_place(|| {
            let found = searcher.search(&query, &DocSetCollector).map_err(backend)?;
            found
                .into_iter()
                .map(|address| {
                    let document: TantivyDocument = searcher.doc(address).map_err(backend)?;
                    Ok(ApiStatsRecord {
                        host: text_of(&document, fields.host)
                            .unwrap_or_default()
                            .to_owned(),
                        api: text_of(&document, fields.api)
                            .unwrap_or_default()
                            .to_owned(),
                        tenant: text_of(&document, fields.tenant)
                            .unwrap_or_default()
                            .to_owned(),
                        window_end: date_of(&document, fields.ts),
                        count: u64_of(&document, fields.count),
                        faults: u64_of(&document, fields.faults),
                        min_ms: f64_of(&document, fields.min_ms),
                        max_ms: f64_of(&document, fields.max_ms),
                        avg_ms: f64_of(&document, fields.avg_ms),
                        bytes: u64_of(&document, fields.bytes),
                    })
                })
                .collect()
        })
    }

    async fn delete_older_than(
        &self,
        kind: DataKind,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let kind = match kind {
            DataKind::Metrics => {
                return tokio::task::block_in_place(|| {
                    self.metrics.delete_older_than(cutoff.timestamp_millis())
                })
                .map_err(backend);
            }
            DataKind::Logs => {
                return tokio::task::block_in_place(|| {
                    self.logs.delete_older_than(cutoff.timestamp_micros())
                })
                .map_err(backend);
            }
            DataKind::ApiStats => KIND_API_STATS,
        };
        let old = BooleanQuery::new(vec![
            (Occur::Must, self.term(self.fields.kind, kind)),
            (
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Unbounded,
                    Bound::Excluded(Term::from_field_date(
                        self.fields.ts,
                        tantivy::DateTime::from_timestamp_micros(cutoff.timestamp_micros()),
                    )),
                )),
            ),
        ]);
        let count = tokio::task::block_in_place(|| self.searcher().search(&old, &Count))
            .map_err(backend)? as u64;
        if count == 0 {
            return Ok(0);
        }
        let (reply, answer) = oneshot::channel();
        self.command(writer::Command::Delete(Box::new(old), reply))
            .await?;
        answer
            .await
            .map_err(|_| backend("the writer thread has stopped"))??;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_embedded_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        crate::conformance::run(
            move || {
                let path = path.clone();
                Box::pin(
                    async move { Arc::new(EmbeddedStore::open(&path).unwrap()) as Arc<dyn Store> },
                )
            },
            true,
        )
        .await;
    }
}
