//! The agent's delivery guarantees, with the real binary, real files and a
//! real HTTP receiver: nothing lost, nothing duplicated that its id does not
//! give away, through rotation, outages, kill -9 and proxies.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use crate::support::*;
use aerie_testkit::{OpenSearch, Tinyproxy, wait_until};

fn append(path: &Path, seqs: std::ops::Range<u64>) {
    let mut file = std::io::BufWriter::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap(),
    );
    for seq in seqs {
        file.write_all(product_line(seq).as_bytes()).unwrap();
        if seq % 997 == 0 {
            // A stack trace joins the event before it.
            file.write_all(b"java.lang.IllegalStateException: boom\n\tat org.example.Handler.handle(Handler.java:42)\n").unwrap();
        }
    }
    file.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_rename_and_copytruncate_loses_and_duplicates_nothing() {
    const TOTAL: u64 = 200_000;
    const CHUNKS: u64 = 11; // ten rotations between eleven chunks
    let receiver = Receiver::start().await;
    let logs = tempfile::tempdir().unwrap();
    let mut agent = Agent::new(&monitor_and_logs(
        &receiver.url(),
        "",
        &logs.path().join("app.log*"),
    ));
    agent.start();

    let dir = logs.path().to_path_buf();
    let writer = std::thread::spawn(move || {
        let live = dir.join("app.log");
        let per_chunk = TOTAL / CHUNKS + 1;
        for chunk in 0..CHUNKS {
            let range = chunk * per_chunk..((chunk + 1) * per_chunk).min(TOTAL);
            // Written in slices so the agent reads while the file grows.
            let mut start = range.start;
            while start < range.end {
                let end = (start + 2_000).min(range.end);
                append(&live, start..end);
                start = end;
                aerie_testkit::pace(Duration::from_millis(5));
            }
            if chunk + 1 == CHUNKS {
                break;
            }
            if chunk % 2 == 0 {
                std::fs::rename(&live, dir.join(format!("app.log.{chunk}"))).unwrap();
            } else {
                std::fs::copy(&live, dir.join(format!("app.log.copy{chunk}"))).unwrap();
                File::options()
                    .write(true)
                    .open(&live)
                    .unwrap()
                    .set_len(0)
                    .unwrap();
            }
        }
        per_chunk
    });
    let per_chunk = tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();

    let lines = receiver
        .wait_for_lines(TOTAL as usize, Duration::from_secs(240))
        .await;
    assert_every_line_once(&lines, TOTAL);
    let joined = lines
        .iter()
        .filter(|(_, message)| message.contains("\njava.lang.IllegalStateException: boom\n\tat "))
        .count();
    assert!(
        joined >= (TOTAL / 997) as usize,
        "stack traces joined onto {joined} events"
    );
    // In order within each file: each chunk was written to one file.
    let mut seen = std::collections::HashSet::new();
    let mut last_in_chunk = vec![None::<u64>; CHUNKS as usize];
    for (id, message) in &lines {
        if !seen.insert(id.clone()) {
            continue;
        }
        let seq = seq_of(message).unwrap();
        let chunk = (seq / per_chunk) as usize;
        if let Some(previous) = last_in_chunk[chunk] {
            assert!(
                seq > previous,
                "line {seq} arrived after {previous} of the same file"
            );
        }
        last_in_chunk[chunk] = Some(seq);
    }
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_thirty_seconds_loses_nothing() {
    let mut receiver = Receiver::start().await;
    let logs = tempfile::tempdir().unwrap();
    let live = logs.path().join("app.log");
    let mut agent = Agent::new(&monitor_and_logs(&receiver.url(), "", &live));
    append(&live, 0..1_000);
    agent.start();
    receiver
        .wait_for_lines(1_000, Duration::from_secs(60))
        .await;

    receiver.down().await;
    let writer_path = live.clone();
    let writer = tokio::task::spawn_blocking(move || {
        for batch in 0..100u64 {
            append(&writer_path, 1_000 + batch * 20..1_000 + (batch + 1) * 20);
            aerie_testkit::pace(Duration::from_millis(300));
        }
    });
    writer.await.unwrap();
    assert_eq!(
        receiver.log_lines().len(),
        1_000,
        "nothing can arrive while the receiver is down"
    );
    assert!(
        agent
            .log()
            .contains("delivery to the monitor failed; will retry"),
        "{}",
        agent.log()
    );
    receiver.up().await;

    let lines = receiver
        .wait_for_lines(3_000, Duration::from_secs(90))
        .await;
    assert_every_line_once(&lines, 3_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_at_five_random_moments_loses_nothing() {
    const TOTAL: u64 = 60_000;
    let receiver = Receiver::start().await;
    let logs = tempfile::tempdir().unwrap();
    let live = logs.path().join("app.log");
    let mut agent = Agent::new(&monitor_and_logs(&receiver.url(), "", &live));
    agent.start();

    let writer_path = live.clone();
    let writer = std::thread::spawn(move || {
        for batch in 0..120u64 {
            append(&writer_path, batch * 500..(batch + 1) * 500);
            aerie_testkit::pace(Duration::from_millis(100));
        }
    });
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    for kill in 0..5 {
        let wait = Duration::from_millis(rng.u64(300..2_000));
        tokio::time::sleep(wait).await;
        eprintln!("kill -9 number {kill} after {wait:?} (seed {seed})");
        agent.kill_hard();
        agent.start();
    }
    tokio::task::spawn_blocking(move || writer.join().unwrap())
        .await
        .unwrap();

    let lines = receiver
        .wait_for_lines(TOTAL as usize, Duration::from_secs(120))
        .await;
    assert_every_line_once(&lines, TOTAL);
}

/// An agent following `app.log` in a new folder, delivering through `proxy`.
fn agent_through_proxy(receiver: &Receiver, proxy: &Tinyproxy) -> (tempfile::TempDir, Agent) {
    let logs = tempfile::tempdir().unwrap();
    let extra = format!("proxy = \"{}\"", proxy.url());
    let agent = Agent::new(&monitor_and_logs(
        &receiver.url(),
        &extra,
        &logs.path().join("app.log"),
    ));
    (logs, agent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_go_as_zstd_by_default_and_as_gzip_or_plain_when_configured() {
    for (setting, expected) in [
        ("", "zstd"),
        ("compression = \"gzip\"", "gzip"),
        ("compression = false", ""),
    ] {
        let receiver = Receiver::start().await;
        let logs = tempfile::tempdir().unwrap();
        let live = logs.path().join("app.log");
        let mut agent = Agent::new(&monitor_and_logs(&receiver.url(), setting, &live));
        append(&live, 0..50);
        agent.start();
        let lines = receiver.wait_for_lines(50, Duration::from_secs(60)).await;
        assert_every_line_once(&lines, 50);
        let encodings = receiver.encodings();
        assert!(
            encodings.iter().all(|encoding| encoding == expected),
            "with {setting:?}, expected every body as {expected:?}, got {encodings:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipping_through_a_real_proxy_works() {
    let receiver = Receiver::start().await;
    let proxy = Tinyproxy::start().await.unwrap();
    let (logs, mut agent) = agent_through_proxy(&receiver, &proxy);
    let live = logs.path().join("app.log");
    append(&live, 0..100);
    agent.start();
    let lines = receiver.wait_for_lines(100, Duration::from_secs(60)).await;
    assert_every_line_once(&lines, 100);
    assert!(
        proxy.log().contains(aerie_wire::INGEST_PATH),
        "the proxy did not carry the requests:\n{}",
        proxy.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_proxy_gives_a_clear_error_and_loses_nothing() {
    let receiver = Receiver::start().await;
    let proxy = Tinyproxy::start_refusing().await.unwrap();
    let (logs, mut agent) = agent_through_proxy(&receiver, &proxy);
    let live = logs.path().join("app.log");
    append(&live, 0..10);
    agent.start();
    let log = wait_until(
        "the agent to report the refusal",
        Duration::from_secs(30),
        async || {
            let log = agent.log();
            log.contains("delivery to the monitor failed")
                .then_some(log)
        },
    )
    .await
    .unwrap();
    let line = log
        .lines()
        .find(|line| line.contains("delivery to the monitor failed"))
        .unwrap();
    assert!(line.contains("403"), "{line}");
    assert!(
        line.contains(&format!("through proxy {}", proxy.url())),
        "{line}"
    );
    assert!(receiver.log_lines().is_empty());
    // The events wait in the queue: a proxy that lets them through delivers them.
    let open = Tinyproxy::start().await.unwrap();
    agent.kill_hard();
    let config = std::fs::read_to_string(agent.config_path())
        .unwrap()
        .replace(proxy.url(), open.url());
    std::fs::write(agent.config_path(), config).unwrap();
    agent.start();
    let lines = receiver.wait_for_lines(10, Duration::from_secs(60)).await;
    assert_every_line_once(&lines, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_sink_lands_ecs_documents_and_a_rejected_item_blocks_nothing() {
    let node = OpenSearch::start().await.unwrap();
    let today = chrono::Utc::now().format("%Y.%m.%d").to_string();
    let index = format!("aerie-logs-acme-prod-{today}");
    let http = reqwest::Client::new();
    // Unparsed lines carry tags: ["unparsed"]; a long field refuses them.
    http.put(format!("{}/{index}", node.url()))
        .json(&serde_json::json!({ "mappings": { "properties": { "tags": { "type": "long" } } } }))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    let logs = tempfile::tempdir().unwrap();
    let live = logs.path().join("app.log");
    let date = chrono::Utc::now().format("%Y-%m-%d");
    let mut text = String::new();
    for seq in 0..50 {
        text.push_str(&format!(
            "[{date} 10:00:00,{seq:03}]  ERROR - Gateway seq={seq} failed\n"
        ));
        if seq % 10 == 0 {
            text.push_str(&format!(
                "[garbage] line {seq} without the product format\n"
            ));
        }
    }
    std::fs::write(&live, text).unwrap();
    let mut agent = Agent::new(&format!(
        "[elasticsearch]\nurl = \"{}\"\nbatch_max_events = 20\n\n{}",
        node.url(),
        logs_section(&live)
    ));
    agent.start();

    let search = async || -> Option<serde_json::Value> {
        let answer: serde_json::Value = http
            .post(format!("{}/{index}/_search", node.url()))
            .json(&serde_json::json!({ "size": 100, "sort": [{ "@timestamp": "asc" }] }))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let hits = answer["hits"]["hits"].as_array()?;
        (hits.len() >= 50).then(|| answer["hits"]["hits"].clone())
    };
    let hits = wait_until(
        "50 documents in OpenSearch",
        Duration::from_secs(60),
        search,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let hits = hits.as_array().unwrap();
    assert_eq!(hits.len(), 50, "only the parsed lines land");
    let first = &hits[0]["_source"];
    assert_eq!(first["host"]["name"], "test-host");
    assert_eq!(first["log"]["level"], "ERROR");
    assert_eq!(first["log"]["logger"], "Gateway");
    assert_eq!(first["event"]["dataset"], "aerie.log");
    assert_eq!(first["message"], "seq=0 failed");
    assert_eq!(
        first["@timestamp"],
        format!("{}T10:00:00.000Z", chrono::Utc::now().format("%Y-%m-%d"))
    );
    assert_eq!(first["log"]["file"]["path"], live.display().to_string());
    let log = wait_until(
        "the agent to report the rejected items",
        Duration::from_secs(30),
        async || {
            let log = agent.log();
            (log.matches("elasticsearch rejected a document").count() >= 5).then_some(log)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert!(log.contains("mapper_parsing_exception"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_cluster_answering_429_slows_the_bulk_sink_and_every_line_lands_once() {
    use aerie_testkit::{WriteFlood, write_rejections};
    const LINES: u64 = 3000;
    let node = OpenSearch::busy().await.unwrap();
    let flood = WriteFlood::start(node.url(), 4);

    let logs = tempfile::tempdir().unwrap();
    let live = logs.path().join("app.log");
    append_lines(&live, 0..LINES);
    let mut agent = Agent::new(&format!(
        "[elasticsearch]\nurl = \"{}\"\nbatch_max_events = 50\n\n{}",
        node.url(),
        logs_section(&live)
    ));
    agent.start();
    // The cluster refuses some of the agent's own requests while it is busy.
    let log = wait_until(
        "the agent to be answered 429 by the busy cluster",
        Duration::from_secs(90),
        async || {
            let log = agent.log();
            (log.contains("429") && log.contains("rejected_execution_exception")).then_some(log)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert!(
        !log.contains("elasticsearch rejected a document"),
        "a busy cluster's 429 is retried, never a rejection:\n{log}"
    );
    assert!(write_rejections(node.url()).await > 0);
    drop(flood);

    let http = reqwest::Client::new();
    let lines = wait_until(
        "every line in OpenSearch",
        Duration::from_secs(120),
        async || {
            let answer: serde_json::Value = http
                .post(format!("{}/aerie-logs-*/_search", node.url()))
                .json(&serde_json::json!({ "size": 10000, "_source": ["message"] }))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let hits = answer["hits"]["hits"].as_array()?;
            (hits.len() as u64 >= LINES).then(|| {
                hits.iter()
                    .map(|hit| {
                        let id = hit["_id"].as_str().unwrap_or_default().to_owned();
                        let message = hit["_source"]["message"].as_str().unwrap_or_default();
                        (id, message.to_owned())
                    })
                    .collect::<Vec<_>>()
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert_every_line_once(&lines, LINES);
}
