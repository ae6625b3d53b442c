//! The agent's own counters for Prometheus: `GET /metrics` on the local
//! address `[metrics] listen` names (nothing is served without it), in
//! the OpenMetrics text format: events read, queued, sent (shipped), retried,
//! rejected and dropped (always zero: the agent stops reading rather than
//! drop), read errors, the queue's bytes, whether reading is paused, and
//! the delivery latency histogram.
//!
//! It never serves anything read from a file or a host: only the
//! counters, so it cannot leak a log line or a secret.

use std::net::SocketAddr;

use axum::http::header;
use axum::response::IntoResponse;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::counters::Counters;

/// Serves the counters on `listen` until the process ends.
pub async fn serve(listen: SocketAddr, counters: Counters) -> Result<(), std::io::Error> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let counters = counters.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    render(&counters),
                )
                    .into_response()
            }
        }),
    );
    tracing::info!(%listen, "serving the agent's metrics at /metrics");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::warn!(%error, "the metrics endpoint stopped");
        }
    });
    Ok(())
}

/// The text Prometheus scrapes.
fn render(counters: &Counters) -> String {
    let mut registry = Registry::with_prefix("aerie_agent");
    for (name, value) in counters.snapshot() {
        let name = name.trim_start_matches("aerie.agent.").replace('.', "_");
        // Whole numbers: every counter, and the two states.
        let value = value as u64;
        match name.as_str() {
            "queue_bytes" => registry.register(
                name,
                "Bytes in the disk queue not yet delivered",
                ConstGauge::new(value as i64),
            ),
            "reading_paused" => registry.register(
                name,
                "1 while reading is paused because the queue is full",
                ConstGauge::new(value as i64),
            ),
            _ => {
                let help = format!("aerie.agent.{} so far", name.replace('_', "."));
                registry.register(name, help, ConstCounter::new(value));
            }
        }
    }
    registry.register(
        "events_dropped",
        "Events dropped: always zero, the agent stops reading instead",
        ConstCounter::new(0u64),
    );
    registry.register(
        "delivery_seconds",
        "How long a delivered batch took to be taken",
        counters.delivery(),
    );
    let mut out = String::new();
    encode(&mut out, &registry).expect("writing to a String does not fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counters_read_as_prometheus_counters_and_gauges_with_dropped_at_zero() {
        let counters = Counters::default();
        counters.add_read(7);
        counters.add_sent(5);
        counters.set_queued_bytes(4096);
        counters.observe_delivery(std::time::Duration::from_millis(20));
        let text = render(&counters);
        for line in [
            "aerie_agent_events_read_total 7",
            "aerie_agent_events_sent_total 5",
            "aerie_agent_events_dropped_total 0",
            "aerie_agent_queue_bytes 4096",
            "aerie_agent_delivery_seconds_count 1",
            "# TYPE aerie_agent_queue_bytes gauge",
        ] {
            assert!(text.contains(line), "{line} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
