//! Metric series over a range: how a step is given and checked (at least
//! one second, at most 20,000 steps in the range), and the series of one
//! metric, one aggregate per step. The API asks for a metric by name and is
//! told when there is none; the dashboard's charts ask with a step of their
//! own (a fixed number of points) and show what there is.

use crate::query::TimeRange;
use crate::store::{Aggregation, MetricQuery, Series, Store, StoreError};
use crate::timespec::{TimeSpecError, parse_duration};

/// The most steps one range may hold.
pub const MAX_STEPS: i64 = 20_000;

/// Why a metric query was refused.
#[derive(Debug, thiserror::Error)]
pub enum MetricError {
    #[error("step: {0}")]
    Step(TimeSpecError),
    #[error("step: must be at least 1s")]
    StepTooShort,
    #[error("the range holds more than 20,000 steps: widen the step")]
    TooManySteps,
    #[error("no metric {name:?} in environment {environment:?}")]
    Unknown { name: String, environment: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The step `text` (`60s`) in milliseconds, checked against `range`.
pub fn step_ms(text: &str, range: &TimeRange) -> Result<i64, MetricError> {
    let step = parse_duration(text).map_err(MetricError::Step)?;
    let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
    if step_ms < 1000 {
        return Err(MetricError::StepTooShort);
    }
    if (range.to - range.from).num_milliseconds() / step_ms > MAX_STEPS {
        return Err(MetricError::TooManySteps);
    }
    Ok(step_ms)
}

/// The step that shows `range` in about `points` points, never under ten
/// seconds (a chart's).
pub fn chart_step_ms(range: &TimeRange, points: i64) -> i64 {
    ((range.to - range.from).num_milliseconds() / points).max(10_000)
}

/// The series of `query`'s metric, refused when the environment has no
/// metric of that name.
pub async fn named_series(
    store: &dyn Store,
    query: &MetricQuery,
    step_ms: i64,
    aggregation: Aggregation,
) -> Result<Vec<Series>, MetricError> {
    let names = store.metric_names(&query.environment).await?;
    if !names.contains(&query.name) {
        return Err(MetricError::Unknown {
            name: query.name.clone(),
            environment: query.environment.clone(),
        });
    }
    Ok(store.metric_series(query, step_ms, aggregation).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(n: i64) -> TimeRange {
        let to: chrono::DateTime<chrono::Utc> = "2030-01-01T12:00:00Z".parse().unwrap();
        TimeRange {
            from: to - chrono::Duration::hours(n),
            to,
        }
    }

    #[test]
    fn a_step_under_a_second_or_one_making_over_20000_steps_is_refused() {
        assert_eq!(step_ms("60s", &hours(1)).unwrap(), 60_000);
        assert!(matches!(
            step_ms("500ms", &hours(1)),
            Err(MetricError::StepTooShort)
        ));
        assert!(matches!(
            step_ms("1s", &hours(24)),
            Err(MetricError::TooManySteps)
        ));
        assert!(matches!(
            step_ms("soon", &hours(1)),
            Err(MetricError::Step(_))
        ));
    }

    #[test]
    fn a_chart_step_gives_about_the_points_asked_for_but_never_under_ten_seconds() {
        assert_eq!(chart_step_ms(&hours(24), 240), 360_000);
        assert_eq!(chart_step_ms(&hours(0), 240), 10_000);
    }
}
