//! Bucketing metric samples into steps, and summing API statistics: the same
//! for every store.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ApiStatsRecord, Point};

/// How the samples of one step become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Avg,
    Min,
    Max,
    P95,
}

/// An aggregation that is not one of avg, min, max, p95.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("agg {0:?} is not one of avg, min, max, p95")]
pub struct UnknownAggregation(pub String);

impl std::str::FromStr for Aggregation {
    type Err = UnknownAggregation;
    fn from_str(text: &str) -> Result<Self, UnknownAggregation> {
        match text {
            "avg" => Ok(Self::Avg),
            "min" => Ok(Self::Min),
            "max" => Ok(Self::Max),
            "p95" => Ok(Self::P95),
            other => Err(UnknownAggregation(other.to_owned())),
        }
    }
}

/// The points of one host and label set: `[unix milliseconds, value]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    pub host: String,
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(i64, f64)>,
}

/// A series' identity: its host and labels.
type SeriesKey = (String, BTreeMap<String, String>);

/// The start of the step of `step_ms` (aligned to the epoch) holding `millis`.
pub fn step_start(millis: i64, step_ms: i64) -> i64 {
    millis.div_euclid(step_ms.max(1)) * step_ms.max(1)
}

/// Groups `points` by host and labels, then into steps of `step_ms` aligned
/// to the epoch, each summarised by `aggregation`. Steps without samples are
/// left out.
pub fn bucket_series(points: Vec<Point>, step_ms: i64, aggregation: Aggregation) -> Vec<Series> {
    let mut groups: BTreeMap<SeriesKey, Vec<(i64, f64)>> = BTreeMap::new();
    for point in points {
        groups
            .entry((point.host, point.labels))
            .or_default()
            .push((point.timestamp.timestamp_millis(), point.value));
    }
    groups
        .into_iter()
        .map(|((host, labels), mut points)| {
            points.sort_by_key(|point| point.0);
            Series {
                host,
                labels,
                points: summarise_sorted(&points, step_ms, aggregation),
            }
        })
        .collect()
}

/// The samples of one series, sorted by time, in steps of `step_ms` aligned
/// to the epoch, each summarised by `aggregation`. Steps without samples are
/// left out.
pub fn summarise_sorted(
    points: &[(i64, f64)],
    step_ms: i64,
    aggregation: Aggregation,
) -> Vec<(i64, f64)> {
    let step_ms = step_ms.max(1);
    let mut steps = Vec::new();
    let mut values = Vec::new();
    let mut rest = points;
    while let Some(first) = rest.first() {
        let start = step_start(first.0, step_ms);
        // A step holds few samples: a scan beats a binary search over the
        // whole rest, which misses the cache at every probe.
        let end = rest
            .iter()
            .position(|point| point.0 - start >= step_ms)
            .unwrap_or(rest.len());
        values.clear();
        values.extend(rest[..end].iter().map(|point| point.1));
        steps.push((start, summarise(&mut values, aggregation)));
        rest = &rest[end..];
    }
    steps
}

/// One value of one series (a host and label set) over a whole window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeriesValue {
    pub host: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Groups `points` by host and labels, each group summarised by
/// `aggregation` into one value, whatever the span of its samples.
pub fn summarise_window(points: Vec<Point>, aggregation: Aggregation) -> Vec<SeriesValue> {
    let mut groups: BTreeMap<SeriesKey, Vec<f64>> = BTreeMap::new();
    for point in points {
        groups
            .entry((point.host, point.labels))
            .or_default()
            .push(point.value);
    }
    groups
        .into_iter()
        .map(|((host, labels), mut values)| SeriesValue {
            host,
            labels,
            value: summarise(&mut values, aggregation),
        })
        .collect()
}

/// Steps of `step_ms` over a range, summarised as samples arrive in any
/// order, without keeping them: for avg, min and max (p95 needs every value).
#[derive(Debug, Clone)]
pub struct StepSummary {
    first: i64,
    step_ms: i64,
    sums: Vec<f64>,
    counts: Vec<u32>,
    mins: Vec<f64>,
    maxs: Vec<f64>,
}

impl StepSummary {
    /// Steps covering `from..=to`; `None` when there would be more than
    /// `max_steps` of them.
    pub fn new(from: i64, to: i64, step_ms: i64, max_steps: usize) -> Option<Self> {
        let step_ms = step_ms.max(1);
        let first = step_start(from, step_ms);
        let steps =
            (i128::from(step_start(to, step_ms)) - i128::from(first)) / i128::from(step_ms) + 1;
        let steps = usize::try_from(steps).ok().filter(|&n| n <= max_steps)?;
        Some(Self {
            first,
            step_ms,
            sums: vec![0.0; steps],
            counts: vec![0; steps],
            mins: vec![f64::INFINITY; steps],
            maxs: vec![f64::NEG_INFINITY; steps],
        })
    }

    /// Counts a sample in its step (samples outside the range are ignored).
    pub fn add(&mut self, millis: i64, value: f64) {
        let Ok(step) = usize::try_from((millis - self.first).div_euclid(self.step_ms)) else {
            return;
        };
        if step < self.counts.len() {
            self.sums[step] += value;
            self.counts[step] += 1;
            self.mins[step] = self.mins[step].min(value);
            self.maxs[step] = self.maxs[step].max(value);
        }
    }

    /// `[step start, value]` of each step with samples.
    pub fn finish(&self, aggregation: Aggregation) -> Vec<(i64, f64)> {
        (0..self.counts.len())
            .filter(|&step| self.counts[step] > 0)
            .map(|step| {
                let value = match aggregation {
                    Aggregation::Min => self.mins[step],
                    Aggregation::Max => self.maxs[step],
                    Aggregation::Avg | Aggregation::P95 => {
                        self.sums[step] / f64::from(self.counts[step])
                    }
                };
                (self.first + step as i64 * self.step_ms, value)
            })
            .collect()
    }
}

fn summarise(values: &mut [f64], aggregation: Aggregation) -> f64 {
    match aggregation {
        Aggregation::Avg => values.iter().sum::<f64>() / values.len() as f64,
        Aggregation::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregation::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregation::P95 => {
            values.sort_by(f64::total_cmp);
            // Nearest rank.
            let rank = ((0.95 * values.len() as f64).ceil() as usize).clamp(1, values.len());
            values[rank - 1]
        }
    }
}

/// Per API and tenant over a range: counts, faults, response times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiStatsRow {
    pub api: String,
    pub tenant: String,
    pub count: u64,
    pub faults: u64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub avg_ms: f64,
    pub bytes: u64,
}

/// Sums records per API and tenant (the average weighted by request count).
pub fn sum_api_stats(records: Vec<ApiStatsRecord>) -> Vec<ApiStatsRow> {
    let mut rows: BTreeMap<(String, String), ApiStatsRow> = BTreeMap::new();
    for record in records {
        let row = rows
            .entry((record.api.clone(), record.tenant.clone()))
            .or_insert_with(|| ApiStatsRow {
                api: record.api.clone(),
                tenant: record.tenant.clone(),
                count: 0,
                faults: 0,
                min_ms: f64::INFINITY,
                max_ms: 0.0,
                avg_ms: 0.0,
                bytes: 0,
            });
        let total = row.count + record.count;
        if total > 0 {
            row.avg_ms = (row.avg_ms * row.count as f64 + record.avg_ms * record.count as f64)
                / total as f64;
        }
        row.count = total;
        row.faults += record.faults;
        row.min_ms = row.min_ms.min(record.min_ms);
        row.max_ms = row.max_ms.max(record.max_ms);
        row.bytes += record.bytes;
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

    use super::*;

    fn point(host: &str, mount: &str, second: i64, value: f64) -> Point {
        Point {
            host: host.into(),
            labels: [("mount".to_owned(), mount.to_owned())].into(),
            timestamp: DateTime::from_timestamp(second, 0).unwrap(),
            value,
        }
    }

    #[test]
    fn points_group_by_host_and_labels_then_by_step() {
        let points = vec![
            point("gw-1", "/", 0, 1.0),
            point("gw-1", "/", 30, 3.0),
            point("gw-1", "/", 61, 10.0),
            point("gw-1", "/data", 5, 7.0),
            point("gw-2", "/", 5, 5.0),
        ];
        let series = bucket_series(points, 60_000, Aggregation::Avg);
        assert_eq!(series.len(), 3);
        assert_eq!(series[0].host, "gw-1");
        assert_eq!(series[0].labels["mount"], "/");
        assert_eq!(series[0].points, [(0, 2.0), (60_000, 10.0)]);
        assert_eq!(series[1].points, [(0, 7.0)]);
        assert_eq!(series[2].host, "gw-2");
    }

    #[test]
    fn aggregations_summarise_a_step() {
        let values: Vec<Point> = (1..=100)
            .map(|v| point("h", "/", 0, f64::from(v)))
            .collect();
        let one = |aggregation| bucket_series(values.clone(), 60_000, aggregation)[0].points[0].1;
        assert_eq!(one(Aggregation::Avg), 50.5);
        assert_eq!(one(Aggregation::Min), 1.0);
        assert_eq!(one(Aggregation::Max), 100.0);
        assert_eq!(one(Aggregation::P95), 95.0);
        assert!(
            "median"
                .parse::<Aggregation>()
                .unwrap_err()
                .to_string()
                .contains("avg, min, max, p95")
        );
    }

    #[test]
    fn a_step_summary_agrees_with_summarising_sorted_samples() {
        // Samples out of order, some steps empty, one outside the range.
        let samples = [
            (125_000, 4.0),
            (5_000, 1.0),
            (59_999, 3.0),
            (61_000, -2.0),
            (400_000, 9.0),
        ];
        let mut sorted = samples[..4].to_vec();
        sorted.sort_by_key(|sample| sample.0);
        for aggregation in [Aggregation::Avg, Aggregation::Min, Aggregation::Max] {
            let mut summary = StepSummary::new(1_000, 200_000, 60_000, 100).unwrap();
            for (millis, value) in samples {
                summary.add(millis, value);
            }
            assert_eq!(
                summary.finish(aggregation),
                summarise_sorted(&sorted, 60_000, aggregation),
                "{aggregation:?}"
            );
        }
        assert!(StepSummary::new(0, 3_600_000, 1_000, 100).is_none());
    }

    #[test]
    fn api_stats_sum_with_a_weighted_average() {
        let record = |count, avg_ms, min_ms, max_ms| ApiStatsRecord {
            host: "gw-1".into(),
            api: "pizzashack/1.0.0".into(),
            tenant: "acme.com".into(),
            window_end: DateTime::from_timestamp(0, 0).unwrap(),
            count,
            faults: 1,
            min_ms,
            max_ms,
            avg_ms,
            bytes: 10,
        };
        let rows = sum_api_stats(vec![
            record(100, 10.0, 2.0, 50.0),
            record(300, 30.0, 1.0, 90.0),
        ]);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].count, rows[0].faults, rows[0].bytes), (400, 2, 20));
        assert_eq!(
            (rows[0].min_ms, rows[0].max_ms, rows[0].avg_ms),
            (1.0, 90.0, 25.0)
        );
    }
}
