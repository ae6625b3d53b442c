//! The state several monitor replicas share through their store: dashboard
//! sessions and the login limiter's failures, the alert engine's state and
//! history, the jobs' statuses, the usage ledger and the throttle's
//! decisions, kept as one JSON document per key. A document is written only if nobody wrote it since
//! it was read (optimistic concurrency: Elasticsearch's sequence number and
//! primary term), so two monitors never overwrite each other's change
//! unseen; the loser reads again and retries.
//!
//! Only a store several monitors share has this (the Elasticsearch store);
//! a monitor of one machine keeps that state in its own memory. Keys are
//! chosen by the callers and must never be secrets themselves (a session is
//! named by a digest of its id, never by the id).

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::StoreError;

/// The version a document was read at, to write it only if it is still so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    pub seq_no: i64,
    pub primary_term: i64,
}

/// Documents of the monitors' shared state, by kind (`sessions`, `logins`)
/// and key.
#[async_trait::async_trait]
pub trait SharedState: Send + Sync + std::fmt::Debug {
    /// Document `key` of `kind` and the version it was read at, or `None`.
    async fn get(&self, kind: &str, key: &str) -> Result<Option<(Value, Version)>, StoreError>;
    /// Writes document `key` of `kind` if it is still at `read_at` (`None`:
    /// only if there is none); answers the version written. `None`: another
    /// monitor wrote first, nothing was written.
    async fn put(
        &self,
        kind: &str,
        key: &str,
        body: &Value,
        read_at: Option<Version>,
    ) -> Result<Option<Version>, StoreError>;
    /// Removes document `key` of `kind`; one already gone is fine.
    async fn remove(&self, kind: &str, key: &str) -> Result<(), StoreError>;
    /// Removes every document of `kind` whose time `field` (an RFC 3339
    /// text at the top of the document) is before `before`; answers how
    /// many.
    async fn prune(
        &self,
        kind: &str,
        field: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError>;
    /// The documents of `kind` whose time `field` is `from` or later and
    /// whose text field `equal.0` is `equal.1`, oldest first, at most
    /// [`LISTED`]. Every write acknowledged before is seen.
    async fn list(
        &self,
        kind: &str,
        field: &str,
        from: DateTime<Utc>,
        equal: (&str, &str),
    ) -> Result<Vec<Value>, StoreError>;
}

/// When this monitor last pruned a kind of document: due at once, then at
/// most once per [`PRUNE_EVERY`], so the replicas between them prune often
/// enough and none on every write.
#[derive(Debug, Default)]
pub struct PruneClock(Mutex<Option<std::time::Instant>>);

/// How often a monitor prunes a kind of document.
pub const PRUNE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

impl PruneClock {
    /// Whether a prune is due now; if so, it counts as done from now.
    pub fn due(&self) -> bool {
        let mut pruned = self.0.lock().expect("prune clock lock");
        let due = pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
        if due {
            *pruned = Some(std::time::Instant::now());
        }
        due
    }
}

/// Writes `body` as document `key` of `kind` whatever version is there: for
/// state only the lease holder writes, recomputed in full each time (a
/// job's status, the usage ledger's months, the throttle's decisions). A
/// write that loses a race with another holder's reads the version again
/// and writes again: the last holder's write wins.
pub async fn overwrite(
    shared: &dyn SharedState,
    kind: &str,
    key: &str,
    body: &Value,
) -> Result<(), StoreError> {
    const ATTEMPTS: usize = 8;
    for _ in 0..ATTEMPTS {
        let read_at = shared.get(kind, key).await?.map(|(_, version)| version);
        if shared.put(kind, key, body, read_at).await?.is_some() {
            return Ok(());
        }
    }
    Err(StoreError::backend(
        "shared state",
        format!("{kind}/{key}: every write lost a race with another monitor's"),
    ))
}

/// The most documents one [`SharedState::list`] answers.
pub const LISTED: usize = 10_000;

/// The fields a document may be pruned or listed by: the Elasticsearch
/// store maps only these (its shared index maps nothing else, so no
/// document can grow its mapping).
pub const TIME_FIELDS: [&str; 2] = ["at", "expires"];
pub const TEXT_FIELDS: [&str; 1] = ["environment"];

/// Shared state in this process's memory: what the conformance suite
/// holds the Elasticsearch store's to, and the unit tests' stand-in.
#[derive(Debug, Default)]
pub struct MemoryShared {
    documents: Mutex<HashMap<(String, String), (Value, Version)>>,
}

#[async_trait::async_trait]
impl SharedState for MemoryShared {
    async fn get(&self, kind: &str, key: &str) -> Result<Option<(Value, Version)>, StoreError> {
        let documents = self.documents.lock().expect("shared state lock");
        Ok(documents.get(&(kind.to_owned(), key.to_owned())).cloned())
    }

    async fn put(
        &self,
        kind: &str,
        key: &str,
        body: &Value,
        read_at: Option<Version>,
    ) -> Result<Option<Version>, StoreError> {
        let mut documents = self.documents.lock().expect("shared state lock");
        let slot = (kind.to_owned(), key.to_owned());
        let now = documents.get(&slot).map(|(_, version)| *version);
        if now != read_at {
            return Ok(None);
        }
        let seq_no = now.map_or(0, |v| v.seq_no + 1);
        let version = Version {
            seq_no,
            primary_term: 1,
        };
        documents.insert(slot, (body.clone(), version));
        Ok(Some(version))
    }

    async fn remove(&self, kind: &str, key: &str) -> Result<(), StoreError> {
        let mut documents = self.documents.lock().expect("shared state lock");
        documents.remove(&(kind.to_owned(), key.to_owned()));
        Ok(())
    }

    async fn prune(
        &self,
        kind: &str,
        field: &str,
        before: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let mut documents = self.documents.lock().expect("shared state lock");
        let count = documents.len();
        documents.retain(|(of, _), (body, _)| {
            let at = body[field]
                .as_str()
                .and_then(|t| t.parse::<DateTime<Utc>>().ok());
            of != kind || at.is_none_or(|at| at >= before)
        });
        Ok((count - documents.len()) as u64)
    }

    async fn list(
        &self,
        kind: &str,
        field: &str,
        from: DateTime<Utc>,
        equal: (&str, &str),
    ) -> Result<Vec<Value>, StoreError> {
        let documents = self.documents.lock().expect("shared state lock");
        let at = |body: &Value| body[field].as_str()?.parse::<DateTime<Utc>>().ok();
        let mut found: Vec<(DateTime<Utc>, Value)> = documents
            .iter()
            .filter(|((of, _), (body, _))| of == kind && body[equal.0] == equal.1)
            .filter_map(|(_, (body, _))| Some((at(body)?, body.clone())))
            .filter(|(time, _)| *time >= from)
            .collect();
        found.sort_by_key(|(time, _)| *time);
        found.truncate(LISTED);
        Ok(found.into_iter().map(|(_, body)| body).collect())
    }
}

/// What every shared state must do, for the Elasticsearch store's test
/// against a real node and the memory one's: `one` and `two` are two
/// monitors' views of the same state.
#[cfg(any(test, feature = "conformance"))]
pub async fn conformance(one: &dyn SharedState, two: &dyn SharedState) {
    use serde_json::json;
    let put = async |by: &dyn SharedState, key: &str, body: Value, at: Option<Version>| {
        by.put("sessions", key, &body, at).await.unwrap()
    };
    assert_eq!(one.get("sessions", "absent").await.unwrap(), None);
    let first = put(one, "a", json!({"user": "ops"}), None).await;
    assert!(first.is_some(), "a new document is written");
    let intruder = put(two, "a", json!({"user": "intruder"}), None).await;
    assert_eq!(intruder, None, "a second create loses");
    let (body, read_at) = two.get("sessions", "a").await.unwrap().unwrap();
    assert_eq!(body, json!({"user": "ops"}));
    assert_eq!(Some(read_at), first, "the version written is the one read");
    let other_kind = one.get("logins", "a").await.unwrap();
    assert_eq!(other_kind, None, "kinds are apart");
    // Both read at the same version; the first write wins, the second is
    // refused and changes nothing.
    let won = put(two, "a", json!({"user": "ops", "n": 2}), Some(read_at)).await;
    assert!(won.is_some_and(|v| v != read_at));
    let stale = put(one, "a", json!({"user": "ops", "n": 3}), Some(read_at)).await;
    assert_eq!(stale, None, "a write from a stale read is refused");
    let (body, newer) = one.get("sessions", "a").await.unwrap().unwrap();
    assert_eq!((body["n"].as_i64(), Some(newer)), (Some(2), won));
    two.remove("sessions", "a").await.unwrap();
    two.remove("sessions", "a").await.unwrap();
    assert_eq!(one.get("sessions", "a").await.unwrap(), None, "removed");
    let again = put(one, "a", json!({"user": "again"}), None).await;
    assert!(again.is_some(), "a removed document can be made again");
    // Pruning takes the kind's documents older than the time, and only those.
    for (kind, key, at) in [
        ("sessions", "old", "2030-01-01T00:00:00Z"),
        ("sessions", "new", "2030-01-03T00:00:00Z"),
        ("logins", "old", "2030-01-01T00:00:00Z"),
    ] {
        let written = one.put(kind, key, &json!({ "expires": at }), None).await;
        assert!(written.unwrap().is_some());
    }
    let before = "2030-01-02T00:00:00Z".parse().unwrap();
    assert_eq!(two.prune("sessions", "expires", before).await.unwrap(), 1);
    assert_eq!(one.get("sessions", "old").await.unwrap(), None);
    assert!(one.get("sessions", "new").await.unwrap().is_some());
    let other = one.get("logins", "old").await.unwrap();
    assert!(other.is_some(), "another kind stays");
    let untimed = one.get("sessions", "a").await.unwrap();
    assert!(untimed.is_some(), "no time, kept");
    // Listing: the kind's documents of one environment from a time, oldest
    // first, at once after they were written.
    for (key, environment, at) in [
        ("3", "acme", "2030-01-03T00:00:00Z"),
        ("1", "acme", "2030-01-01T00:00:00Z"),
        ("2", "other", "2030-01-02T00:00:00Z"),
        ("4", "acme", "2030-01-04T00:00:00Z"),
    ] {
        let body = json!({ "environment": environment, "at": at, "n": key });
        assert!(
            one.put("history", key, &body, None)
                .await
                .unwrap()
                .is_some()
        );
    }
    let from = "2030-01-02T00:00:00Z".parse().unwrap();
    let listed = two
        .list("history", "at", from, ("environment", "acme"))
        .await;
    let keys: Vec<Value> = listed.unwrap().iter().map(|b| b["n"].clone()).collect();
    assert_eq!(keys, [json!("3"), json!("4")]);
    // Overwriting takes whatever version is there, and makes a new one.
    overwrite(one, "jobs", "usage", &json!({"runs": 1}))
        .await
        .unwrap();
    overwrite(two, "jobs", "usage", &json!({"runs": 2}))
        .await
        .unwrap();
    let (body, _) = one.get("jobs", "usage").await.unwrap().unwrap();
    assert_eq!(body["runs"], 2);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_shared_state_passes_the_conformance_suite() {
        let shared = MemoryShared::default();
        conformance(&shared, &shared).await;
    }
}
