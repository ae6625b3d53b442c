//! A count of the lines a search finds, in all, per host and per bucket of
//! time, with each host's newest line: what the alert engine's log rules
//! and the dashboard's histogram ask. Parts the term index answers exactly
//! are counted from it, their rows read only for a host's newest line.
//!
//! A count must never read a row it need not show when the index answers,
//! nor count a row twice.

use std::borrow::Cow;
use std::ops::ControlFlow;
use std::sync::Arc;

use super::chunk::{self, Key};
use super::segment;
use super::summaries::HostOfRow;
use super::{LogStore, Part, Place, Search, on_every_core, visit};
use crate::embedded::error::EmbeddedError;
use crate::{LogCounter, LogCounts};

impl LogStore {
    /// Every line the search finds (whatever its `limit`), counted in all,
    /// per host and per `bucket` of time. A part the term index answered
    /// exactly, inside the search's time and one bucket, is counted from
    /// the index; its rows are read only for a host's newest line. The
    /// others' rows are read, on every core.
    pub(in crate::embedded) fn count(
        &self,
        search: &Search<'_>,
        bucket: std::time::Duration,
    ) -> Result<LogCounts, EmbeddedError> {
        let parts = self.parts(search, true)?;
        let mut total = LogCounter::new(bucket);
        let inside = |part: &Part| {
            part.per_host.is_some() && part.times.0 >= search.from && part.times.1 <= search.to
        };
        let (mut counted, rest): (Vec<Part>, Vec<Part>) = parts.into_iter().partition(|part| {
            inside(part) && total.bucket_start(part.times.0) == total.bucket_start(part.times.1)
        });
        let mut hosts = HostTally::default();
        for part in &counted {
            let mut rows = 0;
            for counted in part.per_host.iter().flatten() {
                hosts.add(&counted.host, counted.rows);
                rows += counted.rows;
            }
            total.add_to_bucket(part.times.0, rows);
        }
        // A granule that straddles a bucket boundary: its time marks say
        // each row's bucket or, when a boundary falls between two marks
        // around a row that matches, its rows' times do.
        let (marked, mut read): (Vec<Part>, Vec<Part>) = rest
            .into_iter()
            .partition(|part| inside(part) && matches!(part.place, Place::Granule(..)));
        let bucketed = on_every_core(&marked, |part| buckets_of_granule(part, &total));
        for (part, buckets) in marked.into_iter().zip(bucketed) {
            let Some(buckets) = buckets? else {
                read.push(part);
                continue;
            };
            for counted in part.per_host.iter().flatten() {
                hosts.add(&counted.host, counted.rows);
            }
            for (start, count) in buckets {
                total.add_to_bucket(start, count);
            }
            counted.push(part);
        }
        for (host, rows) in hosts.counted {
            total.add_to_host(&host, rows);
        }
        let visited = on_every_core(&read, |part| {
            let mut counter = LogCounter::new(bucket);
            visit(part, search, None, |row, _, line| {
                counter.add(line.host, row.key(), || {
                    String::from_utf8_lossy(row.message).into_owned()
                });
                ControlFlow::Continue(())
            })
            .map(|()| counter)
        });
        for counter in visited {
            total.merge(counter?);
        }
        newest_of_hosts(&counted, &mut total)?;
        Ok(total.finish())
    }
}

/// How many of a part's rows let through are one host's, and the newest.
#[derive(Debug, Clone)]
pub(super) struct HostCount {
    host: Arc<str>,
    rows: u64,
    /// The newest one's row in the part.
    newest: u32,
}

/// Rows counted per host, for parts whose hosts' names are the `Arc`s of
/// their index's summary: a name is compared as text once per `Arc` (a
/// segment's), then found by its address, not once per part and host.
#[derive(Default)]
struct HostTally {
    counted: Vec<(Arc<str>, u64)>,
    /// Names seen lately, each with its place in `counted`.
    seen: Vec<(Arc<str>, usize)>,
}

impl HostTally {
    /// Names remembered by their address, at most.
    const SEEN: usize = 64;

    fn add(&mut self, host: &Arc<str>, rows: u64) {
        // The latest first: a segment's parts come one after another.
        let seen = self
            .seen
            .iter()
            .rev()
            .find(|(seen, _)| Arc::ptr_eq(seen, host));
        let at = match seen {
            Some(&(_, at)) => at,
            None => {
                let at = match self.counted.iter().position(|(name, _)| name == host) {
                    Some(at) => at,
                    None => {
                        self.counted.push((Arc::clone(host), 0));
                        self.counted.len() - 1
                    }
                };
                if self.seen.len() == Self::SEEN {
                    self.seen.clear();
                }
                self.seen.push((Arc::clone(host), at));
                at
            }
        };
        self.counted[at].1 += rows;
    }
}

/// How many of a part's `rows` (numbered in the index, its first being
/// `first_row`) each host has, and its newest; `None` when a row has no
/// host.
pub(super) fn count_per_host(
    rows: impl IntoIterator<Item = u32>,
    first_row: u32,
    hosts: &HostOfRow,
) -> Option<Vec<HostCount>> {
    let mut counted: Vec<HostCount> = Vec::with_capacity(hosts.names.len());
    // Each host's place in `counted`.
    let mut slot = vec![usize::MAX; hosts.names.len()];
    for row in rows {
        let host = hosts.of(row)?;
        match counted.get_mut(slot[host]) {
            Some(count) => count.rows += 1,
            None => {
                slot[host] = counted.len();
                counted.push(HostCount {
                    host: Arc::clone(&hosts.names[host]),
                    rows: 1,
                    newest: row - first_row,
                });
            }
        }
    }
    Some(counted)
}

/// The rows of `part` (a segment's granule) per bucket of `counter`: from
/// the granule's time marks alone, or when a boundary falls between the
/// marks around one of the rows, from the rows' times (read without the
/// rest of the granule). `None` when the segment has neither: a segment
/// written before either, whose granules are read.
fn buckets_of_granule(
    part: &Part,
    counter: &LogCounter,
) -> Result<Option<Vec<(i64, u64)>>, EmbeddedError> {
    let Place::Granule(segment, at) = &part.place else {
        return Ok(None);
    };
    let start_of = |ts: i64| counter.bucket_start(ts);
    let rows = segment.granules()[*at].span.rows;
    // Each row's bucket, by `place` (`None`: not known without its time).
    let tally = |place: &dyn Fn(u32) -> Option<i64>| {
        let mut buckets: Vec<(i64, u64)> = Vec::new();
        let mut add = |row: u32| {
            let start = place(row)?;
            match buckets.last_mut() {
                Some((last, count)) if *last == start => *count += 1,
                _ => buckets.push((start, 1)),
            }
            Some(())
        };
        let placed = match &part.rows {
            Some(rows) => rows.iter().try_for_each(|&row| add(row)),
            None => (0..rows).try_for_each(add),
        };
        placed.map(|()| buckets)
    };
    if let Some(marks) = segment.marks(*at)? {
        let by_marks = tally(&|row| {
            // Rows are newest first: row `row` is no newer than the mark
            // before it and no older than the next (or the granule's oldest).
            let block = row as usize / segment::MARK_EVERY;
            let newer = marks.get(block).copied()?;
            let older = marks.get(block + 1).copied().unwrap_or(part.times.0);
            let start = start_of(newer);
            (start == start_of(older)).then_some(start)
        });
        if by_marks.is_some() {
            return Ok(by_marks);
        }
    }
    let Some(times) = segment.times(*at)? else {
        return Ok(None);
    };
    let by_times = tally(&|row| times.get(row as usize).copied().map(start_of));
    match by_times {
        Some(buckets) => Ok(Some(buckets)),
        None => Err(EmbeddedError::damaged(format!(
            "{}: granule {at} has fewer times than rows; the segment is damaged",
            segment.path.display()
        ))),
    }
}

/// Offers `total` each host's newest line among `counted`, parts counted
/// from the index unread, which know each host's newest row. Each host's
/// first part (newest first) usually holds its newest line:
/// those are read together, on every core, up to the rows wanted. Then the
/// parts in order are, for the hosts that have seen no line as new as the
/// part's newest, until no part left can hold a newer line of any host.
fn newest_of_hosts(counted: &[Part], total: &mut LogCounter) -> Result<(), EmbeddedError> {
    // The parts newest first, taken from a heap as far as they are needed
    // (usually a few of thousands), not all sorted.
    let mut heap: std::collections::BinaryHeap<(Key, usize)> = counted
        .iter()
        .enumerate()
        .map(|(at, part)| (part.max_key, at))
        .collect();
    let mut newest_first = std::iter::from_fn(|| heap.pop().map(|(_, at)| &counted[at]));
    let mut taken: Vec<&Part> = Vec::new();
    let mut found: Vec<Newest> = total
        .newest_keys()
        .map(|(host, floor)| Newest {
            host: Arc::from(host),
            floor: Some(floor),
            message: None,
        })
        .collect();
    // Each host's first part, looked for only as far as a part that every
    // host has a first part before or can hold no newer line of.
    let mut placed = vec![false; found.len()];
    let mut first: Vec<usize> = Vec::new();
    for part in newest_first.by_ref() {
        taken.push(part);
        let mut hosts = found.iter().zip(&placed);
        if hosts.all(|(newest, placed)| *placed || !newest.older_than(part)) {
            break;
        }
        let at = taken.len() - 1;
        for counted in part.per_host.iter().flatten() {
            let host = found.iter().position(|newest| newest.host == counted.host);
            if let Some(host) = host.filter(|&host| !placed[host]) {
                placed[host] = true;
                if first.last() != Some(&at) {
                    first.push(at);
                }
            }
        }
    }
    let read = on_every_core(&first, |&at| Newest::read(taken[at], &found));
    for answer in read {
        let (wanted, rows) = answer?;
        Newest::take(&mut found, wanted, rows);
    }
    let rest = newest_first.map(|part| (usize::MAX, part));
    for (at, part) in taken.iter().copied().enumerate().chain(rest) {
        if found.iter().all(|newest| !newest.older_than(part)) {
            break;
        }
        if !first.contains(&at) {
            let (wanted, rows) = Newest::read(part, &found)?;
            Newest::take(&mut found, wanted, rows);
        }
    }
    for newest in found {
        if let (Some(key), Some(message)) = (newest.floor, newest.message) {
            total.offer_newest(&newest.host, key, || message);
        }
    }
    Ok(())
}

/// A host's newest line found so far.
struct Newest {
    host: Arc<str>,
    /// The newest key seen.
    floor: Option<Key>,
    message: Option<String>,
}

/// Which host (its place among those looked for) each row read is.
type Wanted = Vec<usize>;

impl Newest {
    /// Whether `part` can hold a line newer than the newest seen.
    fn older_than(&self, part: &Part) -> bool {
        self.floor.is_none_or(|floor| part.max_key > floor)
    }

    /// Of the hosts in `found` that `part` can hold a newer line of, their
    /// newest rows there.
    fn read(part: &Part, found: &[Newest]) -> Result<(Wanted, Vec<(Key, String)>), EmbeddedError> {
        let (wanted, rows): (Wanted, Vec<u32>) = part
            .per_host
            .iter()
            .flatten()
            .filter_map(|counted| {
                let at = found
                    .iter()
                    .position(|newest| newest.host == counted.host)?;
                found[at].older_than(part).then_some((at, counted.newest))
            })
            .unzip();
        if rows.is_empty() {
            return Ok((wanted, Vec::new()));
        }
        Ok((wanted, rows_at(part, &rows)?))
    }

    fn take(found: &mut [Newest], wanted: Wanted, rows: Vec<(Key, String)>) {
        for (at, (key, line)) in wanted.into_iter().zip(rows) {
            let newest = &mut found[at];
            if newest.floor.is_none_or(|floor| key > floor) {
                newest.floor = Some(key);
                newest.message = Some(line);
            }
        }
    }
}

/// The key and message of each of `rows` (numbered in the part), reading
/// the part only up to the last of them.
fn rows_at(part: &Part, rows: &[u32]) -> Result<Vec<(Key, String)>, EmbeddedError> {
    let mut ascending = rows.to_vec();
    ascending.sort_unstable();
    ascending.dedup();
    let found: Vec<(Key, Cow<'_, [u8]>)> = match &part.place {
        Place::Head(chunk) => chunk::keys_and_messages(chunk.bytes(), &ascending)?
            .into_iter()
            .map(|(key, message)| (key, Cow::Borrowed(message)))
            .collect(),
        Place::Granule(segment, at) => segment
            .keys_and_messages(*at, &ascending)?
            .into_iter()
            .map(|(key, message)| (key, Cow::Owned(message)))
            .collect(),
    };
    let line = |row| {
        let (key, message) = &found[ascending.binary_search(row).expect("every row is sought")];
        (*key, String::from_utf8_lossy(message).into_owned())
    };
    Ok(rows.iter().map(line).collect())
}
