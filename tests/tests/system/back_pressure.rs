//! A busy OpenSearch cluster (a write queue of one, kept full by other
//! writers) answers `429`; the monitor on it passes the back-pressure on to
//! its clients instead of failing or dropping: `/_bulk` answers `429` with
//! `Retry-After`, the real agent's ingest is slowed, and everything sent
//! again lands once. Read back through the monitor's log API.

use std::collections::BTreeMap;
use std::time::Duration;

use aerie_system_tests::{Agent, ENVIRONMENT, INGEST_TOKEN, Monitor, StoreKind, product_log_line};
use aerie_testkit::{OpenSearch, WriteFlood, wait_until, write_rejections};
use serde_json::json;

/// Documents per `_bulk` request, and requests sent while the cluster is busy.
const PER_REQUEST: usize = 25;
const REQUESTS: usize = 16;
/// Lines the agent ships meanwhile.
const AGENT_LINES: usize = 300;

/// A `_bulk` body of documents `first..first + PER_REQUEST`, each with its
/// own `_id`.
fn bulk_body(first: usize) -> String {
    let now = chrono::Utc::now().to_rfc3339();
    (first..first + PER_REQUEST)
        .map(|n| {
            format!(
                "{}\n{}\n",
                json!({ "create": { "_id": format!("doc-{n}") } }),
                json!({ "@timestamp": now, "message": format!("bulk doc {n}"), "host": "shipper-1" })
            )
        })
        .collect()
}

/// Posts `body` to the monitor's `_bulk`: its status and `Retry-After`.
async fn post_bulk(http: &reqwest::Client, monitor: &Monitor, body: &str) -> (u16, Option<String>) {
    let response = http
        .post(format!("{}/_bulk", monitor.url()))
        .basic_auth("shipper", Some(INGEST_TOKEN))
        .header("content-type", "application/x-ndjson")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (response.status().as_u16(), retry_after)
}

/// How many times each message is in the monitor's logs of the last hour.
async fn message_counts(monitor: &Monitor) -> BTreeMap<String, usize> {
    let page = monitor
        .get(&format!(
            "/api/v1/logs?env={ENVIRONMENT}&from=now-1h&limit=1000"
        ))
        .await
        .unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in page["lines"].as_array().into_iter().flatten() {
        let message = line["message"].as_str().unwrap_or_default().to_owned();
        *counts.entry(message).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_cluster_makes_the_monitor_answer_429_and_whatever_is_sent_again_lands_once() {
    let node = OpenSearch::busy().await.unwrap();
    let monitor = Monitor::start_with(StoreKind::Elasticsearch(node.url().to_owned())).await;
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let flood = WriteFlood::start(node.url(), 4);

    // The real agent ships its lines to the monitor meanwhile.
    let lines: String = (0..AGENT_LINES)
        .map(|n| product_log_line("INFO", &format!("Gateway agent line {n}")))
        .collect();
    std::fs::write(logs.path().join("gateway.log"), lines).unwrap();
    let agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "1s");

    // Every answer is 201-with-items or 429 with Retry-After; a 429's body is
    // kept to be sent again, as a shipper does.
    let mut refused = Vec::new();
    for request in 0..REQUESTS {
        let body = bulk_body(request * PER_REQUEST);
        match post_bulk(&http, &monitor, &body).await {
            (200, _) => {}
            (429, retry_after) => {
                assert_eq!(
                    retry_after.as_deref(),
                    Some("1"),
                    "a 429 says when to come back"
                );
                refused.push(body);
            }
            (status, _) => panic!("a busy cluster gave the client {status}\n{}", monitor.log()),
        }
    }
    assert!(
        !refused.is_empty(),
        "the busy cluster never refused a request (it refused {} write tasks)\n{}",
        write_rejections(node.url()).await,
        monitor.log()
    );
    wait_until(
        "the agent to be answered 429 too",
        Duration::from_secs(60),
        async || agent.log().contains("429 Too Many Requests").then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    drop(flood);

    for body in &refused {
        let sent_again = wait_until(
            "the refused request to be taken",
            Duration::from_secs(60),
            async || (post_bulk(&http, &monitor, body).await.0 == 200).then_some(()),
        )
        .await;
        sent_again.unwrap_or_else(|e| panic!("{e}\n{}", monitor.log()));
    }
    let counts = wait_until(
        "every document and line in the monitor",
        Duration::from_secs(120),
        async || {
            let counts = message_counts(&monitor).await;
            (counts.len() >= REQUESTS * PER_REQUEST + AGENT_LINES).then_some(counts)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}\n{}", monitor.log(), agent.log()));
    for n in 0..REQUESTS * PER_REQUEST {
        assert_eq!(
            counts.get(&format!("bulk doc {n}")),
            Some(&1),
            "bulk doc {n}"
        );
    }
    for n in 0..AGENT_LINES {
        assert_eq!(
            counts.get(&format!("agent line {n}")),
            Some(&1),
            "agent line {n}: {counts:?}"
        );
    }
    assert_eq!(counts.len(), REQUESTS * PER_REQUEST + AGENT_LINES);
}
