//! The monitor's daily log export (what the backup archives), loaded
//! through the real agent: exactly one UTC day's events of one
//! environment, in ECS names, and nothing of the day before or after or
//! of another environment.

use std::io::Read as _;
use std::time::Duration;

use aerie_system_tests::{Agent, ENVIRONMENT, INGEST_TOKEN, Monitor, OPERATOR_TOKEN, StoreKind};
use aerie_testkit::wait_until;
use chrono::{DateTime, TimeZone as _, Utc};

/// A product log line at UTC instant `at`, in this host's local time (as
/// the product writes it and the agent reads it), logged by `ExportCheck`.
fn line_at(at: DateTime<Utc>, text: &str) -> String {
    let local = chrono::Local.from_utc_datetime(&at.naive_utc());
    format!(
        "[{}]  INFO - ExportCheck {text}\n",
        local.format("%Y-%m-%d %H:%M:%S,%3f")
    )
}

fn agent_for(monitor: &Monitor, environment: &str, token: &str, logs: &std::path::Path) -> Agent {
    Agent::start_with_config(&format!(
        "environment = \"{environment}\"\nhost = \"{environment}-gw\"\ndata_dir = \"data\"\ninterval = \"1s\"\n[monitor]\nurl = \"{}\"\ntoken = \"{token}\"\n[[logs]]\nname = \"app\"\npaths = [\"{}\"]\nmultiline_timeout = \"200ms\"\n",
        monitor.url(),
        logs.join("*.log").display()
    ))
}

async fn export(
    monitor: &Monitor,
    environment: &str,
    day: chrono::NaiveDate,
) -> Vec<serde_json::Value> {
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!(
            "{}/api/v1/logs/export?env={environment}&day={day}",
            monitor.url()
        ))
        .bearer_auth(OPERATOR_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200, "{}", monitor.log());
    let body = answer.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn messages(documents: &[serde_json::Value]) -> Vec<String> {
    let mut out: Vec<String> = documents
        .iter()
        .map(|d| d["message"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daily_export_holds_exactly_that_days_events_of_that_environment() {
    let monitor = Monitor::start_configured(
        StoreKind::Embedded,
        |_| {
            "[[environment]]\nname = \"globex-prod\"\ningest_token = \"globex-token\"\noperators = [\"oncall@globex.example\"]\n".to_owned()
        },
        Vec::new(),
    )
    .await;
    let day = (Utc::now() - chrono::Duration::days(1)).date_naive();
    let midnight = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
    let next = midnight + chrono::Duration::days(1);
    let ms = chrono::Duration::milliseconds(1);

    let acme = tempfile::tempdir().unwrap();
    std::fs::write(
        acme.path().join("wso2carbon.log"),
        [
            line_at(midnight - ms, "acme the evening before"),
            line_at(midnight, "acme first of the day"),
            line_at(midnight + chrono::Duration::hours(12), "acme noon"),
            line_at(next - ms, "acme last of the day"),
            line_at(next, "acme first of the next day"),
        ]
        .concat(),
    )
    .unwrap();
    let globex = tempfile::tempdir().unwrap();
    std::fs::write(
        globex.path().join("wso2carbon.log"),
        line_at(midnight + chrono::Duration::hours(6), "globex morning"),
    )
    .unwrap();
    let _acme_agent = agent_for(&monitor, ENVIRONMENT, INGEST_TOKEN, acme.path());
    let _globex_agent = agent_for(&monitor, "globex-prod", "globex-token", globex.path());
    wait_until("every line stored", Duration::from_secs(30), async || {
        let acme = monitor
            .get(&format!(
                "/api/v1/logs?env={ENVIRONMENT}&from=now-3d&limit=1000"
            ))
            .await?;
        let globex = monitor
            .get("/api/v1/logs?env=globex-prod&from=now-3d&limit=1000")
            .await?;
        (acme["lines"].as_array()?.len() == 5 && globex["lines"].as_array()?.len() == 1)
            .then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", monitor.log()));

    let documents = export(&monitor, ENVIRONMENT, day).await;
    assert_eq!(
        messages(&documents),
        ["acme first of the day", "acme last of the day", "acme noon"]
    );
    for document in &documents {
        assert_eq!(document["service"]["environment"], ENVIRONMENT);
        assert_eq!(document["host"]["name"], "acme-prod-gw");
        assert_eq!(document["log"]["level"], "INFO");
        assert_eq!(document["log"]["logger"], "ExportCheck");
        assert!(document["event"]["id"].is_string());
        assert!(
            document["@timestamp"]
                .as_str()
                .unwrap()
                .starts_with(&day.to_string())
        );
    }
    assert_eq!(
        messages(&export(&monitor, "globex-prod", day).await),
        ["globex morning"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_of_several_store_pages_streams_every_event_once_newest_first() {
    let monitor = Monitor::start().await;
    let day = (Utc::now() - chrono::Duration::days(1)).date_naive();
    let midnight = Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0).unwrap());
    // Two and a half store pages (the export reads 1,000 lines a query).
    const LINES: i64 = 2_500;
    let logs = tempfile::tempdir().unwrap();
    let text: String = (0..LINES)
        .map(|n| {
            line_at(
                midnight + chrono::Duration::seconds(n * 30),
                &format!("line {n}"),
            )
        })
        .collect();
    std::fs::write(logs.path().join("wso2carbon.log"), text).unwrap();
    let _agent = agent_for(&monitor, ENVIRONMENT, INGEST_TOKEN, logs.path());
    wait_until("every line stored", Duration::from_secs(60), async || {
        let stored = export(&monitor, ENVIRONMENT, day).await;
        (stored.len() == LINES as usize).then_some(stored)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", monitor.log()));

    let documents = export(&monitor, ENVIRONMENT, day).await;
    let times: Vec<&str> = documents
        .iter()
        .map(|d| d["@timestamp"].as_str().unwrap())
        .collect();
    let mut newest_first = times.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(times, newest_first, "the export is newest first");
    let ids: std::collections::BTreeSet<&str> = documents
        .iter()
        .map(|d| d["event"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), LINES as usize, "no event twice, none missing");
    assert_eq!(documents[0]["message"], format!("line {}", LINES - 1));
    assert_eq!(documents[LINES as usize - 1]["message"], "line 0");
}
