//! Two monitors on one real OpenSearch node share its lease: the first
//! runs the jobs (alert evaluation and mail among them) and the second
//! stands by, until the first is killed with SIGKILL and the second takes
//! over once the lease lapses.

use std::time::{Duration, Instant};

use aerie_system_tests::{Monitor, OPERATOR_TOKEN, StoreKind};
use aerie_testkit::{OpenSearch, wait_until};
use serde_json::Value;

const STANDING_BY: &str = "standing by: another monitor leads";

/// Runs the monitor's `usage` job now; what it says it did.
async fn run_usage(monitor: &Monitor) -> Option<String> {
    let status: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .ok()?
        .post(format!("{}/api/v1/jobs/usage/run", monitor.url()))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    status["last_result"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_monitors_on_one_cluster_one_runs_the_jobs_and_the_other_takes_over_when_it_is_killed()
 {
    let node = OpenSearch::start().await.unwrap();
    let store = || StoreKind::Elasticsearch(node.url().to_owned());
    let mut first = Monitor::start_with(store()).await;
    let second = Monitor::start_with(store()).await;

    let by_first = run_usage(&first).await.unwrap();
    assert_ne!(
        by_first,
        STANDING_BY,
        "the first monitor leads\n{}",
        first.log()
    );
    assert_eq!(
        run_usage(&second).await.as_deref(),
        Some(STANDING_BY),
        "{}",
        second.log()
    );

    first.kill_hard();
    let killed = Instant::now();
    wait_until(
        "the second monitor leads",
        Duration::from_secs(40),
        async || {
            run_usage(&second)
                .await
                .filter(|result| result != STANDING_BY)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", second.log()));
    // The lease is 15 s, renewed every 5 s: the takeover comes after it
    // lapses and within the next renewal.
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(25), "took {took:?}");
    assert!(
        second.log().contains("this monitor leads"),
        "{}",
        second.log()
    );
}
