//! What the file-reading sources (`file`, `api_stats`) share: where their
//! checkpoints live, the context they run in (host, data folder, the disk
//! queue, counters, the stop flag), and why one stopped.
//!
//! A source queues what it read before its checkpoint advances
//! ([`SourceContext::queue_events`] returns only once the queue has it).

use std::path::Path;
use std::time::Duration;

use aerie_wire::Event;

use crate::counters::Counters;

/// The checkpoint file of the source called `name`.
pub fn checkpoint_file(data_dir: &Path, name: &str) -> std::path::PathBuf {
    data_dir.join(format!("checkpoints-{name}.json"))
}

/// Shared by the file-reading sources: what they need to run.
#[derive(Debug, Clone)]
pub struct SourceContext {
    pub host: String,
    pub data_dir: std::path::PathBuf,
    pub queue: std::sync::Arc<crate::queue::SharedQueue>,
    pub counters: Counters,
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SourceContext {
    pub fn stopping(&self) -> bool {
        self.stop.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Serializes and queues `events`, waiting while the queue is full (see
    /// [`Self::queue_records`]).
    pub fn queue_events(&self, events: &[Event]) -> Result<(), crate::queue::QueueError> {
        let records: Vec<Vec<u8>> = events
            .iter()
            .map(|event| serde_json::to_vec(event).expect("events serialize"))
            .collect();
        self.queue_records(&records)
    }

    /// Queues events already serialized, one record each, waiting while the
    /// queue is full. Large reads go in parts of at most a quarter of the
    /// budget, so that a read never needs more room than the queue can ever
    /// free.
    pub fn queue_records(&self, records: &[Vec<u8>]) -> Result<(), crate::queue::QueueError> {
        let part_limit = self.queue.budget() / 4;
        let mut start = 0;
        let mut part_bytes = 0u64;
        for (index, record) in records.iter().enumerate() {
            if index > start && part_bytes + record.len() as u64 > part_limit {
                self.queue
                    .push_blocking(&records[start..index], || self.stopping())?;
                start = index;
                part_bytes = 0;
            }
            part_bytes += record.len() as u64;
        }
        self.queue
            .push_blocking(&records[start..], || self.stopping())?;
        self.counters.add_read(records.len() as u64);
        Ok(())
    }

    /// Sleeps a little when there was nothing to read.
    pub fn idle(&self, read: u64) {
        if read == 0 {
            #[expect(
                clippy::disallowed_methods,
                reason = "files give no event to wait on here: the reader polls them"
            )]
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Why a source stopped.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {source_name}: checkpoint file {}", path.display())]
    Checkpoint {
        source_name: String,
        path: std::path::PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("source {source_name}: its events could not be queued")]
    Queue {
        source_name: String,
        #[source]
        error: crate::queue::QueueError,
    },
}
