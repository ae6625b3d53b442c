//! Entry points for fuzzing what the monitor reads from outside itself: an
//! ingest request's body (aerie-wire JSON, gzipped, zstd or neither), an
//! Elasticsearch `_bulk` body, and its own config file. Each takes any
//! bytes and returns; a refusal is a fine answer, a panic is a bug.
//! `fuzz/fuzz_targets/` runs them under libFuzzer (`scripts/fuzz`); the
//! test below replays the committed seeds.
//!
//! They call the same pure functions the handlers call (`parse_batch`,
//! `parse_bulk`), with a fixed time; nothing here touches a store, writes a
//! file or opens a socket.

use std::path::Path;

use aerie_common::toml_file::TomlFile as _;
use chrono::{DateTime, Utc};

use crate::api::{bulk, ingest};
use crate::config::Retention;

/// The time the entries judge events against: noon on 2026-12-01, just
/// after the seeds' events (fixed: a fuzzer's run must not depend on the
/// clock).
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_796_126_400, 0).expect("a valid time")
}

/// `ingest_body`: a batch as `POST /api/v1/ingest` reads it; a body
/// starting with gzip's or zstd's magic bytes is decompressed first, as
/// with its `Content-Encoding`.
pub fn ingest_body(data: &[u8]) {
    if let Ok(json) = ingest::read_body(data, ingest::Encoding::sniff(data), 1 << 20) {
        let _ = ingest::parse_batch(&json, "acme-prod", now(), &Retention::default());
    }
}

/// `bulk_body`: a `_bulk` request's NDJSON body.
pub fn bulk_body(data: &[u8]) {
    let _ = bulk::parse_bulk(data, "acme-prod", now(), &Retention::default());
}

/// `monitor_config`: the monitor's TOML config, validated.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::Config::parse(Path::new("/etc/aerie/monitor.toml"), text);
    }
}

#[cfg(test)]
mod tests {
    use aerie_testkit::replay_corpus;

    #[test]
    fn every_seed_of_the_monitors_fuzz_targets_is_read_without_a_panic() {
        replay_corpus("ingest_body", super::ingest_body);
        replay_corpus("bulk_body", super::bulk_body);
        replay_corpus("monitor_config", super::config);
    }

    /// A corpus of inputs refused at the first check would keep the fuzzer
    /// at the door: the main seeds read whole.
    #[test]
    fn the_main_seeds_are_read_whole() {
        let seed = |name: &str| {
            std::fs::read(
                aerie_testkit::workspace_root()
                    .join("fuzz/corpus")
                    .join(name),
            )
            .unwrap()
        };
        let retention = super::Retention::default();
        for name in ["ingest_body/batch", "ingest_body/batch.gz"] {
            let data = seed(name);
            let json =
                super::ingest::read_body(&data, super::ingest::Encoding::sniff(&data), 1 << 20)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
            let batch = super::ingest::parse_batch(&json, "acme-prod", super::now(), &retention)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                (batch.events.len(), batch.rejected.len()),
                (3, 0),
                "{name}: {:?}",
                batch.rejected
            );
        }
        let (items, by_host) = super::bulk::parse_bulk(
            &seed("bulk_body/rsyslog-and-filebeat"),
            "acme-prod",
            super::now(),
            &retention,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(items.len(), 4);
        assert_eq!(by_host.values().map(Vec::len).sum::<usize>(), 2);
        let text = String::from_utf8(seed("monitor_config/example")).unwrap();
        <crate::config::Config as aerie_common::toml_file::TomlFile>::parse(
            &aerie_testkit::workspace_root().join("examples/monitor.toml"),
            &text,
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
}
