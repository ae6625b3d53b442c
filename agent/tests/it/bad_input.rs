//! Bad input never stops the agent: a file deleted while tailed, a binary
//! line, a truncated hsperfdata file are logged once, counted in the agent's
//! own metrics, and everything else keeps flowing.

use std::io::Write;
use std::time::Duration;

use crate::support::*;
use aerie_testkit::wait_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_counted_and_the_agent_carries_on() {
    let receiver = Receiver::start().await;
    let logs = tempfile::tempdir().unwrap();
    let perf = tempfile::tempdir().unwrap();
    // A truncated performance-data file for a process that is alive (this test).
    let user_dir = perf.path().join("hsperfdata_tester");
    std::fs::create_dir_all(&user_dir).unwrap();
    std::fs::write(
        user_dir.join(std::process::id().to_string()),
        [0xca, 0xfe, 0xc0, 0xc0, 1, 2, 0],
    )
    .unwrap();

    let mut agent = Agent::new(&format!(
        "{}\n[jvm]\nhsperfdata_root = \"{}\"\n",
        monitor_and_logs(&receiver.url(), "", &logs.path().join("*.log")),
        perf.path().display()
    ));
    let doomed = logs.path().join("doomed.log");
    let mut file = std::fs::File::create(&doomed).unwrap();
    for seq in 0..100 {
        file.write_all(product_line(seq).as_bytes()).unwrap();
    }
    file.write_all(b"[2026-11-21 10:00:00,000]  WARN - Binary seq=100 \xff\xfe\x00 payload\n")
        .unwrap();
    file.flush().unwrap();
    agent.start();
    receiver.wait_for_lines(101, Duration::from_secs(30)).await;

    // Deleted while followed: what is written through the open handle still arrives.
    std::fs::remove_file(&doomed).unwrap();
    for seq in 101..110 {
        file.write_all(product_line(seq).as_bytes()).unwrap();
    }
    file.flush().unwrap();
    // And a new file keeps flowing after it.
    let mut next = std::fs::File::create(logs.path().join("next.log")).unwrap();
    for seq in 110..200 {
        next.write_all(product_line(seq).as_bytes()).unwrap();
    }
    next.flush().unwrap();
    let lines = receiver.wait_for_lines(200, Duration::from_secs(30)).await;
    assert_every_line_once(&lines, 200);
    let binary = lines
        .iter()
        .find(|(_, message)| message.contains("seq=100"))
        .unwrap();
    assert!(
        binary.1.contains('\u{fffd}'),
        "invalid UTF-8 is replaced, not dropped: {:?}",
        binary.1
    );

    wait_until(
        "the agent to count the binary line and the bad hsperfdata file",
        Duration::from_secs(20),
        async || {
            let utf8 = receiver.latest_metric("aerie.agent.lines.invalid_utf8", &[])?;
            let errors = receiver.latest_metric("aerie.agent.read.errors", &[])?;
            (utf8 >= 1.0 && errors >= 1.0).then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    // Collected every second for a while, the bad file is reported once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reports = agent
        .log()
        .matches("cannot read a JVM's performance data")
        .count();
    assert_eq!(reports, 1, "{}", agent.log());
    assert!(agent.log().contains("truncated"), "{}", agent.log());
}
