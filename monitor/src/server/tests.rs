//! The monitor's router (`app(state)`, both faces) through `oneshot`, on a
//! real embedded store: the JSON API's claims.

use aerie_common::toml_file::TomlFile as _;
use std::io::Write;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use axum::Router;

use super::{app, build};
use crate::store::embedded::EmbeddedStore;

const CONFIG: &str = r#"
data_dir = "data"
max_batch_bytes = "64 KiB"
[[environment]]
name = "acme-prod"
ingest_token = "acme-ingest"
[[environment]]
name = "globex-prod"
ingest_token = "globex-ingest"
[[user]]
name = "ops"
role = "operator"
token = "ops-token"
[[user]]
name = "acme-viewer"
role = "viewer"
token = "acme-view"
environments = ["acme-prod"]
[[user]]
name = "old-contractor"
role = "operator"
token = "old-token"
token_expires = "2020-01-01T00:00:00Z"
"#;

struct Harness {
    _dir: tempfile::TempDir,
    app: Router,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::Config::parse(&dir.path().join("monitor.toml"), CONFIG).unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    Harness {
        app: app(build(config, store, None).await.unwrap()),
        _dir: dir,
    }
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn ingest(
        &self,
        token: &str,
        content_type: &str,
        body: Vec<u8>,
        gzip: bool,
    ) -> (StatusCode, Value) {
        let mut request = Request::post(aerie_wire::INGEST_PATH)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type);
        if gzip {
            request = request.header("content-encoding", "gzip");
        }
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    /// Posts `body` to the ingest API with `Content-Encoding: encoding`.
    async fn ingest_encoded(&self, body: Vec<u8>, encoding: &str) -> (StatusCode, Value) {
        let request = Request::post(aerie_wire::INGEST_PATH)
            .header("authorization", "Bearer acme-ingest")
            .header("content-type", "application/json")
            .header("content-encoding", encoding);
        self.send(request.body(Body::from(body)).unwrap()).await
    }

    async fn get(&self, token: &str, uri: &str) -> (StatusCode, Value) {
        self.send(
            Request::get(uri)
                .header("authorization", format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }
}

fn batch(environment: &str, events: Value) -> Vec<u8> {
    serde_json::to_vec(
        &json!({ "environment": environment, "host": "gw-1", "agent": "test", "events": events }),
    )
    .unwrap()
}

fn log_event(id: &str, message: &str) -> Value {
    json!({ "id": id, "@timestamp": chrono::Utc::now().to_rfc3339(), "kind": "log", "file": "/a.log", "level": "ERROR", "logger": "X", "message": message, "parsed": true })
}

fn metric_event(id: &str, value: Value) -> Value {
    json!({ "id": id, "@timestamp": chrono::Utc::now().to_rfc3339(), "kind": "metric", "name": "system.cpu.total.pct", "value": value })
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not a JSON error: {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_item_is_rejected_with_its_reason_and_the_rest_kept() {
    let h = harness().await;
    let events = json!([
        log_event("a", "first"),
        { "id": "b", "kind": "log" },
        metric_event("c", json!(12.5)),
        log_event("a", "first again"),
        { "id": "", "@timestamp": "2026-11-21T10:00:00Z", "kind": "metric", "name": "x", "value": 1.0 },
        log_event("f", "an \"escaped\" second\nline"),
    ]);
    let (status, body) = h
        .ingest(
            "acme-ingest",
            "application/json",
            batch("acme-prod", events),
            false,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 3);
    assert_eq!(body["duplicates"], 1);
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(
        (rejected[0]["index"].clone(), rejected[0]["id"].clone()),
        (json!(1), json!("b"))
    );
    assert!(
        rejected[0]["reason"]
            .as_str()
            .unwrap()
            .contains("missing field"),
        "{body}"
    );
    assert!(
        rejected[1]["reason"]
            .as_str()
            .unwrap()
            .contains("id must be"),
        "{body}"
    );

    let (status, body) = h
        .get("ops-token", "/api/v1/logs?env=acme-prod&q=first")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["lines"].as_array().unwrap().len(), 1, "{body}");
    let (_, body) = h
        .get("ops-token", "/api/v1/logs?env=acme-prod&q=escaped")
        .await;
    assert_eq!(
        body["lines"][0]["message"], "an \"escaped\" second\nline",
        "a message with escapes is read whole: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ingest_refuses_what_it_cannot_take_and_keeps_what_it_has() {
    let h = harness().await;
    let good = batch("acme-prod", json!([log_event("kept", "kept line")]));
    assert_eq!(
        h.ingest("acme-ingest", "application/json", good.clone(), false)
            .await
            .0,
        StatusCode::OK
    );

    // (token, content type, body, gzip, expected status, expected message)
    type Case<'a> = (&'a str, &'a str, Vec<u8>, bool, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            "wrong-token",
            "application/json",
            good.clone(),
            false,
            StatusCode::UNAUTHORIZED,
            "unknown or expired ingest token",
        ),
        (
            "globex-ingest",
            "application/json",
            good.clone(),
            false,
            StatusCode::FORBIDDEN,
            "writes to environment \"globex-prod\", not \"acme-prod\"",
        ),
        (
            "acme-ingest",
            "text/plain",
            good.clone(),
            false,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/json",
        ),
        (
            "acme-ingest",
            "application/json",
            b"{\"environment\": \"acme-prod\", ".to_vec(),
            false,
            StatusCode::BAD_REQUEST,
            "not an ingest batch",
        ),
        (
            "acme-ingest",
            "application/json",
            b"not gzip".to_vec(),
            true,
            StatusCode::BAD_REQUEST,
            "not valid gzip",
        ),
        (
            "acme-ingest",
            "application/json",
            vec![b' '; 70 * 1024],
            false,
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than",
        ),
    ];
    for (token, content_type, body, gzip, status, message) in cases {
        let (got, answer) = h.ingest(token, content_type, body, gzip).await;
        assert_eq!(got, status, "{answer}");
        assert!(error_message(&answer).contains(message), "{answer}");
    }
    // A gzip bomb is cut at the limit, not expanded in full.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(&vec![b' '; 10 * 1024 * 1024]).unwrap();
    let (status, _) = h
        .ingest(
            "acme-ingest",
            "application/json",
            encoder.finish().unwrap(),
            true,
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (_, body) = h.get("ops-token", "/api/v1/logs?env=acme-prod").await;
    assert_eq!(
        body["lines"].as_array().unwrap().len(),
        1,
        "nothing stored was affected: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zstd_batch_is_stored_and_a_bad_or_unknown_encoding_is_refused_by_name() {
    let h = harness().await;
    let good = batch("acme-prod", json!([log_event("z1", "zstd line")]));
    let (status, answer) = h
        .ingest_encoded(zstd::encode_all(&good[..], 1).unwrap(), "zstd")
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let (_, body) = h
        .get("ops-token", "/api/v1/logs?env=acme-prod&q=zstd")
        .await;
    assert_eq!(body["lines"][0]["message"], "zstd line", "{body}");

    let (status, answer) = h.ingest_encoded(b"not zstd".to_vec(), "zstd").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        error_message(&answer).contains("not valid zstd"),
        "{answer}"
    );
    let (status, answer) = h.ingest_encoded(good, "br").await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(
        error_message(&answer).contains("\"br\"") && error_message(&answer).contains("zstd"),
        "{answer}"
    );
    // A zstd bomb is cut at the limit, not expanded in full.
    let bomb = zstd::encode_all(&vec![b' '; 10 * 1024 * 1024][..], 19).unwrap();
    let (status, _) = h.ingest_encoded(bomb, "zstd").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_check_their_parameters_and_the_callers_rights() {
    let h = harness().await;
    let events = json!([
        metric_event("m1", json!(40.0)),
        log_event("l1", "java.lang.OutOfMemoryError")
    ]);
    h.ingest(
        "acme-ingest",
        "application/json",
        batch("acme-prod", events),
        false,
    )
    .await;
    h.ingest(
        "globex-ingest",
        "application/json",
        batch("globex-prod", json!([log_event("g1", "globex only")])),
        false,
    )
    .await;

    let ok = h
        .get(
            "acme-view",
            "/api/v1/metrics?env=acme-prod&name=system.cpu.total.pct&from=now-5m&step=10s&agg=max",
        )
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(ok.1["series"][0]["host"], "gw-1");
    assert_eq!(ok.1["series"][0]["points"][0][1], 40.0);
    let hosts = h.get("acme-view", "/api/v1/hosts?env=acme-prod").await;
    assert_eq!(hosts.1[0]["host"], "gw-1");
    assert_eq!(hosts.1[0]["up"], true);

    let cases = [
        (
            "acme-view",
            "/api/v1/logs?env=globex-prod",
            StatusCode::NOT_FOUND,
            "no environment \"globex-prod\"",
        ),
        (
            "acme-view",
            "/api/v1/logs?env=initech",
            StatusCode::NOT_FOUND,
            "no environment \"initech\"",
        ),
        (
            "nobody",
            "/api/v1/logs?env=acme-prod",
            StatusCode::UNAUTHORIZED,
            "unknown API token",
        ),
        (
            "acme-ingest",
            "/api/v1/logs?env=acme-prod",
            StatusCode::UNAUTHORIZED,
            "API token",
        ),
        (
            "ops-token",
            "/api/v1/logs?env=acme-prod&from=now-1h&to=now-2h",
            StatusCode::BAD_REQUEST,
            "is not before to",
        ),
        (
            // An empty range is refused as the dashboard refuses it (one rule).
            "ops-token",
            "/api/v1/logs?env=acme-prod&from=2030-01-01T00:00:00Z&to=2030-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "is not before to",
        ),
        (
            "ops-token",
            "/api/v1/logs?env=acme-prod&from=yesterday",
            StatusCode::BAD_REQUEST,
            "from: \"yesterday\" is not a time",
        ),
        (
            "ops-token",
            "/api/v1/logs?env=acme-prod&q=a%20AND%20(b",
            StatusCode::BAD_REQUEST,
            "is not valid",
        ),
        (
            "ops-token",
            "/api/v1/logs?env=acme-prod&limit=0",
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            "ops-token",
            "/api/v1/logs",
            StatusCode::BAD_REQUEST,
            "missing field `env`",
        ),
        (
            "ops-token",
            "/api/v1/metrics?env=acme-prod&name=system.nope",
            StatusCode::NOT_FOUND,
            "no metric \"system.nope\"",
        ),
        (
            "ops-token",
            "/api/v1/metrics?env=acme-prod&name=system.cpu.total.pct&agg=median",
            StatusCode::BAD_REQUEST,
            "avg, min, max, p95",
        ),
        (
            "ops-token",
            "/api/v1/nothing",
            StatusCode::NOT_FOUND,
            "no such endpoint",
        ),
    ];
    for (token, uri, status, message) in cases {
        let (got, body) = h.get(token, uri).await;
        assert_eq!(got, status, "{uri}: {body}");
        assert!(error_message(&body).contains(message), "{uri}: {body}");
    }
    let (status, body) = h
        .get(
            "ops-token",
            "/api/v1/logs?env=acme-prod&q=OutOfMemoryError&level=ERROR",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["lines"][0]["message"], "java.lang.OutOfMemoryError");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_lists_every_route() {
    let h = harness().await;
    let (status, body) = h.get("", "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        "/api/v1/ingest",
        "/api/v1/hosts",
        "/api/v1/metrics",
        "/api/v1/logs",
        "/api/v1/apistats",
        "/api/v1/environments/{env}/throttle",
    ] {
        assert!(body["paths"][path].is_object(), "{path} is not documented");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_takes_basic_or_bearer_auth_and_refuses_items_one_by_one() {
    use base64::Engine;
    let h = harness().await;
    // An hour ago, within the logs' retention whenever the test runs.
    let hour_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    let at = |seconds: i64| (hour_ago + chrono::Duration::seconds(seconds)).to_rfc3339();
    let body = [
        "{\"index\":{\"_index\":\"app\"}}\n".to_owned(),
        format!("{{\"@timestamp\":\"{}\",\"host.name\":\"gw-7\",\"message\":\"bulk line one\",\"log\":{{\"level\":\"warn\"}}}}\n", at(0)),
        "{\"create\":{\"_index\":\"app\",\"_id\":\"given-id\"}}\n".to_owned(),
        format!("{{\"@timestamp\":\"{}\",\"host\":\"gw-7\",\"msg\":\"bulk line two\"}}\n", at(1)),
        "{\"index\":{}}\n".to_owned(),
        format!("{{\"@timestamp\":\"{}\",\"host\":\"gw-7\"}}\n", at(2)),
        "{\"delete\":{\"_index\":\"app\",\"_id\":\"x\"}}\n".to_owned(),
    ]
    .concat();
    let basic = base64::engine::general_purpose::STANDARD.encode("anyone:acme-ingest");
    let request = Request::post("/app/_bulk")
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-ndjson")
        .body(Body::from(body.clone()))
        .unwrap();
    let (status, answer) = h.send(request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["errors"], true);
    let items = answer["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    assert_eq!(items[0]["index"]["status"], 201, "{answer}");
    assert_eq!(items[1]["create"]["_id"], "given-id");
    assert!(
        items[2]["index"]["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("no message"),
        "{answer}"
    );
    assert!(
        items[3]["delete"]["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("not supported"),
        "{answer}"
    );

    let (_, logs) = h
        .get(
            "ops-token",
            &format!(
                "/api/v1/logs?env=acme-prod&q=bulk&from={}",
                (hour_ago - chrono::Duration::minutes(1)).format("%Y-%m-%dT%H:%M:%SZ")
            ),
        )
        .await;
    let lines = logs["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2, "{logs}");
    assert_eq!(lines[1]["level"], "WARN");
    assert_eq!(lines[1]["host"], "gw-7");

    let refused = Request::post("/_bulk")
        .header("authorization", "Bearer globex-wrong")
        .body(Body::from(body))
        .unwrap();
    assert_eq!(h.send(refused).await.0, StatusCode::UNAUTHORIZED);
    let health = Request::head("/_cat/health").body(Body::empty()).unwrap();
    assert_eq!(h.send(health).await.0, StatusCode::OK);
}

fn stats_event(id: &str, tenant: &str, minutes_ago: i64, count: u64) -> Value {
    let end = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
    json!({ "id": id, "@timestamp": end.to_rfc3339(), "kind": "api_stats", "api": "pizzashack/1.0.0", "tenant": tenant,
            "window_start": end.to_rfc3339(), "window_end": end.to_rfc3339(), "count": count, "faults": 1,
            "min_ms": 1.0, "max_ms": 9.0, "avg_ms": 4.0, "bytes": 100 })
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_is_summed_per_tenant_by_the_job_and_operators_run_jobs() {
    let h = harness().await;
    let events = json!([
        stats_event("s1", "acme.com", 1, 100),
        stats_event("s2", "acme.com", 2, 50),
        stats_event("s3", "globex.com", 1, 7)
    ]);
    h.ingest(
        "acme-ingest",
        "application/json",
        batch("acme-prod", events),
        false,
    )
    .await;

    let run = |token: &'static str| {
        Request::post("/api/v1/jobs/usage/run")
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, body) = h.send(run("acme-view")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = h.send(run("ops-token")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["last_result"].as_str().unwrap().contains("recomputed"),
        "{body}"
    );

    let (status, rows) = h
        .get(
            "acme-view",
            "/api/v1/usage?env=acme-prod&tenant=acme.com&period=month",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (
            rows[0]["requests"].clone(),
            rows[0]["faults"].clone(),
            rows[0]["bytes"].clone()
        ),
        (json!(150), json!(2), json!(200))
    );
    assert_eq!(rows[0]["period"], "month");
    let (_, all) = h
        .get("ops-token", "/api/v1/usage?env=acme-prod&period=day")
        .await;
    assert_eq!(
        all.as_array().unwrap().len(),
        2,
        "one row per tenant: {all}"
    );
    let (status, body) = h
        .get("ops-token", "/api/v1/usage?env=acme-prod&period=week")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&body).contains("hour, day, month"));

    let (_, jobs) = h.get("ops-token", "/api/v1/jobs").await;
    assert!(
        jobs["usage"]["runs"].as_u64().unwrap() >= 1 && jobs["retention"].is_object(),
        "{jobs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_retention_job_deletes_what_is_older_than_its_kind_keeps() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("{CONFIG}\n[retention]\nlogs = \"1h\"\n");
    let config = crate::Config::parse(&dir.path().join("monitor.toml"), &text).unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("store")).unwrap());
    // Data older than the retention is refused at ingest: it is in the
    // store from before the retention was shortened.
    let old = chrono::Utc::now() - chrono::Duration::hours(2);
    let events: Vec<aerie_wire::Event> = serde_json::from_value(json!([
        { "id": "old", "@timestamp": old.to_rfc3339(), "kind": "log", "file": "/a.log", "message": "old line", "parsed": false },
        log_event("new", "new line"),
        { "id": "old-metric", "@timestamp": old.to_rfc3339(), "kind": "metric", "name": "system.load.1", "value": 1.0 },
    ]))
    .unwrap();
    let written = crate::store::WriteBatch {
        environment: "acme-prod".into(),
        host: "gw-1".into(),
        events,
    };
    crate::store::Store::write(&*store, &written).await.unwrap();
    let h = Harness {
        app: app(build(config, store, None).await.unwrap()),
        _dir: dir,
    };
    // The job runs once at start, and may meet the old data then or in
    // the run below: together they delete the one old line.
    loop {
        let (_, jobs) = h.get("ops-token", "/api/v1/jobs").await;
        if jobs["retention"]["runs"].as_u64() >= Some(1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (_, jobs) = h.get("ops-token", "/api/v1/jobs").await;
    let first = jobs["retention"]["last_result"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let run = Request::post("/api/v1/jobs/retention/run")
        .header("authorization", "Bearer ops-token")
        .body(Body::empty())
        .unwrap();
    let (status, body) = h.send(run).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["last_result"]
            .as_str()
            .unwrap()
            .contains("deleted 0 metrics"),
        "{body}"
    );
    let second = body["last_result"].as_str().unwrap();
    assert!(
        first.contains(" 1 logs") || second.contains(" 1 logs"),
        "{first} / {second}"
    );
    let (_, logs) = h
        .get("ops-token", "/api/v1/logs?env=acme-prod&from=now-1d")
        .await;
    let messages: Vec<&str> = logs["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages, ["new line"]);
    let (status, _) = h
        .get(
            "ops-token",
            "/api/v1/metrics?env=acme-prod&name=system.load.1&from=now-1d",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "metrics are kept 30 days");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_token_is_refused_and_says_so() {
    let harness = harness().await;
    let (status, body) = harness
        .get("old-token", "/api/v1/hosts?env=acme-prod")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        error_message(&body),
        "the API token of old-contractor expired at 2020-01-01T00:00:00Z: ask an operator for a new one"
    );
    let (status, body) = harness
        .get("no-such-token", "/api/v1/hosts?env=acme-prod")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_message(&body), "unknown API token");
    let (status, _) = harness
        .get("ops-token", "/api/v1/hosts?env=acme-prod")
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_count_api_counts_what_the_search_finds_per_host_and_step_as_asked_and_checks_its_step()
{
    let h = harness().await;
    let at = |minutes_ago: i64, id: &str, message: &str| {
        let time = chrono::Utc::now() - chrono::Duration::minutes(minutes_ago);
        json!({ "id": id, "@timestamp": time.to_rfc3339(), "kind": "log", "file": "/a.log", "level": "ERROR", "logger": "X", "message": message, "parsed": true })
    };
    let events = json!([
        at(50, "a", "connection refused by tm-1"),
        at(40, "b", "connection refused by tm-2"),
        at(5, "c", "request handled"),
        at(3, "d", "connection refused by tm-1 again"),
    ]);
    let (status, body) = h
        .ingest(
            "acme-ingest",
            "application/json",
            batch("acme-prod", events),
            false,
        )
        .await;
    assert_eq!(
        (status, &body["accepted"]),
        (StatusCode::OK, &json!(4)),
        "{body}"
    );

    let (status, body) = h
        .get(
            "ops-token",
            "/api/v1/logs/count?env=acme-prod&q=refused&from=now-1h",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 3, "{body}");
    assert_eq!(body["step_ms"], 60_000, "an hour in about sixty steps");
    assert_eq!(body["hosts"][0]["host"], "gw-1");
    assert_eq!(body["hosts"][0]["count"], 3);
    assert_eq!(
        body["hosts"][0]["newest"],
        "connection refused by tm-1 again"
    );
    let buckets = body["buckets"].as_array().unwrap();
    assert_eq!(
        buckets.len(),
        3,
        "one a minute, only those with lines: {body}"
    );
    assert!(buckets.iter().all(|b| b["count"] == 1));
    // Asked by host alone, or for the total alone, the rest is left out.
    let (status, body) = h
        .get(
            "ops-token",
            "/api/v1/logs/count?env=acme-prod&q=refused&from=now-1h&by=host",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["total"], &body["hosts"][0]["count"]),
        (&json!(3), &json!(3))
    );
    assert_eq!(body["buckets"], json!([]), "{body}");
    let (_, body) = h
        .get(
            "ops-token",
            "/api/v1/logs/count?env=acme-prod&q=refused&from=now-1h&by=",
        )
        .await;
    assert_eq!(body["total"], 3, "{body}");
    assert_eq!((&body["hosts"], &body["buckets"]), (&json!([]), &json!([])));
    let (status, body) = h
        .get("ops-token", "/api/v1/logs/count?env=acme-prod&by=tenant")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        error_message(&body).contains("\"tenant\" is not a breakdown"),
        "{body}"
    );

    let (_, body) = h
        .get(
            "ops-token",
            "/api/v1/logs/count?env=acme-prod&from=now-1h&step=1h",
        )
        .await;
    assert_eq!(body["total"], 4, "no query counts every line: {body}");
    let (status, body) = h
        .get("ops-token", "/api/v1/logs/count?env=acme-prod&step=100ms")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&body).contains("at least 1s"), "{body}");
    let (status, body) = h
        .get("ops-token", "/api/v1/logs/count?env=acme-prod&q=(refused")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = h.get("", "/api/v1/logs/count?env=acme-prod").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}
