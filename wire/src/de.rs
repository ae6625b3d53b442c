//! `Deserialize` for [`Event`], by hand: one pass over the object's keys into
//! typed slots, then the body its `kind` names. Unknown keys are ignored, as
//! the derived form did, so a newer agent's extra fields do not break an
//! older monitor.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use std::borrow::Cow;

use crate::{Event, EventBody, EventRef, LogRef, Origin};

#[derive(Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Metric,
    Log,
    ApiStats,
}

#[derive(Deserialize)]
#[serde(field_identifier)]
enum Key {
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "@timestamp")]
    Timestamp,
    #[serde(rename = "kind")]
    Kind,
    #[serde(rename = "name")]
    Name,
    #[serde(rename = "value")]
    Value,
    #[serde(rename = "labels")]
    Labels,
    #[serde(rename = "file")]
    File,
    #[serde(rename = "level")]
    Level,
    #[serde(rename = "logger")]
    Logger,
    #[serde(rename = "message")]
    Message,
    #[serde(rename = "parsed")]
    Parsed,
    #[serde(rename = "origin")]
    Origin,
    #[serde(rename = "api")]
    Api,
    #[serde(rename = "tenant")]
    Tenant,
    #[serde(rename = "window_start")]
    WindowStart,
    #[serde(rename = "window_end")]
    WindowEnd,
    #[serde(rename = "count")]
    Count,
    #[serde(rename = "faults")]
    Faults,
    #[serde(rename = "min_ms")]
    MinMs,
    #[serde(rename = "max_ms")]
    MaxMs,
    #[serde(rename = "avg_ms")]
    AvgMs,
    #[serde(rename = "bytes")]
    Bytes,
    #[serde(other)]
    Other,
}

/// Every field any kind has; each kind takes its own.
#[derive(Default)]
struct Slots<'de> {
    id: Option<Text<'de>>,
    timestamp: Option<Timestamp>,
    kind: Option<Kind>,
    name: Option<Text<'de>>,
    value: Option<f64>,
    labels: Option<BTreeMap<String, String>>,
    file: Option<Text<'de>>,
    level: Option<Option<Text<'de>>>,
    logger: Option<Option<Text<'de>>>,
    message: Option<Text<'de>>,
    parsed: Option<bool>,
    origin: Option<Option<Origin>>,
    api: Option<Text<'de>>,
    tenant: Option<Text<'de>>,
    window_start: Option<DateTime<Utc>>,
    window_end: Option<DateTime<Utc>>,
    count: Option<u64>,
    faults: Option<u64>,
    min_ms: Option<f64>,
    max_ms: Option<f64>,
    avg_ms: Option<f64>,
    bytes: Option<u64>,
}

/// A string, borrowed from the input when it holds no escapes.
struct Text<'a>(Cow<'a, str>);

impl Text<'_> {
    fn owned(self) -> String {
        self.0.into_owned()
    }
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// An RFC 3339 time: the agent's form (`2026-11-21T10:00:00.123Z`, UTC,
/// 0 to 9 fraction digits) read directly, any other offset by chrono.
struct Timestamp(DateTime<Utc>);

fn utc_fast(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |value, &c| {
            c.is_ascii_digit().then(|| value * 10 + u32::from(c - b'0'))
        })
    };
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let mut nanos = 0;
    let mut at = 19;
    if b[at] == b'.' {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            at += 1;
        }
        if at == start || at - start > 9 {
            return None;
        }
        nanos = digits(start..at)? * 10u32.pow(9 - (at - start) as u32);
    }
    if &b[at..] != b"Z" {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    let time = chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?;
    Some(date.and_time(time).and_utc())
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimeVisitor;
        impl Visitor<'_> for TimeVisitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an RFC 3339 date and time")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
                match utc_fast(text) {
                    Some(at) => Ok(Timestamp(at)),
                    None => DateTime::parse_from_rfc3339(text)
                        .map(|at| Timestamp(at.with_timezone(&Utc)))
                        .map_err(E::custom),
                }
            }
        }
        deserializer.deserialize_str(TimeVisitor)
    }
}

fn required<T, E: de::Error>(slot: Option<T>, name: &'static str) -> Result<T, E> {
    slot.ok_or_else(|| E::missing_field(name))
}

fn fill<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    slot: &mut Option<T>,
    name: &'static str,
) -> Result<(), A::Error> {
    if slot.is_some() {
        return Err(de::Error::duplicate_field(name));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = EventRef<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object with id, @timestamp and kind")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventRef<'de>, A::Error> {
        let mut s = Slots::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => fill(&mut map, &mut s.id, "id")?,
                Key::Timestamp => fill(&mut map, &mut s.timestamp, "@timestamp")?,
                Key::Kind => fill(&mut map, &mut s.kind, "kind")?,
                Key::Name => fill(&mut map, &mut s.name, "name")?,
                Key::Value => fill(&mut map, &mut s.value, "value")?,
                Key::Labels => fill(&mut map, &mut s.labels, "labels")?,
                Key::File => fill(&mut map, &mut s.file, "file")?,
                Key::Level => fill(&mut map, &mut s.level, "level")?,
                Key::Logger => fill(&mut map, &mut s.logger, "logger")?,
                Key::Message => fill(&mut map, &mut s.message, "message")?,
                Key::Parsed => fill(&mut map, &mut s.parsed, "parsed")?,
                Key::Origin => fill(&mut map, &mut s.origin, "origin")?,
                Key::Api => fill(&mut map, &mut s.api, "api")?,
                Key::Tenant => fill(&mut map, &mut s.tenant, "tenant")?,
                Key::WindowStart => fill(&mut map, &mut s.window_start, "window_start")?,
                Key::WindowEnd => fill(&mut map, &mut s.window_end, "window_end")?,
                Key::Count => fill(&mut map, &mut s.count, "count")?,
                Key::Faults => fill(&mut map, &mut s.faults, "faults")?,
                Key::MinMs => fill(&mut map, &mut s.min_ms, "min_ms")?,
                Key::MaxMs => fill(&mut map, &mut s.max_ms, "max_ms")?,
                Key::AvgMs => fill(&mut map, &mut s.avg_ms, "avg_ms")?,
                Key::Bytes => fill(&mut map, &mut s.bytes, "bytes")?,
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let kind = required(s.kind, "kind")?;
        if let Kind::Log = kind {
            return Ok(EventRef::Log(LogRef {
                file: required(s.file, "file")?.0,
                level: s.level.flatten().map(|t| t.0),
                logger: s.logger.flatten().map(|t| t.0),
                message: required(s.message, "message")?.0,
                parsed: required(s.parsed, "parsed")?,
                origin: s.origin.flatten(),
                id: required(s.id, "id")?.0,
                timestamp: required(s.timestamp, "@timestamp")?.0,
            }));
        }
        let body = match kind {
            Kind::Metric => EventBody::Metric {
                name: required(s.name, "name")?.owned(),
                value: required(s.value, "value")?,
                labels: s.labels.unwrap_or_default(),
            },
            Kind::Log => unreachable!("read above"),
            Kind::ApiStats => EventBody::ApiStats {
                api: required(s.api, "api")?.owned(),
                tenant: required(s.tenant, "tenant")?.owned(),
                window_start: required(s.window_start, "window_start")?,
                window_end: required(s.window_end, "window_end")?,
                count: required(s.count, "count")?,
                faults: required(s.faults, "faults")?,
                min_ms: required(s.min_ms, "min_ms")?,
                max_ms: required(s.max_ms, "max_ms")?,
                avg_ms: required(s.avg_ms, "avg_ms")?,
                bytes: required(s.bytes, "bytes")?,
            },
        };
        Ok(EventRef::Other(Event {
            id: required(s.id, "id")?.owned(),
            timestamp: required(s.timestamp, "@timestamp")?.0,
            body,
        }))
    }
}

impl<'de> Deserialize<'de> for EventRef<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(EventVisitor)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        EventRef::deserialize(deserializer).map(EventRef::into_owned)
    }
}

#[cfg(test)]
mod tests {
    use crate::Event;

    fn parse(json: &str) -> serde_json::Result<Event> {
        serde_json::from_str(json)
    }

    #[test]
    fn a_log_event_reads_with_unknown_keys_ignored() {
        let event = parse(
            r#"{"id":"a","@timestamp":"2026-11-21T10:00:00.123Z","kind":"log","file":"/f","level":"INFO","message":"m","parsed":true,"extra":[1,{"x":2}]}"#,
        )
        .unwrap();
        assert_eq!(event.id, "a");
        assert_eq!(event.timestamp.timestamp_millis() % 1000, 123);
        match event.body {
            crate::EventBody::Log {
                file,
                level,
                logger,
                message,
                parsed,
                ..
            } => {
                assert_eq!(
                    (file.as_str(), level.as_deref(), logger, message.as_str()),
                    ("/f", Some("INFO"), None, "m")
                );
                assert!(parsed);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn times_read_in_the_agents_form_and_in_any_rfc_3339_form() {
        let at = |text: &str| {
            parse(&format!(
                r#"{{"id":"a","@timestamp":"{text}","kind":"metric","name":"x","value":1}}"#
            ))
            .map(|event| {
                event
                    .timestamp
                    .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            })
        };
        assert_eq!(
            at("2026-11-21T10:00:00Z").unwrap(),
            "2026-11-21T10:00:00.000000000Z"
        );
        assert_eq!(
            at("2026-11-21T10:00:00.5Z").unwrap(),
            "2026-11-21T10:00:00.500000000Z"
        );
        assert_eq!(
            at("2026-11-21T10:00:00.123456789Z").unwrap(),
            "2026-11-21T10:00:00.123456789Z"
        );
        assert_eq!(
            at("2026-11-21T12:00:00+02:00").unwrap(),
            "2026-11-21T10:00:00.000000000Z"
        );
        assert!(at("2026-02-30T10:00:00Z").is_err(), "no such day");
        assert!(at("2026-11-21T10:00:00.Z").is_err());
        assert!(at("2026-11-21 10:00").is_err());
    }

    #[test]
    fn what_is_missing_or_wrong_is_named() {
        let missing = parse(
            r#"{"id":"a","@timestamp":"2026-11-21T10:00:00Z","kind":"log","file":"/f","parsed":true}"#,
        );
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("missing field `message`")
        );
        let kind = parse(r#"{"id":"a","@timestamp":"2026-11-21T10:00:00Z","kind":"trace"}"#);
        assert!(
            kind.unwrap_err()
                .to_string()
                .contains("unknown variant `trace`")
        );
        let twice = parse(
            r#"{"id":"a","id":"b","@timestamp":"2026-11-21T10:00:00Z","kind":"metric","name":"x","value":1}"#,
        );
        assert!(
            twice
                .unwrap_err()
                .to_string()
                .contains("duplicate field `id`")
        );
        let value = parse(
            r#"{"id":"a","@timestamp":"2026-11-21T10:00:00Z","kind":"metric","name":"x","value":"high"}"#,
        );
        assert!(value.is_err());
        let null_level = parse(
            r#"{"id":"a","@timestamp":"2026-11-21T10:00:00Z","kind":"log","file":"/f","level":null,"message":"m","parsed":false}"#,
        );
        assert!(null_level.is_ok());
        let origin = parse(
            r#"{"id":"a","@timestamp":"2026-11-21T10:00:00Z","kind":"log","file":"/f","message":"m","parsed":false,"origin":{"fingerprint":1,"offset":-2}}"#,
        );
        assert!(origin.unwrap_err().to_string().contains("-2"));
    }

    #[test]
    fn a_log_lines_origin_reads_back_when_sent_and_is_none_when_not() {
        let line = |origin: &str| {
            let event = parse(&format!(
                r#"{{"id":"a","@timestamp":"2026-11-21T10:00:00Z","kind":"log","file":"/f","message":"m","parsed":false{origin}}}"#
            ))
            .unwrap();
            match event.body {
                crate::EventBody::Log { origin, .. } => origin,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            line(r#","origin":{"fingerprint":18446744073709551615,"offset":12}"#),
            Some(crate::Origin {
                fingerprint: u64::MAX,
                offset: 12
            })
        );
        assert_eq!(line(""), None);
    }
}
