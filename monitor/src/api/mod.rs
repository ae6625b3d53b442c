//! The monitor's HTTP API: `app(state)` builds the router. Handlers are thin:
//! they extract, call the store, and map the result; every failure is an
//! [`ApiError`], answered as JSON that names the problem without exposing
//! internals (those go to the log).

mod auth;
mod bulk;
mod error;
mod ingest;
mod query;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::config::Config;
use crate::store::Store;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
}

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

pub fn app(state: AppState) -> Router {
    Router::new()
        .route(aerie_wire::INGEST_PATH, post(ingest::ingest))
        .route("/api/v1/hosts", get(query::hosts))
        .route("/api/v1/metrics", get(query::metrics))
        .route("/api/v1/logs", get(query::logs))
        .route("/api/v1/apistats", get(query::api_stats))
        // Elasticsearch-compatible ingest for existing shippers (see `bulk`).
        .route("/_bulk", post(bulk::bulk))
        .route("/{index}/_bulk", post(bulk::bulk))
        .route("/_cat/health", get(bulk::health).head(bulk::health))
        .route(
            "/api/v1/openapi.json",
            get(|| async {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    OPENAPI,
                )
            }),
        )
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; see /api/v1/openapi.json".into())
        })
        // The ingest handler enforces the configured batch limit itself, so
        // that an oversized batch gets a JSON answer.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state)
}

#[cfg(test)]
mod tests;
