//! A real shipper into the monitor's Elasticsearch-compatible `_bulk`
//! endpoint: Debian's rsyslog, imfile reading a file, omelasticsearch
//! posting to the monitor with the ingest token as its password.

use std::process::Command;
use std::time::Duration;

use aerie_system_tests::{INGEST_TOKEN, Monitor};
use aerie_testkit::{ServiceProcess, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsyslog_omelasticsearch_ships_into_the_monitor() {
    let monitor = Monitor::start().await;
    let port = monitor.url().rsplit(':').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("work")).unwrap();
    let file = dir.path().join("app.log");
    std::fs::write(&file, "").unwrap();
    let config = format!(
        r#"global(workDirectory="{work}")
module(load="imfile")
module(load="omelasticsearch")
template(name="aerie-bulk" type="list" option.jsonf="on") {{
  property(outname="@timestamp" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host.name" name="hostname" format="jsonf")
  property(outname="message" name="msg" format="jsonf")
  property(outname="log.level" name="syslogseverity-text" format="jsonf")
}}
input(type="imfile" file="{file}" tag="app" severity="error" ruleset="ship")
ruleset(name="ship") {{
  action(type="omelasticsearch" server="127.0.0.1" serverport="{port}" searchIndex="app-logs"
         bulkmode="on" esVersion.major="8" template="aerie-bulk" uid="rsyslog" pwd="{INGEST_TOKEN}"
         errorFile="{errors}")
}}
"#,
        work = dir.path().join("work").display(),
        file = file.display(),
        errors = dir.path().join("es-errors.log").display(),
    );
    let config_path = dir.path().join("rsyslog.conf");
    std::fs::write(&config_path, config).unwrap();
    let mut command = Command::new("rsyslogd");
    command
        .arg("-n")
        .arg("-f")
        .arg(&config_path)
        .arg("-i")
        .arg(dir.path().join("rsyslog.pid"));
    let rsyslog = ServiceProcess::start("rsyslogd", command)
        .expect("rsyslogd runs (scripts/install-test-deps installs rsyslog-elasticsearch)");

    let lines: String = (0..20)
        .map(|n| format!("zebra crossing number {n} failed\n"))
        .collect();
    std::fs::write(&file, lines).unwrap();
    let found = wait_until(
        "rsyslog's lines in the monitor",
        Duration::from_secs(60),
        async || {
            let lines = monitor.all_logs("zebra").await;
            (lines.len() >= 20).then_some(lines)
        },
    )
    .await
    .unwrap_or_else(|e| {
        let errors = std::fs::read_to_string(dir.path().join("es-errors.log")).unwrap_or_default();
        panic!(
            "{e}\nrsyslog:\n{}\nerror file:\n{errors}\nmonitor:\n{}",
            rsyslog.log(),
            monitor.log()
        )
    });
    assert_eq!(found.len(), 20, "each line once");
    let page = monitor
        .get("/api/v1/logs?env=acme-prod&q=zebra&limit=1")
        .await
        .unwrap();
    let line = &page["lines"][0];
    assert_eq!(line["level"], "ERR", "{line}");
    assert!(
        line["message"]
            .as_str()
            .unwrap()
            .contains("zebra crossing number"),
        "{line}"
    );
    assert!(!line["host"].as_str().unwrap().is_empty(), "{line}");
}
