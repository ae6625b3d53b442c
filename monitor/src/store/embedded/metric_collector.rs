//! Metric series bucketed where the data is: a tantivy collector that reads
//! the fast columns of each matching sample and groups it by the column
//! ordinals of its host and labels, resolving those to text once per
//! segment instead of once per sample.

use std::collections::HashMap;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use super::schema::decode_labels;
use crate::store::{Buckets, step_start};

pub(super) struct MetricBuckets {
    pub(super) step_ms: i64,
}

pub(super) struct SegmentBuckets {
    step_ms: i64,
    values: Column<f64>,
    times: Column<tantivy::DateTime>,
    hosts: StrColumn,
    labels: StrColumn,
    groups: HashMap<(u64, u64), HashMap<i64, Vec<f64>>>,
}

impl Collector for MetricBuckets {
    type Fruit = Buckets;
    type Child = SegmentBuckets;

    fn for_segment(
        &self,
        _: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentBuckets> {
        let fast = reader.fast_fields();
        let missing = |name: &str| tantivy::TantivyError::SchemaError(format!("no {name} column"));
        Ok(SegmentBuckets {
            step_ms: self.step_ms,
            values: fast.f64("value")?,
            times: fast.date("ts")?,
            hosts: fast.str("host")?.ok_or_else(|| missing("host"))?,
            labels: fast.str("labels")?.ok_or_else(|| missing("labels"))?,
            groups: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Buckets>) -> tantivy::Result<Buckets> {
        let mut merged = Buckets::new();
        for fruit in fruits {
            for (key, buckets) in fruit {
                let into = merged.entry(key).or_default();
                for (bucket, values) in buckets {
                    into.entry(bucket).or_default().extend(values);
                }
            }
        }
        Ok(merged)
    }
}

impl SegmentCollector for SegmentBuckets {
    type Fruit = Buckets;

    fn collect(&mut self, doc: DocId, _: Score) {
        let (Some(value), Some(at)) = (self.values.first(doc), self.times.first(doc)) else {
            return;
        };
        let host = self.hosts.ords().first(doc).unwrap_or(u64::MAX);
        let labels = self.labels.ords().first(doc).unwrap_or(u64::MAX);
        let millis = at.into_timestamp_micros().div_euclid(1000);
        self.groups
            .entry((host, labels))
            .or_default()
            .entry(step_start(millis, self.step_ms))
            .or_default()
            .push(value);
    }

    fn harvest(self) -> Buckets {
        let text = |column: &StrColumn, ord: u64| {
            let mut text = String::new();
            if ord != u64::MAX {
                let _ = column.ord_to_str(ord, &mut text);
            }
            text
        };
        let mut buckets = Buckets::new();
        for ((host, labels), steps) in self.groups {
            let key = (
                text(&self.hosts, host),
                decode_labels(&text(&self.labels, labels)),
            );
            buckets.entry(key).or_default().extend(steps);
        }
        buckets
    }
}
