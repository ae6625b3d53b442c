//! Events as Elasticsearch documents with ECS field names, in daily indices
//! `<prefix>-<logs|metrics|apistats>-<environment>-YYYY.MM.DD`. The agent's
//! `_bulk` sink writes them and the monitor's Elasticsearch store writes and
//! reads them: one format, so either may fill an index the other reads.
//!
//! Besides ECS (`@timestamp`, `host.name`, `service.environment`, `event.id`,
//! `event.dataset`, `message`, `log.*`, the metric at its ECS path), each
//! document carries `metric.name`/`metric.value` for generic metric queries,
//! `aerie.labels` (the labels as one keyword) and, for logs, `aerie.sort`
//! (newest-first order, stable for ties).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::{Event, EventBody};

/// The index a document of `kind` at `timestamp` goes to.
pub fn index_name(prefix: &str, kind: &str, environment: &str, timestamp: DateTime<Utc>) -> String {
    format!(
        "{prefix}-{kind}-{environment}-{}",
        timestamp.format("%Y.%m.%d")
    )
}

/// The pattern matching every index of `kind` for `environment`.
pub fn index_pattern(prefix: &str, kind: &str, environment: &str) -> String {
    format!("{prefix}-{kind}-{environment}-*")
}

/// Labels as one keyword: `key=value` pairs, sorted, joined by U+001F.
pub fn encode_labels(labels: &std::collections::BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// The inverse of [`encode_labels`].
pub fn decode_labels(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split('\u{1f}')
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// Newest-first order for log events: milliseconds in the high bits, 20 bits
/// of the id's hash below, so events of the same millisecond keep one order.
pub fn log_sort_key(event: &Event) -> u64 {
    let millis = u64::try_from(event.timestamp.timestamp_millis()).unwrap_or(0);
    let tie = xxhash_rust::xxh3::xxh3_64(event.id.as_bytes()) & 0xF_FFFF;
    (millis << 20) | tie
}

/// The index kind and ECS document of an event.
pub fn ecs_document(event: &Event, environment: &str, host: &str) -> (&'static str, Value) {
    let mut document = json!({
        "@timestamp": event.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "host": { "name": host },
        "service": { "environment": environment },
        "event": { "id": event.id },
    });
    let kind = match &event.body {
        EventBody::Log {
            file,
            level,
            logger,
            message,
            parsed,
            origin,
        } => {
            document["event"]["dataset"] = json!("aerie.log");
            document["message"] = json!(message);
            document["log"] = json!({ "file": { "path": file } });
            if let Some(level) = level {
                document["log"]["level"] = json!(level);
            }
            if let Some(logger) = logger {
                document["log"]["logger"] = json!(logger);
            }
            if let Some(origin) = origin {
                document["log"]["offset"] = json!(origin.offset);
            }
            if !parsed {
                document["tags"] = json!(["unparsed"]);
            }
            document["aerie"] = json!({ "sort": log_sort_key(event) });
            "logs"
        }
        EventBody::Metric {
            name,
            value,
            labels,
        } => {
            document["event"]["dataset"] = json!("aerie.metric");
            document["metric"] = json!({ "name": name, "value": value });
            insert_dotted(&mut document, name, json!(value));
            if !labels.is_empty() {
                document["labels"] = json!(labels);
            }
            document["aerie"] = json!({ "labels": encode_labels(labels) });
            "metrics"
        }
        EventBody::ApiStats {
            api,
            tenant,
            window_start,
            window_end,
            count,
            faults,
            min_ms,
            max_ms,
            avg_ms,
            bytes,
        } => {
            document["event"]["dataset"] = json!("aerie.apistats");
            document["aerie"] = json!({ "api": {
                "name": api, "tenant": tenant,
                "window": { "start": window_start, "end": window_end },
                "count": count, "faults": faults, "bytes": bytes,
                "response_time": { "min_ms": min_ms, "max_ms": max_ms, "avg_ms": avg_ms },
            }});
            "apistats"
        }
    };
    (kind, document)
}

/// Appends the ECS document of `event` to `out` as one line of JSON, the
/// same bytes as serializing [`ecs_document`]'s; answers the index kind.
/// Log events (most of what is shipped) are written straight from the
/// event, with no JSON tree built and dropped for each.
pub fn write_ecs_document(
    event: &Event,
    environment: &str,
    host: &str,
    out: &mut Vec<u8>,
) -> &'static str {
    let EventBody::Log {
        file,
        level,
        logger,
        message,
        parsed,
        origin,
    } = &event.body
    else {
        let (kind, document) = ecs_document(event, environment, host);
        serde_json::to_writer(out, &document).expect("a JSON value serializes");
        return kind;
    };
    // Fields in the order a `serde_json::Value` (a sorted map) writes them.
    #[derive(serde::Serialize)]
    struct LogDocument<'a> {
        #[serde(rename = "@timestamp")]
        timestamp: String,
        aerie: Sort,
        event: LogEvent<'a>,
        host: Name<'a>,
        log: Log<'a>,
        message: &'a str,
        service: Service<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        tags: Option<[&'static str; 1]>,
    }
    #[derive(serde::Serialize)]
    struct Sort {
        sort: u64,
    }
    #[derive(serde::Serialize)]
    struct LogEvent<'a> {
        dataset: &'static str,
        id: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Name<'a> {
        name: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Path<'a> {
        path: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Log<'a> {
        file: Path<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        level: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        logger: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    }
    #[derive(serde::Serialize)]
    struct Service<'a> {
        environment: &'a str,
    }
    let document = LogDocument {
        timestamp: event
            .timestamp
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        aerie: Sort {
            sort: log_sort_key(event),
        },
        event: LogEvent {
            dataset: "aerie.log",
            id: &event.id,
        },
        host: Name { name: host },
        log: Log {
            file: Path { path: file },
            level: level.as_deref(),
            logger: logger.as_deref(),
            offset: origin.map(|origin| origin.offset),
        },
        message,
        service: Service { environment },
        tags: (!parsed).then_some(["unparsed"]),
    };
    serde_json::to_writer(out, &document).expect("a log document serializes");
    "logs"
}

/// Sets `system.cpu.total.pct` as nested objects, as ECS names are stored.
fn insert_dotted(document: &mut Value, name: &str, value: Value) {
    let mut node = document;
    let mut parts = name.split('.').peekable();
    while let Some(part) = parts.next() {
        let Value::Object(object) = node else { return };
        if parts.peek().is_none() {
            object.insert(part.to_owned(), value);
            return;
        }
        node = object
            .entry(part.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_stored_under_their_ecs_path_and_generically() {
        let event = Event {
            id: "x".into(),
            timestamp: "2026-11-21T10:00:00Z".parse().unwrap(),
            body: EventBody::Metric {
                name: "system.cpu.total.pct".into(),
                value: 0.5,
                labels: [("core".to_owned(), "1".to_owned())].into(),
            },
        };
        let (kind, document) = ecs_document(&event, "acme-prod", "gw-1");
        assert_eq!(kind, "metrics");
        assert_eq!(document["system"]["cpu"]["total"]["pct"], 0.5);
        assert_eq!(document["metric"]["value"], 0.5);
        assert_eq!(document["host"]["name"], "gw-1");
        assert_eq!(document["@timestamp"], "2026-11-21T10:00:00.000Z");
        assert_eq!(
            decode_labels(document["aerie"]["labels"].as_str().unwrap())["core"],
            "1"
        );
        assert_eq!(
            index_name("aerie", kind, "acme-prod", event.timestamp),
            "aerie-metrics-acme-prod-2026.11.21"
        );
    }

    #[test]
    fn written_documents_are_the_bytes_of_the_json_tree_for_every_kind() {
        let at = "2026-11-21T10:00:00.123Z".parse().unwrap();
        let log = |level: Option<&str>, logger: Option<&str>, parsed: bool| Event {
            id: "id-\"quoted\"".into(),
            timestamp: at,
            body: EventBody::Log {
                file: "/opt/wso2/repository/logs/wso2carbon.log".into(),
                level: level.map(str::to_owned),
                logger: logger.map(str::to_owned),
                message: "line with \u{1f} and \"quotes\" and ünïcode\n\tat frame".into(),
                parsed,
                origin: parsed.then_some(crate::Origin {
                    fingerprint: 7,
                    offset: 1 << 33,
                }),
            },
        };
        let events = [
            log(Some("ERROR"), Some("Gateway"), true),
            log(None, None, false),
            log(Some("INFO"), None, true),
            Event {
                id: "m".into(),
                timestamp: at,
                body: EventBody::Metric {
                    name: "system.cpu.total.pct".into(),
                    value: 0.25,
                    labels: [("core".to_owned(), "1".to_owned())].into(),
                },
            },
        ];
        for event in &events {
            let (kind, tree) = ecs_document(event, "acme-prod", "gw-1");
            let mut written = Vec::new();
            assert_eq!(
                write_ecs_document(event, "acme-prod", "gw-1", &mut written),
                kind
            );
            assert_eq!(
                String::from_utf8(written).unwrap(),
                serde_json::to_string(&tree).unwrap()
            );
        }
    }

    #[test]
    fn log_sort_keys_order_by_time_first() {
        let log = |id: &str, at: &str| Event {
            id: id.into(),
            timestamp: at.parse().unwrap(),
            body: EventBody::Log {
                file: "f".into(),
                level: None,
                logger: None,
                message: "m".into(),
                parsed: false,
                origin: None,
            },
        };
        assert!(
            log_sort_key(&log("zzz", "2026-11-21T10:00:00.001Z"))
                > log_sort_key(&log("aaa", "2026-11-21T10:00:00.000Z"))
        );
        assert_ne!(
            log_sort_key(&log("a", "2026-11-21T10:00:00Z")),
            log_sort_key(&log("b", "2026-11-21T10:00:00Z"))
        );
    }
}
