//! The monitors' shared state (`crate::shared`) in the cluster: index
//! `<prefix>-shared`, a document `<kind>-<key>` per key holding
//! `{"kind": kind, "doc": the document}`. A new document is written with
//! `op_type=create`, a change only with the `if_seq_no` and
//! `if_primary_term` it was read at; a 409 means another monitor wrote
//! first. Reads are real-time `GET`s, so writes ask for no refresh; a prune
//! (a delete-by-query on the kind and a time in the document) refreshes
//! first, so it sees every write acknowledged before it.

use chrono::{DateTime, Utc};
use elasticsearch::cluster::ClusterHealthParts;
use elasticsearch::indices::{IndicesCreateParts, IndicesRefreshParts};
use elasticsearch::params::{OpType, WaitForStatus};
use elasticsearch::{DeleteByQueryParts, DeleteParts, GetParts, IndexParts, SearchParts};
use serde_json::{Value, json};

use super::{ElasticsearchStore, backend};
use crate::StoreError;
use crate::shared::{LISTED, SharedState, Version};

impl ElasticsearchStore {
    fn shared_index(&self) -> String {
        format!("{}-shared", self.prefix)
    }

    /// Makes `index` unless another monitor has, and waits (up to 30 s)
    /// until its primary shard is active. An index made by its first write
    /// answers a read from another monitor in that moment with 503 (no
    /// shard available), which a dashboard or API caller would see as the
    /// monitor's state being unavailable.
    pub(super) async fn ensure_index(&self, index: &str) -> Result<(), StoreError> {
        let created = self
            .client
            .indices()
            .create(IndicesCreateParts::Index(index))
            .send()
            .await
            .map_err(backend)?;
        if !created.status_code().is_success() {
            let status = created.status_code();
            let answer: Value = created.json().await.unwrap_or_default();
            if answer["error"]["type"] != "resource_already_exists_exception" {
                return Err(backend(format!(
                    "making the index {index}: HTTP {status}: {answer}"
                )));
            }
        }
        let health: Value = self
            .client
            .cluster()
            .health(ClusterHealthParts::Index(&[index]))
            .wait_for_status(WaitForStatus::Yellow)
            .timeout("30s")
            .send()
            .await
            .and_then(|r| r.error_for_status_code())
            .map_err(backend)?
            .json()
            .await
            .map_err(backend)?;
        if health["timed_out"] == true {
            return Err(backend(format!(
                "the index {index} has no active primary shard after 30 s (cluster status {}): check the cluster's health",
                health["status"]
            )));
        }
        Ok(())
    }

    /// Makes the shared index and the leases' (see [`Self::ensure_index`]).
    pub(super) async fn ensure_shared_indices(&self) -> Result<(), StoreError> {
        self.ensure_index(&self.shared_index()).await?;
        self.ensure_index(&format!("{}-leases", self.prefix)).await
    }
}

/// The version a `GET` or an index answer names.
fn version_of(answer: &Value) -> Version {
    Version {
        seq_no: answer["_seq_no"].as_i64().unwrap_or(-1),
        primary_term: answer["_primary_term"].as_i64().unwrap_or(-1),
    }
}

/// The document id of `key` of `kind`.
fn id(kind: &str, key: &str) -> String {
    format!("{kind}-{key}")
}

#[async_trait::async_trait]
impl SharedState for ElasticsearchStore {
    async fn get(&self, kind: &str, key: &str) -> Result<Option<(Value, Version)>, StoreError> {
        let (index, id) = (self.shared_index(), id(kind, key));
        let found = self
            .client
            .get(GetParts::IndexId(&index, &id))
            .send()
            .await
            .map_err(backend)?;
        if found.status_code().as_u16() == 404 {
            return Ok(None);
        }
        let document: Value = found
            .error_for_status_code()
            .map_err(backend)?
            .json()
            .await
            .map_err(backend)?;
        Ok(Some((
            document["_source"]["doc"].clone(),
            version_of(&document),
        )))
    }

    async fn put(
        &self,
        kind: &str,
        key: &str,
        body: &Value,
        read_at: Option<Version>,
    ) -> Result<Option<Version>, StoreError> {
        let (index, id) = (self.shared_index(), id(kind, key));
        let write = self.client.index(IndexParts::IndexId(&index, &id));
        let write = match read_at {
            None => write.op_type(OpType::Create),
            Some(version) => write
                .if_seq_no(version.seq_no)
                .if_primary_term(version.primary_term),
        };
        let written = write
            .body(json!({ "kind": kind, "doc": body }))
            .send()
            .await
            .map_err(backend)?;
        if written.status_code().as_u16() == 409 {
            return Ok(None);
        }
        let answer: Value = written
            .error_for_status_code()
            .map_err(backend)?
            .json()
            .await
            .map_err(backend)?;
        Ok(Some(version_of(&answer)))
    }

    async fn remove(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        let (index, id) = (self.shared_index(), id(kind, key));
        let removed = self
            .client
            .delete(DeleteParts::IndexId(&index, &id))
            .send()
            .await
            .map_err(backend)?;
        match removed.status_code().as_u16() {
            404 => Ok(()),
            _ => removed.error_for_status_code().map(|_| ()).map_err(backend),
        }
    }

    async fn prune(
        &self,
        kind: &str,
        field: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let index = self.shared_index();
        let query = json!({ "query": { "bool": { "filter": [
            { "term": { "kind": kind } },
            { "range": { format!("doc.{field}"): { "lt": before.to_rfc3339() } } },
        ] } } });
        // What was written since the last refresh must be seen.
        self.refresh_shared(&index).await?;
        let answer = self
            .client
            .delete_by_query(DeleteByQueryParts::Index(&[&index]))
            .allow_no_indices(true)
            .ignore_unavailable(true)
            .refresh(true)
            .body(query)
            .send()
            .await
            .and_then(|r| r.error_for_status_code())
            .map_err(backend)?;
        let answer: Value = answer.json().await.map_err(backend)?;
        Ok(answer["deleted"].as_u64().unwrap_or(0))
    }

    async fn list(
        &self,
        kind: &str,
        field: &str,
        from: DateTime<Utc>,
        equal: (&str, &str),
    ) -> Result<Vec<Value>, StoreError> {
        let index = self.shared_index();
        self.refresh_shared(&index).await?;
        let answer = self
            .client
            .search(SearchParts::Index(&[&index]))
            .allow_no_indices(true)
            .ignore_unavailable(true)
            .body(json!({
                "size": LISTED,
                "query": { "bool": { "filter": [
                    { "term": { "kind": kind } },
                    { "term": { format!("doc.{}", equal.0): equal.1 } },
                    { "range": { format!("doc.{field}"): { "gte": from.to_rfc3339() } } },
                ] } },
                "sort": [{ format!("doc.{field}"): "asc" }],
            }))
            .send()
            .await
            .and_then(|r| r.error_for_status_code())
            .map_err(backend)?;
        let answer: Value = answer.json().await.map_err(backend)?;
        let hits = answer["hits"]["hits"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        Ok(hits
            .into_iter()
            .map(|hit| hit["_source"]["doc"].clone())
            .collect())
    }
}

impl ElasticsearchStore {
    /// Makes what was written to the shared index searchable.
    async fn refresh_shared(&self, index: &str) -> Result<(), StoreError> {
        self.client
            .indices()
            .refresh(IndicesRefreshParts::Index(&[index]))
            .allow_no_indices(true)
            .ignore_unavailable(true)
            .send()
            .await
            .and_then(|r| r.error_for_status_code())
            .map_err(backend)?;
        Ok(())
    }

    /// The shared index's template: only the kind and the fields documents
    /// are pruned and listed by are mapped (`crate::shared::TIME_FIELDS`,
    /// `TEXT_FIELDS`), the rest kept in `_source` only, so that no document
    /// (the alert state's keys among them) grows the mapping. Above the
    /// store's own `<prefix>-*` template.
    pub(super) fn shared_template(prefix: &str) -> Value {
        let mut fields = serde_json::Map::new();
        for field in crate::shared::TIME_FIELDS {
            fields.insert(field.to_owned(), json!({ "type": "date" }));
        }
        for field in crate::shared::TEXT_FIELDS {
            fields.insert(field.to_owned(), json!({ "type": "keyword" }));
        }
        json!({
            "index_patterns": [format!("{prefix}-shared")],
            "priority": 10,
            "template": { "mappings": {
                "dynamic": false,
                "properties": { "kind": { "type": "keyword" }, "doc": { "properties": fields } },
            } },
        })
    }
}
