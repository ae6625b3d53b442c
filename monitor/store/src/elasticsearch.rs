//! The Elasticsearch store: the official `elasticsearch` crate, ECS
//! documents in daily indices (`aerie_wire::ecs`, the same the agent's
//! `_bulk` sink writes), an index template for their mappings, and a
//! `<prefix>-hosts` index for the host catalog.
//!
//! Each event is written with `create` and `_id` = its id: a second copy is
//! refused by Elasticsearch (409) and counted as a duplicate. A write is
//! answered once it is searchable (a batch waits for the next scheduled
//! refresh), so what was acknowledged is also found.

mod failover;
mod shared;

use aerie_wire::Secret;
use aerie_wire::ecs::{decode_labels, index_name, index_pattern, write_ecs_document};
use chrono::{DateTime, Utc};
use elasticsearch::auth::Credentials;
use elasticsearch::http::transport::TransportBuilder;
use elasticsearch::indices::IndicesPutIndexTemplateParts;
use elasticsearch::params::OpType;
use elasticsearch::params::Refresh;
use elasticsearch::{
    BulkParts, DeleteByQueryParts, Elasticsearch, GetParts, IndexParts, SearchParts,
};
use serde_json::{Value, json};

use super::{
    ApiStatsRecord, CountBy, DataKind, HostLogCount, HostSeen, LogBucket, LogCounts, LogLine,
    LogPage, LogQuery, MetricQuery, Point, Store, StoreError, WriteBatch, WriteOutcome,
};

/// How many hits one search page brings back.
const PAGE: usize = 5000;
/// The id of the one lease the monitors share (in `<prefix>-leases`).
const LEADER: &str = "leader";
/// The most hosts a log count names (the terms aggregation's size).
const MAX_HOSTS: usize = 10_000;

pub struct ElasticsearchStore {
    client: Elasticsearch,
    url: String,
    prefix: String,
    /// When each `environment/host` was last written to the hosts index:
    /// a host heard from again within [`HOST_SEEN_EVERY`] is not written
    /// (and refreshed) again, so a busy host costs one small write a
    /// second, not one per request.
    hosts_written: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// How often the store's indices refresh: the longest an ingest request
/// waits for its events to be searchable.
const REFRESH_INTERVAL: &str = "1s";

/// How stale a host's `last_seen` may be: well under any host-down window.
const HOST_SEEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl std::fmt::Debug for ElasticsearchStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticsearchStore")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .finish()
    }
}

fn backend(error: impl Into<super::BoxError>) -> StoreError {
    StoreError::backend("elasticsearch", error)
}

fn busy(reason: &str) -> StoreError {
    StoreError::Busy {
        store: "elasticsearch",
        reason: reason.to_owned(),
    }
}

/// A write's response, or the error its status says: `429` (a full write
/// queue or indexing pressure) is [`StoreError::Busy`], so the monitor
/// passes the back-pressure on to its client instead of failing.
async fn written(
    response: Result<elasticsearch::http::response::Response, elasticsearch::Error>,
) -> Result<elasticsearch::http::response::Response, StoreError> {
    let response = response.map_err(backend)?;
    if response.status_code() == elasticsearch::http::StatusCode::TOO_MANY_REQUESTS {
        let answer: Value = response.json().await.unwrap_or_default();
        return Err(busy(reason_of(&answer["error"])));
    }
    response.error_for_status_code().map_err(backend)
}

impl ElasticsearchStore {
    /// Records that `batch`'s host was heard from now, at most once per
    /// [`HOST_SEEN_EVERY`] for each host.
    async fn hear_from(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        let id = format!("{}/{}", batch.environment, batch.host);
        let due = self
            .hosts_written
            .lock()
            .expect("hosts lock")
            .get(&id)
            .is_none_or(|at| at.elapsed() >= HOST_SEEN_EVERY);
        if !due {
            return Ok(());
        }
        let sent = self
            .client
            .index(IndexParts::IndexId(&self.hosts_index(), &id))
            .refresh(Refresh::True)
            .body(json!({
                "@timestamp": Utc::now().to_rfc3339(),
                "service": { "environment": batch.environment },
                "host": { "name": batch.host },
            }))
            .send()
            .await;
        written(sent).await?;
        self.hosts_written
            .lock()
            .expect("hosts lock")
            .insert(id, std::time::Instant::now());
        Ok(())
    }

    /// The NDJSON bulk body of `batch`, written straight from the events:
    /// building a JSON tree per document and dropping it was most of the
    /// store's CPU.
    fn bulk_body(&self, batch: &WriteBatch) -> Result<Vec<u8>, StoreError> {
        let mut body = Vec::with_capacity(batch.events.len() * 512);
        let mut document = Vec::with_capacity(1024);
        for event in &batch.events {
            document.clear();
            let kind = write_ecs_document(event, &batch.environment, &batch.host, &mut document);
            let action = BulkAction {
                create: Target {
                    index: &index_name(&self.prefix, kind, &batch.environment, event.timestamp),
                    id: &event.id,
                },
            };
            serde_json::to_writer(&mut body, &action).map_err(backend)?;
            body.push(b'\n');
            body.extend_from_slice(&document);
            body.push(b'\n');
        }
        Ok(body)
    }
}

/// What became of `sent` documents by a bulk `answer`. An item refused for a
/// full queue makes the whole batch busy: sent again, its stored items come
/// back as duplicates (`create` with the event's id) and the refused ones
/// are stored.
fn outcome_of(answer: BulkAnswer, sent: usize) -> Result<WriteOutcome, StoreError> {
    if answer.items.len() != sent {
        return Err(backend(format!(
            "the bulk answer holds {} items for {sent} documents",
            answer.items.len()
        )));
    }
    if !answer.errors {
        return Ok(WriteOutcome {
            accepted: sent as u64,
            duplicates: 0,
        });
    }
    let mut outcome = WriteOutcome::default();
    let mut busy_reason = None;
    for item in answer.items {
        let reason = || item.create.error.as_ref().and_then(|e| e.reason.clone());
        let reason = || reason().unwrap_or_else(|| "no reason given".to_owned());
        match item.create.status {
            200..=299 => outcome.accepted += 1,
            409 => outcome.duplicates += 1,
            429 => {
                busy_reason.get_or_insert_with(reason);
            }
            status => {
                return Err(backend(format!(
                    "bulk item refused ({status}): {}",
                    reason()
                )));
            }
        }
    }
    match busy_reason {
        Some(reason) => Err(busy(&reason)),
        None => Ok(outcome),
    }
}

/// A bulk request's action line for one document.
#[derive(serde::Serialize)]
struct BulkAction<'a> {
    create: Target<'a>,
}

#[derive(serde::Serialize)]
struct Target<'a> {
    #[serde(rename = "_index")]
    index: &'a str,
    #[serde(rename = "_id")]
    id: &'a str,
}

/// What is read of a bulk answer (the request's `filter_path`).
#[derive(serde::Deserialize)]
struct BulkAnswer {
    errors: bool,
    #[serde(default)]
    items: Vec<BulkItem>,
}

#[derive(serde::Deserialize)]
struct BulkItem {
    create: ItemResult,
}

#[derive(serde::Deserialize)]
struct ItemResult {
    status: u16,
    error: Option<ItemError>,
}

#[derive(serde::Deserialize)]
struct ItemError {
    reason: Option<String>,
}

/// The `reason` of an Elasticsearch error object.
fn reason_of(error: &Value) -> &str {
    error["reason"].as_str().unwrap_or("no reason given")
}

fn mappings() -> Value {
    json!({
        "properties": {
            "@timestamp": { "type": "date" },
            "host": { "properties": { "name": { "type": "keyword" } } },
            "service": { "properties": { "environment": { "type": "keyword" } } },
            "event": { "properties": { "id": { "type": "keyword" }, "dataset": { "type": "keyword" } } },
            // The standard analyzer keeps numbers and ids but leaves
            // "java.lang.OutOfMemoryError" one token; `words` (the simple
            // analyzer) splits it, so that "OutOfMemoryError" finds it.
            "message": { "type": "text", "fields": { "words": { "type": "text", "analyzer": "simple" } } },
            "tags": { "type": "keyword" },
            "log": { "properties": {
                "level": { "type": "keyword" },
                "logger": { "type": "text", "fields": { "words": { "type": "text", "analyzer": "simple" } } },
                "file": { "properties": { "path": { "type": "keyword" } } },
                // ECS `log.offset`: where the line starts in its file.
                "offset": { "type": "long" }
            } },
            "metric": { "properties": { "name": { "type": "keyword" }, "value": { "type": "double" } } },
            "aerie": { "properties": {
                "sort": { "type": "long" },
                "labels": { "type": "keyword" },
                "api": { "properties": {
                    "name": { "type": "keyword" }, "tenant": { "type": "keyword" },
                    "count": { "type": "long" }, "faults": { "type": "long" }, "bytes": { "type": "long" }
                } }
            } }
        }
    })
}

impl ElasticsearchStore {
    /// Connects, installs the index templates and makes the shared indices.
    pub async fn connect(
        url: &str,
        username: Option<&str>,
        password: Option<&Secret>,
        prefix: &str,
    ) -> Result<Self, StoreError> {
        Self::connect_nodes(&[url.to_owned()], username, password, prefix).await
    }

    /// The store on a cluster reached through any of `urls` (its nodes, in
    /// the order they are preferred): requests go to the first that takes
    /// connections, and move on to the next when it stops (`failover`).
    pub async fn connect_nodes(
        urls: &[String],
        username: Option<&str>,
        password: Option<&Secret>,
        prefix: &str,
    ) -> Result<Self, StoreError> {
        let parsed = urls
            .iter()
            .map(|url| {
                elasticsearch::http::Url::parse(url).map_err(|e| backend(format!("{url}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.is_empty() {
            return Err(backend("no Elasticsearch URL is given"));
        }
        let url = urls.join(", ");
        let url = url.as_str();
        let mut transport = TransportBuilder::new(failover::Failover::new(parsed));
        if let Some(username) = username {
            let password = password.map(|p| p.expose().to_owned()).unwrap_or_default();
            transport = transport.auth(Credentials::Basic(username.to_owned(), password));
        }
        let client = Elasticsearch::new(transport.build().map_err(backend)?);
        let store = Self {
            client,
            url: url.to_owned(),
            prefix: prefix.to_owned(),
            hosts_written: Default::default(),
        };
        store
            .client
            .indices()
            .put_index_template(IndicesPutIndexTemplateParts::Name(prefix))
            .body(json!({
                "index_patterns": [format!("{prefix}-*")],
                // An operator's cluster-wide default of -1 (no scheduled
                // refresh) would hold every `wait_for` write forever.
                "template": { "settings": { "index.refresh_interval": REFRESH_INTERVAL }, "mappings": mappings() },
            }))
            .send()
            .await
            .and_then(|r| r.error_for_status_code())
            .map_err(|e| backend(format!("installing the index template at {url}: {e}")))?;
        store
            .client
            .indices()
            .put_index_template(IndicesPutIndexTemplateParts::Name(&format!(
                "{prefix}-shared"
            )))
            .body(Self::shared_template(prefix))
            .send()
            .await
            .and_then(|r| r.error_for_status_code())
            .map_err(|e| {
                backend(format!(
                    "installing the shared index's template at {url}: {e}"
                ))
            })?;
        store.ensure_shared_indices().await?;
        Ok(store)
    }

    fn hosts_index(&self) -> String {
        format!("{}-hosts", self.prefix)
    }

    /// One search; the JSON answer. A query Elasticsearch cannot parse is a
    /// [`StoreError::BadQuery`] about `text`.
    async fn search(
        &self,
        index: &str,
        body: Value,
        text: Option<&str>,
    ) -> Result<Value, StoreError> {
        let response = self
            .client
            .search(SearchParts::Index(&[index]))
            .allow_no_indices(true)
            .ignore_unavailable(true)
            .body(body)
            .send()
            .await
            .map_err(backend)?;
        let status = response.status_code();
        let answer: Value = response.json().await.map_err(backend)?;
        if status.as_u16() == 400 {
            let reason = answer["error"]["root_cause"][0]["reason"]
                .as_str()
                .or_else(|| answer["error"]["reason"].as_str())
                .unwrap_or("Elasticsearch could not parse it")
                .to_owned();
            return Err(match text {
                Some(text) => StoreError::BadQuery {
                    query: text.to_owned(),
                    reason,
                },
                None => backend(format!("search refused: {reason}")),
            });
        }
        if !status.is_success() {
            return Err(backend(format!("search answered {status}: {answer}")));
        }
        Ok(answer)
    }

    /// Every hit of `query`, page by page in `sort` order.
    async fn search_all(
        &self,
        index: &str,
        query: Value,
        sort: Value,
        source: Value,
    ) -> Result<Vec<Value>, StoreError> {
        let mut hits = Vec::new();
        let mut after: Option<Value> = None;
        loop {
            let mut body = json!({ "size": PAGE, "query": query, "sort": sort, "_source": source });
            if let Some(after) = &after {
                body["search_after"] = after.clone();
            }
            let answer = self.search(index, body, None).await?;
            let page = answer["hits"]["hits"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let full = page.len() == PAGE;
            after = page.last().map(|hit| hit["sort"].clone());
            hits.extend(page);
            if !full {
                return Ok(hits);
            }
        }
    }
}

/// The bool query of a log search (everything but paging), and its text
/// when it has one (to name it when Elasticsearch refuses it).
fn log_search(query: &LogQuery) -> (Value, Option<&str>) {
    let mut filters = vec![
        of_environment(&query.environment),
        range(query.from, query.to),
    ];
    if let Some(host) = &query.host {
        filters.push(json!({ "term": { "host.name": host } }));
    }
    if let Some(level) = &query.level {
        filters.push(json!({ "term": { "log.level": level.to_ascii_uppercase() } }));
    }
    if let Some(file) = &query.file {
        filters.push(json!({ "term": { "log.file.path": file } }));
    }
    let mut must = Vec::new();
    let text_query = query.text.as_deref().filter(|t| !t.trim().is_empty());
    if let Some(text) = text_query {
        must.push(json!({ "query_string": { "query": text, "fields": ["message", "message.words", "log.logger", "log.logger.words"], "default_operator": "AND" } }));
    }
    (
        json!({ "bool": { "filter": filters, "must": must } }),
        text_query,
    )
}

/// Only `environment`'s documents: an index pattern alone is not enough,
/// since `acme-*` also matches the indices of `acme-prod`.
fn of_environment(environment: &str) -> Value {
    json!({ "term": { "service.environment": environment } })
}

fn range(from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    json!({ "range": { "@timestamp": { "gte": from.to_rfc3339(), "lte": to.to_rfc3339() } } })
}

fn time_of(source: &Value) -> DateTime<Utc> {
    source["@timestamp"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
        .unwrap_or_default()
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

#[async_trait::async_trait]
impl Store for ElasticsearchStore {
    async fn write(&self, batch: &WriteBatch) -> Result<WriteOutcome, StoreError> {
        // The host is heard from before its events are searchable, so that a
        // reader never sees events from a host it does not know.
        self.hear_from(batch).await?;
        // `wait_for`, not `true`: the answer waits for the next scheduled
        // refresh (at most `refresh_interval`, which the template fixes)
        // instead of forcing one per request, each of which would cut a new
        // segment for the cluster to merge. Acknowledged is still searchable.
        // Only what is read of the answer comes back.
        let sent = self
            .client
            .bulk(BulkParts::None)
            .refresh(Refresh::WaitFor)
            .filter_path(&["errors", "items.*.status", "items.*.error.reason"])
            .body(vec![self.bulk_body(batch)?])
            .send()
            .await;
        let bytes = written(sent).await?.bytes().await.map_err(backend)?;
        let answer: BulkAnswer = serde_json::from_slice(&bytes).map_err(backend)?;
        outcome_of(answer, batch.events.len())
    }

    async fn hosts(&self, environment: &str) -> Result<Vec<HostSeen>, StoreError> {
        let hits = self
            .search_all(
                &self.hosts_index(),
                json!({ "term": { "service.environment": environment } }),
                json!([{ "host.name": "asc" }]),
                json!(["host.name", "@timestamp"]),
            )
            .await?;
        Ok(hits
            .iter()
            .map(|hit| HostSeen {
                host: text(&hit["_source"]["host"]["name"]),
                last_seen: time_of(&hit["_source"]),
            })
            .collect())
    }

    async fn metric_names(&self, environment: &str) -> Result<Vec<String>, StoreError> {
        let answer = self
            .search(
                &index_pattern(&self.prefix, "metrics", environment),
                json!({
                    "size": 0,
                    "query": of_environment(environment),
                    "aggs": { "names": { "terms": { "field": "metric.name", "size": 10000 } } },
                }),
                None,
            )
            .await?;
        let mut names: Vec<String> = answer["aggregations"]["names"]["buckets"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|bucket| text(&bucket["key"]))
            .collect();
        names.sort();
        Ok(names)
    }

    async fn metric_points(&self, query: &MetricQuery) -> Result<Vec<Point>, StoreError> {
        let mut filters = vec![
            of_environment(&query.environment),
            json!({ "term": { "metric.name": query.name } }),
            range(query.from, query.to),
        ];
        if let Some(host) = &query.host {
            filters.push(json!({ "term": { "host.name": host } }));
        }
        let hits = self
            .search_all(
                &index_pattern(&self.prefix, "metrics", &query.environment),
                json!({ "bool": { "filter": filters } }),
                json!([{ "@timestamp": "asc" }, { "event.id": "asc" }]),
                json!(["host.name", "aerie.labels", "@timestamp", "metric.value"]),
            )
            .await?;
        Ok(hits
            .iter()
            .map(|hit| {
                let source = &hit["_source"];
                Point {
                    host: text(&source["host"]["name"]),
                    labels: decode_labels(source["aerie"]["labels"].as_str().unwrap_or_default()),
                    timestamp: time_of(source),
                    value: source["metric"]["value"].as_f64().unwrap_or(f64::NAN),
                }
            })
            .collect())
    }

    async fn logs(&self, query: &LogQuery) -> Result<LogPage, StoreError> {
        // The cursor is the last line's sort values: its sort key and id.
        let after = match &query.cursor {
            Some(cursor) => Some(
                serde_json::from_str::<Value>(cursor)
                    .ok()
                    .filter(|values| values.as_array().is_some_and(|v| v.len() == 2))
                    .ok_or_else(|| StoreError::BadQuery {
                        query: cursor.clone(),
                        reason: "not a cursor this API returned".into(),
                    })?,
            ),
            None => None,
        };
        let (search, text_query) = log_search(query);
        let limit = query.limit.max(1);
        let mut body = json!({
            "size": limit + 1,
            "query": search,
            "sort": [{ "aerie.sort": "desc" }, { "event.id": "desc" }],
        });
        if let Some(after) = after {
            body["search_after"] = after;
        }
        let answer = self
            .search(
                &index_pattern(&self.prefix, "logs", &query.environment),
                body,
                text_query,
            )
            .await?;
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let more = hits.len() > limit;
        let mut lines = Vec::new();
        let mut last = None;
        for hit in hits.into_iter().take(limit) {
            let source = &hit["_source"];
            last = Some(hit["sort"].to_string());
            lines.push(LogLine {
                id: text(&source["event"]["id"]),
                timestamp: time_of(source),
                host: text(&source["host"]["name"]),
                file: text(&source["log"]["file"]["path"]),
                level: source["log"]["level"].as_str().map(str::to_owned),
                logger: source["log"]["logger"].as_str().map(str::to_owned),
                message: text(&source["message"]),
            });
        }
        Ok(LogPage {
            lines,
            next_cursor: if more { last } else { None },
        })
    }

    async fn count_logs(&self, query: &LogQuery, by: CountBy) -> Result<LogCounts, StoreError> {
        let (search, text_query) = log_search(query);
        // Only what was asked is aggregated: a top hit per host costs the
        // cluster a fetch per shard and host.
        let mut aggs = serde_json::Map::new();
        if by.hosts {
            aggs.insert(
                "hosts".into(),
                json!({
                    "terms": { "field": "host.name", "size": MAX_HOSTS },
                    "aggs": { "newest": { "top_hits": {
                        "size": 1,
                        "sort": [{ "aerie.sort": "desc" }],
                        "_source": ["message"],
                    } } },
                }),
            );
        }
        if let Some(bucket) = by.buckets {
            let step_ms = u64::try_from(bucket.as_millis()).unwrap_or(u64::MAX).max(1);
            aggs.insert(
                "buckets".into(),
                json!({ "date_histogram": {
                    "field": "@timestamp",
                    "fixed_interval": format!("{step_ms}ms"),
                    "min_doc_count": 1,
                } }),
            );
        }
        let body = json!({
            "size": 0,
            "track_total_hits": true,
            "query": search,
            "aggs": aggs,
        });
        let answer = self
            .search(
                &index_pattern(&self.prefix, "logs", &query.environment),
                body,
                text_query,
            )
            .await?;
        let aggregations = &answer["aggregations"];
        let list = |name: &str| {
            aggregations[name]["buckets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        };
        let mut hosts: Vec<HostLogCount> = list("hosts")
            .iter()
            .map(|host| HostLogCount {
                host: text(&host["key"]),
                count: host["doc_count"].as_u64().unwrap_or(0),
                newest: text(&host["newest"]["hits"]["hits"][0]["_source"]["message"]),
            })
            .collect();
        hosts.sort_by(|a, b| a.host.cmp(&b.host));
        Ok(LogCounts {
            total: answer["hits"]["total"]["value"].as_u64().unwrap_or(0),
            hosts,
            buckets: list("buckets")
                .iter()
                .map(|bucket| LogBucket {
                    start: bucket["key"]
                        .as_i64()
                        .and_then(DateTime::from_timestamp_millis)
                        .unwrap_or_default(),
                    count: bucket["doc_count"].as_u64().unwrap_or(0),
                })
                .collect(),
        })
    }

    async fn lead(&self, holder: &str, ttl: std::time::Duration) -> Result<bool, StoreError> {
        let index = format!("{}-leases", self.prefix);
        let now = Utc::now().timestamp_millis();
        let mine = json!({
            "holder": holder,
            "expires_ms": now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX)),
        });
        let found = self
            .client
            .get(GetParts::IndexId(&index, LEADER))
            .send()
            .await
            .map_err(backend)?;
        let write = self.client.index(IndexParts::IndexId(&index, LEADER));
        let write = match found.status_code().as_u16() {
            404 => write.op_type(OpType::Create),
            _ => {
                let lease: Value = found
                    .error_for_status_code()
                    .map_err(backend)?
                    .json()
                    .await
                    .map_err(backend)?;
                let held_by = lease["_source"]["holder"].as_str().unwrap_or_default();
                let expires = lease["_source"]["expires_ms"].as_i64().unwrap_or(0);
                if held_by != holder && expires > now {
                    return Ok(false);
                }
                // Renewed or taken over only if nobody wrote it since.
                write
                    .if_seq_no(lease["_seq_no"].as_i64().unwrap_or(-1))
                    .if_primary_term(lease["_primary_term"].as_i64().unwrap_or(-1))
            }
        };
        let written = write
            .refresh(Refresh::True)
            .body(mine)
            .send()
            .await
            .map_err(backend)?;
        match written.status_code().as_u16() {
            // Another monitor wrote first.
            409 => Ok(false),
            _ => written
                .error_for_status_code()
                .map(|_| true)
                .map_err(backend),
        }
    }

    async fn api_stats(
        &self,
        environment: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ApiStatsRecord>, StoreError> {
        let hits = self
            .search_all(
                &index_pattern(&self.prefix, "apistats", environment),
                json!({ "bool": { "filter": [of_environment(environment), range(from, to)] } }),
                json!([{ "@timestamp": "asc" }, { "event.id": "asc" }]),
                json!(true),
            )
            .await?;
        Ok(hits
            .iter()
            .map(|hit| {
                let source = &hit["_source"];
                let api = &source["aerie"]["api"];
                ApiStatsRecord {
                    host: text(&source["host"]["name"]),
                    api: text(&api["name"]),
                    tenant: text(&api["tenant"]),
                    window_end: time_of(source),
                    count: api["count"].as_u64().unwrap_or(0),
                    faults: api["faults"].as_u64().unwrap_or(0),
                    min_ms: api["response_time"]["min_ms"].as_f64().unwrap_or(0.0),
                    max_ms: api["response_time"]["max_ms"].as_f64().unwrap_or(0.0),
                    avg_ms: api["response_time"]["avg_ms"].as_f64().unwrap_or(0.0),
                    bytes: api["bytes"].as_u64().unwrap_or(0),
                }
            })
            .collect())
    }

    async fn delete_older_than(
        &self,
        kind: DataKind,
        cutoff: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let kind = match kind {
            DataKind::Metrics => "metrics",
            DataKind::Logs => "logs",
            DataKind::ApiStats => "apistats",
        };
        let pattern = format!("{}-{kind}-*", self.prefix);
        let response = self
            .client
            .delete_by_query(DeleteByQueryParts::Index(&[&pattern]))
            .allow_no_indices(true)
            .refresh(true)
            .body(json!({ "query": { "range": { "@timestamp": { "lt": cutoff.to_rfc3339() } } } }))
            .send()
            .await
            .and_then(|r| r.error_for_status_code())
            .map_err(backend)?;
        let answer: Value = response.json().await.map_err(backend)?;
        Ok(answer["deleted"].as_u64().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn answer(text: &str) -> BulkAnswer {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_bulk_answer_counts_stored_and_held_items_and_a_full_queue_makes_the_batch_busy() {
        let clean = answer(
            r#"{"errors":false,"items":[{"create":{"status":201}},{"create":{"status":201}}]}"#,
        );
        assert_eq!(
            outcome_of(clean, 2).unwrap(),
            WriteOutcome {
                accepted: 2,
                duplicates: 0
            }
        );
        let held = answer(
            r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":409,"error":{"reason":"exists"}}}]}"#,
        );
        assert_eq!(
            outcome_of(held, 2).unwrap(),
            WriteOutcome {
                accepted: 1,
                duplicates: 1
            }
        );
        let full = answer(
            r#"{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429,"error":{"reason":"queue full"}}}]}"#,
        );
        let busy = outcome_of(full, 2).unwrap_err();
        assert!(
            matches!(&busy, StoreError::Busy { reason, .. } if reason == "queue full"),
            "{busy:?}"
        );
        let refused = answer(
            r#"{"errors":true,"items":[{"create":{"status":400,"error":{"reason":"mapper_parsing_exception"}}}]}"#,
        );
        let failed = outcome_of(refused, 1).unwrap_err();
        assert!(matches!(failed, StoreError::Backend { .. }), "{failed:?}");
        let short = answer(r#"{"errors":false,"items":[{"create":{"status":201}}]}"#);
        assert!(
            outcome_of(short, 2).is_err(),
            "an answer missing items is not taken"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_elasticsearch_store_passes_the_conformance_suite_against_a_real_opensearch_node() {
        let node = aerie_testkit::OpenSearch::start().await.unwrap();
        let url = node.url().to_owned();
        crate::conformance::run(
            move || {
                let url = url.clone();
                Box::pin(async move {
                    Arc::new(
                        ElasticsearchStore::connect(&url, None, None, "aerie")
                            .await
                            .unwrap(),
                    ) as Arc<dyn Store>
                })
            },
            true,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn two_monitors_share_state_through_a_real_opensearch_node_and_a_stale_write_loses() {
        let node = aerie_testkit::OpenSearch::start().await.unwrap();
        let connect = || ElasticsearchStore::connect(node.url(), None, None, "aerie");
        let (one, two) = (connect().await.unwrap(), connect().await.unwrap());
        crate::shared::conformance(&one, &two).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_monitor_leads_until_its_lease_lapses_then_another_takes_over_and_a_race_has_one_winner()
     {
        let node = aerie_testkit::OpenSearch::start().await.unwrap();
        let connect = || ElasticsearchStore::connect(node.url(), None, None, "aerie");
        let (one, two) = (connect().await.unwrap(), connect().await.unwrap());
        // Long enough that a busy machine never lets a held lease lapse
        // between two questions; the lapse is asked for with `short`.
        let ttl = std::time::Duration::from_secs(20);
        let short = std::time::Duration::from_secs(1);
        let lapse = short + std::time::Duration::from_millis(500);
        assert!(
            one.lead("monitor-1", ttl).await.unwrap(),
            "a free lease is taken"
        );
        assert!(
            !two.lead("monitor-2", ttl).await.unwrap(),
            "a held one is not"
        );
        assert!(
            one.lead("monitor-1", ttl).await.unwrap(),
            "its holder renews it"
        );
        assert!(!two.lead("monitor-2", ttl).await.unwrap());
        // monitor-1's last renewal is short and it stops: once the lease
        // lapses monitor-2 has it.
        assert!(one.lead("monitor-1", short).await.unwrap());
        tokio::time::sleep(lapse).await;
        assert!(
            two.lead("monitor-2", short).await.unwrap(),
            "a lapsed lease is taken over"
        );
        // Two monitors at a lapsed lease at once: exactly one wins, each
        // time (the winner's lease outlasts the loser's question).
        for round in 0..3 {
            tokio::time::sleep(lapse).await;
            let (name_a, name_b) = (format!("a-{round}"), format!("b-{round}"));
            let (a, b) = tokio::join!(one.lead(&name_a, ttl), two.lead(&name_b, ttl));
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!(a ^ b, "round {round}: exactly one leads");
            // The round's winner shortens its lease for the next round.
            let shortened = if a {
                one.lead(&name_a, short).await
            } else {
                two.lead(&name_b, short).await
            };
            assert!(shortened.unwrap(), "round {round}: the winner renews");
        }
    }
}
