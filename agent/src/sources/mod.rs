//! Where events come from. Each source produces `aerie_wire::Event`s and puts
//! them in the disk queue; a source that reads files advances its positions
//! only after the queue has stored what it read.

pub mod api_stats;
pub mod context;
pub mod file;
pub mod host;
pub mod jvm;

use std::collections::BTreeMap;

use aerie_wire::{Event, EventBody, event_id};
use chrono::{DateTime, Utc};

/// A metric sample with a stable id (host, name, labels, time).
pub fn metric(
    host: &str,
    timestamp: DateTime<Utc>,
    name: &str,
    value: f64,
    labels: &[(&str, &str)],
) -> Event {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect();
    let mut parts: Vec<&[u8]> = vec![host.as_bytes(), name.as_bytes()];
    for (key, value) in &labels {
        parts.push(key.as_bytes());
        parts.push(value.as_bytes());
    }
    let nanos = timestamp
        .timestamp_nanos_opt()
        .unwrap_or_default()
        .to_le_bytes();
    parts.push(&nanos);
    Event {
        id: event_id(&parts),
        timestamp,
        body: EventBody::Metric {
            name: name.to_owned(),
            value,
            labels,
        },
    }
}
