//! JVM heap and GC of every Java process on the host, read from the
//! performance-data files the JVMs themselves keep (`/tmp/hsperfdata_*/<pid>`).
//! A file of a JVM that is gone or half-written is skipped and counted.

mod hsperfdata;
mod listing;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use aerie_wire::Event;
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub use hsperfdata::{PerfData, PerfDataError};

use super::metric;
use crate::counters::Counters;

/// `[jvm]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JvmConfig {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Where the `hsperfdata_<user>` folders are (the JVMs' temp dir).
    #[serde(default = "default_root")]
    pub hsperfdata_root: PathBuf,
}

fn yes() -> bool {
    true
}

fn default_root() -> PathBuf {
    std::env::temp_dir()
}

impl Default for JvmConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            hsperfdata_root: default_root(),
        }
    }
}

/// Reads every live JVM's counters.
#[derive(Debug)]
pub struct JvmMetrics {
    host: String,
    files: listing::Listing,
    counters: Counters,
    /// Files already reported unreadable (reported once each).
    reported: HashSet<PathBuf>,
}

impl JvmMetrics {
    pub fn new(host: &str, config: &JvmConfig, counters: Counters) -> Self {
        Self {
            host: host.to_owned(),
            files: listing::Listing::new(&config.hsperfdata_root),
            counters,
            reported: HashSet::new(),
        }
    }

    /// `jvm.heap.{used,committed,max}.bytes`, `jvm.gc.count`,
    /// `jvm.gc.time.ms`, labelled with `pid` and `process` (the main class).
    pub fn collect(&mut self) -> Vec<Event> {
        let now = Utc::now();
        let mut events = Vec::new();
        for path in self.files.files() {
            let Some(pid) = path
                .file_name()
                .and_then(|name| name.to_str())
                .map(str::to_owned)
            else {
                continue;
            };
            if !Path::new("/proc").join(&pid).exists() {
                continue; // a file left by a JVM that died
            }
            let data = match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| PerfData::parse(&bytes).map_err(|e| e.to_string()))
            {
                Ok(data) => {
                    self.reported.remove(&path);
                    data
                }
                Err(error) => {
                    if self.reported.insert(path.clone()) {
                        self.counters.add_read_error();
                        tracing::warn!(path = %path.display(), %error, "cannot read a JVM's performance data");
                    }
                    continue;
                }
            };
            let process = data.main_class().unwrap_or("java").to_owned();
            let labels = [("pid", pid.as_str()), ("process", process.as_str())];
            let mut push =
                |name: &str, value: f64| events.push(metric(&self.host, now, name, value, &labels));
            push("jvm.heap.used.bytes", data.heap_used() as f64);
            push("jvm.heap.committed.bytes", data.heap_committed() as f64);
            push("jvm.heap.max.bytes", data.heap_max() as f64);
            push("jvm.gc.count", data.gc_count() as f64);
            push("jvm.gc.time.ms", data.gc_time_ms());
        }
        events
    }
}
