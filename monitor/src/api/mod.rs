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
use crate::jobs::Jobs;
use crate::jobs::usage::Ledger;
use crate::store::Store;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub ledger: Arc<Ledger>,
    pub jobs: Arc<Jobs>,
    /// Present when `[alerting]` is configured.
    pub alerts: Option<Arc<crate::alerting::Engine>>,
    /// The web dashboard's sessions.
    pub dashboard: Arc<crate::dashboard::Dashboard>,
}

impl AppState {
    /// The state of a running monitor: the usage ledger under the data
    /// directory and the periodic jobs started.
    pub async fn start(config: Config, store: Arc<dyn Store>) -> Result<Self, String> {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| format!("{}: {e}", config.data_dir.display()))?;
        let ledger = Arc::new(Ledger::open(config.data_dir.join("usage.json"))?);
        let config = Arc::new(config);
        let alerts = match &config.alerting {
            Some(alerting) => {
                let channel = crate::notify::from_config(&alerting.channel).await?;
                let fallback = match &alerting.fallback {
                    Some(fallback) => Some(crate::notify::from_config(fallback).await?),
                    None => None,
                };
                Some(Arc::new(
                    crate::alerting::Engine::new(
                        Arc::clone(&config),
                        Arc::clone(&store),
                        channel,
                        fallback,
                        chrono::Utc::now(),
                    )
                    .map_err(|e| aerie_common::error_chain(&e))?,
                ))
            }
            None => None,
        };
        let jobs = Arc::new(crate::jobs::start(
            &config,
            Arc::clone(&store),
            Arc::clone(&ledger),
            alerts.clone(),
        ));
        Ok(Self {
            config,
            store,
            ledger,
            jobs,
            alerts,
            dashboard: Arc::new(crate::dashboard::Dashboard::new()),
        })
    }
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
        .route("/api/v1/usage", get(query::usage))
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
        .merge(crate::dashboard::routes())
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
