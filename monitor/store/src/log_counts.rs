//! A count of the log lines a query finds: what is asked ([`CountBy`]),
//! what comes back ([`LogCounts`]) and the tally every store adds its lines
//! to ([`LogCounter`]), so that both stores break a count down alike.
//!
//! A counter must never keep or hand back what was not asked for: a count
//! in all reads no host's newest line, a count per host builds no bucket.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// What a count of lines is broken down by, besides the total: the alert
/// engine's log rules ask per host, the dashboard's histogram per bucket,
/// and a question asked only in all costs the store least.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountBy {
    /// Per host, each with its newest line's message.
    pub hosts: bool,
    /// Per bucket of this length of time.
    pub buckets: Option<Duration>,
}

impl CountBy {
    /// The total alone.
    pub const TOTAL: Self = Self {
        hosts: false,
        buckets: None,
    };

    /// Per host and per `bucket` of time.
    pub fn hosts_and_buckets(bucket: Duration) -> Self {
        Self {
            hosts: true,
            buckets: Some(bucket),
        }
    }
}

/// How many log lines of one host matched a query, and the newest of them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostLogCount {
    pub host: String,
    pub count: u64,
    pub newest: String,
}

/// How many lines began in one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogBucket {
    /// The bucket's start: a multiple of the bucket length since the epoch.
    pub start: DateTime<Utc>,
    pub count: u64,
}

/// Every line that matched a query, counted: in all, and as asked
/// ([`CountBy`]) per host (with the newest line's message) and per time
/// bucket (only buckets with lines, oldest first); what was not asked for
/// is empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogCounts {
    pub total: u64,
    pub hosts: Vec<HostLogCount>,
    pub buckets: Vec<LogBucket>,
}

/// Counts lines as a store finds them, in any order: [`LogCounts`] when
/// done. Counters of parts of the data merge.
#[derive(Debug)]
pub struct LogCounter {
    /// The bucket length, µs; `None`: no buckets asked.
    width: Option<i64>,
    /// Whether hosts are asked.
    by_host: bool,
    total: u64,
    /// Per host: the count, and the newest line's sort key and message.
    hosts: BTreeMap<String, (u64, (i64, u64), String)>,
    buckets: BTreeMap<i64, u64>,
}

impl LogCounter {
    pub fn new(by: CountBy) -> Self {
        let width = |bucket: Duration| i64::try_from(bucket.as_micros()).unwrap_or(i64::MAX);
        Self {
            width: by.buckets.map(|bucket| width(bucket).max(1)),
            by_host: by.hosts,
            total: 0,
            hosts: BTreeMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// One line of `host` whose sort key is `key` (time in µs, then a
    /// tie-breaker); `message` is asked for only when the line is the
    /// host's newest so far (the first seen wins a tie), and hosts are
    /// asked.
    pub fn add(&mut self, host: &str, key: (i64, u64), message: impl FnOnce() -> String) {
        self.total += 1;
        self.add_to_bucket(key.0, 1);
        if !self.by_host {
            return;
        }
        match self.hosts.get_mut(host) {
            Some((count, newest, text)) => {
                *count += 1;
                if key > *newest {
                    *newest = key;
                    *text = message();
                }
            }
            None => {
                self.hosts.insert(host.to_owned(), (1, key, message()));
            }
        }
    }

    /// `count` lines in the bucket of `ts` (µs), already counted in all and
    /// per host by [`LogCounter::add_to_host`].
    pub fn add_to_bucket(&mut self, ts: i64, count: u64) {
        if count > 0
            && let Some(start) = self.bucket_start(ts)
        {
            *self.buckets.entry(start).or_default() += count;
        }
    }

    /// `count` lines of `host`, counted in all and for the host without
    /// reading them (their newest line comes from
    /// [`LogCounter::offer_newest`]); their buckets come from
    /// [`LogCounter::add_to_bucket`].
    pub fn add_to_host(&mut self, host: &str, count: u64) {
        if count == 0 {
            return;
        }
        self.total += count;
        if !self.by_host {
            return;
        }
        match self.hosts.get_mut(host) {
            Some((held, _, _)) => *held += count,
            None => {
                self.hosts
                    .insert(host.to_owned(), (count, (i64::MIN, 0), String::new()));
            }
        }
    }

    /// Each host counted and the sort key of its newest line seen so far
    /// (`(i64::MIN, 0)` when its lines were counted unread).
    pub fn newest_keys(&self) -> impl Iterator<Item = (&str, (i64, u64))> {
        self.hosts
            .iter()
            .map(|(host, (_, key, _))| (host.as_str(), *key))
    }

    /// A line of `host` already counted (by [`LogCounter::add_to_host`]) that
    /// may be its newest.
    pub fn offer_newest(&mut self, host: &str, key: (i64, u64), message: impl FnOnce() -> String) {
        if let Some((_, newest, text)) = self.hosts.get_mut(host)
            && key > *newest
        {
            *newest = key;
            *text = message();
        }
    }

    /// The start (µs) of the bucket that holds `ts`, when buckets are
    /// asked.
    pub fn bucket_start(&self, ts: i64) -> Option<i64> {
        self.width.map(|width| ts - ts.rem_euclid(width))
    }

    /// Adds what `other` counted.
    pub fn merge(&mut self, other: Self) {
        self.total += other.total;
        for (start, count) in other.buckets {
            *self.buckets.entry(start).or_default() += count;
        }
        for (host, (count, key, text)) in other.hosts {
            match self.hosts.get_mut(&host) {
                Some(mine) => {
                    mine.0 += count;
                    if key > mine.1 {
                        (mine.1, mine.2) = (key, text);
                    }
                }
                None => {
                    self.hosts.insert(host, (count, key, text));
                }
            }
        }
    }

    pub fn finish(self) -> LogCounts {
        LogCounts {
            total: self.total,
            hosts: self
                .hosts
                .into_iter()
                .map(|(host, (count, _, newest))| HostLogCount {
                    host,
                    count,
                    newest,
                })
                .collect(),
            buckets: self
                .buckets
                .into_iter()
                .map(|(start, count)| LogBucket {
                    start: DateTime::from_timestamp_micros(start).unwrap_or_default(),
                    count,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_keeps_only_what_it_was_asked_for() {
        let ten_minutes = Duration::from_secs(600);
        let mut lines = Vec::new();
        for (host, minutes) in [("gw-1", 1), ("gw-2", 12), ("gw-1", 25)] {
            lines.push((host, minutes * 60_000_000i64));
        }
        let count = |by: CountBy| {
            let mut counter = LogCounter::new(by);
            let mut asked = 0;
            for &(host, ts) in &lines {
                counter.add(host, (ts, 0), || {
                    asked += 1;
                    format!("line of {host} at {ts}")
                });
            }
            (counter.finish(), asked)
        };
        let (all, _) = count(CountBy::hosts_and_buckets(ten_minutes));
        assert_eq!((all.total, all.hosts.len(), all.buckets.len()), (3, 2, 3));
        let (total, asked) = count(CountBy::TOTAL);
        assert_eq!(
            (total.total, total.hosts, total.buckets),
            (3, vec![], vec![])
        );
        assert_eq!(asked, 0, "a count in all asks for no message");
        let hosts = CountBy {
            hosts: true,
            buckets: None,
        };
        let (per_host, _) = count(hosts);
        assert_eq!(
            (per_host.hosts, per_host.buckets),
            (all.hosts.clone(), vec![])
        );
        let buckets = CountBy {
            hosts: false,
            buckets: Some(ten_minutes),
        };
        let (per_bucket, _) = count(buckets);
        assert_eq!(
            (per_bucket.hosts, per_bucket.buckets),
            (vec![], all.buckets)
        );
    }
}
