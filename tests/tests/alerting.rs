//! Alerting end to end: the real agent tails a product log, the real monitor
//! evaluates a log rule and mails through Amazon SES (moto_server).

use std::io::Write;
use std::time::Duration;

use aerie_system_tests::{Agent, Monitor, StoreKind};
use aerie_testkit::{MotoServer, wait_until};

/// Subjects and bodies of the mail moto's SES has accepted.
async fn ses_mail(moto: &MotoServer) -> Vec<(String, String)> {
    let data = moto.data().await.unwrap();
    let messages = data["ses"]["Message"].clone();
    let list: Vec<serde_json::Value> = match messages {
        serde_json::Value::Array(list) => list,
        serde_json::Value::Object(map) => map.into_values().collect(),
        _ => Vec::new(),
    };
    list.iter()
        .map(|m| {
            (
                m["subject"].as_str().unwrap_or_default().to_owned(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_memory_line_mails_once_through_ses_and_resolves() {
    let moto = MotoServer::start().await.unwrap();
    let region = "eu-west-1";
    aws_sdk_ses::Client::new(&moto.sdk_config(region).await)
        .verify_domain_identity()
        .domain("ops.example")
        .send()
        .await
        .unwrap();
    let monitor = Monitor::start_configured(
        StoreKind::Embedded,
        |dir| {
            std::fs::write(
                dir.join("rules.toml"),
                "[[rule]]\nname = \"out-of-memory\"\nkind = \"log\"\nseverity = \"critical\"\nquery = \"log.level:ERROR AND OutOfMemoryError\"\nwindow = \"10s\"\nsummary = \"{{host}} logged an OutOfMemoryError\"\n",
            )
            .unwrap();
            "[alerting]\nrules_file = \"rules.toml\"\nevaluate_every = \"1s\"\nfrom = \"Aerie <aerie@ops.example>\"\ndashboard_url = \"http://monitor.example\"\n[alerting.ses]\n".to_owned()
        },
        moto.env(region),
    )
    .await;
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("wso2carbon.log");
    std::fs::write(
        &file,
        "[2026-11-21 10:00:00,000]  INFO - Bootstrap started\n",
    )
    .unwrap();
    let agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "5s");
    wait_until(
        "the agent's first line",
        Duration::from_secs(30),
        async || (!monitor.all_logs("started").await.is_empty()).then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));

    let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f");
    let line = format!(
        "[{now}] ERROR - ThrottleDataPublisher java.lang.OutOfMemoryError: Java heap space\n"
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();

    let firing = wait_until(
        "the firing mail in SES",
        Duration::from_secs(30),
        async || {
            ses_mail(&moto)
                .await
                .into_iter()
                .find(|(subject, _)| subject.starts_with("[FIRING]"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
    assert_eq!(firing.0, "[FIRING] out-of-memory on this-host (acme-prod)");
    assert!(
        firing.1.contains("this-host logged an OutOfMemoryError"),
        "{}",
        firing.1
    );
    assert!(
        firing
            .1
            .contains("java.lang.OutOfMemoryError: Java heap space"),
        "the mail names the line: {}",
        firing.1
    );

    // The window passes without another such line: one resolved mail.
    let mail = wait_until("the resolved mail", Duration::from_secs(40), async || {
        let mail = ses_mail(&moto).await;
        mail.iter()
            .any(|(subject, _)| subject.starts_with("[RESOLVED]"))
            .then_some(mail)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
    let subjects: Vec<&str> = mail.iter().map(|(subject, _)| subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "[FIRING] out-of-memory on this-host (acme-prod)",
            "[RESOLVED] out-of-memory on this-host (acme-prod)"
        ]
    );

    let history = monitor
        .get("/api/v1/alerts/history?env=acme-prod")
        .await
        .unwrap();
    let events: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["firing", "notified", "resolved", "notified"],
        "{history}"
    );
}
