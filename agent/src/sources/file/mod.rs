//! The log file source: follows globs of files, joins continuation lines (a
//! Java stack trace) onto the event before them, parses the product log
//! format, and queues one event per log event.
//!
//! A file's checkpoint advances only after its events are in the disk queue,
//! and never past the start of an event still waiting for continuation lines.

mod checkpoint;
mod parse;
mod tailer;

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use aerie_wire::{Event, EventBody, event_id};
use serde::{Deserialize, Serialize};

pub use checkpoint::Checkpoints;
pub use parse::{Zone, product_line};
pub use tailer::{Line, LineSink, Tailer};

use crate::config::FieldError;
use crate::counters::Counters;

/// One `[[logs]]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// A name for this set of files; names the checkpoint file. Unique.
    pub name: String,
    /// Globs of files to follow. Include rotated names (`app.log*`) when
    /// logrotate uses copytruncate, so nothing written just before a
    /// truncation is lost.
    pub paths: Vec<String>,
    /// `product` (the default): `[timestamp] LEVEL - Logger message`, lines
    /// not starting with `[` joined onto the event before. `plain`: one event
    /// per line, timestamped when read.
    #[serde(default)]
    pub format: LogFormat,
    /// The product timestamps' zone: `local` (default) or `+HH:MM`.
    #[serde(default = "default_zone")]
    pub timezone: String,
    /// How long an event waits for more continuation lines. Default 1s.
    #[serde(default = "default_multiline_timeout", with = "humantime_serde")]
    pub multiline_timeout: Duration,
    /// Longer lines are cut (and counted). Default 1 MiB.
    #[serde(default = "default_max_line")]
    pub max_line_bytes: bytesize::ByteSize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Product,
    Plain,
}

fn default_zone() -> String {
    "local".into()
}

fn default_multiline_timeout() -> Duration {
    Duration::from_secs(1)
}

fn default_max_line() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(1)
}

impl LogsConfig {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if !crate::config::valid_name(&self.name) {
            return Err(FieldError::new(
                format!("{field}.name"),
                format!("{:?}: use lowercase letters, digits and '-'", self.name),
            ));
        }
        if self.paths.is_empty() {
            return Err(FieldError::new(
                format!("{field}.paths"),
                "is empty: list at least one glob, e.g. [\"/opt/wso2/repository/logs/wso2carbon.log*\"]",
            ));
        }
        for (index, pattern) in self.paths.iter().enumerate() {
            if !pattern.starts_with('/') {
                return Err(FieldError::new(
                    format!("{field}.paths[{index}]"),
                    format!("{pattern:?} is not an absolute path"),
                ));
            }
            glob::Pattern::new(pattern).map_err(|error| {
                FieldError::new(
                    format!("{field}.paths[{index}]"),
                    format!("{pattern:?} is not a valid glob: {error}"),
                )
            })?;
        }
        if Zone::parse(&self.timezone).is_none() {
            return Err(FieldError::new(
                format!("{field}.timezone"),
                format!(
                    "{:?}: use \"local\" or an offset such as \"+00:00\"",
                    self.timezone
                ),
            ));
        }
        Ok(())
    }

    pub fn zone(&self) -> Zone {
        Zone::parse(&self.timezone).expect("validated")
    }
}

/// An event whose continuation lines may still come.
#[derive(Debug)]
struct Pending {
    offset: u64,
    path: String,
    text: String,
    last_line: Instant,
}

/// Turns lines into log events.
#[derive(Debug)]
pub struct LogEvents {
    host: String,
    format: LogFormat,
    zone: Zone,
    multiline_timeout: Duration,
    counters: Counters,
    pending: HashMap<u64, Pending>,
    /// Finished events, ready for the queue.
    pub events: Vec<Event>,
}

impl LogEvents {
    pub fn new(host: &str, config: &LogsConfig, counters: Counters) -> Self {
        Self {
            host: host.to_owned(),
            format: config.format,
            zone: config.zone(),
            multiline_timeout: config.multiline_timeout,
            counters,
            pending: HashMap::new(),
            events: Vec::new(),
        }
    }

    /// Where the file with `fingerprint` may safely resume: the start of its
    /// unfinished event, if it has one.
    pub fn pending_start(&self, fingerprint: u64) -> Option<u64> {
        self.pending.get(&fingerprint).map(|pending| pending.offset)
    }

    /// Finishes events that have waited long enough for continuation lines.
    pub fn flush_idle(&mut self, now: Instant) {
        let idle: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, pending)| now.duration_since(pending.last_line) >= self.multiline_timeout)
            .map(|(fingerprint, _)| *fingerprint)
            .collect();
        for fingerprint in idle {
            self.finish(fingerprint);
        }
    }

    fn finish(&mut self, fingerprint: u64) {
        let Some(pending) = self.pending.remove(&fingerprint) else {
            return;
        };
        let id = event_id(&[
            self.host.as_bytes(),
            &fingerprint.to_le_bytes(),
            &pending.offset.to_le_bytes(),
        ]);
        let event = match (self.format, product_line(&pending.text, self.zone)) {
            (LogFormat::Product, Some(parsed)) => Event {
                id,
                timestamp: parsed.timestamp,
                body: EventBody::Log {
                    file: pending.path,
                    level: Some(parsed.level.to_owned()),
                    logger: Some(parsed.logger.to_owned()),
                    message: parsed.message.to_owned(),
                    parsed: true,
                },
            },
            _ => Event {
                id,
                timestamp: chrono::Utc::now(),
                body: EventBody::Log {
                    file: pending.path,
                    level: None,
                    logger: None,
                    message: pending.text,
                    parsed: false,
                },
            },
        };
        self.events.push(event);
    }

    fn text(&self, bytes: &[u8]) -> String {
        match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => {
                self.counters.add_invalid_utf8_line();
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
    }
}

impl LineSink for LogEvents {
    fn line(&mut self, line: Line<'_>) {
        let text = self.text(line.bytes);
        let text = text.strip_suffix('\r').map(str::to_owned).unwrap_or(text);
        let continues = self.format == LogFormat::Product
            && !text.starts_with('[')
            && self.pending.contains_key(&line.fingerprint);
        if continues {
            let pending = self.pending.get_mut(&line.fingerprint).expect("checked");
            pending.text.push('\n');
            pending.text.push_str(&text);
            pending.last_line = Instant::now();
            return;
        }
        self.finish(line.fingerprint);
        self.pending.insert(
            line.fingerprint,
            Pending {
                offset: line.offset,
                path: line.path.display().to_string(),
                text,
                last_line: Instant::now(),
            },
        );
        if self.format == LogFormat::Plain {
            self.finish(line.fingerprint);
        }
    }

    fn finished(&mut self, fingerprint: u64) {
        self.finish(fingerprint);
    }
}

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

    /// Serializes and queues `events`, waiting while the queue is full. Large
    /// reads go in parts of at most a quarter of the budget, so that a read
    /// never needs more room than the queue can ever free.
    pub fn queue_events(&self, events: &[Event]) -> Result<(), crate::queue::QueueError> {
        let part_limit = self.queue.budget() / 4;
        let mut part: Vec<Vec<u8>> = Vec::new();
        let mut part_bytes = 0u64;
        for event in events {
            let record = serde_json::to_vec(event).expect("events serialize");
            if !part.is_empty() && part_bytes + record.len() as u64 > part_limit {
                self.queue.push_blocking(&part, || self.stopping())?;
                part.clear();
                part_bytes = 0;
            }
            part_bytes += record.len() as u64;
            part.push(record);
        }
        self.queue.push_blocking(&part, || self.stopping())?;
        self.counters.add_read(events.len() as u64);
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
    #[error("source {source_name}: checkpoint file {path}: {error}")]
    Checkpoint {
        source_name: String,
        path: std::path::PathBuf,
        error: std::io::Error,
    },
    #[error("source {source_name}: {error}")]
    Queue {
        source_name: String,
        error: crate::queue::QueueError,
    },
}

/// Follows one `[[logs]]` section until the agent stops.
pub fn run(config: &LogsConfig, context: &SourceContext) -> Result<(), SourceError> {
    let path = checkpoint_file(&context.data_dir, &config.name);
    let checkpoint_error = |error| SourceError::Checkpoint {
        source_name: config.name.clone(),
        path: path.clone(),
        error,
    };
    let checkpoints = Checkpoints::load(&path).map_err(checkpoint_error)?;
    let max_line = usize::try_from(config.max_line_bytes.as_u64()).unwrap_or(usize::MAX);
    let mut tailer = Tailer::new(
        &config.name,
        &config.paths,
        max_line,
        checkpoints,
        context.counters.clone(),
    );
    let mut events = LogEvents::new(&context.host, config, context.counters.clone());
    while !context.stopping() {
        let read = tailer.poll(&mut events);
        events.flush_idle(Instant::now());
        let batch = std::mem::take(&mut events.events);
        if let Err(error) = context.queue_events(&batch) {
            if context.stopping() {
                break; // not stored: read again next time
            }
            return Err(SourceError::Queue {
                source_name: config.name.clone(),
                error,
            });
        }
        // Everything read is now queued, except events still collecting lines.
        let offsets: Vec<(u64, u64, std::path::PathBuf)> = tailer
            .read_offsets()
            .map(|(fingerprint, offset, path)| {
                (
                    fingerprint,
                    events.pending_start(fingerprint).unwrap_or(offset),
                    path.to_path_buf(),
                )
            })
            .collect();
        for (fingerprint, offset, path) in offsets {
            tailer.checkpoints.set(fingerprint, offset, &path);
        }
        tailer.checkpoints.save().map_err(checkpoint_error)?;
        context.idle(read);
    }
    Ok(())
}
