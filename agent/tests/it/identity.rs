//! Which paths are one file, with the real agent and real files: two live
//! files that begin with the same kilobyte are two files (both shipped in
//! full, before and after a restart); a copy of a followed file is one (not
//! shipped again, said in the log and counted).

use std::time::Duration;

use crate::support::*;
use aerie_testkit::wait_until;

/// Thirty identical lines (about 2.4 KiB) that both files begin with.
const HEADER: std::ops::Range<u64> = 1_000_000..1_000_030;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_files_with_the_same_first_kilobyte_are_both_shipped_in_full() {
    let receiver = Receiver::start().await;
    let logs = tempfile::tempdir().unwrap();
    let mut agent = Agent::new(&monitor_and_logs(
        &receiver.url(),
        "",
        &logs.path().join("*.log"),
    ));
    let (a, b) = (logs.path().join("a.log"), logs.path().join("b.log"));
    for (path, body) in [(&a, 0..500), (&b, 500..1000)] {
        append_lines(path, HEADER);
        append_lines(path, body);
    }
    agent.start();
    let header = HEADER.count();
    let lines = receiver
        .wait_for_lines(2 * header + 1000, Duration::from_secs(60))
        .await;
    assert_shipped(&lines, 1000, &agent);

    // A restart gives each file its own position again, and a copy of one
    // of them is not shipped again.
    agent.kill_hard();
    append_lines(&a, 1000..1100);
    append_lines(&b, 1100..1200);
    std::fs::copy(&a, logs.path().join("c.log")).unwrap();
    agent.start();
    let lines = receiver
        .wait_for_lines(2 * header + 1200, Duration::from_secs(60))
        .await;
    assert_shipped(&lines, 1200, &agent);
    wait_until(
        "the copy to be counted",
        Duration::from_secs(20),
        async || {
            receiver
                .latest_metric("aerie.agent.files.taken_for_copies", &[])
                .filter(|count| *count >= 1.0)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    assert!(
        agent
            .log()
            .contains("not read: it holds what a followed file holds"),
        "{}",
        agent.log()
    );
    // Nothing more arrives: the copy's lines are not sent again.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_shipped(&receiver.log_lines(), 1200, &agent);
}

/// Every body line 0..count arrived once, and each header line twice (once
/// per file) under two ids.
fn assert_shipped(lines: &[(String, String)], count: u64, agent: &Agent) {
    let mut by_seq: std::collections::HashMap<u64, std::collections::HashSet<&str>> =
        std::collections::HashMap::new();
    for (id, message) in lines {
        let seq = seq_of(message).unwrap_or_else(|| panic!("no seq in {message:?}"));
        by_seq.entry(seq).or_default().insert(id);
    }
    for seq in 0..count {
        let ids = by_seq.get(&seq).map_or(0, |ids| ids.len());
        assert_eq!(
            ids,
            1,
            "line {seq} arrived under {ids} ids\n{}",
            agent.log()
        );
    }
    for seq in HEADER {
        let ids = by_seq.get(&seq).map_or(0, |ids| ids.len());
        assert_eq!(
            ids,
            2,
            "header line {seq} arrived under {ids} ids\n{}",
            agent.log()
        );
    }
    assert_eq!(
        by_seq.len() as u64,
        count + HEADER.count() as u64,
        "lines beyond those written arrived"
    );
    let distinct: usize = lines
        .iter()
        .map(|(id, _)| id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    assert_eq!(
        distinct as u64,
        count + 2 * HEADER.count() as u64,
        "no line twice"
    );
}
