//! Request bodies of the ingest routes (`/api/v1/ingest`, `_bulk`): read
//! only once the caller is authenticated (the handlers authenticate from
//! the headers first), never more than the route allows, and only a few at
//! once. A declared length over the limit is refused before a byte is read;
//! a body that grows past it is refused at the limit. Forms and the JSON API
//! take small bodies through axum's extractors, capped by the router's
//! `DefaultBodyLimit` (`crate::server::SMALL_BODY`).
//!
//! Never buffers more than the limit of one request per permit.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::ApiError;

/// A body read whole, and the permit it holds until it is dropped.
#[derive(Debug)]
pub(super) struct ReadBody {
    pub(super) bytes: Bytes,
    _permit: OwnedSemaphorePermit,
}

/// Reads `body` once one of `permits` is free (`AppState::bodies`),
/// refusing it with 413 past `limit` bytes (`what` names it in the answer).
pub(super) async fn read(
    permits: &Arc<Semaphore>,
    headers: &HeaderMap,
    body: Body,
    limit: u64,
    what: &str,
) -> Result<ReadBody, ApiError> {
    let too_large = || {
        ApiError::PayloadTooLarge(format!(
            "the {what} is larger than {limit} bytes: send smaller batches"
        ))
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large());
    }
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::Unavailable("the monitor is stopping".into()))?;
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(ReadBody {
            bytes: collected.to_bytes(),
            _permit: permit,
        }),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(_) => Err(ApiError::BadRequest(format!(
            "the {what} was cut off before its end"
        ))),
    }
}
