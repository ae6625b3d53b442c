//! `POST /api/v1/ingest`: the agents' batches (`aerie_wire`). Authenticated
//! per environment; every event accounted for (accepted, duplicate, or
//! rejected with its reason) and a bad one never takes the rest with it.
//! Answered only once the store holds the batch durably.

use std::borrow::Cow;
use std::io::Read;

use aerie_wire::{Event, EventRef, IngestResponse, Rejected};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;

use super::checks::{check, check_host};
use super::split::{id_of, not_utf8, split_events};
use super::{ApiError, AppState, auth};

/// The envelope with every event well-formed: the common case, parsed once,
/// into a list of events sized from the body up front (a batch holds tens
/// of thousands; growing the list by doubling copied megabytes).
struct TypedEnvelope<'de> {
    environment: String,
    host: String,
    events: Vec<EventRef<'de>>,
}

/// Reads a [`TypedEnvelope`], reserving room for `capacity` events.
struct EnvelopeSeed {
    capacity: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for EnvelopeSeed {
    type Value = TypedEnvelope<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> Result<TypedEnvelope<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EnvelopeSeed {
    type Value = TypedEnvelope<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an ingest batch")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> Result<TypedEnvelope<'de>, A::Error> {
        use serde::de::Error;
        let (mut environment, mut host, mut agent, mut events) = (None, None, None, None);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "environment" => environment = Some(map.next_value::<String>()?),
                "host" => host = Some(map.next_value::<String>()?),
                "agent" => agent = Some(map.next_value::<serde::de::IgnoredAny>()?),
                "events" => {
                    events = Some(map.next_value_seed(EventsSeed {
                        capacity: self.capacity,
                    })?)
                }
                other => {
                    return Err(A::Error::unknown_field(
                        other,
                        &["environment", "host", "agent", "events"],
                    ));
                }
            }
        }
        agent.ok_or_else(|| A::Error::missing_field("agent"))?;
        Ok(TypedEnvelope {
            environment: environment.ok_or_else(|| A::Error::missing_field("environment"))?,
            host: host.ok_or_else(|| A::Error::missing_field("host"))?,
            events: events.ok_or_else(|| A::Error::missing_field("events"))?,
        })
    }
}

struct EventsSeed {
    capacity: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for EventsSeed {
    type Value = Vec<EventRef<'de>>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> Result<Vec<EventRef<'de>>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for EventsSeed {
    type Value = Vec<EventRef<'de>>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> Result<Vec<EventRef<'de>>, A::Error> {
        let mut events = take_event_list();
        events.reserve(self.capacity);
        while let Some(event) = seq.next_element()? {
            events.push(event);
        }
        Ok(events)
    }
}

/// About the size of an agent's event in a batch's JSON, for sizing the list
/// of events: a batch of smaller ones grows its list (a copy of it), where
/// sizing every list for the smallest event (96 bytes) reserved three times
/// the room a batch of log lines takes, and the kept lists held it.
const TYPICAL_EVENT: usize = 256;

/// The most bytes of room a list of events keeps for the next request: a
/// list a very large batch grew is dropped with it.
const KEPT_LIST_BYTES: usize = 16 << 20;

/// The envelope with its events cut out (`split`), so each is judged on
/// its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    environment: String,
    host: String,
    #[allow(dead_code)]
    agent: String,
    #[allow(dead_code)]
    events: [(); 0],
}

pub(super) async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestResponse>, ApiError> {
    // Who sends, from the headers, before a byte of the body is read.
    let environment = auth::environment(&state.config, &headers)?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(ApiError::UnsupportedMediaType(format!(
            "content type {content_type:?}: send application/json (the aerie_wire ingest format)"
        )));
    }
    let limit = state.config.max_batch_bytes.as_u64();
    let encoding = Encoding::of(&headers)?;
    let body = super::body::read(&state.bodies, &headers, body, limit, "batch").await?;
    let json = read_body(&body.bytes, encoding, limit)?;
    let Batch {
        host,
        events,
        rejected,
    } = parse_batch(
        &json,
        &environment.name,
        chrono::Utc::now(),
        &state.config.retention,
    )?;
    if !rejected.is_empty() {
        tracing::warn!(environment = %environment.name, %host, rejected = rejected.len(), first = %rejected[0].reason, "rejected events");
    }
    let outcome = if events.is_empty() {
        Default::default()
    } else {
        state
            .store
            .write_events(&environment.name, &host, &events)
            .await?
    };
    // The events borrow from the unzipped body: both go back together.
    give_back_events(events);
    if let Cow::Owned(buffer) = json {
        give_back(buffer);
    }
    Ok(Json(IngestResponse {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected,
    }))
}

/// A batch read: the host it is from, its good events (borrowing from the
/// JSON) and the ones refused, each with its place and reason.
pub(crate) struct Batch<'a> {
    pub(crate) host: String,
    pub(crate) events: Vec<EventRef<'a>>,
    pub(crate) rejected: Vec<Rejected>,
}

/// The whole batch read by `reader`, nothing after it.
fn typed_batch<'de, R: serde_json::de::Read<'de>>(
    seed: EnvelopeSeed,
    mut reader: serde_json::Deserializer<R>,
) -> serde_json::Result<TypedEnvelope<'de>> {
    let typed = serde::de::DeserializeSeed::deserialize(seed, &mut reader)?;
    reader.end().map(|()| typed)
}

/// Reads an ingest batch's JSON for the environment the token `writes_to`
/// and checks each event against `now` and the retention; pure (no store,
/// no clock), and the fuzzing target `ingest_body`'s subject. A batch that
/// cannot be read at all, or names another environment, is an error; a bad
/// event is refused on its own.
pub(crate) fn parse_batch<'a>(
    json: &'a [u8],
    writes_to: &str,
    now: chrono::DateTime<chrono::Utc>,
    retention: &crate::config::Retention,
) -> Result<Batch<'a>, ApiError> {
    // Parse straight into events; only a batch with a malformed event pays
    // for judging each one on its own. `positions` maps events to their
    // place in the batch when some were left out.
    let seed = EnvelopeSeed {
        capacity: json.len() / TYPICAL_EVENT,
    };
    let mut rejected = Vec::new();
    let typed = match std::str::from_utf8(json) {
        // UTF-8 checked once for the whole body, where reading bytes checks
        // each string on its own (6 % of an ingest's instructions).
        Ok(text) => typed_batch(seed, serde_json::Deserializer::from_str(text)),
        Err(_) => typed_batch(seed, serde_json::Deserializer::from_slice(json)),
    };
    let (batch_environment, host, mut events, positions) = match typed {
        Ok(typed) => (typed.environment, typed.host, typed.events, None),
        Err(error) => {
            // Judge each event on its own: cut the events out without
            // parsing them, then parse the envelope and each event.
            let not_a_batch = |detail: String| {
                ApiError::BadRequest(format!("the body is not an ingest batch: {detail}"))
            };
            let (envelope, raw_events) =
                split_events(json).ok_or_else(|| not_a_batch(error.to_string()))?;
            let envelope: Envelope = serde_json::from_slice(&envelope)
                .map_err(|error| not_a_batch(error.to_string()))?;
            let mut events = Vec::with_capacity(raw_events.len());
            let mut positions = Vec::with_capacity(raw_events.len());
            for (index, raw) in raw_events.into_iter().enumerate() {
                let parsed = match not_utf8(raw) {
                    Some(reason) => Err(reason),
                    None => serde_json::from_slice::<Event>(raw).map_err(|e| e.to_string()),
                };
                match parsed {
                    Ok(event) => {
                        events.push(EventRef::from(event));
                        positions.push(index);
                    }
                    Err(reason) => rejected.push(Rejected {
                        index,
                        id: id_of(raw),
                        reason,
                    }),
                }
            }
            (envelope.environment, envelope.host, events, Some(positions))
        }
    };
    if batch_environment != writes_to {
        return Err(ApiError::Forbidden(format!(
            "this token writes to environment {writes_to:?}, not {batch_environment:?}"
        )));
    }
    check_host(&host).map_err(|invalid| ApiError::BadRequest(invalid.to_string()))?;

    let mut at = 0;
    events.retain(|event| {
        let index = positions.as_ref().map_or(at, |positions| positions[at]);
        at += 1;
        match check(event, now, retention) {
            Ok(()) => true,
            Err(invalid) => {
                rejected.push(Rejected {
                    index,
                    id: Some(event.id().to_owned()),
                    reason: invalid.to_string(),
                });
                false
            }
        }
    });
    rejected.sort_by_key(|rejected| rejected.index);
    Ok(Batch {
        host,
        events,
        rejected,
    })
}

/// Buffers for unzipped batches and lists of events, kept for the next
/// request: a fresh multi-megabyte buffer per request costs a page fault per
/// 4 KiB, and the allocator returns buffers this large to the system at once.
static BUFFERS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());
static EVENT_LISTS: std::sync::Mutex<Vec<Vec<EventRef<'static>>>> =
    std::sync::Mutex::new(Vec::new());

/// An empty list of events, with room kept from an earlier request.
fn take_event_list<'a>() -> Vec<EventRef<'a>> {
    let list = EVENT_LISTS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
        .unwrap_or_default();
    relabel(list)
}

fn give_back_events(events: Vec<EventRef<'_>>) {
    if events.capacity() * std::mem::size_of::<EventRef<'_>>() <= KEPT_LIST_BYTES {
        let list = relabel(events);
        let mut lists = EVENT_LISTS.lock().unwrap_or_else(|p| p.into_inner());
        if lists.len() < 4 {
            lists.push(list);
        }
    }
}

/// Empties a list and gives it another lifetime: collecting a list in place
/// keeps its allocation.
fn relabel<'b>(mut events: Vec<EventRef<'_>>) -> Vec<EventRef<'b>> {
    events.clear();
    events
        .into_iter()
        .map(|_| unreachable!("the list was emptied"))
        .collect()
}

fn give_back(buffer: Vec<u8>) {
    // Not cleared: its bytes are overwritten, and a buffer that keeps its
    // length is not zeroed again.
    if buffer.capacity() <= 64 << 20 {
        let mut buffers = BUFFERS.lock().unwrap_or_else(|p| p.into_inner());
        if buffers.len() < 4 {
            buffers.push(buffer);
        }
    }
}

/// How an ingest body is compressed (`Content-Encoding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Identity,
    Gzip,
    Zstd,
}

impl Encoding {
    /// The request's encoding; one the monitor cannot read is refused
    /// (415) before its body is read.
    fn of(headers: &HeaderMap) -> Result<Self, ApiError> {
        let Some(value) = headers.get(axum::http::header::CONTENT_ENCODING) else {
            return Ok(Self::Identity);
        };
        let value = value.to_str().unwrap_or("").trim();
        match value.to_ascii_lowercase().as_str() {
            "" | "identity" => Ok(Self::Identity),
            "gzip" | "x-gzip" => Ok(Self::Gzip),
            "zstd" => Ok(Self::Zstd),
            _ => Err(ApiError::UnsupportedMediaType(format!(
                "content encoding {value:?}: send the batch with zstd, gzip or no Content-Encoding"
            ))),
        }
    }

    /// The encoding a body's first bytes announce (for the fuzz entry).
    pub(crate) fn sniff(body: &[u8]) -> Self {
        if body.starts_with(&[0x1f, 0x8b]) {
            Self::Gzip
        } else if body.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Self::Zstd
        } else {
            Self::Identity
        }
    }
}

/// The JSON of the body: the body itself, or decompressed into a kept
/// buffer, never past `limit` bytes.
pub(crate) fn read_body(
    body: &[u8],
    encoding: Encoding,
    limit: u64,
) -> Result<Cow<'_, [u8]>, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the batch is larger than {limit} bytes: send smaller batches"
        ))
    };
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    let decompress = match encoding {
        Encoding::Identity => return Ok(Cow::Borrowed(body)),
        Encoding::Gzip => gunzip,
        Encoding::Zstd => unzstd,
    };
    let mut json = BUFFERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
        .unwrap_or_default();
    decompress(body, limit, &mut json)?;
    if json.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(Cow::Owned(json))
}

/// A gzip body, decompressed into `json` (at most `limit` + 1 bytes).
fn gunzip(body: &[u8], limit: u64, json: &mut Vec<u8>) -> Result<(), ApiError> {
    // The gzip trailer holds the size (mod 2^32): one allocation, no regrowth.
    let size_hint = body.len().checked_sub(4).map_or(0, |at| {
        u32::from_le_bytes(body[at..].try_into().expect("4")) as u64
    });
    // libdeflate unzips a whole body at once, about 1.6 times as fast as a
    // stream; it needs the size, which the trailer gives. A body it cannot
    // take (a lying trailer, several gzip members) goes through flate2.
    if (1..=limit).contains(&size_hint) {
        let size = size_hint as usize;
        if json.len() < size {
            json.resize(size, 0);
        }
        if let Ok(n) = libdeflater::Decompressor::new().gzip_decompress(body, &mut json[..size]) {
            json.truncate(n);
            return Ok(());
        }
    }
    json.clear();
    json.reserve(size_hint.min(limit + 1) as usize);
    flate2::read::GzDecoder::new(body)
        .take(limit + 1)
        .read_to_end(json)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid gzip: {error}")))?;
    Ok(())
}

/// A zstd body, decompressed into `json` (at most `limit` + 1 bytes; its
/// frame's content size, when written and within the limit, sizes it at
/// once).
fn unzstd(body: &[u8], limit: u64, json: &mut Vec<u8>) -> Result<(), ApiError> {
    let not_zstd = |error: std::io::Error| {
        ApiError::BadRequest(format!("the body is not valid zstd: {error}"))
    };
    json.clear();
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(body) {
        json.reserve(size.min(limit + 1) as usize);
    }
    zstd::stream::read::Decoder::with_buffer(body)
        .map_err(not_zstd)?
        .take(limit + 1)
        .read_to_end(json)
        .map_err(not_zstd)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_emptied_event_list_keeps_its_room_for_the_next_request() {
        let mut list: Vec<EventRef<'_>> = Vec::with_capacity(1000);
        let text = String::from("m");
        list.push(EventRef::Log(aerie_wire::LogRef {
            id: "a".into(),
            timestamp: chrono::Utc::now(),
            file: "/f".into(),
            level: None,
            logger: None,
            message: text.as_str().into(),
            parsed: false,
            origin: None,
        }));
        let again: Vec<EventRef<'static>> = relabel(list);
        assert!(again.is_empty());
        assert!(again.capacity() >= 1000, "{}", again.capacity());
    }

    #[test]
    fn an_event_that_is_not_utf8_is_refused_and_the_others_are_kept() {
        let now = chrono::Utc::now();
        let event = |id: &str, message: &[u8]| {
            let mut event = format!(
                "{{\"id\":\"{id}\",\"@timestamp\":\"{}\",\"kind\":\"log\",\"file\":\"/f\",\"message\":\"",
                now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            )
            .into_bytes();
            event.extend_from_slice(message);
            event.extend_from_slice(b"\",\"parsed\":false}");
            event
        };
        let mut json =
            b"{\"environment\":\"acme\",\"host\":\"gw-1\",\"agent\":\"test\",\"events\":[".to_vec();
        json.extend(event("a", "héllo".as_bytes()));
        json.push(b',');
        json.extend(event("b", b"caf\xe9"));
        json.push(b',');
        json.extend(event("c", b"fine"));
        json.extend_from_slice(b"]}");
        let retention = crate::config::Retention::default();
        let batch = parse_batch(&json, "acme", now, &retention).unwrap();
        let ids: Vec<&str> = batch.events.iter().map(|event| event.id()).collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].index, 1);
        assert!(
            batch.rejected[0].reason.contains("not UTF-8"),
            "{}",
            batch.rejected[0].reason
        );
        // The same batch in UTF-8 is read whole, its text as sent.
        let good = String::from_utf8_lossy(&json).into_owned();
        let batch = parse_batch(good.as_bytes(), "acme", now, &retention).unwrap();
        assert_eq!(batch.events.len(), 3);
        assert!(batch.rejected.is_empty());
    }
}
