//! The monitor's own metrics, in the Prometheus text format at `GET
//! /metrics` (for an operator's token, as the rest of the API): HTTP requests by route and status, events stored and
//! duplicates, store write and query latency, mails sent and failed,
//! alerts by state, job runs. Counters live here and are counted where
//! the work is done (`store.rs` wraps the store, `channel.rs` each mail
//! channel, [`track`] every request); what is a state (alerts, jobs) is
//! read when scraped.
//!
//! It must never label a series with anything a customer sends (hosts,
//! log text, tenants): a label's values are the monitor's own routes,
//! statuses, operations, states and job names, so a series count stays
//! bounded however much is ingested.

mod channel;
mod store;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use channel::CountedChannel;
pub use store::TimedStore;

use crate::api::ApiError;
use crate::state::AppState;

/// What a request is counted by.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern (`/api/v1/logs`), never the path asked for.
    route: String,
    status: u16,
}

/// A store operation.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

/// A mail's outcome at its channel.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

/// The monitor's counters and histograms.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    events: Counter,
    duplicates: Counter,
    writes: Family<OperationLabels, Histogram>,
    queries: Family<OperationLabels, Histogram>,
    mails: Family<OutcomeLabels, Counter>,
}

/// Latency buckets from 0.5 ms to about 16 s.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("aerie_monitor");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route and status",
            requests.clone(),
        );
        let events = Counter::default();
        registry.register("events_stored", "Events stored", events.clone());
        let duplicates = Counter::default();
        registry.register(
            "events_duplicate",
            "Events received again and not stored twice",
            duplicates.clone(),
        );
        let writes = Family::<OperationLabels, Histogram>::new_with_constructor(latency);
        registry.register(
            "store_write_seconds",
            "How long the store took to write a batch",
            writes.clone(),
        );
        let queries = Family::<OperationLabels, Histogram>::new_with_constructor(latency);
        registry.register(
            "store_query_seconds",
            "How long the store took to answer a query, by operation",
            queries.clone(),
        );
        let mails = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "mails",
            "Alert mails handed to a channel, by outcome (sent, failed)",
            mails.clone(),
        );
        Self {
            registry,
            requests,
            events,
            duplicates,
            writes,
            queries,
            mails,
        }
    }
}

impl Metrics {
    /// The text Prometheus scrapes, with the states of `state` read now.
    pub fn render(&self, state: &AppState) -> String {
        let mut now = Registry::with_prefix("aerie_monitor");
        let alerts = Family::<StateLabels, Gauge>::default();
        if let Some(engine) = &state.alerts {
            for environment in &state.config.environments {
                for alert in engine.alerts(&environment.name) {
                    let label = StateLabels {
                        state: format!("{:?}", alert.state).to_lowercase(),
                    };
                    alerts.get_or_create(&label).inc();
                }
            }
        }
        now.register("alerts", "Current alerts, by state", alerts);
        for (job, status) in state.jobs.own_statuses() {
            let runs = ConstCounter::new(status.runs);
            now.sub_registry_with_label(("job".into(), job.into()))
                .register("job_runs", "Runs of a periodic job", runs);
        }
        let mut out = String::new();
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &now))
            .and_then(|()| encode_eof(&mut out));
        encoded.expect("writing to a String does not fail");
        out
    }

    fn stored(&self, accepted: u64, duplicates: u64) {
        self.events.inc_by(accepted);
        self.duplicates.inc_by(duplicates);
    }

    fn wrote(&self, operation: &'static str, started: Instant) {
        self.writes
            .get_or_create(&OperationLabels { operation })
            .observe(started.elapsed().as_secs_f64());
    }

    fn queried(&self, operation: &'static str, started: Instant) {
        self.queries
            .get_or_create(&OperationLabels { operation })
            .observe(started.elapsed().as_secs_f64());
    }

    fn mailed(&self, outcome: &'static str) {
        self.mails.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

/// An alert state.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

/// Counts every request by its route and the status answered.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`, for an operator's token (Prometheus sends it as its
/// `authorization` credentials): the counts span every environment.
pub async fn scrape(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    crate::auth::tokens::operator(&state.config, &headers)?;
    // A replica standing by holds the alert state it last read: read the
    // cluster's again, so every replica's gauge is the leader's.
    if let Some(engine) = &state.alerts {
        engine.fresh().await;
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(&state),
    ))
}
