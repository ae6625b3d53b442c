//! Log search over a range: the page size rule (1 to 1,000 lines, 100 when
//! not given) for every face that searches.

use std::ops::RangeInclusive;

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
}
