//! The embedded store's metric samples: a small time-series store beside the
//! log index, under `<data_dir>/metrics/`.
//!
//! - `series.jsonl`: every series (environment, host, metric name, labels)
//!   with its number, appended when first seen.
//! - `wal`: samples not yet in a block, in checksummed frames. A write is
//!   acknowledged once its frame is synced; requests that arrive together
//!   share one sync.
//! - `blocks/`: immutable files of samples, one UTC day each (see `block`),
//!   written from memory when it holds `HEAD_LIMIT` samples; a day's blocks
//!   are merged once there are `COMPACT_AT` of them.
//!
//! A sample is identified by its series and timestamp: a second sample of a
//! series at a time already held is a duplicate, the rule of time-series
//! stores (and what the agent's metric event ids encode).

mod block;

use crate::embedded::error::{EmbeddedError, io};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::wal::{self, GroupCommit};
use block::{Block, day_of};

/// Samples held in memory (and in the WAL) before they go to blocks.
const HEAD_LIMIT: usize = 1_000_000;
/// Blocks of one day merged into one once there are this many.
const COMPACT_AT: usize = 4;
const RECORD: usize = 20;

/// One sample to store.
pub(super) struct Sample<'a> {
    pub(super) name: &'a str,
    pub(super) labels: &'a BTreeMap<String, String>,
    pub(super) millis: i64,
    pub(super) value: f64,
}

/// A series as the queries see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct SeriesInfo {
    pub(super) id: u32,
    pub(super) environment: String,
    pub(super) host: String,
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, String>,
}

/// Which samples a read wants: a metric of an environment, of one host or
/// all, within `from..=to` (Unix milliseconds).
pub(super) struct Range<'a> {
    pub(super) environment: &'a str,
    pub(super) name: &'a str,
    pub(super) host: Option<&'a str>,
    pub(super) from: i64,
    pub(super) to: i64,
}

/// The samples of one series, sorted by time.
pub(super) struct SeriesPoints {
    pub(super) info: SeriesInfo,
    pub(super) points: Vec<(i64, f64)>,
}

pub(super) struct MetricStore {
    dir: PathBuf,
    head_limit: usize,
    state: Mutex<State>,
    sync: GroupCommit,
}

impl std::fmt::Debug for MetricStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

struct State {
    series: Vec<SeriesInfo>,
    ids: HashMap<String, u32>,
    by_metric: HashMap<(String, String), Vec<u32>>,
    /// Per series, the newest timestamp ever stored (`i64::MIN`: none).
    newest: Vec<i64>,
    /// Per series, samples not yet in a block, sorted by time.
    head: Vec<Vec<(i64, f64)>>,
    head_points: usize,
    blocks: Vec<Arc<Block>>,
    next_seq: u64,
    wal: File,
    /// Bytes ever appended to the WAL (it is emptied after each flush).
    wal_written: u64,
    series_file: File,
}

fn series_key(
    environment: &str,
    host: &str,
    name: &str,
    labels: &BTreeMap<String, String>,
) -> String {
    let mut key = format!("{environment}\0{host}\0{name}");
    for (label, value) in labels {
        key.push('\0');
        key.push_str(label);
        key.push('=');
        key.push_str(value);
    }
    key
}

impl MetricStore {
    /// Opens the store in `dir` (created if needed): loads the series and the
    /// blocks, removes what a crash left behind, replays the WAL.
    pub(super) fn open(dir: &Path) -> Result<Self, EmbeddedError> {
        Self::open_with(dir, HEAD_LIMIT)
    }

    /// As `open`, writing blocks every `head_limit` samples.
    fn open_with(dir: &Path, head_limit: usize) -> Result<Self, EmbeddedError> {
        let blocks_dir = dir.join("blocks");
        std::fs::create_dir_all(&blocks_dir).map_err(io(&blocks_dir))?;

        let series_path = dir.join("series.jsonl");
        let (series, valid_len) = read_series(&series_path)?;
        let series_file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&series_path)
            .map_err(io(&series_path))?;
        series_file.set_len(valid_len).map_err(io(&series_path))?;

        let blocks = read_blocks(&blocks_dir)?;
        let next_seq = blocks.iter().map(|block| block.seq + 1).max().unwrap_or(1);

        let wal_path = dir.join("wal");
        let mut wal = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&wal_path)
            .map_err(io(&wal_path))?;
        let mut bytes = Vec::new();
        wal.read_to_end(&mut bytes).map_err(io(&wal_path))?;

        let mut state = State {
            ids: series
                .iter()
                .map(|info| {
                    (
                        series_key(&info.environment, &info.host, &info.name, &info.labels),
                        info.id,
                    )
                })
                .collect(),
            by_metric: HashMap::new(),
            newest: vec![i64::MIN; series.len()],
            head: vec![Vec::new(); series.len()],
            head_points: 0,
            blocks: blocks.into_iter().map(Arc::new).collect(),
            next_seq,
            wal,
            wal_written: 0,
            series_file,
            series: Vec::new(),
        };
        for info in &series {
            state
                .by_metric
                .entry((info.environment.clone(), info.name.clone()))
                .or_default()
                .push(info.id);
        }
        state.series = series;
        for block in &state.blocks {
            for entry in block.entries() {
                if let Some(newest) = state.newest.get_mut(entry.series as usize) {
                    *newest = (*newest).max(entry.max_ts);
                }
            }
        }

        let at = replay(&mut state, &bytes)?;
        // What follows the last whole frame was never acknowledged.
        state.wal.set_len(at as u64).map_err(io(&wal_path))?;
        state.wal.seek(SeekFrom::End(0)).map_err(io(&wal_path))?;
        state.wal_written = at as u64;
        // The series file first: a sample's series is on disk before it.
        let sync = GroupCommit::new(
            at as u64,
            vec![
                (
                    series_path.clone(),
                    state.series_file.try_clone().map_err(io(&series_path))?,
                ),
                (
                    wal_path.clone(),
                    state.wal.try_clone().map_err(io(&wal_path))?,
                ),
            ],
        );
        Ok(Self {
            dir: dir.to_owned(),
            head_limit,
            state: Mutex::new(state),
            sync,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores the samples of one host, durably; answers (stored, duplicates).
    pub(super) fn write(
        &self,
        environment: &str,
        host: &str,
        samples: &[Sample<'_>],
    ) -> Result<(u64, u64), EmbeddedError> {
        let wal_path = self.dir.join("wal");
        let (written, stored, duplicates) = {
            let mut state = self.state();
            let mut local: HashMap<(&str, &BTreeMap<String, String>), u32> = HashMap::new();
            let mut new_series = String::new();
            let mut frame = Vec::with_capacity(8 + samples.len() * RECORD);
            frame.extend_from_slice(&[0; wal::HEADER]);
            let mut inserted = Vec::new();
            let mut duplicates = 0;
            for sample in samples {
                let id = *local
                    .entry((sample.name, sample.labels))
                    .or_insert_with(|| {
                        state.series_id(
                            environment,
                            host,
                            sample.name,
                            sample.labels,
                            &mut new_series,
                        )
                    });
                match state.holds(id, sample.millis) {
                    Ok(true) => {
                        duplicates += 1;
                        continue;
                    }
                    Ok(false) => {}
                    Err(error) => {
                        for (id, ts) in inserted {
                            state.remove(id, ts);
                        }
                        return Err(error);
                    }
                }
                state.insert(id, sample.millis, sample.value);
                inserted.push((id, sample.millis));
                frame.extend_from_slice(&id.to_le_bytes());
                frame.extend_from_slice(&sample.millis.to_le_bytes());
                frame.extend_from_slice(&sample.value.to_le_bytes());
            }
            let payload = frame.len() - wal::HEADER;
            wal::seal(&mut frame);
            let series_path = self.dir.join("series.jsonl");
            let written = state
                .series_file
                .write_all(new_series.as_bytes())
                .map_err(io(&series_path))
                .and_then(|()| {
                    if payload == 0 {
                        return Ok(());
                    }
                    state.wal.write_all(&frame).map_err(io(&wal_path))
                });
            if let Err(error) = written {
                // Not acknowledged, so not kept: the agent sends it again.
                for (id, ts) in inserted {
                    state.remove(id, ts);
                }
                return Err(error);
            }
            if payload > 0 {
                state.wal_written += frame.len() as u64;
            }
            if state.head_points >= self.head_limit {
                self.flush(&mut state)?;
            }
            (
                state.wal_written,
                samples.len() as u64 - duplicates,
                duplicates,
            )
        };
        self.sync_to(written)?;
        Ok((stored, duplicates))
    }

    /// Syncs the series file and the WAL unless a sync since `written` did.
    fn sync_to(&self, written: u64) -> Result<(), EmbeddedError> {
        self.sync.sync_to(written, || self.state().wal_written)
    }

    /// Writes the head to blocks (one per day), empties the WAL, and merges
    /// the days that have gathered enough blocks.
    fn flush(&self, state: &mut State) -> Result<(), EmbeddedError> {
        let blocks_dir = self.dir.join("blocks");
        let mut days: BTreeMap<i64, Vec<block::SeriesSamples>> = BTreeMap::new();
        for (id, points) in state.head.iter_mut().enumerate() {
            let points = std::mem::take(points);
            let mut start = 0;
            while start < points.len() {
                let day = day_of(points[start].0);
                let end = start + points[start..].partition_point(|p| day_of(p.0) == day);
                days.entry(day)
                    .or_default()
                    .push((id as u32, points[start..end].to_vec()));
                start = end;
            }
        }
        for (day, series) in days {
            let seq = state.take_seq();
            let block =
                Block::write(&blocks_dir, seq, day, &[], &series).map_err(io(&blocks_dir))?;
            state.add_block(block);
        }
        state.head_points = 0;
        let wal_path = self.dir.join("wal");
        state.wal.set_len(0).map_err(io(&wal_path))?;
        state.wal.seek(SeekFrom::Start(0)).map_err(io(&wal_path))?;
        state.wal.sync_all().map_err(io(&wal_path))?;

        let mut per_day: BTreeMap<i64, usize> = BTreeMap::new();
        for block in &state.blocks {
            *per_day.entry(block.day).or_default() += 1;
        }
        for (day, count) in per_day {
            if count >= COMPACT_AT {
                self.rewrite_day(state, day, i64::MIN)?;
            }
        }
        Ok(())
    }

    /// Replaces the blocks of `day` with one holding their samples at or
    /// after `keep_from`; answers how many samples were left out.
    fn rewrite_day(
        &self,
        state: &mut State,
        day: i64,
        keep_from: i64,
    ) -> Result<u64, EmbeddedError> {
        let blocks_dir = self.dir.join("blocks");
        let (old, rest): (Vec<Arc<Block>>, Vec<Arc<Block>>) = std::mem::take(&mut state.blocks)
            .into_iter()
            .partition(|block| block.day == day);
        state.blocks = rest;
        let before: u64 = old.iter().map(|block| block.points).sum();
        let mut merged: BTreeMap<u32, Vec<(i64, f64)>> = BTreeMap::new();
        for block in &old {
            for entry in block.entries() {
                block.read(
                    entry,
                    keep_from,
                    i64::MAX,
                    merged.entry(entry.series).or_default(),
                )?;
            }
        }
        let series: Vec<(u32, Vec<(i64, f64)>)> = merged
            .into_iter()
            .filter(|(_, points)| !points.is_empty())
            .map(|(id, mut points)| {
                points.sort_by_key(|point| point.0);
                (id, points)
            })
            .collect();
        let after: u64 = series.iter().map(|(_, points)| points.len() as u64).sum();
        if !series.is_empty() {
            let seq = state.take_seq();
            let superseded: Vec<u64> = old.iter().map(|block| block.seq).collect();
            let block = Block::write(&blocks_dir, seq, day, &superseded, &series)
                .map_err(io(&blocks_dir))?;
            state.add_block(block);
        }
        for block in old {
            std::fs::remove_file(&block.path).map_err(io(&block.path))?;
        }
        Ok(before - after)
    }

    /// Deletes every sample older than `cutoff` (Unix milliseconds).
    pub(super) fn delete_older_than(&self, cutoff: i64) -> Result<u64, EmbeddedError> {
        let mut state = self.state();
        if state.head_points > 0 {
            self.flush(&mut state)?;
        }
        let mut removed = 0;
        let days: std::collections::BTreeSet<i64> = state
            .blocks
            .iter()
            .filter(|block| block.min_ts < cutoff)
            .map(|block| block.day)
            .collect();
        for day in days {
            removed += self.rewrite_day(&mut state, day, cutoff)?;
        }
        Ok(removed)
    }

    /// The series of a metric in an environment (of one host if given) that
    /// hold samples in `from..=to`, each with those samples sorted by time.
    pub(super) fn read(&self, range: &Range<'_>) -> Result<Vec<SeriesPoints>, EmbeddedError> {
        let found = self.scan(
            range,
            Vec::new,
            |points: &mut Vec<(i64, f64)>, ts, value| {
                points.push((ts, value));
            },
        )?;
        Ok(found
            .into_iter()
            .map(|(info, mut points)| {
                if !points.is_sorted_by_key(|point| point.0) {
                    points.sort_by_key(|point| point.0);
                }
                SeriesPoints { info, points }
            })
            .collect())
    }

    /// Folds the samples in `range` of each series into an `A` made by
    /// `start`, without keeping them; samples come in time order within a
    /// block, not across blocks. Series without samples there are left out.
    pub(super) fn scan<A>(
        &self,
        range: &Range<'_>,
        start: impl Fn() -> A,
        add: impl Fn(&mut A, i64, f64) + Sync,
    ) -> Result<Vec<(SeriesInfo, A)>, EmbeddedError>
    where
        A: Send,
    {
        let (from, to) = (range.from, range.to);
        let (mut found, blocks) = {
            let state = self.state();
            let ids = state
                .by_metric
                .get(&(range.environment.to_owned(), range.name.to_owned()))
                .cloned()
                .unwrap_or_default();
            let found: Vec<(SeriesInfo, A, usize)> = ids
                .into_iter()
                .map(|id| &state.series[id as usize])
                .filter(|info| range.host.is_none_or(|host| info.host == host))
                .map(|info| {
                    let head = &state.head[info.id as usize];
                    let first = head.partition_point(|p| p.0 < from);
                    let end = head.partition_point(|p| p.0 <= to);
                    let mut folded = start();
                    for &(ts, value) in &head[first..end] {
                        add(&mut folded, ts, value);
                    }
                    (info.clone(), folded, end - first)
                })
                .collect();
            let blocks: Vec<Arc<Block>> = state
                .blocks
                .iter()
                .filter(|block| block.max_ts >= from && block.min_ts <= to)
                .cloned()
                .collect();
            (found, blocks)
        };
        // Series are independent: they are read on every core.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = found.len().div_ceil(threads).max(1);
        let (add, blocks) = (&add, &blocks);
        std::thread::scope(|scope| {
            let workers: Vec<_> = found
                .chunks_mut(per_thread)
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut buffer = Vec::new();
                        for (info, folded, count) in chunk {
                            for block in blocks {
                                if let Some(entry) = block.entry(info.id) {
                                    block.scan(entry, from, to, &mut buffer, |ts, value| {
                                        add(folded, ts, value);
                                        *count += 1;
                                    })?;
                                }
                            }
                        }
                        Ok::<(), EmbeddedError>(())
                    })
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|worker| worker.join().expect("a metric reader panicked"))
        })?;
        Ok(found
            .into_iter()
            .filter(|(_, _, count)| *count > 0)
            .map(|(info, folded, _)| (info, folded))
            .collect())
    }

    /// Names of the metrics with samples in `environment`.
    pub(super) fn names(&self, environment: &str) -> Vec<String> {
        let state = self.state();
        let mut names: Vec<String> = state
            .by_metric
            .iter()
            .filter(|((env, _), ids)| {
                env == environment
                    && ids.iter().any(|&id| {
                        !state.head[id as usize].is_empty()
                            || state.blocks.iter().any(|block| block.entry(id).is_some())
                    })
            })
            .map(|((_, name), _)| name.clone())
            .collect();
        names.sort();
        names
    }
}

impl State {
    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }

    fn add_block(&mut self, block: Block) {
        let block = Arc::new(block);
        let at = self
            .blocks
            .partition_point(|other| (other.day, other.seq) < (block.day, block.seq));
        self.blocks.insert(at, block);
    }

    /// The number of a series, made (and its line added to `new_lines`) if new.
    fn series_id(
        &mut self,
        environment: &str,
        host: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        new_lines: &mut String,
    ) -> u32 {
        let key = series_key(environment, host, name, labels);
        if let Some(id) = self.ids.get(&key) {
            return *id;
        }
        let info = SeriesInfo {
            id: self.series.len() as u32,
            environment: environment.to_owned(),
            host: host.to_owned(),
            name: name.to_owned(),
            labels: labels.clone(),
        };
        new_lines.push_str(&serde_json::to_string(&info).expect("series serializes"));
        new_lines.push('\n');
        self.ids.insert(key, info.id);
        self.by_metric
            .entry((environment.to_owned(), name.to_owned()))
            .or_default()
            .push(info.id);
        self.newest.push(i64::MIN);
        self.head.push(Vec::new());
        self.series.push(info);
        (self.series.len() - 1) as u32
    }

    /// Whether a sample of `id` at `ts` is held, in memory or in a block.
    fn holds(&self, id: u32, ts: i64) -> Result<bool, EmbeddedError> {
        if ts > self.newest[id as usize] {
            return Ok(false);
        }
        let head = &self.head[id as usize];
        if head.binary_search_by_key(&ts, |point| point.0).is_ok() {
            return Ok(true);
        }
        let day = day_of(ts);
        for block in self.blocks.iter().filter(|block| block.day == day) {
            if block.holds(id, ts)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn insert(&mut self, id: u32, ts: i64, value: f64) {
        let head = &mut self.head[id as usize];
        match head.last() {
            Some(last) if last.0 >= ts => {
                let at = head.partition_point(|point| point.0 < ts);
                head.insert(at, (ts, value));
            }
            _ => head.push((ts, value)),
        }
        self.head_points += 1;
        let newest = &mut self.newest[id as usize];
        *newest = (*newest).max(ts);
    }

    fn remove(&mut self, id: u32, ts: i64) {
        let head = &mut self.head[id as usize];
        if let Ok(at) = head.binary_search_by_key(&ts, |point| point.0) {
            head.remove(at);
            self.head_points -= 1;
        }
    }
}

/// The series file's entries, and the length of its whole lines (a line cut
/// short by a crash is dropped).
fn read_series(series_path: &Path) -> Result<(Vec<SeriesInfo>, u64), EmbeddedError> {
    let mut series: Vec<SeriesInfo> = Vec::new();
    let mut valid_len = 0u64;
    if let Ok(text) = std::fs::read_to_string(series_path) {
        for line in text.split_inclusive('\n') {
            // A line cut short by a crash is dropped: nothing acknowledged
            // refers to it, since series are synced before samples.
            let Some(json) = line.strip_suffix('\n') else {
                break;
            };
            let info: SeriesInfo = serde_json::from_str(json).map_err(|error| {
                format!(
                    "{}: line {}: {error}",
                    series_path.display(),
                    series.len() + 1
                )
            })?;
            if info.id as usize != series.len() {
                return Err(EmbeddedError::damaged(format!(
                    "{}: line {} has series number {}, expected {}",
                    series_path.display(),
                    series.len() + 1,
                    info.id,
                    series.len()
                )));
            }
            valid_len += line.len() as u64;
            series.push(info);
        }
    }
    Ok((series, valid_len))
}

/// The block files, oldest first, without those a later merge or retention
/// rewrite superseded (deleted now) and without unfinished `.tmp` files.
fn read_blocks(blocks_dir: &Path) -> Result<Vec<Block>, EmbeddedError> {
    let mut blocks = Vec::new();
    for entry in std::fs::read_dir(blocks_dir).map_err(io(blocks_dir))? {
        let path = entry.map_err(io(blocks_dir))?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("blk") => blocks.push(Block::open(&path)?),
            Some("tmp") => std::fs::remove_file(&path).map_err(io(&path))?,
            _ => {}
        }
    }
    let superseded: std::collections::HashSet<u64> = blocks
        .iter()
        .flat_map(|block| block.supersedes.iter().copied())
        .collect();
    let (stale, mut blocks): (Vec<Block>, Vec<Block>) = blocks
        .into_iter()
        .partition(|block| superseded.contains(&block.seq));
    for block in stale {
        std::fs::remove_file(&block.path).map_err(io(&block.path))?;
    }
    blocks.sort_by_key(|block| (block.day, block.seq));
    Ok(blocks)
}

/// Puts the samples of the write-ahead log's whole frames back in the head;
/// answers where the last whole frame ends.
fn replay(state: &mut State, bytes: &[u8]) -> Result<usize, EmbeddedError> {
    let mut at = 0;
    for (payload, end) in wal::frames(bytes) {
        if !payload.len().is_multiple_of(RECORD) {
            break;
        }
        for record in payload.chunks_exact(RECORD) {
            let id = u32::from_le_bytes(record[..4].try_into().expect("4"));
            let ts = i64::from_le_bytes(record[4..12].try_into().expect("8"));
            let value = f64::from_le_bytes(record[12..20].try_into().expect("8"));
            if (id as usize) < state.series.len() && !state.holds(id, ts)? {
                state.insert(id, ts, value);
            }
        }
        at = end;
    }
    Ok(at)
}

#[cfg(test)]
mod tests;
