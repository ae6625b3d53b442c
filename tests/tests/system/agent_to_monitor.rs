//! The real agent on this host shipping to the real monitor (embedded store).

use std::io::Write;
use std::time::{Duration, Instant};

use aerie_system_tests::{Agent, ENVIRONMENT, Monitor, StoreKind, product_log_line};
use aerie_testkit::OsmemServer;
use aerie_testkit::wait_until;

fn append(path: &std::path::Path, lines: impl IntoIterator<Item = String>) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        file.write_all(line.as_bytes()).unwrap();
    }
}

async fn this_hosts_cpu_is_queryable_within_two_intervals(store: StoreKind) {
    let monitor = Monitor::start_with(store).await;
    let logs = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "2s");
    let series = wait_until("system.cpu.total.pct in the monitor", Duration::from_secs(4) + Duration::from_millis(900), async || {
        let answer = monitor.get(&format!("/api/v1/metrics?env={ENVIRONMENT}&name=system.cpu.total.pct&from=now-5m&step=1s")).await?;
        let points = answer["series"][0]["points"].as_array()?.clone();
        (!points.is_empty()).then_some(answer)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent:\n{}\nmonitor:\n{}", agent.log(), monitor.log()));
    eprintln!("queryable after {:?}", started.elapsed());
    assert_eq!(series["series"][0]["host"], "this-host");
    let value = series["series"][0]["points"][0][1].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&value), "cpu {value}");
    let hosts = monitor
        .get(&format!("/api/v1/hosts?env={ENVIRONMENT}"))
        .await
        .unwrap();
    assert_eq!(hosts[0]["host"], "this-host");
    assert_eq!(hosts[0]["up"], true);
}

async fn an_appended_line_is_found_within_five_seconds(store: StoreKind) {
    let monitor = Monitor::start_with(store).await;
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("wso2carbon.log");
    append(&file, [product_log_line("INFO", "Bootstrap started")]);
    let agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "10s");
    wait_until("the first line", Duration::from_secs(30), async || {
        (!monitor.all_logs("Bootstrap").await.is_empty()).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));

    append(
        &file,
        [product_log_line(
            "ERROR",
            "ThrottleHandler zanzibar quota exceeded",
        )],
    );
    let appended = Instant::now();
    wait_until("the appended line", Duration::from_secs(5), async || {
        (monitor.all_logs("zanzibar").await.len() == 1).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    eprintln!("found after {:?}", appended.elapsed());
}

async fn a_monitor_killed_while_the_agent_ships_loses_and_repeats_nothing(store: StoreKind) {
    const TOTAL: u64 = 20_000;
    let mut monitor = Monitor::start_with(store).await;
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("app.log");
    let agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "10s");
    let writer_file = file.clone();
    let writer = std::thread::spawn(move || {
        for batch in 0..40u64 {
            append(
                &writer_file,
                (batch * 500..(batch + 1) * 500)
                    .map(|n| product_log_line("INFO", &format!("Writer shipped seq{n} ok"))),
            );
            aerie_testkit::pace(Duration::from_millis(100));
        }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    monitor.kill_hard();
    tokio::time::sleep(Duration::from_secs(1)).await;
    monitor.restart().await;
    tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();

    let lines = wait_until(
        "every line in the monitor",
        Duration::from_secs(120),
        async || {
            let lines = monitor.all_logs("Writer").await;
            (lines.len() as u64 >= TOTAL).then_some(lines)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent:\n{}\nmonitor:\n{}", agent.log(), monitor.log()));
    assert_eq!(lines.len() as u64, TOTAL, "each line stored once");
    let mut seqs: Vec<u64> = lines
        .iter()
        .map(|(_, message)| {
            message
                .split("seq")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len() as u64, TOTAL, "every line, none twice");
    let ids: std::collections::HashSet<&str> = lines.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len() as u64, TOTAL);
}

with_both_stores!(
    this_hosts_cpu_is_queryable_within_two_intervals,
    an_appended_line_is_found_within_five_seconds,
    a_monitor_killed_while_the_agent_ships_loses_and_repeats_nothing
);
