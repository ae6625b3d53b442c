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

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aerie_wire::{LogRef, Origin};

pub use checkpoint::Checkpoints;
pub use parse::{Zone, pattern_line, product_line};
pub use tailer::{Line, LineSink, Tailer};

use super::context::{SourceContext, SourceError, checkpoint_file};
use crate::counters::Counters;

/// An event whose continuation lines may still come.
#[derive(Debug)]
struct Pending {
    offset: u64,
    path: Arc<str>,
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
    /// By fingerprint, a hash already: looked up for every line read,
    /// where SipHash was 3 % of the agent's instructions per event.
    pending: HashMap<u64, Pending, aerie_common::BuildPrehashed>,
    /// The last path seen and its text: lines come in runs from one file,
    /// and each event names its file.
    path: Option<(PathBuf, Arc<str>)>,
    /// A finished event's text buffer, kept for the next event.
    spare: String,
    /// Finished events as JSON records (see [`LogRef::write_json`]), ready
    /// for the queue.
    pub records: Vec<Vec<u8>>,
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
            pending: HashMap::default(),
            path: None,
            spare: String::new(),
            records: Vec::new(),
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
        let Some(mut pending) = self.pending.remove(&fingerprint) else {
            return;
        };
        let origin = Origin {
            fingerprint,
            offset: pending.offset,
        };
        let id = origin.id(&self.host);
        let parsed = match (self.format, &self.pattern) {
            (LogFormat::Product, _) => product_line(&pending.text, self.zone),
            (LogFormat::Pattern, Some((regex, time_format))) => {
                pattern_line(&pending.text, regex, time_format, self.zone)
            }
            _ => None,
        };
        let log = match parsed {
            Some(parsed) => LogRef {
                id: Cow::Borrowed(id.as_str()),
                timestamp: parsed.timestamp,
                file: Cow::Borrowed(&pending.path),
                level: present(parsed.level),
                logger: present(parsed.logger),
                message: Cow::Borrowed(parsed.message),
                parsed: true,
                origin: Some(origin),
            },
            None => LogRef {
                id: Cow::Borrowed(id.as_str()),
                timestamp: chrono::Utc::now(),
                file: Cow::Borrowed(&pending.path),
                level: None,
                logger: None,
                message: Cow::Borrowed(&pending.text),
                parsed: false,
                origin: Some(origin),
            },
        };
        let mut record = Vec::with_capacity(pending.text.len() + pending.path.len() + 160);
        log.write_json(&mut record);
        self.records.push(record);
        pending.text.clear();
        self.spare = pending.text;
    }

    /// `path` as the text events carry.
    fn path_text(&mut self, path: &Path) -> Arc<str> {
        match &self.path {
            Some((last, text)) if last.as_os_str() == path.as_os_str() => text.clone(),
            _ => {
                let text: Arc<str> = path.display().to_string().into();
                self.path = Some((path.to_path_buf(), text.clone()));
                text
            }
        }
    }

    /// `bytes` as text (invalid UTF-8 replaced, and counted), without a
    /// trailing carriage return.
    fn text<'a>(&self, bytes: &'a [u8]) -> Cow<'a, str> {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => {
                self.counters.add_invalid_utf8_line();
                String::from_utf8_lossy(bytes)
            }
        }
    }
}

/// `text` unless it is empty.
fn present(text: &str) -> Option<Cow<'_, str>> {
    Some(text).filter(|t| !t.is_empty()).map(Cow::Borrowed)
}

impl LineSink for LogEvents {
    fn line(&mut self, line: Line<'_>) {
        let text = self.text(line.bytes);
        let starts_an_event = match (self.format, &self.pattern) {
            (LogFormat::Product, _) => text.starts_with('['),
            (LogFormat::Pattern, Some((regex, _))) => regex.is_match(&text),
            _ => true,
        };
        if !starts_an_event && let Some(pending) = self.pending.get_mut(&line.fingerprint) {
            pending.text.push('\n');
            pending.text.push_str(&text);
            pending.last_line = Instant::now();
            return;
        }
        self.finish(line.fingerprint);
        let mut buffer = std::mem::take(&mut self.spare);
        buffer.push_str(&text);
        let path = self.path_text(line.path);
        self.pending.insert(
            line.fingerprint,
            Pending {
                offset: line.offset,
                path,
                text: buffer,
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
        let batch = std::mem::take(&mut events.records);
        if let Err(error) = context.queue_records(&batch) {
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
