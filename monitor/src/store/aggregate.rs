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

impl std::str::FromStr for Aggregation {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "avg" => Ok(Self::Avg),
            "min" => Ok(Self::Min),
            "max" => Ok(Self::Max),
            "p95" => Ok(Self::P95),
            other => Err(format!("agg {other:?} is not one of avg, min, max, p95")),
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

/// Samples grouped by series, then by step start (unix milliseconds).
pub type Buckets = BTreeMap<SeriesKey, BTreeMap<i64, Vec<f64>>>;

/// The start of the step of `step_ms` (aligned to the epoch) holding `millis`.
pub fn step_start(millis: i64, step_ms: i64) -> i64 {
    millis.div_euclid(step_ms.max(1)) * step_ms.max(1)
}

/// Groups `points` by host and labels, then into steps of `step_ms` aligned
/// to the epoch, each summarised by `aggregation`. Steps without samples are
/// left out.
pub fn bucket_series(points: Vec<Point>, step_ms: i64, aggregation: Aggregation) -> Vec<Series> {
    let mut groups = Buckets::new();
    for point in points {
        groups
            .entry((point.host, point.labels))
            .or_default()
            .entry(step_start(point.timestamp.timestamp_millis(), step_ms))
            .or_default()
            .push(point.value);
    }
    summarise_buckets(groups, aggregation)
}

/// One series per group, each step summarised by `aggregation`.
pub fn summarise_buckets(groups: Buckets, aggregation: Aggregation) -> Vec<Series> {
    groups
        .into_iter()
        .map(|((host, labels), buckets)| Series {
            host,
            labels,
            points: buckets
                .into_iter()
                .map(|(bucket, mut values)| (bucket, summarise(&mut values, aggregation)))
                .collect(),
        })
        .collect()
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
                .contains("avg, min, max, p95")
        );
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
