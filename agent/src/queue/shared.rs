//! The queue shared by the sources (threads that may block while it is full)
//! and the sink (an async task).

use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::{Batch, Cursor, DiskQueue, QueueError};
use crate::counters::Counters;

#[derive(Debug)]
pub struct SharedQueue {
    queue: Mutex<DiskQueue>,
    /// Signalled when the sink frees space.
    space: Condvar,
    /// Woken when records arrive.
    pub arrived: tokio::sync::Notify,
    counters: Counters,
}

impl SharedQueue {
    pub fn new(queue: DiskQueue, counters: Counters) -> Self {
        counters.set_queued_bytes(queue.unacked_bytes());
        Self {
            queue: Mutex::new(queue),
            space: Condvar::new(),
            arrived: tokio::sync::Notify::new(),
            counters,
        }
    }

    /// Stores `records`, waiting while the queue is full (the source stops
    /// reading meanwhile, and says so in its counters). Gives up waiting only
    /// when `stopping` says the agent is shutting down.
    pub fn push_blocking(
        &self,
        records: &[Vec<u8>],
        stopping: impl Fn() -> bool,
    ) -> Result<(), QueueError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut queue = self.queue.lock().expect("queue lock");
        let mut warned = false;
        loop {
            match queue.push(records) {
                Ok(()) => {
                    self.counters.add_queued(records.len() as u64);
                    self.counters.set_queued_bytes(queue.unacked_bytes());
                    self.counters.set_reading_paused(false);
                    drop(queue);
                    self.arrived.notify_one();
                    return Ok(());
                }
                Err(QueueError::Full { used, budget }) => {
                    self.counters.set_reading_paused(true);
                    if !warned {
                        tracing::warn!(
                            used,
                            budget,
                            "disk queue full: reading paused until the destination catches up"
                        );
                        warned = true;
                    }
                    if stopping() {
                        return Err(QueueError::Full { used, budget });
                    }
                    queue = self
                        .space
                        .wait_timeout(queue, Duration::from_millis(500))
                        .expect("queue lock")
                        .0;
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// The queue's byte budget.
    pub fn budget(&self) -> u64 {
        self.queue.lock().expect("queue lock").budget()
    }

    pub fn peek(&self, max_records: usize, max_bytes: u64) -> Result<Batch, QueueError> {
        self.queue
            .lock()
            .expect("queue lock")
            .peek(max_records, max_bytes)
    }

    pub fn ack(&self, end: Cursor) -> Result<(), QueueError> {
        let mut queue = self.queue.lock().expect("queue lock");
        queue.ack(end)?;
        self.counters.set_queued_bytes(queue.unacked_bytes());
        drop(queue);
        self.space.notify_all();
        Ok(())
    }
}
