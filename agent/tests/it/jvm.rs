//! JVM heap read by the real agent from a real Java 17 process's hsperfdata,
//! checked against `jstat -gc` for the same process.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;
use aerie_testkit::{ServiceProcess, wait_until};

const PROGRAM: &str = r#"
public class Alloc {
    static java.util.List<byte[]> keep = new java.util.ArrayList<>();
    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 96; i++) keep.add(new byte[1 << 20]);
        System.out.println("allocated");
        Thread.sleep(600_000);
    }
}
"#;

/// `jstat -gc PID`: (used, committed) in bytes, as S0U+S1U+EU+OU and S0C+S1C+EC+OC.
fn jstat(pid: u32) -> (f64, f64) {
    let output = Command::new("jstat")
        .args(["-gc", &pid.to_string()])
        .output()
        .expect("jstat runs (Java 17 JDK)");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("jstat header")
        .split_whitespace()
        .collect();
    let values: Vec<f64> = lines
        .next()
        .expect("jstat values")
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let column = |name: &str| values[header.iter().position(|h| *h == name).unwrap()] * 1024.0;
    (
        column("S0U") + column("S1U") + column("EU") + column("OU"),
        column("S0C") + column("S1C") + column("EC") + column("OC"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heap_used_and_committed_agree_with_jstat_within_five_percent() {
    let build = tempfile::tempdir().unwrap();
    std::fs::write(build.path().join("Alloc.java"), PROGRAM).unwrap();
    let javac = Command::new("javac")
        .arg("Alloc.java")
        .current_dir(build.path())
        .status()
        .expect("javac runs (Java 17 JDK)");
    assert!(javac.success());
    let mut java = Command::new("java");
    java.args(["-Xms64m", "-Xmx512m", "-XX:+UsePerfData", "-cp"])
        .arg(build.path())
        .arg("Alloc")
        .stdin(Stdio::null());
    let java = ServiceProcess::start("java-alloc", java).unwrap();
    wait_until(
        "the Java program to allocate",
        Duration::from_secs(30),
        async || java.log().contains("allocated").then_some(()),
    )
    .await
    .unwrap();
    // The java launcher runs the JVM in its own process: its pid names the hsperfdata file.
    let pid = java.id();

    let receiver = Receiver::start().await;
    let mut agent = Agent::new(&format!(
        "[monitor]\nurl = \"{}\"\ntoken = \"{TOKEN}\"\n",
        receiver.url()
    ));
    agent.start();
    let pid_label = pid.to_string();
    let labels = [("pid", pid_label.as_str()), ("process", "Alloc")];
    let heap = |name: &str| receiver.latest_metric(name, &labels);
    wait_until(
        "the agent's JVM heap metrics",
        Duration::from_secs(30),
        async || heap("jvm.heap.committed.bytes"),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));
    let (jstat_used, jstat_committed) = jstat(pid);
    let used = heap("jvm.heap.used.bytes").unwrap();
    let committed = heap("jvm.heap.committed.bytes").unwrap();
    let max = heap("jvm.heap.max.bytes").unwrap();

    let within = |ours: f64, theirs: f64| (ours - theirs).abs() <= 0.05 * theirs;
    assert!(
        used > 90.0 * 1024.0 * 1024.0,
        "the program holds 96 MiB, the agent saw {used}"
    );
    assert!(
        within(used, jstat_used),
        "used: agent {used}, jstat {jstat_used}"
    );
    assert!(
        within(committed, jstat_committed),
        "committed: agent {committed}, jstat {jstat_committed}"
    );
    assert!(
        (max - 512.0 * 1024.0 * 1024.0).abs() <= 0.05 * 512.0 * 1024.0 * 1024.0,
        "max {max} for -Xmx512m"
    );
}
