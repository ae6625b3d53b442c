//! Backoff with full jitter between delivery attempts: 0.5 s doubling up to
//! 30 s, each wait drawn uniformly below the cap so many agents coming back
//! at once do not arrive together.

use std::time::Duration;

const FIRST: Duration = Duration::from_millis(500);
const CAP: Duration = Duration::from_secs(30);

/// The wait before attempt `attempt` (1 for the first retry).
pub fn backoff(attempt: u32) -> Duration {
    let ceiling = FIRST
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(16)))
        .min(CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(fastrand::u64(millis / 2..=millis))
}

/// Whether a failed attempt is worth a log line: the first, then every tenth,
/// so an outage of hours does not flood the host's logs.
pub fn worth_logging(attempt: u32) -> bool {
    attempt == 1 || attempt.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_and_stay_under_the_cap() {
        for _ in 0..100 {
            assert!(backoff(1) <= Duration::from_millis(500));
            assert!(backoff(1) >= Duration::from_millis(250));
            assert!(backoff(4) <= Duration::from_secs(4));
            assert!(backoff(40) <= CAP);
            assert!(backoff(40) >= CAP / 2);
        }
    }
}
