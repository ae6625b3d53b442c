//! The embedded store's logs, kept the way log stores that ingest fast do
//! (ClickHouse, Loki): rows in compressed chunks, with a term index per
//! chunk and per segment that says which rows hold each word and field.
//!
//! - A write is checked for ids already held, given sequence numbers,
//!   encoded as chunks of rows (`chunk`), appended to the write-ahead log,
//!   kept in memory (the head), and answered once the WAL is synced; writes
//!   that arrive together share one sync. Each new chunk's term index
//!   (`terms`) is made as it is stored.
//! - Every [`HEAD_LIMIT`] rows the head becomes a segment (`segment`): its
//!   rows sorted newest first into granules stored as zstd-compressed
//!   columns (`columns`), with each granule's time span and dictionary
//!   (environments, hosts, files, levels) in the segment's meta, the
//!   chunks' term indexes merged into one; the rows' id hashes for
//!   duplicate checks stay in memory, and are made again from the
//!   granules' ids when a segment's have been let go. Then the WAL is
//!   emptied.
//! - Every [`MERGE_SEGMENTS`] such segments one after another are merged
//!   into one, on a thread of its own (`merge`), so that a search looks its
//!   terms up in fewer segments.
//! - A search asks each part's term index which rows can match (`plan`),
//!   starting from the segment's summary (its block table and each row's
//!   host, `summaries`), kept in memory within a budget,
//!   takes the granules (and head chunks) with such a row whose time span
//!   fits, newest first, and reads only those rows until it has a page:
//!   the newest lines, and where the next page starts. A count the index
//!   answers exactly reads no row it need not show.
//! - Retention drops whole segments, rewrites one that straddles the
//!   cutoff, and records the cutoff in the WAL for the head.
//!
//! An id is recognised as held if it is in the head or in a segment whose
//! time span covers the event's time: a resent event carries its original
//! time (the agent resends what its disk queue holds).

mod ahead;
mod blocks;
mod chunk;
mod columns;
mod count;
mod gaps;
mod merge;
mod plan;
pub(crate) mod query;
mod segment;
mod summaries;
mod templates;
mod terms;
#[cfg(test)]
mod tests;

use crate::embedded::error::{EmbeddedError, io};
use std::borrow::Cow;
use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use chrono::DateTime;

use super::wal::{self, GroupCommit};
use crate::LogLine;
use ahead::Ahead;
use chunk::{Builder, CHUNK_ROWS, Decoded, Id, Key, NewRow, RowRef, Span};
use columns::Wanted;
use count::{Asked, Counted, Counting, Fold, Folded, HostCount};
use plan::Candidates;
pub(super) use query::{Expr, parse};
pub(crate) use query::{line_matches, parse as parse_query};
use segment::{Granule, Segment};
use summaries::{HostOfRow, Summaries};
use terms::Terms;

/// Lines best handed to [`LogStore::append`] at a time: four of its largest
/// chunks. A batch up to this size becomes chunks as even as can be (an
/// agent's 20,000 lines three chunks of 6,667, not four of 4,096 and one
/// too small to be a granule, encoded and indexed again with the head).
pub(super) const APPEND_LINES: usize = 4 * CHUNK_ROWS;

/// Rows kept in memory (and the WAL) before they are written as a segment,
/// unless configured otherwise ([`LogMemory::head_lines`]).
const HEAD_LIMIT: usize = 256 * 1024;

/// Segments whose id hashes (8 bytes a row) duplicate checks keep in
/// memory, unless configured otherwise ([`LogMemory::id_lists`]), a merged
/// segment counting as the segments it merged: 16 MiB with full segments.
/// Late lines are checked against the newest segments; an old segment's
/// list is made again from its granules' ids when needed.
const ID_LISTS: usize = 8;

/// Segments of a head's lines merged into one, unless configured otherwise
/// ([`LogMemory::merge_segments`]): 117 segments at 30M lines become 30,
/// and the merge holds one term index of about 15 MiB in memory.
const MERGE_SEGMENTS: usize = 4;

/// Bytes of segments' index summaries (block table, and a byte naming each
/// row's host: about 0.3 MiB a segment of 256k lines) kept between
/// searches, unless configured otherwise ([`LogMemory::index_cache`]):
/// enough for about 50M lines.
const INDEX_CACHE: usize = 64 * 1024 * 1024;

/// What the logs keep in memory, whatever the number of lines stored: the
/// head (up to `head_lines` lines with their term indexes and id hashes),
/// the id hashes of up to `id_lists` heads' worth of segments, up to
/// `index_cache` bytes of segments' index summaries, and while segments
/// are merged, the merged one's term index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogMemory {
    /// Lines kept in memory (and the WAL) before they are written as a
    /// segment: fewer make smaller segments, so more of them to read.
    pub head_lines: usize,
    /// Segments whose id hashes (8 bytes a line) stay in memory for
    /// duplicate checks, a merged segment counting as many as it merged;
    /// older ones are made again from their granules' ids when a late line
    /// needs them.
    pub id_lists: usize,
    /// Bytes of segments' index summaries kept between searches, the
    /// newest segments' first; a search reads an older segment's again.
    pub index_cache: usize,
    /// Segments of about a head's lines merged into one once there are
    /// this many one after another (fewer than 2: none), so that a search
    /// looks its terms up in fewer segments.
    pub merge_segments: usize,
}

impl Default for LogMemory {
    fn default() -> Self {
        Self {
            head_lines: HEAD_LIMIT,
            id_lists: ID_LISTS,
            index_cache: INDEX_CACHE,
            merge_segments: MERGE_SEGMENTS,
        }
    }
}

/// WAL frames (`wal`): the payload is a u8 kind, then a chunk or a cutoff
/// (i64 µs).
const FRAME_HEADER: usize = wal::HEADER + 1;
const FRAME_CHUNK: u8 = 1;
const FRAME_CUTOFF: u8 = 2;

/// One log line to store.
#[derive(Debug, Clone, Copy)]
pub(super) struct NewLine<'a> {
    /// Microseconds since the epoch.
    pub ts: i64,
    pub file: &'a str,
    pub level: Option<&'a str>,
    pub logger: Option<&'a str>,
    pub id: &'a str,
    /// Where the sender read it, if it says (see [`Id::of_line`]).
    pub origin: Option<aerie_wire::Origin>,
    pub message: &'a str,
}

/// Which lines, newest first.
#[derive(Debug, Clone, Copy)]
pub(super) struct Search<'a> {
    pub environment: &'a str,
    pub host: Option<&'a str>,
    pub level: Option<&'a str>,
    pub file: Option<&'a str>,
    /// Inclusive, µs.
    pub from: i64,
    pub to: i64,
    /// Only lines that sort before this (the previous page's last).
    pub below: Option<Key>,
    pub limit: usize,
    pub expr: &'a Expr,
}

impl Search<'_> {
    /// Whether a place whose rows span `span` may hold a line of the
    /// search's time (and before its `below`).
    fn in_time(&self, span: &Span) -> bool {
        span.max_key.0 >= self.from
            && span.min_key.0 <= self.to
            && self.below.is_none_or(|below| span.min_key < below)
    }

    /// Whether a place whose rows span `span` may hold a line of the
    /// search: in its time, and its dictionary holds the environment, host,
    /// file and level asked for.
    fn fits(&self, span: &Span) -> bool {
        self.in_time(span)
            && span.index_of(self.environment).is_some()
            && self.host.is_none_or(|host| span.index_of(host).is_some())
            && self.file.is_none_or(|file| span.index_of(file).is_some())
            && self
                .level
                .is_none_or(|level| span.dict.iter().any(|e| e.eq_ignore_ascii_case(level)))
    }
}

/// A page of lines, newest first, and the key of the last if more follow.
#[derive(Debug)]
pub(super) struct Page {
    pub lines: Vec<LogLine>,
    pub next: Option<Key>,
}

pub(super) struct LogStore {
    dir: PathBuf,
    head_limit: usize,
    state: Arc<Mutex<State>>,
    summaries: Arc<Summaries>,
    sync: GroupCommit,
    merger: merge::Merger,
}

impl Drop for LogStore {
    /// Waits for a merge under way: a store opened again on the same
    /// directory must find it done or not begun.
    fn drop(&mut self) {
        self.merger.finish();
    }
}

impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Rows in memory: the WAL frame that holds them.
struct Chunk {
    span: Span,
    frame: Vec<u8>,
    /// Its term index, made when it is stored (or, for chunks replayed from
    /// the WAL, when the store opens).
    index: OnceLock<Vec<u8>>,
    /// Its rows' hosts, made by the first count that asks.
    hosts: OnceLock<Option<HostOfRow>>,
}

impl Chunk {
    fn new(span: Span, frame: Vec<u8>) -> Self {
        Self {
            span,
            frame,
            index: OnceLock::new(),
            hosts: OnceLock::new(),
        }
    }

    /// The chunk's term index, made if it is not yet.
    fn index(&self) -> Result<&Vec<u8>, EmbeddedError> {
        if let Some(index) = self.index.get() {
            return Ok(index);
        }
        let mut builder = terms::Builder::default();
        builder.add(&chunk::decode(self.bytes())?);
        let made = builder.finish().into_bytes();
        Ok(self.index.get_or_init(|| made))
    }

    /// Its rows' hosts (from `terms`, its index), made if they are not yet.
    fn hosts(&self, terms: &Terms<'_>) -> Result<Option<&HostOfRow>, EmbeddedError> {
        if let Some(hosts) = self.hosts.get() {
            return Ok(hosts.as_ref());
        }
        let made = HostOfRow::of_index(terms)?;
        Ok(self.hosts.get_or_init(|| made).as_ref())
    }

    fn bytes(&self) -> &[u8] {
        &self.frame[FRAME_HEADER..]
    }
}

/// The set of id hashes in the head: they are hashes already, so the set
/// need not hash them again.
type IdSet = HashSet<u64, aerie_common::BuildPrehashed>;

struct State {
    head: Vec<Arc<Chunk>>,
    head_rows: usize,
    /// Id hashes of the head's rows.
    head_ids: IdSet,
    segments: Vec<Arc<Segment>>,
    /// Segments whose id hashes are in memory, least recently used first:
    /// at most `id_limit` heads' worth, so memory does not grow with the
    /// lines stored.
    id_lists: VecDeque<Arc<Segment>>,
    id_limit: usize,
    head_limit: usize,
    /// No segment holds a line newer than this (µs): lines newer than every
    /// segment, the usual case, need no look at them for duplicates.
    /// Retention only lowers the true value, so it is never too low.
    segments_newest: i64,
    next_seq: u64,
    wal: File,
    /// The WAL's length now.
    wal_len: u64,
    /// Bytes ever appended to the WAL (it is emptied after each flush).
    wal_written: u64,
}

/// A row with the chunk dictionary it refers to.
type Sourced<'a> = (RowRef<'a>, &'a [&'a str]);

/// Rows (any order) as granules sorted newest first.
fn granules_of(mut rows: Vec<Sourced<'_>>) -> Vec<(Span, Vec<u8>)> {
    // Chunks are each sorted and mostly follow one another, so this is
    // close to a merge.
    rows.sort_by_key(|(row, _)| std::cmp::Reverse(row.key()));
    rows.chunks(CHUNK_ROWS)
        .filter_map(|part| {
            let mut builder = Builder::default();
            for (row, dict) in part {
                builder.push(&NewRow::from_ref(row, dict));
            }
            builder.finish()
        })
        .collect()
}

/// Fills in the header of a frame of `kind` whose body follows
/// [`FRAME_HEADER`] reserved bytes.
fn seal(frame: &mut [u8], kind: u8) {
    frame[wal::HEADER] = kind;
    wal::seal(frame);
}

impl LogStore {
    /// Opens the store in `dir` (created if needed): the segments, then the
    /// WAL replayed into the head. A WAL frame cut short by a crash was
    /// never acknowledged and is dropped.
    pub(super) fn open(dir: &Path, memory: LogMemory) -> Result<Self, EmbeddedError> {
        let head_limit = memory.head_lines.max(1);
        let segments_dir = dir.join("segments");
        std::fs::create_dir_all(&segments_dir).map_err(io(&segments_dir))?;
        let mut segments = Vec::new();
        for entry in std::fs::read_dir(&segments_dir).map_err(io(&segments_dir))? {
            let path = entry.map_err(io(&segments_dir))?.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("seg") => segments.push(Segment::open(&path)?),
                Some("tmp") => std::fs::remove_file(&path).map_err(io(&path))?,
                _ => {}
            }
        }
        for at in merge::leftovers(&segments).into_iter().rev() {
            let leftover = segments.remove(at);
            std::fs::remove_file(&leftover.path).map_err(io(&leftover.path))?;
        }
        segments.sort_by_key(Segment::flushed_through);
        let flushed = segments
            .iter()
            .map(Segment::flushed_through)
            .max()
            .unwrap_or(0);

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
            head: Vec::new(),
            head_rows: 0,
            head_ids: IdSet::with_capacity_and_hasher(head_limit, Default::default()),
            segments_newest: segments
                .iter()
                .map(|segment| segment.time_range().1)
                .max()
                .unwrap_or(i64::MIN),
            segments: segments.into_iter().map(Arc::new).collect(),
            id_lists: VecDeque::with_capacity(memory.id_lists + 1),
            id_limit: memory.id_lists,
            head_limit,
            next_seq: flushed,
            wal,
            wal_len: 0,
            wal_written: 0,
        };
        let mut at = 0;
        for (payload, end) in wal::frames(&bytes) {
            let Some(&kind) = payload.first() else {
                break;
            };
            match kind {
                FRAME_CHUNK => {
                    let decoded = chunk::decode(&payload[1..]).map_err(|e| {
                        EmbeddedError::damaged(format!("{}: {e}", wal_path.display()))
                    })?;
                    // Rows below `flushed` were written to a segment before
                    // a crash kept the WAL from being emptied.
                    state.add_to_head(&decoded, |row| row.seq >= flushed);
                }
                FRAME_CUTOFF if payload.len() == 9 => {
                    let cutoff = i64::from_le_bytes(payload[1..9].try_into().expect("8"));
                    state.cut_head(cutoff)?;
                }
                _ => break,
            }
            at = end;
        }
        state.wal.set_len(at as u64).map_err(io(&wal_path))?;
        state.wal.seek(SeekFrom::End(0)).map_err(io(&wal_path))?;
        state.wal_len = at as u64;
        state.wal_written = at as u64;
        let sync = GroupCommit::new(
            at as u64,
            vec![(
                wal_path.clone(),
                state.wal.try_clone().map_err(io(&wal_path))?,
            )],
        );
        // What the first search would otherwise make or read: the term
        // indexes of the chunks replayed from the WAL (60 ms for a full
        // head), and the segments' index summaries.
        let summaries = Arc::new(Summaries::new(memory.index_cache));
        let newest_first: Vec<Arc<Segment>> = state.segments.iter().rev().cloned().collect();
        in_pool(|| {
            // A chunk whose index cannot be made is left for the search
            // that reads it to report.
            on_every_core(&state.head, |chunk| chunk.index().is_ok());
            summaries.warm(&newest_first);
        });
        let state = Arc::new(Mutex::new(state));
        let policy = merge::Policy {
            segments: memory.merge_segments,
            head_lines: head_limit,
        };
        let merger = merge::Merger::new(policy, dir, &state, &summaries);
        // Segments written before merging was, or left unmerged when the
        // store stopped.
        merger.when_due();
        Ok(Self {
            dir: dir.to_owned(),
            head_limit,
            state,
            summaries,
            sync,
            merger,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores the lines of one host, durably; answers (stored, duplicates).
    #[cfg(test)]
    pub(super) fn write(
        &self,
        environment: &str,
        host: &str,
        lines: &[NewLine<'_>],
    ) -> Result<(u64, u64), EmbeddedError> {
        let (stored, duplicates, mark) = self.append(environment, host, lines)?;
        self.sync(mark)?;
        Ok((stored, duplicates))
    }

    /// Stores the lines of one host, not yet durably: answers (stored,
    /// duplicates, mark), and the lines are durable once [`LogStore::sync`]
    /// of that mark (or a later one) returns. A batch may be appended in
    /// parts and synced once.
    pub(super) fn append(
        &self,
        environment: &str,
        host: &str,
        lines: &[NewLine<'_>],
    ) -> Result<(u64, u64, u64), EmbeddedError> {
        let ids: Vec<Id<'_>> = lines
            .iter()
            .map(|line| Id::of_line(line.id, host, line.origin))
            .collect();
        let (wal_written, stored, chunks, flushed) = {
            let mut state = self.state();
            let mut accepted: Vec<(usize, u64)> = Vec::with_capacity(lines.len());
            let keys: Vec<u64> = ids.iter().map(|id| id.key(environment)).collect();
            for (index, (line, &hash)) in lines.iter().zip(&keys).enumerate() {
                if !state.head_ids.insert(hash) {
                    continue;
                }
                match state.in_segments(hash, line.ts) {
                    Ok(false) => {}
                    Ok(true) => {
                        state.head_ids.remove(&hash);
                        continue;
                    }
                    Err(error) => {
                        // Nothing of this part is kept: its ids must not
                        // count as held when it is sent again.
                        state.head_ids.remove(&hash);
                        for &(index, _) in &accepted {
                            state.head_ids.remove(&keys[index]);
                        }
                        return Err(error);
                    }
                }
                accepted.push((index, state.next_seq));
                state.next_seq += 1;
            }
            // Newest first: (time, sequence) descending.
            accepted.sort_by(|a, b| (lines[b.0].ts, b.1).cmp(&(lines[a.0].ts, a.1)));
            let mut chunks = Vec::new();
            for part in accepted.chunks(chunk::even_chunk(accepted.len())) {
                // A row is its message and at most 60 bytes more.
                let bytes = part
                    .iter()
                    .map(|&(index, _)| lines[index].message.len() + 60)
                    .sum();
                let mut builder = Builder::with_capacity(FRAME_HEADER, bytes);
                for &(index, seq) in part {
                    let line = &lines[index];
                    builder.push(&NewRow {
                        ts: line.ts,
                        seq,
                        env: environment,
                        host,
                        file: line.file,
                        level: line.level,
                        logger: line.logger,
                        id: ids[index],
                        message: line.message.as_bytes(),
                    });
                }
                if let Some((span, mut frame)) = builder.finish() {
                    seal(&mut frame, FRAME_CHUNK);
                    chunks.push(Arc::new(Chunk::new(span, frame)));
                }
            }
            let frames: Vec<&[u8]> = chunks.iter().map(|chunk| chunk.frame.as_slice()).collect();
            if let Err(error) = state.append(&frames) {
                // Not acknowledged, so not kept: the agent sends it again.
                for &(index, _) in &accepted {
                    state.head_ids.remove(&keys[index]);
                }
                return Err(EmbeddedError::damaged(format!(
                    "{}: {error}",
                    self.dir.join("wal").display()
                )));
            }
            state.head_rows += accepted.len();
            state.head.extend(chunks.iter().cloned());
            let flushed = state.head_rows >= self.head_limit;
            if flushed {
                self.flush(&mut state)?;
            }
            let stored = accepted.len() as u64;
            (state.wal_written, stored, chunks, flushed)
        };
        if flushed {
            self.merger.when_due();
        }
        // Indexed out of the lock, so that other writers go on meanwhile. A
        // chunk that cannot be indexed fails the first search that reads
        // it, which says why; the write itself is kept.
        for chunk in &chunks {
            let _ = chunk.index();
        }
        Ok((stored, lines.len() as u64 - stored, wal_written))
    }

    /// Syncs the WAL unless a sync since `written` did.
    pub(super) fn sync(&self, written: u64) -> Result<(), EmbeddedError> {
        self.sync.sync_to(written, || self.state().wal_written)
    }

    /// Writes the head as a segment and empties the WAL. Chunks of at least
    /// half a granule become granules as they are; smaller ones (an agent's
    /// batches are often small) are merged.
    fn flush(&self, state: &mut State) -> Result<(), EmbeddedError> {
        let head = std::mem::take(&mut state.head);
        let (whole, small): (Vec<&Arc<Chunk>>, Vec<&Arc<Chunk>>) = head
            .iter()
            .partition(|chunk| chunk.span.rows as usize >= CHUNK_ROWS / 2);
        let ids: Vec<u64> = state.head_ids.iter().copied().collect();
        let written = (|| {
            let decoded: Vec<Decoded<'_>> = small
                .iter()
                .map(|chunk| chunk::decode(chunk.bytes()))
                .collect::<Result<_, _>>()?;
            let rows: Vec<Sourced<'_>> = decoded
                .iter()
                .flat_map(|d| d.rows.iter().map(move |row| (*row, d.dict.as_slice())))
                .collect();
            let merged = granules_of(rows);
            let granules = whole
                .iter()
                .map(|chunk| (chunk.span.clone(), chunk.bytes()))
                .chain(
                    merged
                        .iter()
                        .map(|(span, bytes)| (span.clone(), bytes.as_slice())),
                )
                .collect();
            // Rows are numbered in the granules' order: the whole chunks'
            // indexes, then one of the merged granules, merged in turn.
            let mut of_merged = terms::Builder::default();
            for (_, bytes) in &merged {
                of_merged.add(&chunk::decode(bytes)?);
            }
            let of_merged = of_merged.finish().into_bytes();
            let mut parts = Vec::with_capacity(whole.len() + 1);
            for chunk in &whole {
                parts.push(Terms::open(chunk.index()?)?);
            }
            parts.push(Terms::open(&of_merged)?);
            let index = terms::merge(&parts)?;
            let through = state.next_seq;
            let path = self.dir.join("segments").join(format!("{through:020}.seg"));
            Segment::write(&path, through, granules, &index, ids)
        })();
        let segment = match written {
            Ok(segment) => segment,
            Err(error) => {
                state.head = head;
                return Err(error);
            }
        };
        state.segments_newest = state.segments_newest.max(segment.time_range().1);
        let segment = Arc::new(segment);
        // Written with its ids in memory: late lines are checked against it.
        state.used(&segment);
        // And its index's summary, for the next search.
        self.summaries.warm(std::slice::from_ref(&segment));
        state.segments.push(segment);
        state.head_rows = 0;
        // Emptied, not replaced: it keeps its room for the next head.
        state.head_ids.clear();
        let wal_path = self.dir.join("wal");
        state.wal.set_len(0).map_err(io(&wal_path))?;
        state.wal.seek(SeekFrom::Start(0)).map_err(io(&wal_path))?;
        state.wal.sync_all().map_err(io(&wal_path))?;
        state.wal_len = 0;
        Ok(())
    }

    /// The parts (head chunks and granules) whose time span and dictionary
    /// fit the search and whose term index lets a row through, each with
    /// those rows, in no order. Indexes are read on every core. For a count
    /// (`bucket`), parts the index answers exactly have their rows counted
    /// per host ([`Part::per_host`]), and are folded instead of kept when
    /// `bucket` gives them one bucket ([`Counting`]).
    fn parts(
        &self,
        search: &Search<'_>,
        asked: Option<Asked<'_>>,
    ) -> Result<(Vec<Part>, Vec<Folded>), EmbeddedError> {
        let (head, segments): (Vec<Arc<Chunk>>, Vec<Arc<Segment>>) = {
            let state = self.state();
            (
                state
                    .head
                    .iter()
                    .filter(|chunk| search.fits(&chunk.span))
                    .cloned()
                    .collect(),
                state
                    .segments
                    .iter()
                    .filter(|segment| segment.granules().iter().any(|g| search.fits(&g.span)))
                    .cloned()
                    .collect(),
            )
        };
        let from_head = on_every_core(&head, |chunk| {
            let terms = Terms::open(chunk.index()?)?;
            let candidates = plan::candidates(&terms, search)?;
            let counting = match asked {
                Some(asked) if counted_from_index(&candidates) => {
                    asked.counting(|| chunk.hosts(&terms))?
                }
                _ => None,
            };
            let place = |_| Some(Place::Head(Arc::clone(chunk)));
            Ok(parts_of(&[&chunk.span], place, &candidates, counting))
        });
        let ahead = ahead::look_up(&segments, &self.summaries, search);
        let segments: Vec<(Arc<Segment>, Ahead)> = segments.into_iter().zip(ahead).collect();
        let from_segments = on_every_core(&segments, |(segment, ahead)| {
            segment_parts(segment, &self.summaries, search, asked, ahead)
        });
        let (mut parts, mut folded) = (Vec::new(), Vec::new());
        for found in from_head.into_iter().chain(from_segments) {
            let (found, its_folded): (Vec<Part>, Folded) = found?;
            parts.extend(found);
            folded.push(its_folded);
        }
        Ok((parts, folded))
    }

    /// The newest lines the search asks for (up to `limit`), and the key to
    /// continue from when there are more.
    pub(super) fn search(&self, search: &Search<'_>) -> Result<Page, EmbeddedError> {
        let (mut parts, _) = self.parts(search, None)?;
        parts.sort_by_key(|part| std::cmp::Reverse(part.max_key));
        let limit = search.limit.max(1);
        let threads = cores();
        let mut best: Vec<(Key, LogLine)> = Vec::with_capacity(limit + 1);
        // Parts are read newest first, a few per thread at a time; a search
        // stops once its page is full and no part left can hold a newer line.
        let wave_size = threads * 2;
        let (mut next, mut asked) = (0, 0);
        loop {
            let floor = (best.len() > limit).then(|| best[limit].0);
            let start = next;
            while next - start < wave_size
                && let Some(part) = parts.get(next)
            {
                if floor.is_some_and(|floor| part.max_key < floor) {
                    break;
                }
                next += 1;
            }
            let wave = &parts[start..next];
            if wave.is_empty() {
                break;
            }
            // The wave's granules are asked for at once, so that reads of
            // those not in memory overlap; once a search needs a second
            // wave, the next one's are asked for too, to come in while this
            // one is scanned. `asked` never passes `ahead_to`: each wave
            // ends at or after the one before.
            let ahead_to = match start {
                0 => next,
                _ => (next + wave_size).min(parts.len()),
            };
            for part in &parts[asked..ahead_to] {
                part.place.read_ahead();
            }
            asked = ahead_to;
            let found = on_every_core(wave, |part| scan(part, search, floor, limit));
            for lines in found {
                best.extend(lines?);
            }
            best.sort_by_key(|(key, _)| std::cmp::Reverse(*key));
            best.truncate(limit + 1);
        }
        let more = best.len() > limit;
        best.truncate(limit);
        Ok(Page {
            next: more.then(|| best.last().map(|(key, _)| *key)).flatten(),
            lines: best.into_iter().map(|(_, line)| line).collect(),
        })
    }

    /// Deletes the lines older than `cutoff` (µs); answers how many went.
    pub(super) fn delete_older_than(&self, cutoff: i64) -> Result<u64, EmbeddedError> {
        let mut state = self.state();
        let mut removed = 0;
        let mut kept = Vec::with_capacity(state.segments.len());
        let mut segments = std::mem::take(&mut state.segments).into_iter();
        let mut failed = None;
        for segment in segments.by_ref() {
            let (min_ts, max_ts) = segment.time_range();
            if min_ts >= cutoff {
                kept.push(segment);
            } else if max_ts < cutoff {
                match std::fs::remove_file(&segment.path) {
                    Ok(()) => removed += segment.rows(),
                    Err(error) => {
                        failed = Some(io(&segment.path)(error));
                        kept.push(segment);
                        break;
                    }
                }
            } else {
                match rewrite(&segment, cutoff) {
                    Ok((rewritten, gone)) => {
                        kept.push(Arc::new(rewritten));
                        removed += gone;
                    }
                    Err(error) => {
                        failed = Some(error);
                        kept.push(segment);
                        break;
                    }
                }
            }
        }
        // On a failure the segments not yet looked at stay as they are.
        kept.extend(segments);
        state.segments = kept;
        // Removed and rewritten segments' id lists go with them.
        let State {
            segments, id_lists, ..
        } = &mut *state;
        id_lists.retain(|held| segments.iter().any(|s| Arc::ptr_eq(s, held)));
        if let Some(error) = failed {
            return Err(error);
        }
        let in_head = state.cut_head(cutoff)?;
        if in_head > 0 {
            // The WAL still holds those rows: the cutoff goes after them.
            let mut marker = vec![0; FRAME_HEADER];
            marker.extend_from_slice(&cutoff.to_le_bytes());
            seal(&mut marker, FRAME_CUTOFF);
            state
                .append(&[&marker])
                .and_then(|()| state.wal.sync_data())
                .map_err(io(&self.dir.join("wal")))?;
        }
        Ok(removed + in_head)
    }
}

/// The threads of the pool the store reads on: one a core.
fn cores() -> usize {
    rayon::current_num_threads()
}

/// `work` run on rayon's pool: a search or count run there hands out its
/// reads ([`on_every_core`]) to the pool's threads directly, instead of
/// sending each batch from outside and waiting for it (a wake-up of the
/// pool and of the caller each time, four or five a count).
pub(super) fn in_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// `work` done on each of `items`, on rayon's pool (a thread a core, kept
/// between queries); the answers in the items' order.
fn on_every_core<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync + Send) -> Vec<R> {
    use rayon::iter::{IntoParallelRefIterator, ParallelIterator};
    if items.len() < 2 {
        return items.iter().map(work).collect();
    }
    items.par_iter().map(work).collect()
}

/// Where a part's rows are: a chunk of the head or a segment's granule.
enum Place {
    Head(Arc<Chunk>),
    Granule(Arc<Segment>, usize),
}

/// What a search reads: a place and which of its rows can match.
struct Part {
    place: Place,
    /// The key of the place's newest row.
    max_key: Key,
    /// The rows (numbered in the place, newest first) the term index lets
    /// through, in order; `None`: every row.
    rows: Option<Vec<u32>>,
    /// Whether every row let through matches, so that rows are not checked.
    exact: bool,
    /// The oldest and newest row times (µs).
    times: (i64, i64),
    /// When the index answered exactly and was asked to: how many rows
    /// let through each host has.
    per_host: Option<Vec<HostCount>>,
}

impl Place {
    /// Asks for its granule to be read ahead (a head's chunk is in memory).
    fn read_ahead(&self) {
        if let Place::Granule(segment, at) = self {
            segment.read_granule_ahead(*at);
        }
    }
}

impl Part {
    /// Its rows: the head's chunk, or its granule uncompressed.
    fn rows(&self) -> Result<Granule<'_>, EmbeddedError> {
        Ok(match &self.place {
            Place::Head(chunk) => Granule::Chunk(Cow::Borrowed(chunk.bytes())),
            Place::Granule(segment, at) => {
                let wanted = self.rows.as_deref().map_or(Wanted::Every, Wanted::Rows);
                segment.granule(*at, wanted)?
            }
        })
    }
}

/// Whether a count's rows are counted from the index (per host when
/// asked): when the index answers exactly.
fn counted_from_index(candidates: &Candidates) -> bool {
    candidates.exact && candidates.rows.is_some()
}

/// The parts at the places with `spans` (their rows numbered one after
/// another in the index that gave `candidates`) that hold a candidate,
/// each narrowed to its candidates; `place` says where the `at`th span's
/// rows are, or `None` to leave it out. With `counting`, the candidates of
/// each part are counted per host (unless one of its has no host), and
/// those of a part in one bucket folded instead of kept.
fn parts_of(
    spans: &[&Span],
    place: impl Fn(usize) -> Option<Place>,
    candidates: &Candidates,
    counting: Option<Counting<'_>>,
) -> (Vec<Part>, Folded) {
    let part = |at: usize, span: &Span, rows: Option<Vec<u32>>, per_host| {
        Some(Part {
            place: place(at)?,
            max_key: span.max_key,
            rows,
            exact: candidates.exact,
            times: (span.min_key.0, span.max_key.0),
            per_host,
        })
    };
    let Some(all) = &candidates.rows else {
        let every = spans.iter().enumerate();
        let parts = every.filter_map(|(at, span)| part(at, span, None, None));
        return (parts.collect(), Folded::default());
    };
    // Few candidates are listed once and split among the spans; many are
    // asked of the bitmap span by span, so that a span whose rows all are
    // candidates is not listed.
    let rows: u64 = spans.iter().map(|span| u64::from(span.rows)).sum();
    let listed: Option<Vec<u32>> = (all.len() * 8 < rows).then(|| all.iter().collect());
    // For a count, the hosts of the rows listed are looked up all at once:
    // rows far apart are each a cache miss, and in one loop the processor
    // has many in flight, where part by part it had a few.
    let hosts_of_listed: Vec<Option<usize>> = match (&listed, &counting) {
        (Some(listed), Some(counting)) => {
            (listed.iter()).map(|&row| counting.hosts.of(row)).collect()
        }
        _ => Vec::new(),
    };
    let mut parts = Vec::new();
    let mut fold = counting.map(Fold::new);
    let (mut first_row, mut taken) = (0u32, 0usize);
    for (at, span) in spans.iter().enumerate() {
        let range = first_row..first_row + span.rows;
        first_row = range.end;
        // `None`: every row of the span.
        let its: Option<Cow<'_, [u32]>> = match &listed {
            Some(listed) => {
                let held = listed[taken..].partition_point(|&row| row < range.end);
                taken += held;
                Some(Cow::Borrowed(&listed[taken - held..taken]))
            }
            None if all.range_cardinality(range.clone()) == u64::from(span.rows) => None,
            None => Some(Cow::Owned(all.range(range.clone()).collect())),
        };
        if its.as_ref().is_some_and(|its| its.is_empty()) {
            continue;
        }
        let counted = fold.as_mut().map(|fold| {
            let hosts = fold.hosts();
            match (&its, &listed) {
                (Some(its), Some(_)) => {
                    let of_its = &hosts_of_listed[taken - its.len()..taken];
                    fold.take(
                        at,
                        span,
                        of_its.iter().copied().zip(its.iter().copied()),
                        range.start,
                    )
                }
                (Some(its), None) => {
                    let of_its = its.iter().map(|&row| (hosts.of(row), row));
                    fold.take(at, span, of_its, range.start)
                }
                (None, _) => {
                    let of_all = range.clone().map(|row| (hosts.of(row), row));
                    fold.take(at, span, of_all, range.start)
                }
            }
        });
        let per_host = match counted {
            Some(Counted::Folded) => continue,
            Some(Counted::PerHost(counts)) => Some(counts),
            Some(Counted::Unknown) | None => None,
        };
        let some = its.filter(|its| its.len() != span.rows as usize);
        let rows = some.map(|its| its.iter().map(|row| row - range.start).collect());
        parts.extend(part(at, span, rows, per_host));
    }
    let folded = fold.map(|fold| fold.finish(spans, &place));
    (parts, folded.unwrap_or_default())
}

/// The parts of `segment` whose term index lets a row of `search` through,
/// in the search's time (every granule that [fits](Search::fits), for a
/// segment without an index: an index rules out the rest, so granules'
/// dictionaries are not asked), and for a count what it folded of them.
/// Its index's summary and the search's lookups come from `ahead` when it
/// holds them; the summary otherwise from (or goes to) `summaries`.
fn segment_parts(
    segment: &Arc<Segment>,
    summaries: &Summaries,
    search: &Search<'_>,
    asked: Option<Asked<'_>>,
    ahead: &Ahead,
) -> Result<(Vec<Part>, Folded), EmbeddedError> {
    let spans: Vec<&Span> = segment.granules().iter().map(|g| &g.span).collect();
    let Some(index) = segment.index() else {
        let everything = Candidates {
            rows: None,
            exact: false,
        };
        let place = |at: usize| {
            let fits = search.fits(spans[at]);
            fits.then(|| Place::Granule(Arc::clone(segment), at))
        };
        return Ok(parts_of(&spans, place, &everything, None));
    };
    let place = |at: usize| {
        let in_time = search.in_time(spans[at]);
        in_time.then(|| Place::Granule(Arc::clone(segment), at))
    };
    let summary = match &ahead.summary {
        Some(summary) => Arc::clone(summary),
        None => summaries.of(segment, &index)?,
    };
    let terms = Terms::with_table(&index, Arc::clone(&summary.table)).with_found(&ahead.found);
    if u64::from(terms.rows) != segment.rows() {
        return Err(EmbeddedError::damaged(format!(
            "{}: its term index counts {} rows, its granules {}; the segment is damaged",
            segment.path.display(),
            terms.rows,
            segment.rows()
        )));
    }
    let candidates = plan::candidates(&terms, search)?;
    let counting = match asked {
        Some(asked) if counted_from_index(&candidates) => {
            asked.counting(|| Ok(summary.hosts.as_ref()))?
        }
        _ => None,
    };
    Ok(parts_of(&spans, place, &candidates, counting))
}

/// The newest lines of one part (up to `limit + 1`) that match `search` and
/// sort after `floor`.
fn scan(
    part: &Part,
    search: &Search<'_>,
    floor: Option<Key>,
    limit: usize,
) -> Result<Vec<(Key, LogLine)>, EmbeddedError> {
    let mut found = Vec::new();
    visit(part, search, floor, |row, dict, line| {
        let text = |at: u16| dict.get(at as usize).copied();
        found.push((
            row.key(),
            LogLine {
                id: row.id.to_string(),
                timestamp: DateTime::from_timestamp_micros(row.ts).unwrap_or_default(),
                host: line.host.to_owned(),
                file: text(row.file).unwrap_or_default().to_owned(),
                level: line.level.map(str::to_owned),
                logger: text(row.logger).map(str::to_owned),
                message: String::from_utf8_lossy(row.message).into_owned(),
            },
        ));
        // Rows are newest first: the first `limit + 1` matches are the part's.
        if found.len() > limit {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    Ok(found)
}

/// Shows `found` each row of one part that matches `search`, newest first,
/// until it says to stop or a row sorts before `floor`. Only the rows the
/// part's term index let through are looked at, and they are not matched
/// again when it answered exactly.
fn visit(
    part: &Part,
    search: &Search<'_>,
    floor: Option<Key>,
    mut found: impl FnMut(&RowRef<'_>, &[&str], &query::Line<'_>) -> ControlFlow<()>,
) -> Result<(), EmbeddedError> {
    let held = part.rows()?;
    let decoded = held.decode()?;
    let candidates: Vec<&RowRef<'_>> = match &part.rows {
        None => decoded.rows.iter().collect(),
        Some(rows) => rows
            .iter()
            .map(|&at| decoded.rows.get(at as usize))
            .collect::<Option<_>>()
            .ok_or("a term index names a row its chunk does not hold")?,
    };
    let index = |value: &str| decoded.dict.iter().position(|e| *e == value);
    let Some(env) = index(search.environment) else {
        return Ok(());
    };
    let host = search.host.map(index);
    let file = search.file.map(index);
    let level = search.level.map(|level| {
        decoded
            .dict
            .iter()
            .position(|e| e.eq_ignore_ascii_case(level))
    });
    let wanted = |want: Option<Option<usize>>, have: u16| match want {
        None => true,
        Some(want) => want == Some(have as usize),
    };
    let needs_text = !part.exact && search.expr.needs_text();
    let mut text = Vec::with_capacity(1024);
    for row in candidates {
        let key = row.key();
        if floor.is_some_and(|floor| key < floor) {
            break;
        }
        if row.ts > search.to
            || row.ts < search.from
            || search.below.is_some_and(|below| key >= below)
            || row.env as usize != env
            || !wanted(host, row.host)
            || !wanted(file, row.file)
            || !wanted(level, row.level)
        {
            continue;
        }
        let dict = |at: u16| decoded.dict.get(at as usize).copied();
        let mut logger_at = 0;
        if needs_text {
            text.clear();
            text.push(b' ');
            query::normalize_into(row.message, &mut text);
            text.extend_from_slice(b"\n ");
            logger_at = text.len() - 1;
            if let Some(logger) = dict(row.logger) {
                query::normalize_into(logger.as_bytes(), &mut text);
            }
        }
        let line = query::Line {
            text: &text,
            logger_at,
            level: dict(row.level),
            host: dict(row.host).unwrap_or_default(),
        };
        if (part.exact || search.expr.matches(&line)) && found(row, &decoded.dict, &line).is_break()
        {
            break;
        }
    }
    Ok(())
}

/// The segment without its rows older than `cutoff`, written in its place;
/// and how many rows went.
fn rewrite(segment: &Segment, cutoff: i64) -> Result<(Segment, u64), EmbeddedError> {
    let granules: Vec<Granule<'_>> = (0..segment.granules().len())
        .map(|at| segment.granule(at, Wanted::Every))
        .collect::<Result<_, _>>()?;
    let decoded: Vec<Decoded<'_>> = granules
        .iter()
        .map(Granule::decode)
        .collect::<Result<_, _>>()?;
    let rows: Vec<Sourced<'_>> = decoded
        .iter()
        .flat_map(|d| {
            d.rows
                .iter()
                .filter(|row| row.ts >= cutoff)
                .map(move |row| (*row, d.dict.as_slice()))
        })
        .collect();
    let gone = segment.rows() - rows.len() as u64;
    let ids = rows.iter().map(|(row, dict)| row.id_key(dict)).collect();
    let granules = granules_of(rows);
    let mut index = terms::Builder::default();
    for (_, bytes) in &granules {
        index.add(&chunk::decode(bytes)?);
    }
    let granules = granules
        .iter()
        .map(|(span, bytes)| (span.clone(), bytes.as_slice()))
        .collect();
    let rewritten = Segment::write(
        &segment.path,
        segment.flushed_through(),
        granules,
        &index.finish(),
        ids,
    )?;
    Ok((rewritten, gone))
}

impl State {
    /// Whether a segment with a granule covering `ts` holds the id hash.
    fn in_segments(&mut self, hash: u64, ts: i64) -> Result<bool, EmbeddedError> {
        if ts > self.segments_newest {
            return Ok(false);
        }
        for at in 0..self.segments.len() {
            let segment = &self.segments[at];
            let (min_ts, max_ts) = segment.time_range();
            if !(min_ts..=max_ts).contains(&ts)
                || !segment
                    .granules()
                    .iter()
                    .any(|g| (g.span.min_key.0..=g.span.max_key.0).contains(&ts))
            {
                continue;
            }
            let segment = Arc::clone(segment);
            let ids = segment.ids()?;
            self.used(&segment);
            if ids.binary_search(&hash).is_ok() {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Notes that `segment`'s id hashes were just used (and are in
    /// memory); the least recently used past `id_limit` heads' worth are
    /// forgotten, though never the one just used.
    fn used(&mut self, segment: &Arc<Segment>) {
        if let Some(at) = self.id_lists.iter().position(|s| Arc::ptr_eq(s, segment)) {
            if at + 1 != self.id_lists.len() {
                let segment = self.id_lists.remove(at).expect("found above");
                self.id_lists.push_back(segment);
            }
            return;
        }
        self.id_lists.push_back(Arc::clone(segment));
        // A segment counts as the heads it holds: a merged one as many as
        // it merged.
        let heads = |segment: &Arc<Segment>| (segment.rows() / self.head_limit as u64).max(1);
        let mut held: u64 = self.id_lists.iter().map(heads).sum();
        while held > self.id_limit as u64 && self.id_lists.len() > 1 {
            if let Some(oldest) = self.id_lists.pop_front() {
                held -= heads(&oldest);
                oldest.forget_ids();
            }
        }
    }

    /// Appends frames to the WAL; on failure cuts it back to where it was,
    /// so no torn frame sits before the next one.
    fn append(&mut self, frames: &[&[u8]]) -> std::io::Result<()> {
        for (at, frame) in frames.iter().enumerate() {
            if let Err(error) = self.wal.write_all(frame) {
                let _ = self.wal.set_len(self.wal_len);
                let _ = self.wal.seek(SeekFrom::Start(self.wal_len));
                return Err(error);
            }
            if at + 1 == frames.len() {
                let len: u64 = frames.iter().map(|frame| frame.len() as u64).sum();
                self.wal_len += len;
                self.wal_written += len;
            }
        }
        Ok(())
    }

    /// Adds the rows of a decoded chunk that `keep` keeps to the head.
    fn add_to_head(&mut self, decoded: &Decoded<'_>, keep: impl Fn(&RowRef<'_>) -> bool) -> u64 {
        let mut builder = Builder::new(FRAME_HEADER);
        let mut dropped = 0;
        for row in &decoded.rows {
            if keep(row) {
                builder.push(&NewRow::from_ref(row, &decoded.dict));
                self.head_ids.insert(row.id_key(&decoded.dict));
                self.next_seq = self.next_seq.max(row.seq + 1);
            } else {
                dropped += 1;
            }
        }
        self.head_rows += builder.len();
        if let Some((span, mut frame)) = builder.finish() {
            seal(&mut frame, FRAME_CHUNK);
            self.head.push(Arc::new(Chunk::new(span, frame)));
        }
        dropped
    }

    /// Removes the head's rows older than `cutoff`; answers how many.
    fn cut_head(&mut self, cutoff: i64) -> Result<u64, EmbeddedError> {
        let mut removed = 0;
        let mut head = Vec::with_capacity(self.head.len());
        for chunk in std::mem::take(&mut self.head) {
            if chunk.span.min_key.0 >= cutoff {
                head.push(chunk);
                continue;
            }
            let decoded = chunk::decode(chunk.bytes())?;
            for row in decoded.rows.iter().filter(|row| row.ts < cutoff) {
                self.head_ids.remove(&row.id_key(&decoded.dict));
            }
            self.head_rows -= decoded.rows.len();
            removed += self.add_to_head(&decoded, |row| row.ts >= cutoff);
            head.extend(self.head.pop());
        }
        self.head = head;
        Ok(removed)
    }
}

/// The page cursor for a key, and back.
pub(super) fn cursor(key: Key) -> String {
    format!("{}.{}", key.0, key.1)
}

pub(super) fn parse_cursor(text: &str) -> Option<Key> {
    let (ts, seq) = text.split_once('.')?;
    Some((ts.parse().ok()?, seq.parse().ok()?))
}
