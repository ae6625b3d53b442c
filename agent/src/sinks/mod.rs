//! Where the agent delivers: the monitor (its ingest API) or an
//! Elasticsearch `_bulk` endpoint. A sink takes a batch from the front of the
//! disk queue, delivers it, and only then acknowledges it to the queue.

pub mod elasticsearch;
pub mod http;
pub mod monitor;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use crate::queue::{Batch, SharedQueue};

pub use retry::{backoff, worth_logging};

/// The next batch, waiting for records to arrive (or `None` on shutdown).
pub(crate) async fn next_batch(
    queue: &Arc<SharedQueue>,
    max_events: usize,
    max_bytes: u64,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Option<Batch> {
    loop {
        if *shutdown.borrow() {
            return None;
        }
        let peeked = {
            let queue = Arc::clone(queue);
            tokio::task::spawn_blocking(move || queue.peek(max_events, max_bytes))
                .await
                .expect("peek does not panic")
        };
        match peeked {
            Ok(batch) if !batch.is_empty() => return Some(batch),
            Ok(_) => {
                // Every push notifies (`notify_one` keeps the permit when
                // nobody waits yet), so the timer is only a safety net:
                // waking every second cost an idle agent a third of its CPU.
                let mut shutdown = shutdown.clone();
                tokio::select! {
                    () = queue.arrived.notified() => {}
                    _ = shutdown.changed() => {}
                    () = tokio::time::sleep(Duration::from_secs(60)) => {}
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the disk queue; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// Acknowledges a delivered batch to the queue.
pub(crate) async fn ack(queue: &Arc<SharedQueue>, batch: &Batch) {
    let queue = Arc::clone(queue);
    let end = batch.end;
    let result = tokio::task::spawn_blocking(move || queue.ack(end))
        .await
        .expect("ack does not panic");
    if let Err(error) = result {
        // The batch stays in the queue and is sent again; ids make that safe.
        tracing::error!(%error, "cannot record delivery in the disk queue");
    }
}

/// Sleeps for `wait` unless shutdown comes first (answers false then).
pub(crate) async fn pause(wait: Duration, shutdown: &tokio::sync::watch::Receiver<bool>) -> bool {
    let mut shutdown = shutdown.clone();
    if *shutdown.borrow() {
        return false;
    }
    tokio::select! {
        () = tokio::time::sleep(wait) => true,
        _ = shutdown.changed() => false,
    }
}
