//! Log search over a range: the page size rule (1 to 1,000 lines, 100 when
//! not given) for every face that searches, and the step of a hit
//! histogram when none is given.

use std::ops::RangeInclusive;

use crate::query::TimeRange;

/// The page sizes a search may ask for.
pub const LIMITS: RangeInclusive<usize> = 1..=1000;

/// The page size when none is given.
pub const DEFAULT_LIMIT: usize = 100;

/// A page size outside [`LIMITS`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("limit: must be from 1 to 1000")]
pub struct BadLimit;

/// The page size `given`, or the default.
pub fn limit(given: Option<usize>) -> Result<usize, BadLimit> {
    let limit = given.unwrap_or(DEFAULT_LIMIT);
    LIMITS.contains(&limit).then_some(limit).ok_or(BadLimit)
}

/// Bars a hit histogram shows when its step is not given.
const HISTOGRAM_BARS: i64 = 60;

/// The step that shows `range` in about sixty bars: a whole number of
/// seconds, minutes, hours or days, never under a second.
pub fn histogram_step_ms(range: &TimeRange) -> i64 {
    let wanted = (range.to - range.from).num_milliseconds() / HISTOGRAM_BARS;
    const STEPS: [i64; 14] = [
        1_000,
        5_000,
        10_000,
        30_000,
        60_000,
        300_000,
        600_000,
        1_800_000,
        3_600_000,
        10_800_000,
        21_600_000,
        43_200_000,
        86_400_000,
        604_800_000,
    ];
    STEPS
        .into_iter()
        .find(|step| *step >= wanted)
        .unwrap_or(wanted.max(1_000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_one_to_a_thousand_lines_and_a_hundred_by_default() {
        assert_eq!(limit(None), Ok(100));
        assert_eq!(limit(Some(1000)), Ok(1000));
        assert_eq!(limit(Some(0)), Err(BadLimit));
        assert_eq!(limit(Some(1001)), Err(BadLimit));
    }

    #[test]
    fn a_histogram_step_is_a_round_length_giving_about_sixty_bars() {
        let over = |hours: i64| {
            let to = chrono::Utc::now();
            histogram_step_ms(&TimeRange {
                from: to - chrono::Duration::hours(hours),
                to,
            })
        };
        assert_eq!(over(1), 60_000, "an hour: a minute each");
        assert_eq!(over(24), 1_800_000, "a day: half an hour each");
        assert_eq!(over(24 * 7), 10_800_000, "a week: three hours each");
        assert_eq!(over(24 * 365 * 2), 24 * 365 * 2 * 3_600_000 / 60);
    }
}
