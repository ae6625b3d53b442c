//! The agent's own counters, reported with its metrics as `aerie.agent.*`
//! (and to Prometheus by `metrics.rs` when `[metrics]` is set).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};

#[derive(Debug)]
struct Inner {
    /// How long each delivered batch took to be taken, in seconds.
    delivery: Histogram,
    events_read: AtomicU64,
    events_queued: AtomicU64,
    events_sent: AtomicU64,
    events_retried: AtomicU64,
    events_rejected: AtomicU64,
    read_errors: AtomicU64,
    truncated_lines: AtomicU64,
    invalid_utf8_lines: AtomicU64,
    files_taken_for_copies: AtomicU64,
    queued_bytes: AtomicU64,
    reading_paused: AtomicBool,
}

impl Default for Inner {
    fn default() -> Self {
        Self {
            // 5 ms to about 160 s.
            delivery: Histogram::new(exponential_buckets(0.005, 2.0, 16)),
            events_read: AtomicU64::default(),
            events_queued: AtomicU64::default(),
            events_sent: AtomicU64::default(),
            events_retried: AtomicU64::default(),
            events_rejected: AtomicU64::default(),
            read_errors: AtomicU64::default(),
            truncated_lines: AtomicU64::default(),
            invalid_utf8_lines: AtomicU64::default(),
            files_taken_for_copies: AtomicU64::default(),
            queued_bytes: AtomicU64::default(),
            reading_paused: AtomicBool::default(),
        }
    }
}

/// Shared, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Counters(Arc<Inner>);

/// A point-in-time copy, in the order they are reported.
pub type Snapshot = [(&'static str, f64); 11];

impl Counters {
    pub fn add_read(&self, events: u64) {
        self.0.events_read.fetch_add(events, Ordering::Relaxed);
    }
    /// Events stored in the disk queue (what is read, once it is safe).
    pub fn add_queued(&self, events: u64) {
        self.0.events_queued.fetch_add(events, Ordering::Relaxed);
    }
    pub fn add_sent(&self, events: u64) {
        self.0.events_sent.fetch_add(events, Ordering::Relaxed);
    }
    pub fn add_retried(&self, events: u64) {
        self.0.events_retried.fetch_add(events, Ordering::Relaxed);
    }
    pub fn add_rejected(&self, events: u64) {
        self.0.events_rejected.fetch_add(events, Ordering::Relaxed);
    }
    pub fn add_read_error(&self) {
        self.0.read_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add_truncated_line(&self) {
        self.0.truncated_lines.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add_invalid_utf8_line(&self) {
        self.0.invalid_utf8_lines.fetch_add(1, Ordering::Relaxed);
    }
    /// A file not read because it holds what a followed file holds (a
    /// copy made by copytruncate, or a hard copy).
    pub fn add_file_taken_for_a_copy(&self) {
        self.0
            .files_taken_for_copies
            .fetch_add(1, Ordering::Relaxed);
    }
    /// A batch was taken by the destination `took` after it was sent.
    pub fn observe_delivery(&self, took: std::time::Duration) {
        self.0.delivery.observe(took.as_secs_f64());
    }
    /// The delivery latency histogram (shared: what it records is this).
    pub fn delivery(&self) -> Histogram {
        self.0.delivery.clone()
    }
    pub fn set_queued_bytes(&self, bytes: u64) {
        self.0.queued_bytes.store(bytes, Ordering::Relaxed);
    }
    pub fn set_reading_paused(&self, paused: bool) {
        self.0.reading_paused.store(paused, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed) as f64;
        let inner = &self.0;
        [
            ("aerie.agent.events.read", get(&inner.events_read)),
            ("aerie.agent.events.queued", get(&inner.events_queued)),
            ("aerie.agent.events.sent", get(&inner.events_sent)),
            ("aerie.agent.events.retried", get(&inner.events_retried)),
            ("aerie.agent.events.rejected", get(&inner.events_rejected)),
            ("aerie.agent.read.errors", get(&inner.read_errors)),
            ("aerie.agent.lines.truncated", get(&inner.truncated_lines)),
            (
                "aerie.agent.lines.invalid_utf8",
                get(&inner.invalid_utf8_lines),
            ),
            (
                "aerie.agent.files.taken_for_copies",
                get(&inner.files_taken_for_copies),
            ),
            ("aerie.agent.queue.bytes", get(&inner.queued_bytes)),
            (
                "aerie.agent.reading.paused",
                f64::from(u8::from(inner.reading_paused.load(Ordering::Relaxed))),
            ),
        ]
    }
}
