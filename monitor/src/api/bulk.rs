//! An Elasticsearch-compatible `_bulk` endpoint, so existing shippers
//! (rsyslog's omelasticsearch, Filebeat, Fluent Bit, Logstash) can send logs
//! to Aerie: `POST /_bulk` and `POST /{index}/_bulk`, NDJSON action and
//! document lines, and `HEAD|GET /_cat/health` for their health checks.
//! Elasticsearch servers take no path prefix in these shippers, hence the
//! root.
//!
//! Authentication: the environment's ingest token, as the basic-auth password
//! (any user name) or as a bearer token. Documents become log events:
//! `@timestamp` (or `timestamp`; else the time received), `message` (or
//! `msg`, required), `host.name` (or `host`, `hostname`), `log.level` (or
//! `level`, `severity`), `log.logger`, `log.file.path`; dotted names may be
//! nested objects or flat keys. The event id is the action's `_id`, else a
//! hash of the document, so a resent document is stored once (and answered
//! as created, like the first time).

use std::collections::BTreeMap;

use aerie_wire::{Event, EventBody, EventRef, event_id};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::checks::{Invalid, check, check_host};
use super::split::not_utf8;
use super::{ApiError, AppState, auth};
use crate::store::WriteBatch;

pub(super) async fn health() -> Json<Value> {
    Json(json!([{ "status": "green", "cluster": "aerie-monitor" }]))
}

/// One item of the answer, in the order of the request.
pub(crate) enum Item {
    Stored {
        action: String,
        index: String,
        id: String,
    },
    Refused {
        action: String,
        index: String,
        reason: String,
        /// Elasticsearch's name for the kind of refusal.
        error_type: &'static str,
    },
}

pub(super) async fn bulk(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    // Who sends, from the headers, before a byte of the body is read.
    let environment = auth::environment_basic_or_bearer(&state.config, &headers)?;
    let limit = state.config.max_batch_bytes.as_u64();
    let body = super::body::read(&state.bodies, &headers, body, limit, "bulk request").await?;
    let (items, by_host) = parse_bulk(
        &body.bytes,
        &environment.name,
        Utc::now(),
        &state.config.retention,
    )?;

    // One durable write per host.
    for (host, events) in by_host {
        state
            .store
            .write(&WriteBatch {
                environment: environment.name.clone(),
                host,
                events,
            })
            .await?;
    }
    let mut errors = false;
    let answer: Vec<Value> = items
        .into_iter()
        .map(|item| match item {
            Item::Stored { action, index, id } => {
                json!({ action: { "_index": index, "_id": id, "status": 201, "result": "created" } })
            }
            Item::Refused { action, index, reason, error_type } => {
                errors = true;
                json!({ action: { "_index": index, "status": 400, "error": { "type": error_type, "reason": reason } } })
            }
        })
        .collect();
    Ok(Json(
        json!({ "took": started.elapsed().as_millis() as u64, "errors": errors, "items": answer }),
    ))
}

/// What a `_bulk` body asks, read: an answer item per action, in order,
/// and the documents to store, by host.
pub(crate) type Parsed = (Vec<Item>, BTreeMap<String, Vec<Event>>);

/// Reads a `_bulk` body for `environment`, checking each document against
/// `now` and the retention; pure (no store, no clock), and the fuzzing
/// target `bulk_body`'s subject. An action line that does not read ends
/// the request, as in Elasticsearch; a bad document is refused on its own.
pub(crate) fn parse_bulk(
    body: &[u8],
    environment: &str,
    now: DateTime<Utc>,
    retention: &crate::config::Retention,
) -> Result<Parsed, ApiError> {
    // Lines as bytes: a document that is not UTF-8 is that item's problem.
    let mut lines = body
        .split(|&b| b == b'\n')
        .filter(|line| !line.trim_ascii().is_empty());
    let mut items = Vec::new();
    let mut by_host: BTreeMap<String, Vec<Event>> = BTreeMap::new();
    while let Some(action_line) = lines.next() {
        // As Elasticsearch: an action line that does not read ends the
        // request (what follows cannot be paired with its documents).
        let action: Value = serde_json::from_slice(action_line).map_err(|error| {
            ApiError::BadRequest(format!("bulk action line is not JSON: {error}"))
        })?;
        let Some((kind, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
            return Err(ApiError::BadRequest(format!(
                "bulk action line {:?} names no action",
                String::from_utf8_lossy(action_line)
            )));
        };
        let kind = kind.clone();
        let index = meta["_index"].as_str().unwrap_or("_bulk").to_owned();
        if kind == "delete" {
            items.push(Item::Refused {
                action: kind,
                index,
                reason: "delete is not supported: Aerie keeps logs until their retention ends"
                    .into(),
                error_type: "illegal_argument_exception",
            });
            continue;
        }
        let Some(document_line) = lines.next() else {
            return Err(ApiError::BadRequest(format!(
                "bulk action {kind} has no document line after it"
            )));
        };
        if kind != "index" && kind != "create" {
            items.push(Item::Refused {
                action: kind.clone(),
                index,
                reason: format!("action {kind} is not supported: use index or create"),
                error_type: "illegal_argument_exception",
            });
            continue;
        }
        let checked = to_event(document_line, meta["_id"].as_str(), environment, now).and_then(
            |(host, event)| {
                let event = EventRef::from(event);
                check(&event, now, retention).map_err(BadDocument::Invalid)?;
                check_host(&host).map_err(BadDocument::Invalid)?;
                Ok((host, event.into_owned()))
            },
        );
        match checked {
            Ok((host, event)) => {
                items.push(Item::Stored {
                    action: kind,
                    index,
                    id: event.id.clone(),
                });
                by_host.entry(host).or_default().push(event);
            }
            Err(bad) => items.push(Item::Refused {
                action: kind,
                index,
                error_type: bad.error_type(),
                reason: bad.to_string(),
            }),
        }
    }
    Ok((items, by_host))
}

/// A field by dotted name: a flat key (`"host.name"`) or nested objects.
fn field<'a>(document: &'a Value, name: &str) -> Option<&'a Value> {
    if let Some(value) = document.get(name) {
        return Some(value);
    }
    name.split('.')
        .try_fold(document, |node, part| node.get(part))
}

fn first_text<'a>(document: &'a Value, names: &[&str]) -> Option<&'a str> {
    names
        .iter()
        .find_map(|name| field(document, name).and_then(Value::as_str))
}

/// Why one document of a `_bulk` request is refused (the others are still stored).
#[derive(Debug, thiserror::Error)]
enum BadDocument {
    #[error("{0}")]
    NotUtf8(String),
    #[error("the document is not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("the document is not a JSON object")]
    NotObject,
    #[error("the document has no message (or msg) field")]
    NoMessage,
    #[error("@timestamp {0:?} is not an RFC 3339 time")]
    Timestamp(String),
    /// Read, but not what the ingest API would store either.
    #[error("{0}")]
    Invalid(Invalid),
}

impl BadDocument {
    /// Elasticsearch's name for the refusal: a document that does not read
    /// is a mapping failure, one that reads but breaks a rule an illegal
    /// argument.
    fn error_type(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "illegal_argument_exception",
            _ => "mapper_parsing_exception",
        }
    }
}

fn to_event(
    line: &[u8],
    id: Option<&str>,
    environment: &str,
    now: DateTime<Utc>,
) -> Result<(String, Event), BadDocument> {
    if let Some(reason) = not_utf8(line) {
        return Err(BadDocument::NotUtf8(
            reason.replace("the event", "the document"),
        ));
    }
    let document: Value = serde_json::from_slice(line).map_err(BadDocument::NotJson)?;
    if !document.is_object() {
        return Err(BadDocument::NotObject);
    }
    let message = first_text(&document, &["message", "msg"]).ok_or(BadDocument::NoMessage)?;
    let timestamp = match first_text(&document, &["@timestamp", "timestamp"]) {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|time| time.to_utc())
            .map_err(|_| BadDocument::Timestamp(text.to_owned()))?,
        None => now,
    };
    let host = first_text(&document, &["host.name", "host", "hostname"])
        .unwrap_or("unknown")
        .to_owned();
    let id = match id {
        Some(id) => id.to_owned(),
        None => event_id(&[environment.as_bytes(), line]),
    };
    let event = Event {
        id,
        timestamp,
        body: EventBody::Log {
            file: first_text(&document, &["log.file.path"])
                .unwrap_or("_bulk")
                .to_owned(),
            level: first_text(&document, &["log.level", "level", "severity"])
                .map(str::to_ascii_uppercase),
            logger: first_text(&document, &["log.logger", "logger"]).map(str::to_owned),
            message: message.to_owned(),
            parsed: true,
            origin: None,
        },
    };
    Ok((host, event))
}
