//! Per-API, per-tenant statistics from gateway access logs (seeds 002, 003):
//! request count, faults (5xx), min/max/average response time and bytes.
//!
//! A record for an API and tenant is published when its request count since
//! the last record reaches `threshold` (0 turns this off), or when `interval`
//! has passed since its window opened, whichever is first.
//!
//! The running totals are saved with the file positions in one write, and a
//! record is saved as pending before it is queued: after a crash, the pending
//! record is queued again (same id) and reading resumes exactly after the
//! lines already counted, so nothing is counted twice or lost.

mod access_log;
mod config;

pub use config::AccessLogConfig;

use std::collections::BTreeMap;

use aerie_wire::{Event, EventBody, event_id};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use access_log::{AccessLine, DEFAULT_PATTERN, parse_line};

use super::file::{Line, LineSink};
use crate::counters::Counters;

/// Running totals of one API and tenant since its last record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// When the window opened, by the agent's clock (for `interval`).
    pub opened: DateTime<Utc>,
    pub count: u64,
    pub faults: u64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub sum_ms: f64,
    pub bytes: u64,
}

/// What is saved with the positions.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StatsState {
    pub totals: BTreeMap<String, Totals>,
    /// Records numbered so far (their ids derive from the number).
    pub sequence: u64,
    /// Records saved but perhaps not yet queued.
    pub pending: Vec<Event>,
}

/// Counts access lines into per-API totals and cuts records.
#[derive(Debug)]
pub struct ApiStats {
    host: String,
    source: String,
    regex: regex::Regex,
    time_format: String,
    threshold: u64,
    interval: chrono::Duration,
    counters: Counters,
    pub state: StatsState,
    unparsed: u64,
}

fn key(api: &str, tenant: &str) -> String {
    format!("{tenant}\u{1f}{api}")
}

impl ApiStats {
    pub fn new(
        host: &str,
        config: &AccessLogConfig,
        state: StatsState,
        counters: Counters,
    ) -> Self {
        Self {
            host: host.to_owned(),
            source: config.name.clone(),
            regex: regex::Regex::new(&config.pattern).expect("validated"),
            time_format: config.time_format.clone(),
            threshold: config.threshold,
            interval: chrono::Duration::from_std(config.interval).unwrap_or(chrono::Duration::MAX),
            counters,
            state,
            unparsed: 0,
        }
    }

    fn add(&mut self, line: &AccessLine, now: DateTime<Utc>) {
        let key = key(&line.api, &line.tenant);
        let totals = self
            .state
            .totals
            .entry(key.clone())
            .or_insert_with(|| Totals {
                window_start: line.time,
                window_end: line.time,
                opened: now,
                count: 0,
                faults: 0,
                min_ms: f64::INFINITY,
                max_ms: 0.0,
                sum_ms: 0.0,
                bytes: 0,
            });
        totals.window_start = totals.window_start.min(line.time);
        totals.window_end = totals.window_end.max(line.time);
        totals.count += 1;
        totals.faults += u64::from(line.status >= 500);
        totals.min_ms = totals.min_ms.min(line.duration_ms);
        totals.max_ms = totals.max_ms.max(line.duration_ms);
        totals.sum_ms += line.duration_ms;
        totals.bytes += line.bytes;
        if self.threshold > 0 && totals.count >= self.threshold {
            self.cut(&key);
        }
    }

    /// Closes the windows whose interval has passed.
    pub fn cut_expired(&mut self, now: DateTime<Utc>) {
        let expired: Vec<String> = self
            .state
            .totals
            .iter()
            .filter(|(_, totals)| now - totals.opened >= self.interval)
            .map(|(key, _)| key.clone())
            .collect();
        for key in expired {
            self.cut(&key);
        }
    }

    /// Turns one API's totals into a pending record.
    fn cut(&mut self, key: &str) {
        let Some(totals) = self.state.totals.remove(key) else {
            return;
        };
        let (tenant, api) = key.split_once('\u{1f}').expect("keys hold both");
        self.state.sequence += 1;
        let id = event_id(&[
            self.host.as_bytes(),
            self.source.as_bytes(),
            &self.state.sequence.to_le_bytes(),
        ]);
        self.state.pending.push(Event {
            id,
            timestamp: totals.window_end,
            body: EventBody::ApiStats {
                api: api.to_owned(),
                tenant: tenant.to_owned(),
                window_start: totals.window_start,
                window_end: totals.window_end,
                count: totals.count,
                faults: totals.faults,
                min_ms: totals.min_ms,
                max_ms: totals.max_ms,
                avg_ms: totals.sum_ms / totals.count as f64,
                bytes: totals.bytes,
            },
        });
    }
}

impl LineSink for ApiStats {
    fn line(&mut self, line: Line<'_>) {
        let text = String::from_utf8_lossy(line.bytes);
        match parse_line(&self.regex, &self.time_format, &text) {
            Some(parsed) => self.add(&parsed, Utc::now()),
            None => {
                self.unparsed += 1;
                if self.unparsed == 1 || self.unparsed.is_multiple_of(10_000) {
                    tracing::warn!(source = %self.source, path = %line.path.display(), unparsed = self.unparsed, line = %text.chars().take(200).collect::<String>(), "access log line does not match the pattern; skipped");
                }
                self.counters.add_read_error();
            }
        }
    }

    fn finished(&mut self, _fingerprint: u64) {}
}

#[cfg(test)]
mod tests;

/// Follows the access logs until the agent stops.
pub fn run(
    config: &AccessLogConfig,
    context: &super::context::SourceContext,
) -> Result<(), super::context::SourceError> {
    use super::context::{SourceError, checkpoint_file};
    use super::file::{Checkpoints, Tailer};

    let path = checkpoint_file(&context.data_dir, &config.name);
    let checkpoint_error = |error| SourceError::Checkpoint {
        source_name: config.name.clone(),
        path: path.clone(),
        error,
    };
    let queue_error = |error| SourceError::Queue {
        source_name: config.name.clone(),
        error,
    };
    let checkpoints = Checkpoints::load(&path).map_err(checkpoint_error)?;
    let state: StatsState = serde_json::from_value(checkpoints.state().clone()).unwrap_or_default();
    let mut tailer = Tailer::new(
        &config.name,
        &config.paths,
        64 * 1024,
        checkpoints,
        context.counters.clone(),
    );
    let mut stats = ApiStats::new(&context.host, config, state, context.counters.clone());
    while !context.stopping() {
        // Records saved as pending before a crash are queued first.
        if !stats.state.pending.is_empty() {
            if let Err(error) = context.queue_events(&stats.state.pending) {
                if context.stopping() {
                    break;
                }
                return Err(queue_error(error));
            }
            stats.state.pending.clear();
            tailer
                .checkpoints
                .set_state(serde_json::to_value(&stats.state).expect("state serializes"));
            tailer.checkpoints.save().map_err(checkpoint_error)?;
        }
        let read = tailer.poll(&mut stats);
        stats.cut_expired(Utc::now());
        tailer.checkpoint_read(|_, offset| offset);
        // Totals, pending records and positions in one write.
        tailer
            .checkpoints
            .set_state(serde_json::to_value(&stats.state).expect("state serializes"));
        tailer.checkpoints.save().map_err(checkpoint_error)?;
        if stats.state.pending.is_empty() {
            context.idle(read);
        }
    }
    Ok(())
}
