//! Delivery over HTTPS with a private CA, a disk budget that fills up, and
//! API statistics, all through the real agent binary.

use std::time::Duration;

use crate::support::*;
use aerie_testkit::wait_until;
use aerie_wire::EventBody;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_private_ca_delivers_and_an_unknown_ca_is_named() {
    let (receiver, ca_pem) = Receiver::start_tls().await;
    let logs = tempfile::tempdir().unwrap();
    let live = logs.path().join("app.log");
    append_lines(&live, 0..50);
    let ca = logs.path().join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();

    // Without the CA the certificate is refused, and the log says so.
    let mut untrusting = Agent::new(&monitor_and_logs(&receiver.https_url(), "", &live));
    untrusting.start();
    let line = wait_until(
        "the agent to report the unknown certificate",
        Duration::from_secs(30),
        async || {
            untrusting
                .log()
                .lines()
                .find(|line| line.contains("delivery to the monitor failed"))
                .map(str::to_owned)
        },
    )
    .await
    .unwrap();
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    untrusting.kill_hard();
    assert!(receiver.log_lines().is_empty());

    let mut agent = Agent::new(&monitor_and_logs(
        &receiver.https_url(),
        &format!("ca_file = \"{}\"", ca.display()),
        &live,
    ));
    agent.start();
    let lines = receiver.wait_for_lines(50, Duration::from_secs(30)).await;
    assert_every_line_once(&lines, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_budget_pauses_reading_and_drops_nothing() {
    const TOTAL: u64 = 30_000; // about 8 MiB of events against a 1 MiB budget
    let mut receiver = Receiver::start().await;
    receiver.down().await;
    let logs = tempfile::tempdir().unwrap();
    let live = logs.path().join("app.log");
    append_lines(&live, 0..TOTAL);
    let mut agent = Agent::new(&format!(
        "[queue]\nmax_bytes = \"1 MiB\"\n{}max_line_bytes = \"64 KiB\"\n",
        monitor_and_logs(&receiver.url(), "", &live)
    ));
    agent.start();
    wait_until(
        "the agent to pause reading",
        Duration::from_secs(30),
        async || {
            agent
                .log()
                .contains("disk queue full: reading paused")
                .then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let queue_dir = agent.dir.path().join("data/queue");
    let on_disk: u64 = std::fs::read_dir(&queue_dir)
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(
        on_disk <= 2 * 1024 * 1024,
        "the queue holds {on_disk} bytes against a 1 MiB budget"
    );

    receiver.up().await;
    let lines = receiver
        .wait_for_lines(TOTAL as usize, Duration::from_secs(120))
        .await;
    assert_every_line_once(&lines, TOTAL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_logs_become_per_api_statistics() {
    let receiver = Receiver::start().await;
    let logs = tempfile::tempdir().unwrap();
    let access = logs.path().join("http_access.log");
    let mut text = String::new();
    for n in 0..250u64 {
        let status = if n % 25 == 0 { 503 } else { 200 };
        text.push_str(&format!(
            "10.0.0.5 - - [21/Nov/2026:10:00:{:02} +0000] \"GET /t/acme.com/pizzashack/1.0.0/menu HTTP/1.1\" {status} 100 \"-\" \"curl/8\" {}\n",
            n % 60,
            10 + n % 5
        ));
    }
    for n in 0..7u64 {
        text.push_str(&format!("10.0.0.9 - - [21/Nov/2026:10:01:0{n} +0000] \"POST /orders/2.0/submit HTTP/1.1\" 201 20 \"-\" \"curl/8\" 30\n"));
    }
    std::fs::write(&access, text).unwrap();
    let mut agent = Agent::new(&format!(
        "[monitor]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\n[access_log]\npaths = [\"{}\"]\nthreshold = 100\ninterval = \"2s\"\n",
        receiver.url(),
        access.display()
    ));
    agent.start();

    type Totals = std::collections::BTreeMap<(String, String), (u64, u64, usize)>;
    let totals = wait_until(
        "every request counted",
        Duration::from_secs(30),
        async || {
            let mut totals = Totals::new();
            for event in receiver.events() {
                if let EventBody::ApiStats {
                    api,
                    tenant,
                    count,
                    faults,
                    min_ms,
                    max_ms,
                    ..
                } = event.body
                {
                    assert!(
                        (10.0..=30.0).contains(&min_ms) && min_ms <= max_ms,
                        "{min_ms}..{max_ms}"
                    );
                    let entry = totals.entry((api, tenant)).or_default();
                    entry.0 += count;
                    entry.1 += faults;
                    entry.2 += 1;
                }
            }
            let counted: u64 = totals.values().map(|t| t.0).sum();
            (counted >= 257).then_some(totals)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let pizza = totals[&("pizzashack/1.0.0".to_owned(), "acme.com".to_owned())];
    assert_eq!((pizza.0, pizza.1), (250, 10), "count and faults");
    assert_eq!(
        pizza.2, 3,
        "two records at the threshold of 100, one when the interval passed"
    );
    let orders = totals[&("orders/2.0".to_owned(), "carbon.super".to_owned())];
    assert_eq!((orders.0, orders.1, orders.2), (7, 0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_on_loopback_shows_in_the_interval_it_crossed() {
    use std::io::{Read, Write};
    const SENT: usize = 8 << 20;
    let receiver = Receiver::start().await;
    let mut agent = Agent::new(&format!(
        "[monitor]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\n",
        receiver.url()
    ));
    agent.start();
    let grown = |name: &str| {
        receiver
            .events()
            .into_iter()
            .filter_map(|event| match event.body {
                EventBody::Metric {
                    name: found,
                    value,
                    labels,
                } if found == name && labels.get("interface").map(String::as_str) == Some("lo") => {
                    Some(value)
                }
                _ => None,
            })
            .collect::<Vec<f64>>()
    };
    wait_until(
        "a first loopback sample",
        Duration::from_secs(20),
        async || (!grown("system.network.in.bytes").is_empty()).then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    // 8 MiB through a loopback connection, at once.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut all = Vec::new();
        stream.read_to_end(&mut all).unwrap();
        all.len()
    });
    std::net::TcpStream::connect(address)
        .unwrap()
        .write_all(&vec![7u8; SENT])
        .unwrap();
    assert_eq!(reader.join().unwrap(), SENT);
    // Within a sample or split over two, the bytes show both ways on lo.
    wait_until(
        "the traffic in the loopback samples",
        Duration::from_secs(20),
        async || {
            let samples = grown("system.network.in.bytes");
            let out = grown("system.network.out.bytes");
            let largest_two = |mut values: Vec<f64>| {
                values.sort_by(f64::total_cmp);
                values.iter().rev().take(2).sum::<f64>()
            };
            (largest_two(samples) >= SENT as f64 && largest_two(out) >= SENT as f64).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
}
