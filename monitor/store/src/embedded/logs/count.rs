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

use super::chunk::{self, Key, Span};
use super::segment;
use super::summaries::HostOfRow;
use super::{LogStore, Part, Place, Search, on_every_core, visit};
use crate::embedded::error::EmbeddedError;
use crate::{CountBy, LogCounter, LogCounts};

impl LogStore {
    /// Every line the search finds (whatever its `limit`), counted in all,
    /// per host and per `bucket` of time. A part the term index answered
    /// exactly, inside the search's time and one bucket, is counted from
    /// the index as the index is read ([`Folded`]); its rows are read only
    /// for a host's newest line. The others' rows are read, on every core.
    pub(in crate::embedded) fn count(
        &self,
        search: &Search<'_>,
        by: CountBy,
    ) -> Result<LogCounts, EmbeddedError> {
        let mut total = LogCounter::new(by);
        let inside = |(oldest, newest): (i64, i64)| oldest >= search.from && newest <= search.to;
        // Without buckets asked, a span in the search's time is in one.
        let one_bucket = |span: &Span| {
            let (oldest, newest) = (span.min_key.0, span.max_key.0);
            let start = total.bucket_start(oldest);
            let one = inside((oldest, newest)) && start == total.bucket_start(newest);
            one.then_some(start.unwrap_or(0))
        };
        let asked = Asked {
            bucket: &one_bucket,
            by_host: by.hosts,
        };
        let (parts, folded) = self.parts(search, Some(asked))?;
        let mut hosts = HostTally::default();
        let mut latest: Vec<Latest> = Vec::new();
        for folded in folded {
            for (host, rows) in &folded.hosts {
                hosts.add(host, *rows);
            }
            for (start, rows) in folded.buckets {
                total.add_to_bucket(start, rows);
            }
            latest.extend(folded.newest);
        }
        // A granule counted per host but not folded straddles a bucket
        // boundary: its time marks say each row's bucket or, when a
        // boundary falls between two marks around a row that matches, its
        // rows' times do.
        let (marked, mut read): (Vec<Part>, Vec<Part>) = parts.into_iter().partition(|part| {
            part.per_host.is_some()
                && inside(part.times)
                && matches!(part.place, Place::Granule(..))
        });
        for part in &marked {
            if let Place::Granule(segment, at) = &part.place {
                segment.read_marks_ahead(*at);
            }
        }
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
            latest.push(Latest::from(part));
        }
        for (host, rows) in hosts.counted {
            total.add_to_host(&host, rows);
        }
        let visited = on_every_core(&read, |part| {
            let mut counter = LogCounter::new(by);
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
        if by.hosts {
            newest_of_hosts(&latest, &mut total)?;
        }
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

/// The one bucket of the search's time that a span's rows all fall in, if
/// they do.
pub(super) type OneBucket<'a> = dyn Fn(&Span) -> Option<i64> + Sync + 'a;

/// What a count asks of every index: the one bucket of a span, and
/// whether rows are counted per host.
#[derive(Clone, Copy)]
pub(super) struct Asked<'a> {
    pub bucket: &'a OneBucket<'a>,
    pub by_host: bool,
}

impl<'a> Asked<'a> {
    /// How the candidates of an index that answered exactly are counted:
    /// per host of its rows (`hosts`, asked only when hosts are; `None`
    /// when they are not known, so that rows are read), or all as one
    /// nameless host's ([`HostOfRow::anyone`]).
    pub(super) fn counting<'h>(
        self,
        hosts: impl FnOnce() -> Result<Option<&'h HostOfRow>, EmbeddedError>,
    ) -> Result<Option<Counting<'h>>, EmbeddedError>
    where
        'a: 'h,
    {
        let hosts = match self.by_host {
            true => hosts()?,
            false => Some(HostOfRow::anyone()),
        };
        Ok(hosts.map(|hosts| Counting {
            hosts,
            bucket: self.bucket,
        }))
    }
}

/// How a count asks an index's places: each part's candidates counted per
/// host of `hosts`, and those of a part that `bucket` gives one bucket
/// folded into the index's [`Folded`] instead of kept as a part.
#[derive(Clone, Copy)]
pub(super) struct Counting<'a> {
    pub hosts: &'a HostOfRow,
    pub bucket: &'a OneBucket<'a>,
}

/// What a count takes from an index's parts that the index answers
/// exactly, inside the search's time and one bucket, as the index is read
/// and instead of the parts: their rows per host and per bucket, and the
/// places of each host's newest row among them, to read that line. Their
/// rows are never listed nor kept.
#[derive(Default)]
pub(super) struct Folded {
    hosts: Vec<(Arc<str>, u64)>,
    buckets: Vec<(i64, u64)>,
    newest: Vec<Latest>,
}

/// What became of a part's candidates when a count took them.
pub(super) enum Counted {
    /// Added to the index's [`Folded`]: the part is not kept.
    Folded,
    /// Counted per host, the part kept with its counts.
    PerHost(Vec<HostCount>),
    /// A row has no host: the part is kept, to be read.
    Unknown,
}

/// A part that may hold a host's newest row: its newest key, its place
/// among the index's spans, and the host's newest row in it.
type Candidate = (Key, usize, u32);

/// The parts of one index folded so far ([`Folded`]), by their hosts'
/// places in the index's names.
pub(super) struct Fold<'a> {
    counting: Counting<'a>,
    /// The part being taken: each host's place, rows and newest row (in
    /// the part), and each host's place in it ([`usize::MAX`]: none yet).
    part: Vec<(usize, u64, u32)>,
    slot: Vec<usize>,
    rows: Vec<u64>,
    /// Per host: a key its newest row is at least as new as (the newest
    /// oldest key of the parts holding one of its rows), and the parts
    /// that may hold a row newer than that, each's newest key, place among
    /// the spans and the host's newest row there. Parts overlap in time (a
    /// merged segment's sources do, and one host's whole chunk and a
    /// granule of several hosts' lines may), so the part with the newest
    /// span need not hold the host's newest row.
    newest: Vec<(Key, Vec<Candidate>)>,
    buckets: Vec<(i64, u64)>,
}

impl<'a> Fold<'a> {
    pub(super) fn new(counting: Counting<'a>) -> Self {
        let hosts = counting.hosts.names.len();
        Self {
            counting,
            part: Vec::new(),
            slot: vec![usize::MAX; hosts],
            rows: vec![0; hosts],
            newest: vec![((i64::MIN, 0), Vec::new()); hosts],
            buckets: Vec::new(),
        }
    }

    /// The hosts of the index's rows.
    pub(super) fn hosts(&self) -> &'a HostOfRow {
        self.counting.hosts
    }

    /// Takes the `rows` (numbered in the index, the first of the part's
    /// being `first_row`), each with its host's place ([`HostOfRow::of`]),
    /// of the part at `span`, the `at`th of the index.
    pub(super) fn take(
        &mut self,
        at: usize,
        span: &Span,
        rows: impl IntoIterator<Item = (Option<usize>, u32)>,
        first_row: u32,
    ) -> Counted {
        for &(host, ..) in &self.part {
            self.slot[host] = usize::MAX;
        }
        self.part.clear();
        let hosts = self.counting.hosts;
        for (host, row) in rows {
            let Some(host) = host else {
                return Counted::Unknown;
            };
            match self.part.get_mut(self.slot[host]) {
                Some((_, count, _)) => *count += 1,
                None => {
                    self.slot[host] = self.part.len();
                    // Rows are newest first: a host's first is its newest.
                    self.part.push((host, 1, row - first_row));
                }
            }
        }
        let Some(start) = (self.counting.bucket)(span) else {
            let counts = self.part.iter().map(|&(host, rows, newest)| HostCount {
                host: Arc::clone(&hosts.names[host]),
                rows,
                newest,
            });
            return Counted::PerHost(counts.collect());
        };
        let mut all = 0;
        for &(host, rows, row) in &self.part {
            all += rows;
            self.rows[host] += rows;
            let (floor, candidates) = &mut self.newest[host];
            *floor = span.min_key.max(*floor);
            if span.max_key >= *floor {
                candidates.push((span.max_key, at, row));
                // Those the floor has passed since go now and then.
                if candidates.len() >= 64 && candidates.len().is_power_of_two() {
                    candidates.retain(|(newest, ..)| newest >= floor);
                }
            }
        }
        match self.buckets.last_mut() {
            Some((last, count)) if *last == start => *count += all,
            _ => self.buckets.push((start, all)),
        }
        Counted::Folded
    }

    /// What was folded, the parts at `spans` (the index's, as taken) being
    /// at `place`.
    pub(super) fn finish(self, spans: &[&Span], place: impl Fn(usize) -> Option<Place>) -> Folded {
        let names = &self.counting.hosts.names;
        let hosts = self.rows.iter().enumerate().filter(|(_, rows)| **rows > 0);
        let hosts = hosts.map(|(host, rows)| (Arc::clone(&names[host]), *rows));
        let mut newest: Vec<(usize, usize, u32)> = Vec::new();
        for (host, (floor, candidates)) in self.newest.iter().enumerate() {
            let newer = candidates.iter().filter(|(newest, ..)| newest >= floor);
            newest.extend(newer.map(|&(_, at, row)| (at, host, row)));
        }
        newest.sort_unstable();
        let mut latest: Vec<(usize, Latest)> = Vec::new();
        for (at, host, row) in newest {
            if latest.last().is_none_or(|(last, _)| *last != at) {
                // A folded part is in the search's time: its place is known.
                let Some(place) = place(at) else { continue };
                let max_key = spans[at].max_key;
                let hosts = Vec::new();
                latest.push((
                    at,
                    Latest {
                        place,
                        max_key,
                        hosts,
                    },
                ));
            }
            if let Some((_, last)) = latest.last_mut() {
                last.hosts.push((Arc::clone(&names[host]), row));
            }
        }
        Folded {
            hosts: hosts.collect(),
            buckets: self.buckets,
            newest: latest.into_iter().map(|(_, latest)| latest).collect(),
        }
    }
}

/// A place holding some hosts' newest rows among those a count took: where
/// their newest lines are read.
pub(super) struct Latest {
    place: Place,
    max_key: Key,
    /// Each host and its newest row (numbered in the place).
    hosts: Vec<(Arc<str>, u32)>,
}

impl From<Part> for Latest {
    fn from(part: Part) -> Self {
        let hosts = part.per_host.into_iter().flatten();
        Self {
            place: part.place,
            max_key: part.max_key,
            hosts: hosts
                .map(|counted| (counted.host, counted.newest))
                .collect(),
        }
    }
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
    // Without buckets asked, every row is in one.
    let start_of = |ts: i64| counter.bucket_start(ts).unwrap_or(0);
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
fn newest_of_hosts(counted: &[Latest], total: &mut LogCounter) -> Result<(), EmbeddedError> {
    // The parts newest first, taken from a heap as far as they are needed
    // (usually a few of thousands), not all sorted.
    let mut heap: std::collections::BinaryHeap<(Key, usize)> = counted
        .iter()
        .enumerate()
        .map(|(at, part)| (part.max_key, at))
        .collect();
    let mut newest_first = std::iter::from_fn(|| heap.pop().map(|(_, at)| &counted[at]));
    let mut taken: Vec<&Latest> = Vec::new();
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
        for (name, _) in &part.hosts {
            let host = found.iter().position(|newest| newest.host == *name);
            if let Some(host) = host.filter(|&host| !placed[host]) {
                placed[host] = true;
                if first.last() != Some(&at) {
                    first.push(at);
                }
            }
        }
    }
    for &at in &first {
        taken[at].place.read_ahead();
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
    fn older_than(&self, part: &Latest) -> bool {
        self.floor.is_none_or(|floor| part.max_key > floor)
    }

    /// Of the hosts in `found` that `part` can hold a newer line of, their
    /// newest rows there.
    fn read(
        part: &Latest,
        found: &[Newest],
    ) -> Result<(Wanted, Vec<(Key, String)>), EmbeddedError> {
        let (wanted, rows): (Wanted, Vec<u32>) = part
            .hosts
            .iter()
            .filter_map(|(host, row)| {
                let at = found.iter().position(|newest| newest.host == *host)?;
                found[at].older_than(part).then_some((at, *row))
            })
            .unzip();
        if rows.is_empty() {
            return Ok((wanted, Vec::new()));
        }
        Ok((wanted, rows_at(&part.place, &rows)?))
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

/// The key and message of each of `rows` (numbered in the place), reading
/// the place only up to the last of them.
fn rows_at(place: &Place, rows: &[u32]) -> Result<Vec<(Key, String)>, EmbeddedError> {
    let mut ascending = rows.to_vec();
    ascending.sort_unstable();
    ascending.dedup();
    let found: Vec<(Key, Cow<'_, [u8]>)> = match place {
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
