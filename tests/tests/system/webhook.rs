//! The webhook channel end to end: the real monitor posts its alerts to real
//! local HTTP receivers as Alertmanager JSON, signed with each webhook's
//! secret, besides mailing them (SMTP); a receiver failing on its side gets
//! the post again after a backoff, one refusing it is recorded and left alone.

use std::time::Duration;

use aerie_system_tests::{Monitor, StoreKind};
use aerie_testkit::{Delivery, SmtpServer, WebhookReceiver, wait_until};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const ALWAYS: &str = "[[rule]]\nname = \"cpu-seen\"\nkind = \"metric\"\nseverity = \"warning\"\nmetric = \"system.cpu.total.pct\"\nop = \">=\"\nthreshold = 0.0\nwindow = \"5m\"\nsummary = \"{{host}} reports CPU\"\n";

/// A monitor mailing through `smtp` whose environment posts to each of
/// `hooks` (URL, secret).
async fn monitor(smtp: &SmtpServer, hooks: &[(String, &str)]) -> Monitor {
    let webhooks: String = hooks
        .iter()
        .enumerate()
        .map(|(n, (url, _))| {
            format!("[[environment.webhook]]\nurl = \"{url}\"\nsecret_file = \"hook-{n}.secret\"\n")
        })
        .collect();
    Monitor::start_full(
        StoreKind::Embedded,
        "",
        &webhooks,
        |dir| {
            for (n, (_, secret)) in hooks.iter().enumerate() {
                std::fs::write(dir.join(format!("hook-{n}.secret")), secret).unwrap();
            }
            std::fs::write(dir.join("rules.toml"), ALWAYS).unwrap();
            std::fs::write(dir.join("smtp-ca.pem"), smtp.certificate_pem()).unwrap();
            format!(
                "[alerting]\nrules_file = \"rules.toml\"\nevaluate_every = \"1s\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\nfrom = \"Aerie <aerie@ops.example>\"\ndashboard_url = \"http://monitor.example\"\n[alerting.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nusername = \"{}\"\npassword = \"{}\"\nca_file = \"smtp-ca.pem\"\ntls_name = \"localhost\"\n",
                smtp.port(),
                smtp.user(),
                smtp.password()
            )
        },
        Vec::new(),
    )
    .await
}

/// Waits until `receiver` holds `count` posts.
async fn posts(receiver: &WebhookReceiver, monitor: &Monitor, count: usize) -> Vec<Delivery> {
    wait_until(
        &format!("{count} post(s) at the receiver"),
        Duration::from_secs(40),
        async || {
            let posts = receiver.deliveries();
            (posts.len() >= count).then_some(posts)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()))
}

/// Waits until the alert history has an entry `event` whose message contains `text`.
async fn history_entry(monitor: &Monitor, event: &str, text: &str) -> String {
    wait_until(
        &format!("a {event} entry saying {text:?}"),
        Duration::from_secs(40),
        async || {
            let history = monitor.get("/api/v1/alerts/history?env=acme-prod").await?;
            history.as_array()?.iter().find_map(|entry| {
                let message = entry["message"].as_str()?;
                (entry["event"] == event && message.contains(text)).then(|| message.to_owned())
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()))
}

fn signed_by(secret: &str, delivery: &Delivery) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&delivery.body);
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    delivery.header("x-aerie-signature-256") == Some(&format!("sha256={expected}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firing_alert_is_posted_as_alertmanager_json_signed_with_the_webhooks_secret() {
    let smtp = SmtpServer::start("alerts@acme.example", "right")
        .await
        .unwrap();
    let receiver = WebhookReceiver::start().await.unwrap();
    let monitor = monitor(
        &smtp,
        &[(receiver.url("/hooks/acme"), "acme shared secret")],
    )
    .await;
    monitor
        .ingest_metric("gw-1", "system.cpu.total.pct", 12.0)
        .await;

    let post = posts(&receiver, &monitor, 1).await.remove(0);
    assert_eq!(post.path, "/hooks/acme");
    assert!(signed_by("acme shared secret", &post), "{:?}", post.headers);
    assert!(!signed_by("another secret", &post));
    // Its de-duplication key: the environment and its outbox entry.
    let key = post.header("x-aerie-delivery").unwrap_or_default();
    assert!(key.starts_with("acme-prod."), "{:?}", post.headers);
    let body = post.json();
    assert_eq!(body["version"], "4", "{body}");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["commonLabels"]["alertname"], "cpu-seen");
    assert_eq!(body["commonLabels"]["environment"], "acme-prod");
    assert_eq!(body["commonLabels"]["severity"], "warning");
    assert_eq!(body["alerts"][0]["labels"]["host"], "gw-1");
    assert_eq!(
        body["alerts"][0]["annotations"]["summary"],
        "gw-1 reports CPU"
    );
    assert_eq!(
        body["externalURL"],
        "http://monitor.example/alerts?env=acme-prod"
    );
    assert!(
        !String::from_utf8_lossy(&post.body).contains("acme shared secret"),
        "the secret stays out of the body"
    );
    // The mail went too, and the history says both.
    wait_until("the mail", Duration::from_secs(20), async || {
        (!smtp.messages().ok()?.is_empty()).then_some(())
    })
    .await
    .unwrap();
    history_entry(
        &monitor,
        "notified",
        "firing post by webhook http://127.0.0.1",
    )
    .await;
    history_entry(&monitor, "notified", "firing mail by smtp").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_the_post_again_and_a_refusing_one_is_recorded_and_left_alone() {
    let smtp = SmtpServer::start("alerts@acme.example", "right")
        .await
        .unwrap();
    let flaky = WebhookReceiver::start().await.unwrap();
    flaky.set_status(503);
    let refusing = WebhookReceiver::start().await.unwrap();
    refusing.set_status(410);
    let monitor = monitor(
        &smtp,
        &[(flaky.url("/flaky"), "one"), (refusing.url("/gone"), "two")],
    )
    .await;
    monitor
        .ingest_metric("gw-1", "system.cpu.total.pct", 12.0)
        .await;

    let first = posts(&flaky, &monitor, 1).await.remove(0);
    let refused = history_entry(&monitor, "notify_failed", "HTTP 410").await;
    assert!(refused.contains("not retried"), "{refused}");
    let failed = history_entry(&monitor, "notify_failed", "HTTP 503").await;
    assert!(!failed.contains("not retried"), "{failed}");
    flaky.set_status(200);

    // The retry comes after the backoff with the same body; the history
    // records it after the pass in which the refused post would have been
    // retried too.
    let again = posts(&flaky, &monitor, 2).await.remove(1);
    assert_eq!(again.body, first.body);
    assert!(signed_by("one", &again));
    history_entry(
        &monitor,
        "notified",
        "firing post by webhook http://127.0.0.1",
    )
    .await;
    assert_eq!(
        refusing.deliveries().len(),
        1,
        "a refused post is not sent again"
    );
    assert!(signed_by("two", &refusing.deliveries()[0]));
}
