//! Entry points for fuzzing what the agent reads from outside itself: a
//! JVM's hsperfdata file, a product log line, an access log line and its
//! own config file. Each takes any bytes and returns; an error is a fine
//! answer, a panic is a bug. `fuzz/fuzz_targets/` runs them under
//! libFuzzer (`scripts/fuzz`); the test below replays the committed seeds.
//!
//! Nothing here writes a file, opens a socket or keeps state between calls.

use std::path::Path;
use std::sync::LazyLock;

use aerie_common::toml_file::TomlFile as _;

use crate::sources::api_stats::{DEFAULT_PATTERN, parse_line};
use crate::sources::file::{Zone, product_line};
use crate::sources::jvm::PerfData;

/// `hsperfdata`: a JVM's performance data file, and every value read from it.
pub fn hsperfdata(data: &[u8]) {
    if let Ok(perf) = PerfData::parse(data) {
        let _ = (perf.heap_used(), perf.heap_committed(), perf.heap_max());
        let _ = (perf.gc_count(), perf.gc_time_ms(), perf.main_class());
    }
}

/// `product_log_line`: one event of a product log, in UTC and local time.
pub fn product_log_line(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = product_line(
            text,
            Zone::Fixed(chrono::FixedOffset::east_opt(0).expect("0")),
        );
        let _ = product_line(text, Zone::Local);
    }
}

/// `access_log_line`: one line of a gateway's access log, default layout.
pub fn access_log_line(data: &[u8]) {
    static REGEX: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(DEFAULT_PATTERN).expect("the default compiles"));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse_line(&REGEX, "%d/%b/%Y:%H:%M:%S %z", text);
    }
}

/// `agent_config`: the agent's TOML config, validated.
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::Config::parse(Path::new("/etc/aerie/agent.toml"), text);
    }
}

#[cfg(test)]
mod tests {
    use aerie_testkit::replay_corpus;

    #[test]
    fn every_seed_of_the_agents_fuzz_targets_is_read_without_a_panic() {
        replay_corpus("hsperfdata", super::hsperfdata);
        replay_corpus("product_log_line", super::product_log_line);
        replay_corpus("access_log_line", super::access_log_line);
        replay_corpus("agent_config", super::config);
    }
}
