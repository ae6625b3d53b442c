//! The entry point for fuzzing the log query syntax (`level:ERROR AND
//! (timeout OR "connection reset") NOT debug`), which users type on the
//! dashboard and the API passes on. It takes any bytes and returns; a query
//! that does not parse is a fine answer, a panic is a bug. `fuzz/` runs it
//! under libFuzzer (`scripts/fuzz`); the test below replays the seeds.
//!
//! Nothing here writes a file or keeps state between calls.

use crate::embedded::logs::query::{line_matches, parse};

/// `log_query`: the query parsed, and when it parses, matched against a
/// product line.
pub fn log_query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = parse(text) {
        let _ = line_matches(
            &expr,
            "Connection reset by peer: timeout after 30000 ms",
            Some("org.apache.synapse.transport.passthru.TargetHandler"),
            Some("ERROR"),
            "gw-1",
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_seed_of_the_log_query_fuzz_target_is_read_without_a_panic() {
        aerie_testkit::replay_corpus("log_query", super::log_query);
    }
}
