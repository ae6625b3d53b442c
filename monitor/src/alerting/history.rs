//! The alert history (`alerts/history.jsonl`): every transition and every
//! notification, appended as it happens and kept for the history retention
//! (`[retention] alerts`).
//!
//! Queries are answered from memory, which holds only what is within the
//! retention; the file is rewritten without the expired entries once they
//! outnumber the live ones, so neither grows without bound.
//!
//! When monitor replicas share an Elasticsearch store ([`History::shared_in`])
//! the history is kept in the cluster's shared state instead, one document
//! per entry named by a digest of the entry (written again, it is still
//! one), so every replica answers the same history and it outlives the
//! leader that wrote it; expired entries are removed hourly.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::error::AlertError;
use super::model::HistoryEntry;
use crate::store::shared::{PruneClock, SharedState};

#[derive(Debug)]
pub(crate) struct History {
    path: PathBuf,
    retention: chrono::Duration,
    inner: Mutex<Inner>,
    /// The cluster's shared state, when the history is kept there.
    shared: Option<Arc<dyn SharedState>>,
    /// When this monitor last removed expired entries from the cluster.
    pruned: PruneClock,
}

/// The shared-state kind of history entries.
const KIND: &str = "history";

#[derive(Debug, Default)]
struct Inner {
    /// Oldest first, none older than the retention.
    entries: VecDeque<HistoryEntry>,
    /// Lines still in the file whose entries have expired.
    expired_in_file: usize,
}

impl History {
    /// The history under `dir`, expired entries dropped.
    pub(crate) fn open(
        dir: &Path,
        retention: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<Self, AlertError> {
        let path = dir.join("history.jsonl");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(AlertError::Io {
                    path,
                    action: "read it",
                    source,
                });
            }
        };
        let mut entries: Vec<HistoryEntry> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        entries.sort_by_key(|e| e.at);
        let history = Self {
            path,
            retention: chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX),
            inner: Mutex::new(Inner {
                entries: entries.into(),
                expired_in_file: 0,
            }),
            shared: None,
            pruned: PruneClock::default(),
        };
        let mut inner = history.inner.lock().expect("history lock");
        history.expire(&mut inner, now);
        if inner.expired_in_file > 0 {
            history.rewrite(&mut inner)?;
        }
        drop(inner);
        Ok(history)
    }

    /// The same history kept in `shared`, the cluster several monitor
    /// replicas share, instead of the data directory.
    pub(crate) fn shared_in(mut self, shared: Arc<dyn SharedState>) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Entries of `environment` since `from`, oldest first.
    pub(crate) async fn since(
        &self,
        environment: &str,
        from: DateTime<Utc>,
    ) -> Result<Vec<HistoryEntry>, AlertError> {
        if let Some(shared) = &self.shared {
            let listed = shared
                .list(KIND, "at", from, ("environment", environment))
                .await?;
            return listed
                .into_iter()
                .map(|body| {
                    serde_json::from_value(body)
                        .map_err(|source| AlertError::SharedState { source })
                })
                .collect();
        }
        Ok(self.since_in_memory(environment, from))
    }

    fn since_in_memory(&self, environment: &str, from: DateTime<Utc>) -> Vec<HistoryEntry> {
        let inner = self.inner.lock().expect("history lock");
        let start = inner.entries.partition_point(|e| e.at < from);
        inner
            .entries
            .range(start..)
            .filter(|e| e.environment == environment)
            .cloned()
            .collect()
    }

    /// Appends `entries` (made at `now`) and forgets what has expired.
    pub(crate) async fn record(
        &self,
        entries: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Result<(), AlertError> {
        if entries.is_empty() {
            return Ok(());
        }
        if let Some(shared) = &self.shared {
            return self.record_shared(&**shared, entries, now).await;
        }
        let mut text = String::new();
        for entry in entries {
            text.push_str(&serde_json::to_string(entry).expect("history serializes"));
            text.push('\n');
        }
        let mut inner = self.inner.lock().expect("history lock");
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(AlertError::io(&self.path, "append to it"))?;
        for entry in entries {
            // Entries arrive in time order; one from a slower path goes in its place.
            let at = inner.entries.partition_point(|e| e.at <= entry.at);
            inner.entries.insert(at, entry.clone());
        }
        self.expire(&mut inner, now);
        if inner.expired_in_file > inner.entries.len().max(1_000) {
            self.rewrite(&mut inner)?;
        }
        Ok(())
    }

    async fn record_shared(
        &self,
        shared: &dyn SharedState,
        entries: &[HistoryEntry],
        now: DateTime<Utc>,
    ) -> Result<(), AlertError> {
        for entry in entries {
            let body = serde_json::to_value(entry).expect("history serializes");
            let name = aerie_wire::event_id(&[body.to_string().as_bytes()]);
            // Already there (written again after a retry) is as good.
            shared.put(KIND, &name, &body, None).await?;
        }
        if self.pruned.due() {
            let cutoff = now
                .checked_sub_signed(self.retention)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            shared.prune(KIND, "at", cutoff).await?;
        }
        Ok(())
    }

    fn expire(&self, inner: &mut Inner, now: DateTime<Utc>) {
        let cutoff = now
            .checked_sub_signed(self.retention)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let expired = inner.entries.partition_point(|e| e.at < cutoff);
        inner.entries.drain(..expired);
        inner.expired_in_file += expired;
    }

    fn rewrite(&self, inner: &mut Inner) -> Result<(), AlertError> {
        let mut text = String::new();
        for entry in &inner.entries {
            text.push_str(&serde_json::to_string(entry).expect("history serializes"));
            text.push('\n');
        }
        aerie_common::atomic_write(&self.path, text.as_bytes())
            .map_err(AlertError::io(&self.path, "rewrite it"))?;
        inner.expired_in_file = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: DateTime<Utc>, event: &str) -> HistoryEntry {
        HistoryEntry {
            at,
            environment: "acme-prod".into(),
            rule: "heap-high".into(),
            host: "gw-1".into(),
            event: event.into(),
            value: 1.0,
            message: String::new(),
        }
    }

    const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

    #[tokio::test]
    async fn entries_older_than_the_retention_are_forgotten_in_memory_and_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let start: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let history = History::open(dir.path(), 7 * DAY, start).unwrap();
        for day in 0..20 {
            let at = start + chrono::Duration::days(day);
            let entries: Vec<_> = (0..200).map(|_| entry(at, "firing")).collect();
            history.record(&entries, at).await.unwrap();
        }
        let now = start + chrono::Duration::days(19);
        let kept = history
            .since("acme-prod", DateTime::<Utc>::MIN_UTC)
            .await
            .unwrap();
        assert!(kept.iter().all(|e| now - e.at <= chrono::Duration::days(7)));
        assert_eq!(kept.len(), 8 * 200);
        let lines = std::fs::read_to_string(dir.path().join("history.jsonl"))
            .unwrap()
            .lines()
            .count();
        assert!(
            lines <= 2 * kept.len().max(1_000) + 200,
            "{lines} lines in the file"
        );

        let reopened = History::open(dir.path(), 7 * DAY, now).unwrap();
        let again = reopened.since("acme-prod", DateTime::<Utc>::MIN_UTC).await;
        assert_eq!(again.unwrap(), kept);
        let lines = std::fs::read_to_string(dir.path().join("history.jsonl"))
            .unwrap()
            .lines()
            .count();
        assert_eq!(lines, kept.len(), "reopening drops the expired lines");
    }

    #[tokio::test]
    async fn a_query_answers_one_environment_from_a_time_on_oldest_first_from_a_file_or_the_cluster()
     {
        for shared in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let now: DateTime<Utc> = "2030-01-01T12:00:00Z".parse().unwrap();
            let mut history = History::open(dir.path(), 7 * DAY, now).unwrap();
            if shared {
                let state = Arc::new(crate::store::shared::MemoryShared::default());
                history = history.shared_in(state);
            }
            let mut other = entry(now, "firing");
            other.environment = "globex".into();
            history
                .record(
                    &[
                        entry(now - chrono::Duration::hours(2), "pending"),
                        entry(now - chrono::Duration::hours(1), "firing"),
                        other,
                        entry(now, "resolved"),
                    ],
                    now,
                )
                .await
                .unwrap();
            let events: Vec<String> = history
                .since("acme-prod", now - chrono::Duration::minutes(90))
                .await
                .unwrap()
                .into_iter()
                .map(|e| e.event)
                .collect();
            assert_eq!(events, ["firing", "resolved"], "shared: {shared}");
        }
    }
}
