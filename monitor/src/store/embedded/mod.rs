//! The embedded store: a tantivy index under the data directory, no other
//! service. Full text for logs, fast fields for metrics; survives restarts.

mod catalog;
mod metric_collector;
mod query_text;
mod schema;
mod writer;

use std::collections::HashMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, QueryClone, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{IndexRecordOption, Term, Value};
use tantivy::{Index, IndexReader, Order, ReloadPolicy, Searcher, TantivyDocument};
use tokio::sync::{mpsc, oneshot};

use super::{
    Aggregation, ApiStatsRecord, DataKind, HostSeen, LogLine, LogPage, LogQuery, MetricQuery,
    Point, Series, Store, StoreError, WriteBatch, WriteOutcome, summarise_buckets,
};
use catalog::Catalog;
use schema::{Fields, KIND_API_STATS, KIND_LOG, KIND_METRIC, decode_labels};

/// The embedded store.
pub struct EmbeddedStore {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    catalog: Arc<Catalog>,
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
    }
}

fn backend(error: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        store: "embedded",
        message: error.to_string(),
    }
}

impl EmbeddedStore {
    /// Opens the store in `dir` (created if needed).
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let index_dir = dir.join("index");
        std::fs::create_dir_all(&index_dir)
            .map_err(|e| backend(format!("{}: {e}", index_dir.display())))?;
        let (schema, fields) = schema::schema();
        let directory = tantivy::directory::MmapDirectory::open(&index_dir).map_err(backend)?;
        let index = Index::open_or_create(directory, schema)
            .map_err(|e| backend(format!("{}: {e}", index_dir.display())))?;
        let writer = index
            .writer(64 * 1024 * 1024)
            .map_err(|e| backend(format!("{}: {e}", index_dir.display())))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(backend)?;
        let catalog = Arc::new(Catalog::load(dir.join("hosts.json")).map_err(backend)?);
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

    /// The samples a metric query asks for.
    fn metric_query(&self, query: &MetricQuery) -> BooleanQuery {
        let mut clauses = vec![
            self.term(self.fields.name, &query.name),
            self.time_range(query.from, query.to),
        ];
        if let Some(host) = &query.host {
            clauses.push(self.term(self.fields.host, host));
        }
        self.all(KIND_METRIC, &query.environment, clauses)
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
    async fn write(&self, batch: WriteBatch) -> Result<WriteOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.command(writer::Command::Write(batch, reply)).await?;
        answer
            .await
            .map_err(|_| backend("the writer thread has stopped"))?
    }

    async fn hosts(&self, environment: &str) -> Result<Vec<HostSeen>, StoreError> {
        Ok(self.catalog.hosts(environment))
    }

    async fn metric_names(&self, environment: &str) -> Result<Vec<String>, StoreError> {
        let searcher = self.searcher();
        let query = self.all(KIND_METRIC, environment, Vec::new());
        let field = self.fields.name;
        tokio::task::block_in_place(|| {
            let mut names = std::collections::BTreeSet::new();
            // Every name in the dictionary, kept if this environment has one.
            for segment in searcher.segment_readers() {
                let terms = segment.inverted_index(field).map_err(backend)?;
                let mut stream = terms.terms().stream().map_err(backend)?;
                while stream.advance() {
                    if let Ok(name) = std::str::from_utf8(stream.key()) {
                        names.insert(name.to_owned());
                    }
                }
            }
            let mut held = Vec::new();
            for name in names {
                let with_name = BooleanQuery::new(vec![
                    (Occur::Must, query.box_clone()),
                    (Occur::Must, self.term(field, &name)),
                ]);
                if searcher.search(&with_name, &Count).map_err(backend)? > 0 {
                    held.push(name);
                }
            }
            Ok(held)
        })
    }

    async fn metric_points(&self, query: &MetricQuery) -> Result<Vec<Point>, StoreError> {
        let mut clauses = vec![
            self.term(self.fields.name, &query.name),
            self.time_range(query.from, query.to),
        ];
        if let Some(host) = &query.host {
            clauses.push(self.term(self.fields.host, host));
        }
        let query = self.all(KIND_METRIC, &query.environment, clauses);
        let searcher = self.searcher();
        tokio::task::block_in_place(|| {
            let found = searcher.search(&query, &DocSetCollector).map_err(backend)?;
            let mut by_segment: HashMap<u32, Vec<u32>> = HashMap::new();
            for address in found {
                by_segment
                    .entry(address.segment_ord)
                    .or_default()
                    .push(address.doc_id);
            }
            let mut points = Vec::new();
            for (segment, docs) in by_segment {
                let reader = searcher.segment_reader(segment);
                let fast = reader.fast_fields();
                let values = fast.f64("value").map_err(backend)?;
                let times = fast.date("ts").map_err(backend)?;
                let hosts = fast
                    .str("host")
                    .map_err(backend)?
                    .ok_or_else(|| backend("no host column"))?;
                let labels = fast
                    .str("labels")
                    .map_err(backend)?
                    .ok_or_else(|| backend("no labels column"))?;
                let mut names: HashMap<(bool, u64), String> = HashMap::new();
                let mut lookup =
                    |column: &tantivy::columnar::StrColumn, is_host: bool, doc: u32| -> String {
                        let Some(ord) = column.ords().first(doc) else {
                            return String::new();
                        };
                        names
                            .entry((is_host, ord))
                            .or_insert_with(|| {
                                let mut text = String::new();
                                let _ = column.ord_to_str(ord, &mut text);
                                text
                            })
                            .clone()
                    };
                for doc in docs {
                    let (Some(value), Some(at)) = (values.first(doc), times.first(doc)) else {
                        continue;
                    };
                    let host = lookup(&hosts, true, doc);
                    let label_text = lookup(&labels, false, doc);
                    points.push(Point {
                        host,
                        labels: decode_labels(&label_text),
                        timestamp: DateTime::from_timestamp_micros(at.into_timestamp_micros())
                            .unwrap_or_default(),
                        value,
                    });
                }
            }
            Ok(points)
        })
    }

    async fn metric_series(
        &self,
        query: &MetricQuery,
        step_ms: i64,
        aggregation: Aggregation,
    ) -> Result<Vec<Series>, StoreError> {
        let search = self.metric_query(query);
        let searcher = self.searcher();
        let buckets = tokio::task::block_in_place(|| {
            searcher.search(&search, &metric_collector::MetricBuckets { step_ms })
        })
        .map_err(backend)?;
        Ok(summarise_buckets(buckets, aggregation))
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage, StoreError> {
        let mut clauses = vec![self.time_range(query.from, query.to)];
        if let Some(host) = &query.host {
            clauses.push(self.term(self.fields.host, host));
        }
        if let Some(level) = &query.level {
            clauses.push(self.term(self.fields.level, &level.to_ascii_uppercase()));
        }
        if let Some(file) = &query.file {
            clauses.push(self.term(self.fields.file, file));
        }
        if let Some(text) = query.text.as_deref().filter(|text| !text.trim().is_empty()) {
            // Words match the message or the logger's name.
            let mut parser =
                QueryParser::for_index(&self.index, vec![self.fields.message, self.fields.logger]);
            parser.set_conjunction_by_default();
            let parsed = parser
                .parse_query(&query_text::normalize(text))
                .map_err(|error| StoreError::BadQuery {
                    query: text.to_owned(),
                    reason: error.to_string(),
                })?;
            clauses.push(parsed);
        }
        if let Some(cursor) = &query.cursor {
            let below: u64 = cursor.parse().map_err(|_| StoreError::BadQuery {
                query: cursor.clone(),
                reason: "not a cursor this API returned".into(),
            })?;
            clauses.push(Box::new(RangeQuery::new(
                Bound::Unbounded,
                Bound::Excluded(Term::from_field_u64(self.fields.sort_key, below)),
            )));
        }
        let search = self.all(KIND_LOG, &query.environment, clauses);
        let searcher = self.searcher();
        let limit = query.limit.max(1);
        tokio::task::block_in_place(|| {
            let top = searcher
                .search(
                    &search,
                    &TopDocs::with_limit(limit + 1)
                        .order_by_fast_field::<u64>("sort_key", Order::Desc),
                )
                .map_err(backend)?;
            let more = top.len() > limit;
            let mut lines = Vec::with_capacity(limit);
            let mut last_key = None;
            for (key, address) in top.into_iter().take(limit) {
                let document: TantivyDocument = searcher.doc(address).map_err(backend)?;
                last_key = key;
                lines.push(LogLine {
                    id: text_of(&document, self.fields.id)
                        .unwrap_or_default()
                        .to_owned(),
                    timestamp: date_of(&document, self.fields.ts),
                    host: text_of(&document, self.fields.host)
                        .unwrap_or_default()
                        .to_owned(),
                    file: text_of(&document, self.fields.file)
                        .unwrap_or_default()
                        .to_owned(),
                    level: text_of(&document, self.fields.level).map(str::to_owned),
                    logger: text_of(&document, self.fields.logger).map(str::to_owned),
                    message: text_of(&document, self.fields.message)
                        .unwrap_or_default()
                        .to_owned(),
                });
            }
            let next_cursor = if more {
                last_key.map(|key| key.to_string())
            } else {
                None
            };
            Ok(LogPage { lines, next_cursor })
        })
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
            DataKind::Metrics => KIND_METRIC,
            DataKind::Logs => KIND_LOG,
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
        crate::store::conformance::run(
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
