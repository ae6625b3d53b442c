//! `GET /api/v1/environments/{env}/throttle`: the tenants' throttling
//! decisions, for the gateways to poll and cache. Cheap to poll: a strong
//! ETag (the body's digest), `304 Not Modified` when `If-None-Match` names
//! the current one, and `Cache-Control: no-cache` so that a proxy between
//! revalidates rather than serving an old block. A gateway keeps its last
//! answer while the monitor is away; it never waits on this endpoint.
//!
//! Who may ask: the environment's ingest token (what its hosts already
//! hold) or a user who may read the environment.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, auth};

pub(super) async fn throttle(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(env): Path<String>,
) -> Result<Response, ApiError> {
    let environment = match auth::environment(&state.config, &headers) {
        Ok(environment) if environment.name == env => environment,
        _ => {
            let user = auth::user(&state.config, &headers)?;
            auth::readable(&state.config, user, &env)?
        }
    };
    state
        .throttle
        .load(&environment.name)
        .await
        .map_err(ApiError::unavailable)?;
    let decisions = state
        .throttle
        .decisions(&environment.name, chrono::Utc::now());
    let etag = decisions.etag();
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let tag = HeaderValue::from_str(&etag).expect("a quoted hex digest is a header value");
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(if cached {
        (StatusCode::NOT_MODIFIED, [(header::ETAG, tag), cache]).into_response()
    } else {
        ([(header::ETAG, tag), cache], axum::Json(decisions)).into_response()
    })
}
