//! The log file source: follows globs of files, joins continuation lines (a
//! Java stack trace) onto the event before them, parses the product log
//! format, and queues one event per log event.
//!
//! A file's checkpoint advances only after its events are in the disk queue,
//! and never past the start of an event still waiting for continuation lines.

mod checkpoint;
mod config;
mod parse;
mod tailer;

pub use config::{DEFAULT_TIME_FORMAT, LogFormat, LogsConfig};

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aerie_wire::{Event, EventBody, event_id};

pub use checkpoint::Checkpoints;
pub use parse::{Zone, pattern_line, product_line};
pub use tailer::{Line, LineSink, Tailer};

use super::context::{SourceContext, SourceError, checkpoint_file};
use crate::counters::Counters;

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
    /// With `format = "pattern"`: the pattern, and how `time` is written.
    pattern: Option<(regex::Regex, String)>,
    zone: Zone,
    multiline_timeout: Duration,
    counters: Counters,
    pending: HashMap<u64, Pending>,
    /// Finished events, ready for the queue.
    pub events: Vec<Event>,
}

impl LogEvents {
    pub fn new(host: &str, config: &LogsConfig, counters: Counters) -> Self {
        let pattern = config.pattern.as_deref().map(|pattern| {
            let regex = regex::Regex::new(&format!("(?s){pattern}")).expect("validated");
            let time_format = config.time_format.as_deref().unwrap_or(DEFAULT_TIME_FORMAT);
            (regex, time_format.to_owned())
        });
        Self {
            host: host.to_owned(),
            format: config.format,
            pattern,
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
        let parsed = match (self.format, &self.pattern) {
            (LogFormat::Product, _) => product_line(&pending.text, self.zone),
            (LogFormat::Pattern, Some((regex, time_format))) => {
                pattern_line(&pending.text, regex, time_format, self.zone)
            }
            _ => None,
        };
        let event = match parsed {
            Some(parsed) => Event {
                id,
                timestamp: parsed.timestamp,
                body: EventBody::Log {
                    file: pending.path,
                    level: Some(parsed.level.to_owned()).filter(|l| !l.is_empty()),
                    logger: Some(parsed.logger.to_owned()).filter(|l| !l.is_empty()),
                    message: parsed.message.to_owned(),
                    parsed: true,
                },
            },
            None => Event {
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
        let starts_an_event = match (self.format, &self.pattern) {
            (LogFormat::Product, _) => text.starts_with('['),
            (LogFormat::Pattern, Some((regex, _))) => regex.is_match(&text),
            _ => true,
        };
        let continues = !starts_an_event && self.pending.contains_key(&line.fingerprint);
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
        tailer.checkpoint_read(|fingerprint, offset| {
            events.pending_start(fingerprint).unwrap_or(offset)
        });
        tailer.checkpoints.save().map_err(checkpoint_error)?;
        context.idle(read);
    }
    Ok(())
}
