//! The product log formats, both with the timestamp in the host's local
//! time (or the configured UTC offset):
//!
//! - seed 000's: `[2016-08-25 11:30:14,950]  INFO - WKABasedMembershipScheme
//!   Member joined [...]`, i.e. `[timestamp] LEVEL - Logger message`, with an
//!   optional `{context} - ` before the logger;
//! - WSO2 Carbon's default (`[%d] %5p {%c} - %m`): `[2024-03-01
//!   10:00:00,123]  INFO {org.wso2.carbon.core.Foo} - message`, i.e.
//!   `[timestamp] LEVEL {logger} - message`.
//!
//! Either may carry bracketed contexts between the timestamp and the level
//! (`[-1234] [carbon.super]`, a tenant, a thread), which are skipped.

//!
//! Parsed by hand rather than with a regular expression: this runs for every
//! log event, and the equivalent regex was two thirds of the agent's CPU
//! (tests keep the regex as the oracle the parser must agree with).

use chrono::{DateTime, FixedOffset, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// A parsed product log event.
#[derive(Debug, PartialEq)]
pub struct Parsed<'a> {
    pub timestamp: DateTime<Utc>,
    pub level: &'a str,
    pub logger: &'a str,
    pub message: &'a str,
}

/// The time zone product timestamps are written in.
#[derive(Debug, Clone, Copy)]
pub enum Zone {
    Local,
    Fixed(FixedOffset),
}

impl Zone {
    /// `"local"` or an offset such as `"+00:00"` or `"-05:30"`.
    pub fn parse(text: &str) -> Option<Self> {
        if text == "local" {
            return Some(Self::Local);
        }
        let probe = format!("2000-01-01T00:00:00{text}");
        DateTime::parse_from_rfc3339(&probe)
            .ok()
            .map(|time| Self::Fixed(*time.offset()))
    }

    fn to_utc(self, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self {
            Self::Local => Local
                .from_local_datetime(&naive)
                .earliest()
                .map(|t| t.to_utc()),
            Self::Fixed(offset) => offset
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.to_utc()),
        }
    }
}

/// Parses one event (a line, with any continuation lines after a newline):
/// `[YYYY-MM-DD HH:MM:SS,mmm]`, white space, the level (capital letters),
/// white space, `-`, white space, optionally `{context}` then white space,
/// `-`, white space, then the logger (no white space), one white-space
/// character, and the message (the rest, continuation lines included).
pub fn product_line(text: &str, zone: Zone) -> Option<Parsed<'_>> {
    let bytes = text.as_bytes();
    if bytes.len() < 25 || bytes[0] != b'[' || bytes[24] != b']' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let separators = [
        (5, b'-'),
        (8, b'-'),
        (11, b' '),
        (14, b':'),
        (17, b':'),
        (20, b','),
    ];
    if separators.iter().any(|(at, byte)| bytes[*at] != *byte) {
        return None;
    }
    let year = i32::try_from(number(1..5)?).ok()?;
    let naive = NaiveDate::from_ymd_opt(year, number(6..8)?, number(9..11)?)?.and_hms_milli_opt(
        number(12..14)?,
        number(15..17)?,
        number(18..20)?,
        number(21..24)?,
    )?;
    let mut rest = skip_space(&text[25..], 1)?;
    // Bracketed contexts (a tenant, a thread) before the level.
    while let Some(context) = rest.strip_prefix('[') {
        let end = context.find(']')?;
        rest = skip_space(&context[end + 1..], 1)?;
    }
    let level_len = rest.bytes().take_while(u8::is_ascii_uppercase).count();
    if level_len == 0 {
        return None;
    }
    let (level, rest) = rest.split_at(level_len);
    let timestamp = zone.to_utc(naive)?;
    if let Some(braced) = skip_space(rest, 1)?.strip_prefix('{') {
        // Carbon's `LEVEL {logger} - message`.
        let end = braced.find('}').filter(|end| *end > 0)?;
        let after = skip_space(&braced[end + 1..], 1)?.strip_prefix('-')?;
        return Some(Parsed {
            timestamp,
            level,
            logger: &braced[..end],
            message: after.strip_prefix(char::is_whitespace).unwrap_or(after),
        });
    }
    let mut rest = dash(rest)?;
    if let Some(context) = rest.strip_prefix('{') {
        // `{org.apache...} - Logger message`; without the closing `} -`
        // the braces belong to the logger.
        // Nor when no logger follows it: then `{...}` is the logger.
        if let Some(after) = context
            .find('}')
            .and_then(|end| dash(&context[end + 1..]))
            .filter(|after| !after.is_empty())
        {
            rest = after;
        }
    }
    let logger_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if logger_len == 0 {
        return None;
    }
    let (logger, rest) = rest.split_at(logger_len);
    let message = rest
        .strip_prefix(|c: char| c.is_whitespace())
        .unwrap_or(rest);
    Some(Parsed {
        timestamp,
        level,
        logger,
        message,
    })
}

/// One event of another product's layout, read by `regex` (named groups
/// `time` and `message`, optionally `level` and `logger`), `time` written
/// as `time_format`; `None` when it does not match or its time does not read.
pub fn pattern_line<'a>(
    text: &'a str,
    regex: &regex::Regex,
    time_format: &str,
    zone: Zone,
) -> Option<Parsed<'a>> {
    let captures = regex.captures(text)?;
    let group = |name: &str| captures.name(name).map_or("", |m| m.as_str());
    let naive = NaiveDateTime::parse_from_str(group("time"), time_format).ok()?;
    Some(Parsed {
        timestamp: zone.to_utc(naive)?,
        level: captures.name("level").map_or("", |m| m.as_str()),
        logger: captures.name("logger").map_or("", |m| m.as_str()),
        message: captures.name("message").map_or("", |m| m.as_str()),
    })
}

/// `text` after at least `min` white-space characters.
fn skip_space(text: &str, min: usize) -> Option<&str> {
    let trimmed = text.trim_start();
    (text.len() - trimmed.len() >= min).then_some(trimmed)
}

/// `text` after white space, `-`, white space.
fn dash(text: &str) -> Option<&str> {
    skip_space(skip_space(text, 1)?.strip_prefix('-')?, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc() -> Zone {
        Zone::parse("+00:00").unwrap()
    }

    #[test]
    fn parses_the_seed_line() {
        let parsed = product_line(
            "[2016-08-25 11:30:14,950]  INFO - WKABasedMembershipScheme Member joined [10.0.1.12:4000]",
            utc(),
        )
        .unwrap();
        assert_eq!(
            parsed.timestamp.to_rfc3339(),
            "2016-08-25T11:30:14.950+00:00"
        );
        assert_eq!(parsed.level, "INFO");
        assert_eq!(parsed.logger, "WKABasedMembershipScheme");
        assert_eq!(parsed.message, "Member joined [10.0.1.12:4000]");
    }

    #[test]
    fn keeps_a_stack_trace_in_the_message() {
        let text = "[2016-08-25 11:30:15,001] ERROR - ThrottleHandler Failed\njava.lang.OutOfMemoryError: Java heap space\n\tat a.B.c(B.java:1)";
        let parsed = product_line(text, utc()).unwrap();
        assert_eq!(parsed.level, "ERROR");
        assert!(
            parsed.message.ends_with("at a.B.c(B.java:1)"),
            "{}",
            parsed.message
        );
    }

    #[test]
    fn applies_the_configured_offset() {
        let zone = Zone::parse("+05:30").unwrap();
        let parsed = product_line("[2016-08-25 11:30:14,950] WARN - X y", zone).unwrap();
        assert_eq!(
            parsed.timestamp.to_rfc3339(),
            "2016-08-25T06:00:14.950+00:00"
        );
    }

    #[test]
    fn a_context_before_the_logger_is_skipped() {
        let parsed = product_line(
            "[2016-08-25 11:30:14,950] ERROR - {org.wso2.Foo} - Foo went wrong",
            utc(),
        )
        .unwrap();
        assert_eq!((parsed.logger, parsed.message), ("Foo", "went wrong"));
    }

    /// The regular expression the hand-written parser replaced: the oracle.
    fn oracle(text: &str) -> Option<(String, String, String, String)> {
        static PATTERN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"(?s)^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3})\](?:\s+\[[^\]]*\])*\s+([A-Z]+)\s+(?:-\s+(?:\{([^}]*)\}\s+-\s+)?(\S+)\s?(.*)|\{([^}]+)\}\s+-\s?(.*))$").unwrap()
        });
        let captures = PATTERN.captures(text)?;
        let naive = NaiveDateTime::parse_from_str(&captures[1], "%Y-%m-%d %H:%M:%S,%3f").ok()?;
        let (logger, message) = match (captures.get(4), captures.get(6)) {
            (Some(logger), _) => (logger.as_str(), &captures[5]),
            (None, Some(logger)) => (logger.as_str(), &captures[7]),
            (None, None) => return None,
        };
        Some((
            naive.to_string(),
            captures[2].to_owned(),
            logger.to_owned(),
            message.to_owned(),
        ))
    }

    proptest::proptest! {
        #[test]
        fn the_parser_agrees_with_the_regex(
            date in "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9],[0-9]{3}",
            gap in "[ \t]{0,3}",
            level in "[A-Z]{0,5}|[a-z]{1,3}",
            context in "(\\{[a-z.]{0,8}\\}[ ]{0,2}-[ ]{0,2})?",
            logger in "[A-Za-z{}.-]{0,8}",
            message in "[ -~\n\t]{0,30}",
        ) {
            let text = format!("[{date}]{gap}{level} - {context}{logger} {message}");
            let ours = product_line(&text, utc()).map(|p| {
                (p.timestamp.naive_utc().to_string(), p.level.to_owned(), p.logger.to_owned(), p.message.to_owned())
            });
            proptest::prop_assert_eq!(ours, oracle(&text), "{:?}", text);
        }

        #[test]
        fn the_parser_agrees_with_the_regex_on_carbon_lines(
            date in "20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8]) ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9],[0-9]{3}",
            contexts in "( \\[[a-z0-9.-]{0,8}\\]){0,2}",
            gap in "[ \t]{0,3}",
            level in "[A-Z]{0,5}|[a-z]{1,3}",
            logger in "\\{[A-Za-z.]{0,12}\\}?",
            dash in "[ ]{0,2}-[ -]{0,2}",
            message in "[ -~\n\t]{0,30}",
        ) {
            let text = format!("[{date}]{contexts}{gap}{level} {logger}{dash}{message}");
            let ours = product_line(&text, utc()).map(|p| {
                (p.timestamp.naive_utc().to_string(), p.level.to_owned(), p.logger.to_owned(), p.message.to_owned())
            });
            proptest::prop_assert_eq!(ours, oracle(&text), "{:?}", text);
        }
    }

    #[test]
    fn parses_carbons_default_layout_with_and_without_contexts() {
        for text in [
            "[2024-03-01 10:00:00,123]  INFO {org.wso2.carbon.core.Foo} - Server started",
            "[2024-03-01 10:00:00,123] [-1234] [carbon.super]  INFO {org.wso2.carbon.core.Foo} - Server started",
            "[2024-03-01 10:00:00,123] [acme.com] [http-nio-9443-exec-1]  INFO {org.wso2.carbon.core.Foo} - Server started",
        ] {
            let parsed = product_line(text, utc()).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(
                parsed.timestamp.to_rfc3339(),
                "2024-03-01T10:00:00.123+00:00"
            );
            assert_eq!(
                (parsed.level, parsed.logger, parsed.message),
                ("INFO", "org.wso2.carbon.core.Foo", "Server started")
            );
        }
        let trace = "[2024-03-01 10:00:01,000] ERROR {org.wso2.Handler} - Failed\njava.lang.OutOfMemoryError: Java heap space";
        let parsed = product_line(trace, utc()).unwrap();
        assert_eq!((parsed.level, parsed.logger), ("ERROR", "org.wso2.Handler"));
        assert!(parsed.message.ends_with("Java heap space"));
    }

    #[test]
    fn a_context_with_nothing_after_it_is_the_logger() {
        // Found by the property test: the regex takes `{}` as the logger.
        let text = "[2000-01-01 00:00:00,000] A - {} - ";
        let parsed = product_line(text, utc()).unwrap();
        assert_eq!((parsed.logger, parsed.message), ("{}", "- "));
        assert_eq!(
            oracle(text).map(|o| (o.2, o.3)),
            Some(("{}".to_owned(), "- ".to_owned()))
        );
    }

    #[test]
    fn a_configured_pattern_reads_another_products_layout() {
        let regex = regex::Regex::new(
            r"(?s)^(?P<time>\S+ \S+) \[(?P<logger>[^\]]+)\] (?P<level>[A-Z]+): (?P<message>.*)",
        )
        .unwrap();
        let text = "2024-03-01 10:00:00.250 [main] WARN: disk almost full\n\tat x";
        let parsed = pattern_line(text, &regex, "%Y-%m-%d %H:%M:%S%.3f", utc()).unwrap();
        assert_eq!(
            parsed.timestamp.to_rfc3339(),
            "2024-03-01T10:00:00.250+00:00"
        );
        assert_eq!(
            (parsed.level, parsed.logger, parsed.message),
            ("WARN", "main", "disk almost full\n\tat x")
        );
        assert!(pattern_line("no time here", &regex, "%Y", utc()).is_none());
        assert!(
            pattern_line(
                "2024-13-01 10:00:00.250 [m] X: y",
                &regex,
                "%Y-%m-%d %H:%M:%S%.3f",
                utc()
            )
            .is_none()
        );
    }

    #[test]
    fn other_lines_do_not_parse() {
        assert_eq!(product_line("plain text", utc()), None);
        assert_eq!(product_line("[not a date] INFO - X y", utc()), None);
        assert!(Zone::parse("Mars/Olympus").is_none());
    }
}
