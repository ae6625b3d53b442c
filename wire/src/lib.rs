//! The agent-to-monitor wire format.
//!
//! An agent sends [`IngestRequest`]s to `POST /api/v1/ingest` on the monitor:
//!
//! - body: the request as JSON, `Content-Type: application/json`, usually
//!   compressed with `Content-Encoding: gzip`;
//! - `Authorization: Bearer <token>`, the ingest token of the environment the
//!   request names (a token for one environment cannot write into another);
//! - answer: `200` with an [`IngestResponse`] that accounts for every event
//!   (accepted, duplicate, or rejected with its index and reason); a bad event
//!   never takes the good ones in its batch with it. Any other status means
//!   nothing was stored and the whole batch may be sent again.
//!
//! Every [`Event`] carries a stable [`Event::id`] derived from where it came
//! from (a log line's file fingerprint and offset, a metric's name, labels
//! and time), so an event sent twice is recognised and stored once.
//!
//! This crate holds only types that cross the process boundary: it must stay
//! small and never depend on anything an agent host does not need.

mod de;
pub mod ecs;
mod json;
mod secret;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use secret::Secret;

/// The path the monitor serves ingest on.
pub const INGEST_PATH: &str = "/api/v1/ingest";

/// One batch from one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestRequest {
    /// The environment (customer deployment) the host belongs to.
    pub environment: String,
    /// The host that collected the events.
    pub host: String,
    /// The agent's version, for the monitor's diagnostics.
    pub agent: String,
    pub events: Vec<Event>,
}

/// One observation: a metric sample, a log event or an API statistics record.
///
/// Read by a hand-written `Deserialize` (`de.rs`): serde's derive for a
/// flattened, internally tagged enum buffers every field twice, and the
/// monitor reads millions of these.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Stable across retries and agent restarts; see [`event_id`].
    pub id: String,
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    #[serde(flatten)]
    pub body: EventBody,
}

/// What an event says, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventBody {
    /// A numeric sample, named in ECS style (`system.cpu.total.pct`).
    Metric {
        name: String,
        value: f64,
        /// What distinguishes series of one metric: `mount`, `core`,
        /// `interface`, `process`, `pid`, `url`.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        labels: BTreeMap<String, String>,
    },
    /// One log event (a line, or a line with its continuation lines).
    Log {
        /// The file it was read from.
        file: String,
        /// `log.level` when the line parsed (`INFO`, `ERROR`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        level: Option<String>,
        /// `log.logger` when the line parsed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        logger: Option<String>,
        /// The message; the whole line when it did not parse.
        message: String,
        /// Whether the line matched the product log format. When it did not,
        /// the timestamp is the time the agent read it.
        parsed: bool,
        /// Where in its file the line starts, when the sender read it from
        /// one (see [`Origin`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin: Option<Origin>,
    },
    /// Per-API, per-tenant request statistics over a window (seeds 002/003).
    ApiStats {
        api: String,
        tenant: String,
        window_start: DateTime<Utc>,
        window_end: DateTime<Utc>,
        count: u64,
        /// Requests answered with a 5xx status.
        faults: u64,
        min_ms: f64,
        max_ms: f64,
        avg_ms: f64,
        /// Response bytes, where the access log records them.
        bytes: u64,
    },
}

/// An event as the monitor reads it from a batch: a log event's text
/// borrowed from the batch where it can be, so that it is stored without
/// being copied first; other kinds as [`Event`]s.
#[derive(Debug, Clone, PartialEq)]
pub enum EventRef<'a> {
    Log(LogRef<'a>),
    Other(Event),
}

/// A log event's fields (see [`EventBody::Log`]), borrowed where they can be.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRef<'a> {
    pub id: std::borrow::Cow<'a, str>,
    pub timestamp: DateTime<Utc>,
    pub file: std::borrow::Cow<'a, str>,
    pub level: Option<std::borrow::Cow<'a, str>>,
    pub logger: Option<std::borrow::Cow<'a, str>>,
    pub message: std::borrow::Cow<'a, str>,
    pub parsed: bool,
    pub origin: Option<Origin>,
}

/// Where a log line was read: its file's fingerprint (the agent's hash of
/// the file's first line, which names the file across renames) and the
/// byte offset the line starts at (ECS `log.offset`). An agent's log line id
/// is [`Origin::id`] of its host and origin, so a receiver that keeps the
/// origin (a few bytes, close to the line before's) can give the id back
/// without keeping its 128 random bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Origin {
    pub fingerprint: u64,
    pub offset: u64,
}

impl Origin {
    /// The id of the line read at this origin on `host`: [`event_id`] of
    /// the host, the fingerprint and the offset (each little-endian).
    pub fn id(&self, host: &str) -> EventId {
        EventId::spelling(self.hash(host))
    }

    /// [`Origin::id`] as the 128-bit number its hex digits spell.
    pub fn hash(&self, host: &str) -> u128 {
        hash_parts(&[
            host.as_bytes(),
            &self.fingerprint.to_le_bytes(),
            &self.offset.to_le_bytes(),
        ])
    }
}

impl EventRef<'_> {
    pub fn id(&self) -> &str {
        match self {
            EventRef::Log(log) => &log.id,
            EventRef::Other(event) => &event.id,
        }
    }

    pub fn timestamp(&self) -> DateTime<Utc> {
        match self {
            EventRef::Log(log) => log.timestamp,
            EventRef::Other(event) => event.timestamp,
        }
    }

    pub fn into_owned(self) -> Event {
        match self {
            EventRef::Log(log) => Event {
                id: log.id.into_owned(),
                timestamp: log.timestamp,
                body: EventBody::Log {
                    file: log.file.into_owned(),
                    level: log.level.map(std::borrow::Cow::into_owned),
                    logger: log.logger.map(std::borrow::Cow::into_owned),
                    message: log.message.into_owned(),
                    parsed: log.parsed,
                    origin: log.origin,
                },
            },
            EventRef::Other(event) => event,
        }
    }
}

impl From<Event> for EventRef<'static> {
    fn from(event: Event) -> Self {
        match event.body {
            EventBody::Log {
                file,
                level,
                logger,
                message,
                parsed,
                origin,
            } => EventRef::Log(LogRef {
                id: event.id.into(),
                timestamp: event.timestamp,
                file: file.into(),
                level: level.map(Into::into),
                logger: logger.map(Into::into),
                message: message.into(),
                parsed,
                origin,
            }),
            body => EventRef::Other(Event { body, ..event }),
        }
    }
}

/// The monitor's account of one [`IngestRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestResponse {
    /// Events stored now.
    pub accepted: u64,
    /// Events already stored earlier (same id): not stored again.
    pub duplicates: u64,
    /// Events refused, each with its reason. The rest of the batch was kept.
    pub rejected: Vec<Rejected>,
}

/// One refused event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// Its position in the request's `events`.
    pub index: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub reason: String,
}

/// Whether `name` is a valid environment (or other) name: lowercase ASCII
/// letters, digits and '-', starting with a letter, at most 63 characters.
/// Environment names travel in every [`IngestRequest`], so the agent and the
/// monitor check them by this one rule.
pub fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A stable event id: 128 bits of XXH3 over the parts that identify where the
/// event came from, as 32 hex digits. The same parts always give the same id.
pub fn event_id(parts: &[&[u8]]) -> String {
    EventId::of(parts).as_str().to_owned()
}

/// An [`event_id`] held on the stack, for a writer that only borrows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventId([u8; 32]);

impl EventId {
    /// The id of the event that `parts` identify (see [`event_id`]).
    pub fn of(parts: &[&[u8]]) -> Self {
        Self::spelling(hash_parts(parts))
    }

    /// The 32 lower-case hex digits of `hash`.
    fn spelling(hash: u128) -> Self {
        let hash = hash.to_be_bytes();
        let mut hex = [0u8; 32];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(hash) {
            pair[0] = json::HEX[usize::from(byte >> 4)];
            pair[1] = json::HEX[usize::from(byte & 0xf)];
        }
        Self(hex)
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits")
    }
}

/// The 128-bit XXH3 of `parts`, each after its length: what [`event_id`]
/// spells in hex.
fn hash_parts(parts: &[&[u8]]) -> u128 {
    // The hash of the parts, each after its length, as one run of
    // bytes: hashed in one call when they fit on the stack (a log
    // line's host, file and offset do), which is several times
    // cheaper for so few bytes than the streaming hasher.
    let mut stack = [0u8; 256];
    let len: usize = parts.iter().map(|part| 8 + part.len()).sum();
    let mut heap = Vec::new();
    let bytes: &mut [u8] = if len <= stack.len() {
        &mut stack[..len]
    } else {
        heap.resize(len, 0);
        &mut heap
    };
    let mut at = 0;
    for part in parts {
        bytes[at..at + 8].copy_from_slice(&(part.len() as u64).to_le_bytes());
        bytes[at + 8..at + 8 + part.len()].copy_from_slice(part);
        at += 8 + part.len();
    }
    xxhash_rust::xxh3::xxh3_128(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json_with_ecs_timestamp() {
        let event = Event {
            id: event_id(&[b"gw-1", b"system.cpu.total.pct"]),
            timestamp: "2026-11-21T10:00:00Z".parse().unwrap(),
            body: EventBody::Metric {
                name: "system.cpu.total.pct".into(),
                value: 12.5,
                labels: BTreeMap::new(),
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["@timestamp"], "2026-11-21T10:00:00Z");
        assert_eq!(json["kind"], "metric");
        assert_eq!(json["name"], "system.cpu.total.pct");
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }

    #[test]
    fn ids_depend_on_every_part_and_its_boundaries() {
        assert_eq!(event_id(&[b"a", b"bc"]), event_id(&[b"a", b"bc"]));
        assert_ne!(event_id(&[b"a", b"bc"]), event_id(&[b"ab", b"c"]));
        assert_ne!(event_id(&[b"a", b"bc"]), event_id(&[b"a", b"bd"]));
        assert_eq!(event_id(&[b"x"]).len(), 32);
    }

    #[test]
    fn a_lines_id_is_the_id_of_its_host_fingerprint_and_offset_and_spells_its_hash() {
        let origin = Origin {
            fingerprint: 0x0123_4567_89ab_cdef,
            offset: 4096,
        };
        let id = event_id(&[
            b"gw-1",
            &origin.fingerprint.to_le_bytes(),
            &origin.offset.to_le_bytes(),
        ]);
        assert_eq!(origin.id("gw-1").as_str(), id);
        assert_eq!(format!("{:032x}", origin.hash("gw-1")), id);
        assert_ne!(origin.id("gw-2").as_str(), id);
    }

    #[test]
    fn an_id_is_its_hash_in_32_hex_digits() {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(&3u64.to_le_bytes());
        hasher.update(b"abc");
        assert_eq!(event_id(&[b"abc"]), format!("{:032x}", hasher.digest128()));
        let long = [7u8; 300];
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for part in [&b"gw-1"[..], &long] {
            hasher.update(&(part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        assert_eq!(
            event_id(&[b"gw-1", &long]),
            format!("{:032x}", hasher.digest128())
        );
    }
}
