//! Tenant throttling end to end: the real agent turns a gateway's access
//! log into API statistics, the real monitor counts the month's usage per
//! tenant, and crossing 80 % and 100 % of a quota changes the decision the
//! gateways poll (with an ETag) and mails the operators and the customer.

use std::io::Write;
use std::time::Duration;

use aerie_system_tests::{Agent, ENVIRONMENT, INGEST_TOKEN, Monitor, StoreKind};
use aerie_testkit::{SmtpServer, wait_until};

/// Appends `count` calls of tenant `acme.com`'s pizzashack API, stamped now.
pub(crate) fn calls(file: &std::path::Path, count: usize) {
    let now = chrono::Utc::now().format("%d/%b/%Y:%H:%M:%S %z");
    let lines: String = (0..count)
        .map(|_| format!("10.0.0.5 - - [{now}] \"GET /t/acme.com/pizzashack/1.0.0/menu HTTP/1.1\" 200 1532 \"-\" \"curl/8.5.0\" 23\n"))
        .collect();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
}

/// The throttle endpoint as a gateway polls it: status, ETag and body.
pub(crate) async fn poll(
    monitor: &Monitor,
    etag: Option<&str>,
) -> (u16, String, serde_json::Value) {
    let mut request = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/environments/{ENVIRONMENT}/throttle",
            monitor.url()
        ))
        .bearer_auth(INGEST_TOKEN);
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let tag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, tag, body)
}

/// Waits until acme.com's decision is `decision`; its ETag and message.
pub(crate) async fn decided(monitor: &Monitor, agent: &Agent, decision: &str) -> (String, String) {
    wait_until(
        &format!("acme.com {decision}"),
        Duration::from_secs(60),
        async || {
            let (_, tag, body) = poll(monitor, None).await;
            let tenant = body["tenants"]
                .as_array()?
                .iter()
                .find(|t| t["tenant"] == "acme.com")?
                .clone();
            (tenant["decision"] == decision).then(|| {
                (
                    tag,
                    tenant["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}\nagent:\n{}", monitor.log(), agent.log()))
}

/// Mails whose subject starts with `prefix`: (recipients, subject).
pub(crate) fn mails(smtp: &SmtpServer, prefix: &str) -> Vec<(Vec<String>, String)> {
    smtp.messages()
        .unwrap()
        .into_iter()
        .filter_map(|m| {
            let subject = m
                .data
                .lines()
                .find_map(|l| l.strip_prefix("Subject: "))?
                .to_owned();
            subject.starts_with(prefix).then(|| {
                let mut to = m.rcpt_tos.clone();
                to.sort();
                (to, subject)
            })
        })
        .collect()
}

/// A monitor on `store` with a quota of 10 calls a month for acme.com,
/// deciding every second and mailing through `smtp`.
pub(crate) async fn throttling_monitor(store: StoreKind, smtp: &SmtpServer) -> Monitor {
    Monitor::start_full(
        store,
        "",
        "customer_contacts = [\"it-ops@acme.example\"]\nnotify_customer = true\n[[environment.quota]]\ntenant = \"acme.com\"\nrequests_per_month = 10\nmessage = \"acme.com has used this month's 10 calls\"\n",
        |dir| {
            std::fs::write(dir.join("rules.toml"), "").unwrap();
            std::fs::write(dir.join("smtp-ca.pem"), smtp.certificate_pem()).unwrap();
            format!(
                "[jobs]\nthrottle_every = \"1s\"\n[alerting]\nrules_file = \"rules.toml\"\nevaluate_every = \"1s\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\nfrom = \"Aerie <aerie@ops.example>\"\ndashboard_url = \"http://monitor.example\"\n[alerting.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nusername = \"{}\"\npassword = \"{}\"\nca_file = \"smtp-ca.pem\"\ntls_name = \"localhost\"\n",
                smtp.port(),
                smtp.user(),
                smtp.password()
            )
        },
        Vec::new(),
    )
    .await
}

/// The real agent turning `access` (a gateway's access log) into API
/// statistics for `monitor`.
pub(crate) fn gateway_agent(monitor: &Monitor, access: &std::path::Path) -> Agent {
    calls(access, 0);
    Agent::start_with_config(&format!(
        "environment = \"{ENVIRONMENT}\"\nhost = \"gw-1\"\ndata_dir = \"data\"\ninterval = \"1s\"\n[monitor]\nurl = \"{}\"\ntoken = \"{INGEST_TOKEN}\"\n[access_log]\npaths = [\"{}\"]\nthreshold = 0\ninterval = \"1s\"\n",
        monitor.url(),
        access.display()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_80_and_100_percent_of_a_quota_warns_then_blocks_with_a_mail_each() {
    let smtp = SmtpServer::start("alerts@acme.example", "right")
        .await
        .unwrap();
    let monitor = throttling_monitor(StoreKind::Embedded, &smtp).await;
    let logs = tempfile::tempdir().unwrap();
    let access = logs.path().join("http_access_2026.log");
    let agent = gateway_agent(&monitor, &access);

    // Before any call: allowed, and polling again with the ETag is a 304.
    let (allowed, _) = decided(&monitor, &agent, "allowed").await;
    let (status, same, body) = poll(&monitor, Some(&allowed)).await;
    assert_eq!((status, same.as_str()), (304, allowed.as_str()), "{body}");

    calls(&access, 8);
    let (warned, message) = decided(&monitor, &agent, "warning").await;
    assert_ne!(warned, allowed, "a new decision, a new ETag");
    assert!(
        message.contains("80% of its monthly requests quota (8 of 10 requests)"),
        "{message}"
    );
    let warning = wait_until("the warning mail", Duration::from_secs(30), async || {
        mails(&smtp, "[FIRING] quota-warning").pop()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
    assert_eq!(
        warning,
        (
            vec![
                "it-ops@acme.example".to_owned(),
                "oncall@acme.example".to_owned()
            ],
            "[FIRING] quota-warning on acme.com (acme-prod)".to_owned()
        )
    );

    calls(&access, 2);
    let (blocked, message) = decided(&monitor, &agent, "blocked").await;
    assert_eq!(message, "acme.com has used this month's 10 calls");
    let (status, _, body) = poll(&monitor, Some(&warned)).await;
    assert_eq!(status, 200, "the old ETag no longer matches");
    assert_eq!(body["tenants"][0]["decision"], "blocked");
    assert!(
        body["tenants"][0]["until"]
            .as_str()
            .unwrap()
            .ends_with("-01T00:00:00Z"),
        "{body}"
    );
    wait_until("the block mail", Duration::from_secs(30), async || {
        mails(&smtp, "[FIRING] quota-blocked on acme.com (acme-prod)").pop()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
    assert_eq!((poll(&monitor, Some(&blocked)).await).0, 304);

    // Each rise is mailed once, however many runs decide the same.
    let runs = || async {
        monitor
            .get("/api/v1/jobs")
            .await
            .and_then(|jobs| jobs["throttle"]["runs"].as_u64())
            .unwrap_or(0)
    };
    let start = runs().await;
    wait_until(
        "three more throttle runs",
        Duration::from_secs(30),
        async || (runs().await >= start + 3).then_some(()),
    )
    .await
    .unwrap();
    assert_eq!(
        mails(&smtp, "[FIRING] quota-").len(),
        2,
        "{:?}",
        mails(&smtp, "")
    );

    // Another environment's token, or none, reads nothing.
    let refused = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/environments/{ENVIRONMENT}/throttle",
            monitor.url()
        ))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 401);
}
