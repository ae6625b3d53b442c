//! The monitor's HTTP API: [`routes`] for the composition root
//! (`crate::server`) to mount. Handlers are thin:
//! they extract, call the store, and map the result; every failure is an
//! [`ApiError`], answered as JSON that names the problem without exposing
//! internals (those go to the log).

mod body;
pub(crate) mod bulk;
mod checks;
mod error;
mod export;
pub(crate) mod ingest;
mod query;
mod split;
mod throttle;

use axum::Router;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::auth::tokens as auth;
use crate::state::AppState;

/// The OpenAPI description of this API.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The API's routes (the composition root mounts them with the dashboard's).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(aerie_wire::INGEST_PATH, post(ingest::ingest))
        .route("/api/v1/hosts", get(query::hosts))
        .route("/api/v1/metrics", get(query::metrics))
        .route("/api/v1/logs", get(query::logs))
        .route("/api/v1/logs/count", get(query::count_logs))
        .route("/api/v1/logs/export", get(export::export))
        .route("/api/v1/apistats", get(query::api_stats))
        .route("/api/v1/usage", get(query::usage))
        .route(
            "/api/v1/environments/{env}/throttle",
            get(throttle::throttle),
        )
        .route("/api/v1/alerts", get(query::alerts))
        .route("/api/v1/alerts/history", get(query::alert_history))
        .route("/api/v1/rules/reload", post(query::reload_rules))
        .route(
            "/api/v1/silences",
            get(query::silences).post(query::create_silence),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(query::expire_silence),
        )
        .route("/api/v1/jobs", get(query::jobs))
        .route("/api/v1/jobs/{name}/run", post(query::run_job))
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
}
