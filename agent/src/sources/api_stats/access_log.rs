//! The gateway access log line.
//!
//! The default format is Apache's combined log with the response time in
//! milliseconds appended, as the gateway writes it:
//!
//! ```text
//! 10.0.0.5 - - [21/Nov/2026:10:00:00 +0000] "GET /t/acme.com/pizzashack/1.0.0/menu HTTP/1.1" 200 1532 "-" "curl/8.5.0" 23
//! ```
//!
//! The tenant is the `/t/<tenant>/` path prefix (`carbon.super` without one);
//! the API is the next two path segments, its context and version
//! (`pizzashack/1.0.0`).

use chrono::{DateTime, Utc};

pub const DEFAULT_PATTERN: &str = r#"^\S+ \S+ \S+ \[(?P<time>[^\]]+)\] "\S+ (?P<path>\S+)[^"]*" (?P<status>\d{3}) (?P<bytes>\d+|-) "[^"]*" "[^"]*" (?P<duration_ms>\d+(?:\.\d+)?)"#;

/// The super tenant: requests without a `/t/<tenant>/` prefix.
pub(crate) const SUPER_TENANT: &str = "carbon.super";

#[derive(Debug, PartialEq)]
pub struct AccessLine {
    pub time: DateTime<Utc>,
    pub api: String,
    pub tenant: String,
    pub status: u16,
    pub duration_ms: f64,
    pub bytes: u64,
}

pub fn parse_line(regex: &regex::Regex, time_format: &str, line: &str) -> Option<AccessLine> {
    let captures = regex.captures(line)?;
    let time = DateTime::parse_from_str(captures.name("time")?.as_str(), time_format)
        .ok()?
        .to_utc();
    let (api, tenant) = match (captures.name("api"), captures.name("tenant")) {
        (Some(api), Some(tenant)) => (api.as_str().to_owned(), tenant.as_str().to_owned()),
        _ => api_of_path(captures.name("path")?.as_str())?,
    };
    Some(AccessLine {
        time,
        api,
        tenant,
        status: captures.name("status")?.as_str().parse().ok()?,
        duration_ms: captures.name("duration_ms")?.as_str().parse().ok()?,
        bytes: captures
            .name("bytes")
            .and_then(|b| b.as_str().parse().ok())
            .unwrap_or(0),
    })
}

/// `(api, tenant)` of a request path.
fn api_of_path(path: &str) -> Option<(String, String)> {
    let path = path.split(['?', '#']).next()?;
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let mut first = segments.next()?;
    let mut tenant = SUPER_TENANT.to_owned();
    if first == "t" {
        tenant = segments.next()?.to_owned();
        first = segments.next()?;
    }
    let api = match segments.next() {
        Some(version) => format!("{first}/{version}"),
        None => first.to_owned(),
    };
    Some((api, tenant))
}
