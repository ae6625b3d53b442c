use std::time::Duration;

use super::config::default_time_format;
use super::*;

fn config(threshold: u64) -> AccessLogConfig {
    AccessLogConfig {
        name: "access".into(),
        paths: vec!["/var/log/gw/access.log".into()],
        pattern: DEFAULT_PATTERN.into(),
        time_format: default_time_format(),
        threshold,
        interval: Duration::from_secs(60),
    }
}

fn feed(stats: &mut ApiStats, lines: &[&str]) {
    let path = std::path::Path::new("/var/log/gw/access.log");
    for (index, text) in lines.iter().enumerate() {
        stats.line(Line {
            fingerprint: 1,
            offset: index as u64 * 100,
            end: index as u64 * 100 + 99,
            path,
            bytes: text.as_bytes(),
            truncated: false,
        });
    }
}

const ACME_OK: &str = r#"10.0.0.5 - - [21/Nov/2026:10:00:00 +0000] "GET /t/acme.com/pizzashack/1.0.0/menu HTTP/1.1" 200 1532 "-" "curl/8.5.0" 20"#;
const ACME_FAULT: &str = r#"10.0.0.5 - - [21/Nov/2026:10:00:05 +0000] "GET /t/acme.com/pizzashack/1.0.0/menu HTTP/1.1" 502 0 "-" "curl/8.5.0" 40"#;
const SUPER_OK: &str = r#"10.0.0.9 - - [21/Nov/2026:10:00:07 +0000] "POST /orders/2.0/submit?x=1 HTTP/1.1" 201 88 "-" "curl/8.5.0" 12.5"#;

#[test]
fn the_default_pattern_reads_api_tenant_status_and_time() {
    let regex = regex::Regex::new(DEFAULT_PATTERN).unwrap();
    let line = parse_line(&regex, &default_time_format(), ACME_OK).unwrap();
    assert_eq!(line.api, "pizzashack/1.0.0");
    assert_eq!(line.tenant, "acme.com");
    assert_eq!(line.status, 200);
    assert_eq!(line.bytes, 1532);
    assert_eq!(line.time.to_rfc3339(), "2026-11-21T10:00:00+00:00");
    let line = parse_line(&regex, &default_time_format(), SUPER_OK).unwrap();
    assert_eq!(
        (line.api.as_str(), line.tenant.as_str()),
        ("orders/2.0", "carbon.super")
    );
    assert_eq!(line.duration_ms, 12.5);
}

#[test]
fn a_record_is_cut_when_the_threshold_is_reached() {
    let mut stats = ApiStats::new(
        "gw-1",
        &config(2),
        StatsState::default(),
        Counters::default(),
    );
    feed(&mut stats, &[ACME_OK, SUPER_OK]);
    assert!(stats.state.pending.is_empty());
    feed(&mut stats, &[ACME_FAULT]);
    assert_eq!(stats.state.pending.len(), 1);
    let EventBody::ApiStats {
        api,
        tenant,
        count,
        faults,
        min_ms,
        max_ms,
        avg_ms,
        bytes,
        ..
    } = &stats.state.pending[0].body
    else {
        panic!("not api stats");
    };
    assert_eq!(
        (api.as_str(), tenant.as_str()),
        ("pizzashack/1.0.0", "acme.com")
    );
    assert_eq!((*count, *faults, *bytes), (2, 1, 1532));
    assert_eq!((*min_ms, *max_ms, *avg_ms), (20.0, 40.0, 30.0));
    assert_eq!(
        stats.state.totals.len(),
        1,
        "the other API's window stays open"
    );
}

#[test]
fn a_threshold_of_zero_publishes_only_on_the_interval() {
    let mut stats = ApiStats::new(
        "gw-1",
        &config(0),
        StatsState::default(),
        Counters::default(),
    );
    feed(&mut stats, &[ACME_OK; 50]);
    assert!(stats.state.pending.is_empty());
    stats.cut_expired(Utc::now() + chrono::Duration::seconds(59));
    assert!(stats.state.pending.is_empty());
    stats.cut_expired(Utc::now() + chrono::Duration::seconds(61));
    assert_eq!(stats.state.pending.len(), 1);
}

#[test]
fn record_ids_continue_from_the_saved_sequence() {
    let mut first = ApiStats::new(
        "gw-1",
        &config(1),
        StatsState::default(),
        Counters::default(),
    );
    feed(&mut first, &[ACME_OK]);
    let saved = serde_json::to_value(&first.state).unwrap();
    let mut again = ApiStats::new(
        "gw-1",
        &config(1),
        serde_json::from_value(saved).unwrap(),
        Counters::default(),
    );
    again.state.pending.clear();
    feed(&mut again, &[ACME_OK]);
    assert_ne!(first.state.pending[0].id, again.state.pending[0].id);
    assert_eq!(again.state.sequence, 2);
}
