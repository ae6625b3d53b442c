//! The real agent on this host shipping to the real monitor (embedded store).

use std::io::Write;
use std::time::{Duration, Instant};

use aerie_system_tests::{Agent, ENVIRONMENT, Monitor, StoreKind, product_log_line};
use aerie_testkit::OpenSearch;
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
    a_monitor_killed_while_the_agent_ships_loses_and_repeats_nothing,
    both_product_layouts_arrive_with_their_level_logger_and_time
);

/// A corpus in both product layouts (seed 000's and WSO2 Carbon's default,
/// with and without bracketed contexts, some with stack traces), shipped by
/// the real agent: every event's level, logger and time, as the monitor
/// gives them back, are the line's own.
async fn both_product_layouts_arrive_with_their_level_logger_and_time(store: StoreKind) {
    let monitor = Monitor::start_with(store).await;
    let logs = tempfile::tempdir().unwrap();
    let base = chrono::Local::now() - chrono::Duration::minutes(10);
    let levels = ["INFO", "WARN", "ERROR", "DEBUG"];
    let mut lines = Vec::new();
    let mut expected = Vec::new();
    for n in 0..40i64 {
        let at = base + chrono::Duration::milliseconds(n * 1_001);
        let stamp = at.format("%Y-%m-%d %H:%M:%S,%3f");
        let level = levels[n as usize % levels.len()];
        let logger = format!("org.wso2.carbon.Part{n}");
        let text = format!("corpus-{n} happened");
        let line = match n % 4 {
            0 => format!("[{stamp}] {level:>5} - {logger} {text}\n"),
            1 => format!("[{stamp}] {level:>5} {{{logger}}} - {text}\n"),
            2 => format!("[{stamp}] [-1234] [carbon.super] {level:>5} {{{logger}}} - {text}\n"),
            _ => format!(
                "[{stamp}] [acme.com] {level:>5} {{{logger}}} - {text}\njava.lang.IllegalStateException: corpus\n\tat a.B.c(B.java:{n})\n"
            ),
        };
        lines.push(line);
        expected.push((
            format!("corpus-{n}"),
            level,
            logger,
            at.with_timezone(&chrono::Utc),
        ));
    }
    append(&logs.path().join("wso2carbon.log"), lines);
    let agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "10s");
    let page = wait_until("the corpus", Duration::from_secs(30), async || {
        let page = monitor
            .get("/api/v1/logs?env=acme-prod&q=happened&from=now-1h&limit=1000")
            .await?;
        (page["lines"].as_array()?.len() == expected.len()).then_some(page)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    for line in page["lines"].as_array().unwrap() {
        let message = line["message"].as_str().unwrap();
        let tag = message.split(' ').next().unwrap();
        let (_, level, logger, at) = expected
            .iter()
            .find(|(t, ..)| t == tag)
            .unwrap_or_else(|| panic!("unexpected line {message:?}"));
        assert_eq!(line["level"], *level, "{line}");
        assert_eq!(line["logger"], logger.as_str(), "{line}");
        let time: chrono::DateTime<chrono::Utc> =
            line["@timestamp"].as_str().unwrap().parse().unwrap();
        assert_eq!(time.timestamp_millis(), at.timestamp_millis(), "{line}");
        if tag.trim_start_matches("corpus-").parse::<u32>().unwrap() % 4 == 3 {
            assert!(
                message.contains("\n\tat a.B.c(B.java:"),
                "the stack trace stays: {message:?}"
            );
        }
    }
}
