//! The conformance suite every store passes: written once, run against the
//! embedded store and against Elasticsearch (a real OpenSearch node).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use aerie_wire::{Event, EventBody, event_id};
use chrono::{DateTime, Duration, Utc};

use super::{CountBy, DataKind, LogQuery, MetricQuery, Store, WriteBatch, sum_api_stats};

/// One "now" for the whole suite, so that "9 minutes ago" means the same
/// moment when writing and when querying.
static NOW: std::sync::LazyLock<DateTime<Utc>> = std::sync::LazyLock::new(Utc::now);

fn at(minutes_ago: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(NOW.timestamp_millis() - minutes_ago * 60_000).unwrap()
}

fn metric(host: &str, mount: &str, minutes_ago: i64, value: f64) -> Event {
    let timestamp = at(minutes_ago);
    Event {
        id: event_id(&[
            host.as_bytes(),
            mount.as_bytes(),
            &timestamp.timestamp_millis().to_le_bytes(),
        ]),
        timestamp,
        body: EventBody::Metric {
            name: "system.filesystem.used.pct".into(),
            value,
            labels: BTreeMap::from([("mount".to_owned(), mount.to_owned())]),
        },
    }
}

fn log(n: u64, minutes_ago: i64, level: &str, message: &str) -> Event {
    Event {
        id: event_id(&[b"log", &n.to_le_bytes()]),
        timestamp: at(minutes_ago),
        body: EventBody::Log {
            file: "/opt/wso2/repository/logs/wso2carbon.log".into(),
            level: Some(level.into()),
            logger: Some("ThrottleHandler".into()),
            message: message.into(),
            parsed: true,
            origin: None,
        },
    }
}

fn batch(host: &str, events: Vec<Event>) -> WriteBatch {
    WriteBatch {
        environment: "acme-prod".into(),
        host: host.into(),
        events,
    }
}

fn logs(text: Option<&str>) -> LogQuery {
    LogQuery {
        environment: "acme-prod".into(),
        host: None,
        text: text.map(str::to_owned),
        level: None,
        file: None,
        from: at(120),
        to: at(-1),
        limit: 100,
        cursor: None,
    }
}

/// Runs every check against the store `open` gives; with `reopen`, also that
/// data survives closing and opening the store again.
pub async fn run(
    open: impl Fn() -> Pin<Box<dyn Future<Output = Arc<dyn Store>> + Send>>,
    reopen: bool,
) {
    let store = open().await;

    // Writes are acknowledged with counts; a repeated id is stored once.
    let metrics = [
        metric("gw-1", "/", 10, 40.0),
        metric("gw-1", "/", 9, 60.0),
        metric("gw-1", "/data", 9, 5.0),
        metric("gw-2", "/", 9, 70.0),
    ];
    let outcome = store
        .write(&batch("gw-1", metrics[..3].to_vec()))
        .await
        .unwrap();
    assert_eq!((outcome.accepted, outcome.duplicates), (3, 0));
    let outcome = store
        .write(&batch("gw-2", vec![metrics[3].clone(), metrics[3].clone()]))
        .await
        .unwrap();
    assert_eq!(
        (outcome.accepted, outcome.duplicates),
        (1, 1),
        "a repeat within a batch is stored once"
    );
    let outcome = store
        .write(&batch("gw-1", metrics[..1].to_vec()))
        .await
        .unwrap();
    assert_eq!(
        (outcome.accepted, outcome.duplicates),
        (0, 1),
        "a resent event is recognised"
    );

    // Metric samples come back, filtered by host and time.
    let query = MetricQuery {
        environment: "acme-prod".into(),
        host: Some("gw-1".into()),
        name: "system.filesystem.used.pct".into(),
        from: at(30),
        to: at(-1),
    };
    let mut points = store.metric_points(&query).await.unwrap();
    points.sort_by(|a, b| (a.timestamp, &a.labels).cmp(&(b.timestamp, &b.labels)));
    let values: Vec<f64> = points.iter().map(|p| p.value).collect();
    assert_eq!(
        values,
        [40.0, 60.0, 5.0],
        "gw-1's samples by time, then labels: {points:?}"
    );
    assert_eq!(points[2].labels["mount"], "/data");
    assert!(points.iter().all(|p| p.host == "gw-1"));
    for aggregation in [
        super::Aggregation::Avg,
        super::Aggregation::Min,
        super::Aggregation::Max,
        super::Aggregation::P95,
    ] {
        let all = MetricQuery {
            from: at(60),
            host: None,
            ..query.clone()
        };
        let series = store
            .metric_series(&all, 120_000, aggregation)
            .await
            .unwrap();
        let expected = super::bucket_series(
            store.metric_points(&all).await.unwrap(),
            120_000,
            aggregation,
        );
        assert_eq!(
            series, expected,
            "a store's own bucketing agrees with the shared one ({aggregation:?})"
        );
        assert_eq!(series.len(), 3, "gw-1 /, gw-1 /data, gw-2 /");
    }
    let recent = store
        .metric_points(&MetricQuery {
            from: at(9) - Duration::seconds(1),
            host: None,
            ..query.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        recent.len(),
        3,
        "the time range and no host filter: {recent:?}"
    );
    let other_env = store
        .metric_points(&MetricQuery {
            environment: "globex-prod".into(),
            ..query.clone()
        })
        .await
        .unwrap();
    assert!(other_env.is_empty(), "environments are kept apart");
    assert_eq!(
        store.metric_names("acme-prod").await.unwrap(),
        ["system.filesystem.used.pct"]
    );
    assert!(store.metric_names("globex-prod").await.unwrap().is_empty());

    // Hosts seen, with when.
    let mut hosts = store.hosts("acme-prod").await.unwrap();
    hosts.sort_by(|a, b| a.host.cmp(&b.host));
    assert_eq!(
        hosts.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(),
        ["gw-1", "gw-2"]
    );
    assert!(
        hosts
            .iter()
            .all(|h| (Utc::now() - h.last_seen).num_seconds() < 60)
    );

    // Logs: newest first, pages that neither overlap nor skip, full text.
    let mut events = Vec::new();
    for n in 0..25u64 {
        events.push(log(
            n,
            30 - n as i64,
            "INFO",
            &format!("request {n} handled for tenant acme.com"),
        ));
    }
    events.push(log(
        100,
        3,
        "ERROR",
        "java.lang.OutOfMemoryError: Java heap space in ThrottleDataPublisher",
    ));
    events.push(log(
        101,
        2,
        "WARN",
        "throttle decision delayed for tenant globex.com",
    ));
    store.write(&batch("gw-1", events)).await.unwrap();
    let mut seen = Vec::new();
    let mut query = LogQuery {
        limit: 10,
        ..logs(None)
    };
    loop {
        let page = store.logs(&query).await.unwrap();
        seen.extend(page.lines.iter().map(|line| line.timestamp));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 27, "every line once across pages");
    assert!(
        seen.windows(2).all(|pair| pair[0] >= pair[1]),
        "newest first"
    );
    let found = |text: &str| {
        let store = Arc::clone(&store);
        let text = text.to_owned();
        async move { store.logs(&logs(Some(&text))).await.unwrap().lines.len() }
    };
    assert_eq!(found("OutOfMemoryError").await, 1, "a word, in any case");
    assert_eq!(found("\"heap space\"").await, 1, "a phrase");
    assert_eq!(found("\"space heap\"").await, 0, "a phrase is in order");
    assert_eq!(found("tenant AND globex.com").await, 1);
    assert_eq!(found("OutOfMemoryError OR globex.com").await, 2);
    assert_eq!(found("tenant AND NOT acme.com").await, 1);
    assert_eq!(found("NOT tenant").await, 1, "everything but");
    assert_eq!(
        found("throttlehandler AND heap").await,
        1,
        "words match the logger too"
    );
    let errors = store
        .logs(&LogQuery {
            level: Some("error".into()),
            ..logs(None)
        })
        .await
        .unwrap();
    assert_eq!(errors.lines.len(), 1);
    assert_eq!(errors.lines[0].level.as_deref(), Some("ERROR"));
    assert_eq!(errors.lines[0].logger.as_deref(), Some("ThrottleHandler"));
    assert_eq!(errors.lines[0].host, "gw-1");
    let of_file = |file: &str| {
        let store = Arc::clone(&store);
        let query = LogQuery {
            file: Some(file.to_owned()),
            ..logs(None)
        };
        async move { store.logs(&query).await.unwrap().lines.len() }
    };
    assert_eq!(
        of_file("/opt/wso2/repository/logs/wso2carbon.log").await,
        27
    );
    assert_eq!(of_file("/opt/wso2/repository/logs/audit.log").await, 0);
    let bad = store.logs(&logs(Some("tenant AND (unclosed"))).await;
    assert!(
        matches!(bad, Err(super::StoreError::BadQuery { .. })),
        "{bad:?}"
    );

    // Counts: in all, per host with its newest line, per time bucket.
    store
        .write(&batch(
            "gw-2",
            vec![log(
                200,
                4,
                "INFO",
                "request 200 handled for tenant acme.com",
            )],
        ))
        .await
        .unwrap();
    let ten_minutes = std::time::Duration::from_secs(600);
    let all = CountBy::hosts_and_buckets(ten_minutes);
    let counts = store
        .count_logs(&logs(Some("acme.com")), all)
        .await
        .unwrap();
    assert_eq!(counts.total, 26, "{counts:?}");
    let hosts: Vec<(&str, u64, &str)> = counts
        .hosts
        .iter()
        .map(|h| (h.host.as_str(), h.count, h.newest.as_str()))
        .collect();
    assert_eq!(
        hosts,
        [
            ("gw-1", 25, "request 24 handled for tenant acme.com"),
            ("gw-2", 1, "request 200 handled for tenant acme.com"),
        ]
    );
    // The lines were 30..6 minutes old on gw-1 and 4 on gw-2: buckets
    // start at multiples of ten minutes since the epoch, oldest first.
    let mut expected: BTreeMap<i64, u64> = BTreeMap::new();
    for minutes_ago in (6..=30).chain([4]) {
        let micros = at(minutes_ago).timestamp_micros();
        *expected
            .entry(micros - micros.rem_euclid(600_000_000))
            .or_default() += 1;
    }
    let buckets: Vec<(i64, u64)> = counts
        .buckets
        .iter()
        .map(|b| (b.start.timestamp_micros(), b.count))
        .collect();
    assert_eq!(buckets, expected.into_iter().collect::<Vec<_>>());
    // Asked for less, a count gives the same figures and nothing else.
    let asked = |hosts, buckets| CountBy { hosts, buckets };
    for (by, hosts, buckets) in [
        (CountBy::TOTAL, vec![], vec![]),
        (asked(true, None), counts.hosts.clone(), vec![]),
        (
            asked(false, Some(ten_minutes)),
            vec![],
            counts.buckets.clone(),
        ),
    ] {
        let partial = store.count_logs(&logs(Some("acme.com")), by).await.unwrap();
        assert_eq!(
            (partial.total, partial.hosts, partial.buckets),
            (counts.total, hosts, buckets),
            "counted by {by:?}"
        );
    }
    let errors = store
        .count_logs(
            &LogQuery {
                level: Some("error".into()),
                ..logs(None)
            },
            all,
        )
        .await
        .unwrap();
    assert_eq!((errors.total, errors.hosts.len()), (1, 1));
    let bad = store
        .count_logs(&logs(Some("tenant AND (unclosed")), CountBy::TOTAL)
        .await;
    assert!(
        matches!(bad, Err(super::StoreError::BadQuery { .. })),
        "{bad:?}"
    );

    // API statistics come back for their window.
    let stats = |count, faults, minutes_ago| Event {
        id: event_id(&[b"stats", &(minutes_ago as u64).to_le_bytes()]),
        timestamp: at(minutes_ago),
        body: EventBody::ApiStats {
            api: "pizzashack/1.0.0".into(),
            tenant: "acme.com".into(),
            window_start: at(minutes_ago + 1),
            window_end: at(minutes_ago),
            count,
            faults,
            min_ms: 5.0,
            max_ms: 80.0,
            avg_ms: 20.0,
            bytes: 1000,
        },
    };
    store
        .write(&batch(
            "gw-1",
            vec![stats(100, 2, 20), stats(50, 1, 10), stats(7, 0, 200)],
        ))
        .await
        .unwrap();
    let rows = sum_api_stats(store.api_stats("acme-prod", at(60), at(-1)).await.unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].count, rows[0].faults, rows[0].bytes),
        (150, 3, 2000)
    );

    environments_are_kept_apart(&*store, &metrics[1]).await;

    // Retention removes only what is older than the cutoff, of that kind.
    let removed = store
        .delete_older_than(DataKind::Logs, at(20) - Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(removed, 10, "logs 30..21 minutes old");
    assert_eq!(
        store.logs(&logs(None)).await.unwrap().lines.len(),
        18,
        "17 of gw-1 and the one of gw-2"
    );
    let removed = store
        .delete_older_than(DataKind::Metrics, at(9) - Duration::seconds(30))
        .await
        .unwrap();
    assert_eq!(removed, 1, "the one sample 10 minutes old");
    assert_eq!(
        store
            .metric_points(&MetricQuery {
                from: at(60),
                host: None,
                ..query_metric()
            })
            .await
            .unwrap()
            .len(),
        3
    );

    if reopen {
        drop(store);
        let store = open().await;
        assert_eq!(
            store.logs(&logs(None)).await.unwrap().lines.len(),
            18,
            "logs survive a restart"
        );
        assert_eq!(
            store
                .metric_points(&MetricQuery {
                    from: at(60),
                    host: None,
                    ..query_metric()
                })
                .await
                .unwrap()
                .len(),
            3
        );
        assert_eq!(store.hosts("acme-prod").await.unwrap().len(), 2);
        let outcome = store
            .write(&batch("gw-1", metrics[1..2].to_vec()))
            .await
            .unwrap();
        assert_eq!(outcome.duplicates, 1, "ids are remembered across a restart");
    }
}

/// Ids are unique within an environment only: the same id from another
/// environment is another event, stored; and an environment whose name
/// begins another's ("acme" and "acme-prod") sees only its own data.
async fn environments_are_kept_apart(store: &dyn Store, sample: &Event) {
    let acme_prod_lines = store.logs(&logs(None)).await.unwrap().lines.len();
    let line = log(1, 5, "ERROR", "the same id, another customer");
    let outcome = store
        .write(&WriteBatch {
            environment: "acme".into(),
            host: "gw-1".into(),
            events: vec![line.clone(), sample.clone()],
        })
        .await
        .unwrap();
    assert_eq!(
        (outcome.accepted, outcome.duplicates),
        (2, 0),
        "ids that acme-prod used are acme's own events"
    );
    let acme = store
        .logs(&LogQuery {
            environment: "acme".into(),
            ..logs(None)
        })
        .await
        .unwrap();
    let messages: Vec<&str> = acme.lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(
        messages,
        ["the same id, another customer"],
        "acme sees only its line"
    );
    assert_eq!(
        store.logs(&logs(None)).await.unwrap().lines.len(),
        acme_prod_lines,
        "acme-prod keeps its lines and sees none of acme's"
    );
    let acme_points = store
        .metric_points(&MetricQuery {
            environment: "acme".into(),
            ..query_metric()
        })
        .await
        .unwrap();
    assert_eq!(
        acme_points.len(),
        1,
        "acme sees only its sample: {acme_points:?}"
    );
    assert_eq!(
        store.metric_names("acme").await.unwrap(),
        ["system.filesystem.used.pct"]
    );
    assert!(
        store
            .api_stats("acme", at(60), at(-1))
            .await
            .unwrap()
            .is_empty(),
        "acme-prod's API statistics are not acme's"
    );
    let again = store
        .write(&WriteBatch {
            environment: "acme".into(),
            host: "gw-1".into(),
            events: vec![line],
        })
        .await
        .unwrap();
    assert_eq!(
        again.duplicates, 1,
        "within acme the id is still a duplicate"
    );
}

fn query_metric() -> MetricQuery {
    MetricQuery {
        environment: "acme-prod".into(),
        host: None,
        name: "system.filesystem.used.pct".into(),
        from: at(60),
        to: at(-1),
    }
}
