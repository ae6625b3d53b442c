//! The real monitor under hostile input: two environments sending the same
//! ids, oversized bodies with and without a token (the monitor's peak memory
//! read from /proc), a batch with one event that is not UTF-8, `_bulk`
//! items that break the ingest rules, and a login asked to send the user
//! off the site. Everything is read back through the API the users have.

use std::time::Duration;

use aerie_system_tests::{INGEST_TOKEN, Monitor, StoreKind, password_hash};
use aerie_testkit::{OpenSearch, wait_until};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A second environment whose name begins the first's ("acme" and
/// "acme-prod").
const OTHER: &str = "acme";
const OTHER_TOKEN: &str = "acme-other-token";
const ADMIN_PASSWORD: &str = "a long operator passphrase";
/// The batch limit of these monitors.
const BATCH_LIMIT: u64 = 4 << 20;

async fn monitor(store: StoreKind) -> Monitor {
    let hash = password_hash(ADMIN_PASSWORD);
    let settings = format!("max_batch_bytes = {BATCH_LIMIT}");
    Monitor::start_with_settings(
        store,
        &settings,
        |_| {
            format!(
                "[[environment]]\nname = \"{OTHER}\"\ningest_token = \"{OTHER_TOKEN}\"\n\n\
                 [[user]]\nname = \"admin\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n"
            )
        },
        Vec::new(),
    )
    .await
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn log_event(id: &str, message: &str) -> Value {
    json!({ "id": id, "@timestamp": chrono::Utc::now().to_rfc3339(), "kind": "log",
            "file": "/opt/wso2/repository/logs/wso2carbon.log", "level": "INFO", "message": message, "parsed": true })
}

async fn ingest(monitor: &Monitor, environment: &str, token: &str, body: Vec<u8>) -> Value {
    let response = http()
        .post(format!("{}/api/v1/ingest", monitor.url()))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{environment}: {status} {answer}");
    answer
}

/// The messages of `environment`'s log lines, sorted.
async fn messages(monitor: &Monitor, environment: &str) -> Vec<String> {
    let page = monitor
        .get(&format!(
            "/api/v1/logs?env={environment}&from=now-1h&limit=1000"
        ))
        .await
        .unwrap();
    let mut messages: Vec<String> = page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["message"].as_str().unwrap().to_owned())
        .collect();
    messages.sort();
    messages
}

async fn two_environments_sending_the_same_ids_both_keep_their_events(store: StoreKind) {
    let monitor = monitor(store).await;
    let batch = |environment: &str, who: &str| {
        serde_json::to_vec(
            &json!({ "environment": environment, "host": "gw-1", "agent": "test", "events": [
                log_event("0123456789abcdef0123456789abcdef", &format!("{who}: first")),
                log_event("same-text-id", &format!("{who}: second")),
            ]}),
        )
        .unwrap()
    };
    let first = ingest(
        &monitor,
        "acme-prod",
        INGEST_TOKEN,
        batch("acme-prod", "acme-prod"),
    )
    .await;
    let second = ingest(&monitor, OTHER, OTHER_TOKEN, batch(OTHER, "acme")).await;
    assert_eq!(
        (first["accepted"].as_u64(), first["duplicates"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        (second["accepted"].as_u64(), second["duplicates"].as_u64()),
        (Some(2), Some(0)),
        "ids acme-prod used are acme's own events: {second}"
    );
    let resent = ingest(&monitor, OTHER, OTHER_TOKEN, batch(OTHER, "acme")).await;
    assert_eq!(
        resent["duplicates"].as_u64(),
        Some(2),
        "within acme they repeat: {resent}"
    );
    wait_until(
        "both environments' lines",
        Duration::from_secs(10),
        async || {
            let ours = messages(&monitor, "acme-prod").await;
            let theirs = messages(&monitor, OTHER).await;
            (ours == ["acme-prod: first", "acme-prod: second"]
                && theirs == ["acme: first", "acme: second"])
            .then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| {
        panic!("{e}\n{}", monitor.log());
    });
}

/// Sends a chunked `POST path` of `total` bytes (or until the monitor stops
/// reading) on a raw connection; answers the status the monitor gave, if
/// it gave one.
async fn chunked_post(url: String, path: &str, headers: &str, total: u64) -> Option<u16> {
    let address = url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\n{headers}\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'a'; 64 * 1024];
    let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), &chunk, b"\r\n"].concat();
    let mut sent = 0u64;
    while sent < total {
        if stream.write_all(&framed).await.is_err() {
            break;
        }
        sent += chunk.len() as u64;
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// The monitor's peak resident memory so far, in MiB (`VmHWM`).
fn peak_mib(monitor: &Monitor) -> u64 {
    let pid = monitor.pid().expect("the monitor runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib / 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_refused_early_and_memory_stays_bounded() {
    let monitor = monitor(StoreKind::Embedded).await;
    let before = peak_mib(&monitor);
    let form = "Content-Type: application/x-www-form-urlencoded\r\n";
    let json = "Content-Type: application/json\r\n";
    let bearer = format!("Authorization: Bearer {INGEST_TOKEN}\r\n{json}");
    let basic = "Authorization: Basic dXNlcjphY21lLWluZ2VzdC10b2tlbg==\r\n";
    // No token: refused from the headers, before the body is read.
    let cases: Vec<(&str, String, u16)> = vec![
        ("/api/v1/ingest", json.to_owned(), 401),
        (
            "/_bulk",
            "Content-Type: application/x-ndjson\r\n".to_owned(),
            401,
        ),
        ("/login", form.to_owned(), 413),
        ("/api/v1/silences", json.to_owned(), 413),
        // With a token: refused at the batch limit.
        ("/api/v1/ingest", bearer.clone(), 413),
        (
            "/_bulk",
            format!("{basic}Content-Type: application/x-ndjson\r\n"),
            413,
        ),
    ];
    for (path, headers, expected) in &cases {
        let status = chunked_post(monitor.url(), path, headers, 256 << 20).await;
        assert_eq!(status, Some(*expected), "{path} with {headers:?}");
    }
    // Many at once, with and without a token.
    let mut many = tokio::task::JoinSet::new();
    for n in 0..24 {
        let headers = if n % 2 == 0 {
            bearer.clone()
        } else {
            json.to_owned()
        };
        let url = monitor.url();
        many.spawn(async move { chunked_post(url, "/api/v1/ingest", &headers, 64 << 20).await });
    }
    while let Some(status) = many.join_next().await {
        let status = status.unwrap();
        assert!(matches!(status, Some(401 | 413)), "{status:?}");
    }
    let after = peak_mib(&monitor);
    let bodies = cases.len() + 24;
    eprintln!("monitor peak RSS: {before} MiB before, {after} MiB after {bodies} oversized bodies");
    assert!(
        after < before + 160,
        "peak RSS grew from {before} to {after} MiB: bodies are held whole\n{}",
        monitor.log()
    );
    // And it still takes a good batch.
    let good = serde_json::to_vec(
        &json!({ "environment": "acme-prod", "host": "gw-1", "agent": "test",
        "events": [log_event("after-the-flood", "still here")] }),
    )
    .unwrap();
    let answer = ingest(&monitor, "acme-prod", INGEST_TOKEN, good).await;
    assert_eq!(answer["accepted"].as_u64(), Some(1));
}

async fn one_event_that_is_not_utf8_is_refused_alone_on_both_paths(store: StoreKind) {
    let monitor = monitor(store).await;
    // Ingest: the second of three events holds a byte that is not UTF-8
    // and an invalid escape.
    let mut body =
        br#"{"environment":"acme-prod","host":"gw-1","agent":"test","events":["#.to_vec();
    body.extend(serde_json::to_vec(&log_event("good-1", "ingest good one")).unwrap());
    body.extend(br#",{"id":"bad-1","@timestamp":"2026-01-01T00:00:00Z","kind":"log","file":"/f","message":"caf"#);
    body.extend(b"\xe9 \\x");
    body.extend(br#"","parsed":false},"#);
    body.extend(serde_json::to_vec(&log_event("good-2", "ingest good two")).unwrap());
    body.extend(b"]}");
    let answer = ingest(&monitor, "acme-prod", INGEST_TOKEN, body).await;
    assert_eq!(answer["accepted"].as_u64(), Some(2), "{answer}");
    let rejected = &answer["rejected"][0];
    assert_eq!(
        (rejected["index"].as_u64(), rejected["id"].as_str()),
        (Some(1), Some("bad-1")),
        "{answer}"
    );
    assert!(
        rejected["reason"].as_str().unwrap().contains("not UTF-8"),
        "{answer}"
    );
    // _bulk: the same, one document line among good ones.
    let now = chrono::Utc::now().to_rfc3339();
    let mut bulk = Vec::new();
    for (n, message) in ["bulk good one", "\u{0}", "bulk good two"]
        .iter()
        .enumerate()
    {
        bulk.extend(format!("{{\"create\":{{\"_id\":\"bulk-{n}\"}}}}\n").as_bytes());
        if n == 1 {
            bulk.extend(format!("{{\"@timestamp\":\"{now}\",\"message\":\"caf").as_bytes());
            bulk.extend(b"\xe9\"}\n");
        } else {
            bulk.extend(
                format!(
                    "{{\"@timestamp\":\"{now}\",\"message\":\"{message}\",\"host\":\"gw-2\"}}\n"
                )
                .as_bytes(),
            );
        }
    }
    let items = bulk_items(&monitor, bulk).await;
    let statuses: Vec<u64> = items
        .iter()
        .map(|i| i["create"]["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [201, 400, 201], "{items:?}");
    assert!(
        items[1]["create"]["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("not UTF-8"),
        "{items:?}"
    );
    wait_until(
        "the good lines of both paths",
        Duration::from_secs(10),
        async || {
            let found = messages(&monitor, "acme-prod").await;
            (found
                == [
                    "bulk good one",
                    "bulk good two",
                    "ingest good one",
                    "ingest good two",
                ])
            .then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", monitor.log()));
}

/// Posts `body` to `_bulk` with the ingest token; the answer's items.
async fn bulk_items(monitor: &Monitor, body: Vec<u8>) -> Vec<Value> {
    let response = http()
        .post(format!("{}/_bulk", monitor.url()))
        .basic_auth("shipper", Some(INGEST_TOKEN))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{response:?}");
    let answer: Value = response.json().await.unwrap();
    answer["items"].as_array().unwrap().clone()
}

async fn bulk_items_are_held_to_the_ingest_rules_one_by_one(store: StoreKind) {
    let monitor = monitor(store).await;
    let now = chrono::Utc::now().to_rfc3339();
    let long_id = "i".repeat(10_000);
    let big = "m".repeat(2 << 20);
    let documents: Vec<(String, Value, &str)> = vec![
        (
            "ok".into(),
            json!({ "@timestamp": now, "message": "kept", "host": "gw-1" }),
            "",
        ),
        (
            "big".into(),
            json!({ "@timestamp": now, "message": big, "host": "gw-1" }),
            "longer than 1 MiB",
        ),
        (
            "future".into(),
            json!({ "@timestamp": "2099-01-01T00:00:00Z", "message": "from 2099", "host": "gw-1" }),
            "in the future",
        ),
        (
            "past".into(),
            json!({ "@timestamp": "2001-01-01T00:00:00Z", "message": "from 2001", "host": "gw-1" }),
            "older than the logs retention",
        ),
        (
            long_id,
            json!({ "@timestamp": now, "message": "long id", "host": "gw-1" }),
            "1 to 128 characters",
        ),
        (
            "host".into(),
            json!({ "@timestamp": now, "message": "forged", "host": "gw-1\nroot logged in" }),
            "not a host name",
        ),
    ];
    let mut body = Vec::new();
    for (id, document, _) in &documents {
        body.extend(serde_json::to_vec(&json!({ "index": { "_id": id } })).unwrap());
        body.push(b'\n');
        body.extend(serde_json::to_vec(document).unwrap());
        body.push(b'\n');
    }
    let items = bulk_items(&monitor, body).await;
    assert_eq!(items.len(), documents.len());
    for (item, (_, document, reason)) in items.iter().zip(&documents) {
        let item = &item["index"];
        if reason.is_empty() {
            assert_eq!(item["status"].as_u64(), Some(201), "{item}");
        } else {
            assert_eq!(
                item["status"].as_u64(),
                Some(400),
                "{}: {item}",
                document["message"]
            );
            let said = item["error"]["reason"].as_str().unwrap();
            assert!(said.contains(reason), "expected {reason:?} in {said:?}");
            assert_eq!(item["error"]["type"], "illegal_argument_exception");
        }
    }
    wait_until(
        "the one good document",
        Duration::from_secs(10),
        async || (messages(&monitor, "acme-prod").await == ["kept"]).then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", monitor.log()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_sends_on_only_within_the_dashboard() {
    let monitor = monitor(StoreKind::Embedded).await;
    let hostile = [
        "//evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example/",
        "/\\evil.example/",
        "/%09/evil.example/ with a space",
        "https://evil.example/",
        "/\u{1}x",
        "javascript:alert(1)",
    ];
    for next in hostile
        .iter()
        .copied()
        .chain(["/env/acme-prod/logs?q=error"])
    {
        let response = http()
            .post(format!("{}/login", monitor.url()))
            .form(&[
                ("user", "admin"),
                ("password", ADMIN_PASSWORD),
                ("next", next),
            ])
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_redirection(),
            "{next:?}: {}",
            response.status()
        );
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        if next.starts_with("/env/") {
            assert_eq!(location, next);
        } else {
            assert_eq!(location, "/", "{next:?} sent the user to {location:?}");
        }
    }
}

with_both_stores!(
    two_environments_sending_the_same_ids_both_keep_their_events,
    one_event_that_is_not_utf8_is_refused_alone_on_both_paths,
    bulk_items_are_held_to_the_ingest_rules_one_by_one
);
