//! The monitor's and the agent's own metrics, scraped by a real Prometheus
//! (Debian's, started by the harness) while the real agent ships to the
//! monitor, and read back through Prometheus's query API.

use std::time::Duration;

use aerie_system_tests::{Agent, ENVIRONMENT, INGEST_TOKEN, Monitor, OPERATOR_TOKEN, free_port};
use aerie_testkit::{Prometheus, Scrape, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_monitor_s_and_the_agent_s_counters() {
    let monitor = Monitor::start().await;
    let logs = tempfile::tempdir().unwrap();
    let line = "2026-12-02 10:00:00,000 [-] [main]  INFO {org.wso2.Bootstrap} - started\n";
    std::fs::write(logs.path().join("app.log"), line.repeat(5)).unwrap();
    let agent_metrics = format!("127.0.0.1:{}", free_port());
    let agent = Agent::start_with_config(&format!(
        "environment = \"{ENVIRONMENT}\"\nhost = \"this-host\"\ndata_dir = \"data\"\ninterval = \"1s\"\n[monitor]\nurl = \"{}\"\ntoken = \"{INGEST_TOKEN}\"\n[metrics]\nlisten = \"{agent_metrics}\"\n[[logs]]\nname = \"app\"\npaths = [\"{}\"]\n",
        monitor.url(),
        logs.path().join("*.log").display()
    ));
    let target = monitor.url().trim_start_matches("http://").to_owned();
    // Without an operator's token the monitor's counters are not given.
    let anonymous = reqwest::get(format!("{}/metrics", monitor.url()))
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let prometheus = Prometheus::start(&[
        Scrape {
            target,
            path: "/metrics".into(),
            bearer: Some(OPERATOR_TOKEN.into()),
        },
        Scrape {
            target: agent_metrics,
            path: "/metrics".into(),
            bearer: None,
        },
    ])
    .await
    .unwrap();

    // Every event the agent shipped was stored, and Prometheus has the count.
    let stored = at_least(
        &prometheus,
        "aerie_monitor_events_stored_total",
        5.0,
        "the monitor's stored events in Prometheus",
        Duration::from_secs(30),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent:\n{}\nmonitor:\n{}", agent.log(), monitor.log()));
    assert!(stored >= 5.0, "{stored}");
    // The agent's requests, by their route and status.
    let ingested = prometheus
        .value(r#"aerie_monitor_http_requests_total{route="/api/v1/ingest",status="200"}"#)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(ingested >= 1.0, "{ingested}");
    // The store's write latency is a histogram with one observation per
    // write.
    let writes = prometheus
        .value(r#"aerie_monitor_store_write_seconds_count{operation="write"}"#)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(writes >= 1.0, "{writes}");
    // A query through the API is timed as one.
    let answer = monitor
        .get("/api/v1/logs?env=acme-prod&q=Bootstrap&from=now-30d")
        .await;
    assert!(answer.is_some());
    let queries = at_least(
        &prometheus,
        r#"aerie_monitor_store_query_seconds_count{operation="logs"}"#,
        1.0,
        "the logs query timed",
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert!(queries >= 1.0);

    // The agent's side: what it sent is what the monitor stored (the
    // monitor counts its own writes too), nothing dropped, every delivery
    // timed.
    let sent = at_least(
        &prometheus,
        "aerie_agent_events_sent_total",
        5.0,
        "the agent's sent events",
        Duration::from_secs(20),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent:\n{}", agent.log()));
    assert!(sent >= 5.0);
    let queued = prometheus
        .value("aerie_agent_events_queued_total")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(queued >= sent, "queued {queued}, sent {sent}");
    assert_eq!(
        prometheus
            .value("aerie_agent_events_dropped_total")
            .await
            .unwrap(),
        Some(0.0)
    );
    let deliveries = prometheus
        .value("aerie_agent_delivery_seconds_count")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(deliveries >= 1.0, "{deliveries}");
}

/// Waits until Prometheus answers `query` with at least `minimum`; the value.
async fn at_least(
    prometheus: &Prometheus,
    query: &str,
    minimum: f64,
    what: &str,
    timeout: Duration,
) -> Result<f64, aerie_testkit::Error> {
    wait_until(what, timeout, async || {
        let value = prometheus.value(query).await.ok()??;
        (value >= minimum).then_some(value)
    })
    .await
}
