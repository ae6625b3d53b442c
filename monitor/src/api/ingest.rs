//! `POST /api/v1/ingest`: the agents' batches (`aerie_wire`). Authenticated
//! per environment; every event accounted for (accepted, duplicate, or
//! rejected with its reason) and a bad one never takes the rest with it.
//! Answered only once the store holds the batch durably.

use std::io::Read;

use aerie_wire::{Event, EventBody, IngestResponse, Rejected};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Deserialize;

use super::{ApiError, AppState, auth};
use crate::store::WriteBatch;

/// The envelope with every event well-formed: the common case, parsed once.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TypedEnvelope {
    environment: String,
    host: String,
    #[allow(dead_code)]
    agent: String,
    events: Vec<Event>,
}

/// The envelope, with events kept raw so each is judged on its own.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    environment: String,
    host: String,
    #[allow(dead_code)]
    agent: String,
    events: Vec<serde_json::Value>,
}

pub(super) async fn ingest(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<IngestResponse>, ApiError> {
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
    let gzip = headers
        .get(axum::http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let json = read_body(&body, gzip, limit)?;
    // Parse straight into events; only a batch with a malformed event pays
    // for judging each one on its own.
    let (batch_environment, host, parsed) = match serde_json::from_slice::<TypedEnvelope>(&json) {
        Ok(typed) => (
            typed.environment,
            typed.host,
            typed.events.into_iter().map(Ok).collect::<Vec<_>>(),
        ),
        Err(_) => {
            let envelope: Envelope = serde_json::from_slice(&json).map_err(|error| {
                ApiError::BadRequest(format!("the body is not an ingest batch: {error}"))
            })?;
            let events = envelope
                .events
                .into_iter()
                .map(|raw| {
                    let id = raw.get("id").and_then(|id| id.as_str()).map(str::to_owned);
                    serde_json::from_value::<Event>(raw).map_err(|error| (id, error.to_string()))
                })
                .collect();
            (envelope.environment, envelope.host, events)
        }
    };
    if batch_environment != environment.name {
        return Err(ApiError::Forbidden(format!(
            "this token writes to environment {:?}, not {:?}",
            environment.name, batch_environment
        )));
    }
    if host.trim().is_empty() || host.len() > 255 || host.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "host {host:?} is not a host name"
        )));
    }

    let now = chrono::Utc::now();
    let mut events = Vec::with_capacity(parsed.len());
    let mut rejected = Vec::new();
    for (index, event) in parsed.into_iter().enumerate() {
        match event.and_then(|event| {
            let id = Some(event.id.clone());
            check(event, now).map_err(|reason| (id, reason))
        }) {
            Ok(event) => events.push(event),
            Err((id, reason)) => rejected.push(Rejected { index, id, reason }),
        }
    }
    if !rejected.is_empty() {
        tracing::warn!(environment = %environment.name, %host, rejected = rejected.len(), first = %rejected[0].reason, "rejected events");
    }
    let outcome = if events.is_empty() {
        Default::default()
    } else {
        state
            .store
            .write(WriteBatch {
                environment: environment.name.clone(),
                host,
                events,
            })
            .await?
    };
    Ok(Json(IngestResponse {
        accepted: outcome.accepted,
        duplicates: outcome.duplicates,
        rejected,
    }))
}

fn read_body(body: &[u8], gzip: bool, limit: u64) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the batch is larger than {limit} bytes: send smaller batches"
        ))
    };
    if body.len() as u64 > limit {
        return Err(too_large());
    }
    if !gzip {
        return Ok(body.to_vec());
    }
    // The gzip trailer holds the size (mod 2^32): one allocation, no regrowth.
    let size_hint = body.len().checked_sub(4).map_or(0, |at| {
        u32::from_le_bytes(body[at..].try_into().expect("4")) as u64
    });
    let mut json = Vec::with_capacity(size_hint.min(limit + 1) as usize);
    flate2::read::GzDecoder::new(body)
        .take(limit + 1)
        .read_to_end(&mut json)
        .map_err(|error| ApiError::BadRequest(format!("the body is not valid gzip: {error}")))?;
    if json.len() as u64 > limit {
        return Err(too_large());
    }
    Ok(json)
}

/// Why an event cannot be stored, if it cannot.
fn check(event: Event, now: chrono::DateTime<chrono::Utc>) -> Result<Event, String> {
    if event.id.is_empty() || event.id.len() > 128 {
        return Err("id must be 1 to 128 characters".into());
    }
    if event.timestamp > now + chrono::Duration::days(1) {
        return Err(format!(
            "@timestamp {} is more than a day in the future",
            event.timestamp.to_rfc3339()
        ));
    }
    match &event.body {
        EventBody::Metric { name, value, .. } => {
            if name.is_empty() || name.len() > 255 {
                return Err("metric name must be 1 to 255 characters".into());
            }
            if !value.is_finite() {
                return Err(format!(
                    "metric {name} has a value that is not a finite number"
                ));
            }
        }
        EventBody::Log { message, .. } if message.len() > 1024 * 1024 => {
            return Err("log message is longer than 1 MiB".into());
        }
        EventBody::ApiStats { api, count, .. } if api.is_empty() || *count == 0 => {
            return Err("api statistics need an api name and a count above 0".into());
        }
        _ => {}
    }
    Ok(event)
}
