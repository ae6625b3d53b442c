//! A log event's JSON record written straight from borrowed text: the bytes
//! `serde_json` writes for the same [`Event`](crate::Event), without the
//! owned event built and dropped for each line.
//!
//! The agent writes one record per log line it ships, and serde_json's
//! string escaping (a byte at a time) was a third of its instructions: here
//! a string is scanned eight bytes at a time for what JSON must escape. The
//! output must never differ from serde_json's by a byte (the property test
//! holds it to that, serde_json being the oracle), so a record's id, which
//! the monitor de-duplicates on, and its text are the same whichever writer
//! made them.

use chrono::{DateTime, Datelike, Timelike, Utc};

use crate::LogRef;

impl LogRef<'_> {
    /// Appends this log event to `out` as the JSON record serde writes for
    /// the same [`Event`](crate::Event).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"id\":");
        write_str(out, &self.id);
        out.extend_from_slice(b",\"@timestamp\":");
        write_timestamp(out, &self.timestamp);
        out.extend_from_slice(b",\"kind\":\"log\",\"file\":");
        write_str(out, &self.file);
        if let Some(level) = &self.level {
            out.extend_from_slice(b",\"level\":");
            write_str(out, level);
        }
        if let Some(logger) = &self.logger {
            out.extend_from_slice(b",\"logger\":");
            write_str(out, logger);
        }
        out.extend_from_slice(b",\"message\":");
        write_str(out, &self.message);
        out.extend_from_slice(if self.parsed {
            b",\"parsed\":true"
        } else {
            b",\"parsed\":false"
        });
        if let Some(origin) = &self.origin {
            let mut number = itoa::Buffer::new();
            out.extend_from_slice(b",\"origin\":{\"fingerprint\":");
            out.extend_from_slice(number.format(origin.fingerprint).as_bytes());
            out.extend_from_slice(b",\"offset\":");
            out.extend_from_slice(number.format(origin.offset).as_bytes());
            out.push(b'}');
        }
        out.push(b'}');
    }
}

/// Appends `text` as a JSON string, quotes included, escaped as serde_json
/// escapes it: `"` and `\` with a backslash, the control characters below
/// 0x20 as `\b \t \n \f \r` or `\u00XX`, everything else as it is.
pub(crate) fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // `copied`: where the bytes not yet appended start.
    let (mut copied, mut at) = (0, 0);
    while let Some(word) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
        let found = needs_escape(word);
        if found == 0 {
            at += 8;
            continue;
        }
        // The lowest flagged byte is always a real one (see needs_escape).
        let index = at + (found.trailing_zeros() / 8) as usize;
        out.extend_from_slice(&bytes[copied..index]);
        escape(out, bytes[index]);
        at = index + 1;
        copied = at;
    }
    for (index, &byte) in bytes.iter().enumerate().skip(at) {
        if byte < 0x20 || byte == b'"' || byte == b'\\' {
            out.extend_from_slice(&bytes[copied..index]);
            escape(out, byte);
            copied = index + 1;
        }
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` (little-endian) that may need an
/// escape. A borrow can flag a byte above one that truly needs it, never
/// one below, so the lowest flag is exact.
fn needs_escape(word: u64) -> u64 {
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    control
        | zero_byte(word ^ (ONES * u64::from(b'"')))
        | zero_byte(word ^ (ONES * u64::from(b'\\')))
}

/// Lower-case hex digits, as serde_json writes `\u00XX` and ids are written.
pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";

fn escape(out: &mut Vec<u8>, byte: u8) {
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x09 => b't',
        0x0a => b'n',
        0x0c => b'f',
        0x0d => b'r',
        _ => {
            let hex = [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]];
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&hex);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// Appends `time` as chrono's serde writes it: RFC 3339 in UTC with `Z`,
/// and 0, 3, 6 or 9 digits of fraction, as few as it needs.
pub(crate) fn write_timestamp(out: &mut Vec<u8>, time: &DateTime<Utc>) {
    // Read once: each accessor of a `DateTime` works out its local time again.
    let time = time.naive_utc();
    let nanos = time.nanosecond();
    let year = u32::try_from(time.year()).ok().filter(|year| *year <= 9999);
    let Some(year) = year.filter(|_| nanos < 1_000_000_000) else {
        // A year before 0 or of five digits, or a leap second: chrono's own form.
        return chrono_form(out, &time.and_utc());
    };
    out.push(b'"');
    digits(out, year, 4);
    out.push(b'-');
    digits(out, time.month(), 2);
    out.push(b'-');
    digits(out, time.day(), 2);
    out.push(b'T');
    digits(out, time.hour(), 2);
    out.push(b':');
    digits(out, time.minute(), 2);
    out.push(b':');
    digits(out, time.second(), 2);
    if nanos != 0 {
        out.push(b'.');
        if nanos.is_multiple_of(1_000_000) {
            digits(out, nanos / 1_000_000, 3);
        } else if nanos.is_multiple_of(1_000) {
            digits(out, nanos / 1_000, 6);
        } else {
            digits(out, nanos, 9);
        }
    }
    out.extend_from_slice(b"Z\"");
}

fn chrono_form(out: &mut Vec<u8>, time: &DateTime<Utc>) {
    serde_json::to_writer(out, time).expect("a time serializes");
}

/// Appends `value`'s last `width` decimal digits, zero-padded.
fn digits(out: &mut Vec<u8>, mut value: u32, width: usize) {
    let mut text = [b'0'; 9];
    for place in text[..width].iter_mut().rev() {
        *place = b'0' + (value % 10) as u8;
        value /= 10;
    }
    out.extend_from_slice(&text[..width]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Event, EventRef};
    use proptest::prelude::*;
    use std::borrow::Cow;

    fn text(value: &str) -> Cow<'_, str> {
        Cow::Borrowed(value)
    }

    fn serde_record(log: &LogRef<'_>) -> Vec<u8> {
        serde_json::to_vec(&EventRef::Log(log.clone()).into_owned()).unwrap()
    }

    fn written(log: &LogRef<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        log.write_json(&mut out);
        out
    }

    fn log<'a>(message: &'a str, timestamp: DateTime<Utc>) -> LogRef<'a> {
        LogRef {
            id: text("0123456789abcdef0123456789abcdef"),
            timestamp,
            file: text("/var/log/wso2/carbon.log"),
            level: Some(text("ERROR")),
            logger: Some(text("ThrottleHandler")),
            message: text(message),
            parsed: true,
            origin: Some(crate::Origin {
                fingerprint: u64::MAX,
                offset: 1 << 40,
            }),
        }
    }

    /// Text with every kind of byte JSON treats apart, at every offset
    /// within an eight-byte word.
    fn awkward_text() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\n\tat ".to_owned()),
            Just("é€𝄞".to_owned()),
            Just("\u{7f}".to_owned()),
            (0u8..0x20).prop_map(|byte| char::from(byte).to_string()),
            "[ -~]{0,11}",
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
    }

    fn any_time() -> impl Strategy<Value = DateTime<Utc>> {
        (
            -62_000_000_000i64..300_000_000_000,
            prop_oneof![
                Just(0u32),
                (0u32..1000).prop_map(|ms| ms * 1_000_000),
                (0u32..1_000_000).prop_map(|us| us * 1_000),
                0u32..1_000_000_000,
                1_000_000_000u32..2_000_000_000,
            ],
        )
            .prop_filter_map("a time chrono can hold", |(secs, nanos)| {
                DateTime::from_timestamp(secs, nanos)
            })
    }

    proptest! {
        #[test]
        fn a_record_is_the_bytes_serde_writes_for_the_same_event(
            message in awkward_text(),
            file in awkward_text(),
            level in proptest::option::of(awkward_text()),
            logger in proptest::option::of(awkward_text()),
            parsed in any::<bool>(),
            timestamp in any_time(),
            origin in proptest::option::of((any::<u64>(), any::<u64>())),
        ) {
            let log = LogRef {
                id: text("5f0e1d2c3b4a59687766554433221100"),
                timestamp,
                file: text(&file),
                level: level.as_deref().map(text),
                logger: logger.as_deref().map(text),
                message: text(&message),
                parsed,
                origin: origin.map(|(fingerprint, offset)| crate::Origin { fingerprint, offset }),
            };
            prop_assert_eq!(String::from_utf8(written(&log)).unwrap(), String::from_utf8(serde_record(&log)).unwrap());
        }
    }

    #[test]
    fn a_stack_trace_reads_back_as_the_event_it_was() {
        let trace =
            "Failed\njava.lang.IllegalStateException: \"lost\"\n\tat a.B.c(B.java:1)\r\n\u{1}";
        let time = "2026-11-21T10:00:00.950Z".parse().unwrap();
        let log = log(trace, time);
        let record = written(&log);
        let event: Event = serde_json::from_slice(&record).unwrap();
        assert_eq!(event, EventRef::Log(log).into_owned());
        assert!(
            String::from_utf8(record)
                .unwrap()
                .contains(r#""@timestamp":"2026-11-21T10:00:00.950Z""#)
        );
    }
}
