//! The disk-backed queue between the sources and the sink.
//!
//! Sources append records (serialized events); a record is acknowledged to the
//! source only once it is on disk (fsync), and only then may a source advance
//! its own position (a file offset). The sink peeks a batch from the front,
//! delivers it, and acknowledges it; only then is the queue's read cursor
//! moved. The cursor is written to disk at most every [`CURSOR_EVERY`] (as
//! Filebeat flushes its registry), before any segment behind it is deleted,
//! and when the queue is closed. A crash at any moment therefore leaves
//! every event either still in its source (read again) or in the queue
//! (sent again, at most [`CURSOR_EVERY`] of delivered records), and stable
//! event ids make the second copy recognisable.
//!
//! On disk: numbered segment files of records `[len: u32 LE][crc32: u32 LE][bytes]`
//! and a `cursor` file naming the first unacknowledged record. A record torn by
//! a crash mid-write is found by its length or checksum when the queue is
//! opened and cut off (its source had not been told it was stored).
//!
//! The queue never drops a record to make room: when its byte budget is full,
//! `push` answers [`QueueError::Full`] and the caller waits.

mod segment;
mod shared;

pub use shared::SharedQueue;

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use segment::{HEADER_LEN, read_records, valid_prefix_len};

/// The longest the cursor on disk lags the acknowledged one: an idle agent
/// acknowledges a batch every interval, and each write of the cursor costs
/// two fsyncs.
pub const CURSOR_EVERY: Duration = Duration::from_secs(60);

/// Errors of the disk queue; each names the file involved.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the disk queue is full ({used} of {budget} bytes); waiting for the sink to drain it")]
    Full { used: u64, budget: u64 },
    #[error(
        "a batch of {size} bytes can never fit the disk queue's budget of {budget} bytes; raise queue.max_bytes"
    )]
    TooLarge { size: u64, budget: u64 },
    #[error("disk queue {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "disk queue cursor {path} is unreadable: {reason}; move it aside to resend from the oldest segment"
    )]
    BadCursor { path: PathBuf, reason: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A position in the queue: a segment and a byte offset in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    pub segment: u64,
    pub offset: u64,
}

/// Records peeked from the front of the queue, and where the next batch starts.
/// The records lie one after another in one buffer: a batch of thousands is
/// one allocation, not one per record.
#[derive(Debug, Default)]
pub struct Batch {
    bytes: Vec<u8>,
    /// Where each record ends in `bytes`.
    ends: Vec<usize>,
    pub end: Cursor,
}

impl Batch {
    /// Its records, oldest first.
    pub fn records(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        (0..self.ends.len()).map(|index| {
            let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
            &self.bytes[start..self.ends[index]]
        })
    }

    /// How many records it holds.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of all its records together.
    pub fn bytes_len(&self) -> usize {
        self.bytes.len()
    }

    fn push(&mut self, record: &[u8]) {
        self.bytes.extend_from_slice(record);
        self.ends.push(self.bytes.len());
    }
}

/// The queue's state on disk and its budget.
#[derive(Debug)]
pub struct DiskQueue {
    dir: PathBuf,
    budget: u64,
    segment_limit: u64,
    /// Segment ids and their lengths, oldest first; the last is written to.
    segments: VecDeque<(u64, u64)>,
    writer: BufWriter<File>,
    /// The first unacknowledged record.
    acked: Cursor,
    /// The cursor on disk, and when it was written.
    written: (Cursor, Instant),
}

impl DiskQueue {
    /// Opens (or creates) the queue in `dir`, repairing a torn last record.
    /// Segments are about an eighth of the budget (64 KiB to 64 MiB).
    pub fn open(dir: &Path, budget: u64) -> Result<Self, QueueError> {
        Self::open_with_segment_limit(dir, budget, (budget / 8).clamp(64 * 1024, 64 * 1024 * 1024))
    }

    pub(crate) fn open_with_segment_limit(
        dir: &Path,
        budget: u64,
        segment_limit: u64,
    ) -> Result<Self, QueueError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let mut ids: Vec<u64> = fs::read_dir(dir)
            .map_err(io_error(dir))?
            .filter_map(|entry| {
                let name = entry.ok()?.file_name();
                name.to_str()?.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let cursor_path = dir.join("cursor");
        let acked = match fs::read(&cursor_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|error| QueueError::BadCursor {
                path: cursor_path.clone(),
                reason: error.to_string(),
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Cursor {
                segment: ids.first().copied().unwrap_or(0),
                offset: 0,
            },
            Err(source) => {
                return Err(QueueError::Io {
                    path: cursor_path,
                    source,
                });
            }
        };
        // Segments wholly before the cursor were acknowledged before a crash
        // interrupted their deletion.
        for id in ids.iter().filter(|id| **id < acked.segment) {
            let path = segment_path(dir, *id);
            fs::remove_file(&path).map_err(io_error(&path))?;
        }
        ids.retain(|id| *id >= acked.segment);
        if ids.is_empty() {
            ids.push(acked.segment);
        }
        let mut segments = VecDeque::new();
        for id in &ids {
            let path = segment_path(dir, *id);
            let len = match fs::metadata(&path) {
                Ok(meta) => meta.len(),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => 0,
                Err(source) => return Err(QueueError::Io { path, source }),
            };
            segments.push_back((*id, len));
        }
        // Only the segment being written when the process died can be torn.
        let (last_id, last_len) = *segments.back().expect("at least one segment");
        let path = segment_path(dir, last_id);
        let file = open_segment(&path)?;
        let valid = valid_prefix_len(&path)?;
        if valid < last_len {
            tracing::warn!(path = %path.display(), kept = valid, cut = last_len - valid, "cutting a torn record off the disk queue");
            file.set_len(valid).map_err(io_error(&path))?;
            file.sync_all().map_err(io_error(&path))?;
            segments.back_mut().expect("at least one segment").1 = valid;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            budget,
            segment_limit,
            segments,
            writer: BufWriter::new(file),
            acked,
            written: (acked, Instant::now()),
        })
    }

    /// Bytes not yet acknowledged by the sink.
    pub fn unacked_bytes(&self) -> u64 {
        self.segments.iter().map(|(_, len)| len).sum::<u64>() - self.acked_offset_in_front()
    }

    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn is_empty(&self) -> bool {
        self.unacked_bytes() == 0
    }

    fn acked_offset_in_front(&self) -> u64 {
        match self.segments.front() {
            Some((id, _)) if *id == self.acked.segment => self.acked.offset,
            _ => 0,
        }
    }

    /// Appends `records` and makes them durable. Either all are stored or
    /// none: a full queue answers [`QueueError::Full`] and stores nothing.
    pub fn push<R: AsRef<[u8]>>(&mut self, records: &[R]) -> Result<(), QueueError> {
        let size: u64 = records
            .iter()
            .map(|record| HEADER_LEN + record.as_ref().len() as u64)
            .sum();
        if size > self.budget {
            return Err(QueueError::TooLarge {
                size,
                budget: self.budget,
            });
        }
        let used = self.unacked_bytes();
        if used + size > self.budget {
            return Err(QueueError::Full {
                used,
                budget: self.budget,
            });
        }
        if self.segments.back().expect("a write segment").1 >= self.segment_limit {
            self.roll()?;
        }
        let (id, len) = self.segments.back_mut().expect("a write segment");
        let path = segment_path(&self.dir, *id);
        for record in records {
            let record = record.as_ref();
            let header = segment::header(record);
            self.writer.write_all(&header).map_err(io_error(&path))?;
            self.writer.write_all(record).map_err(io_error(&path))?;
        }
        self.writer.flush().map_err(io_error(&path))?;
        self.writer.get_ref().sync_data().map_err(io_error(&path))?;
        *len += size;
        Ok(())
    }

    /// Starts a new segment file.
    fn roll(&mut self) -> Result<(), QueueError> {
        let id = self.segments.back().expect("a write segment").0 + 1;
        let path = segment_path(&self.dir, id);
        let file = open_segment(&path)?;
        self.writer = BufWriter::new(file);
        self.segments.push_back((id, 0));
        Ok(())
    }

    /// Up to `max_records` records (and about `max_bytes`, at least one) from
    /// the front, without removing them.
    pub fn peek(&self, max_records: usize, max_bytes: u64) -> Result<Batch, QueueError> {
        let mut batch = Batch::default();
        let mut at = self.acked;
        for (id, len) in &self.segments {
            if *id < at.segment {
                continue;
            }
            if *id > at.segment {
                at = Cursor {
                    segment: *id,
                    offset: 0,
                };
            }
            if at.offset >= *len {
                continue;
            }
            let path = segment_path(&self.dir, *id);
            let end = read_records(&path, at.offset, *len, |record| {
                if batch.len() >= max_records
                    || (!batch.is_empty() && (batch.bytes_len() + record.len()) as u64 > max_bytes)
                {
                    return false;
                }
                batch.push(record);
                true
            })?;
            at.offset = end;
            if batch.len() >= max_records || end < *len {
                break;
            }
        }
        batch.end = at;
        Ok(batch)
    }

    /// Acknowledges everything before `end` (a [`Batch::end`]), and deletes
    /// segments wholly behind it once the cursor on disk is past them. The
    /// cursor is written when a segment is to go or [`CURSOR_EVERY`] has
    /// passed since it last was.
    pub fn ack(&mut self, end: Cursor) -> Result<(), QueueError> {
        self.acked = end;
        let behind = self.segments.len() > 1 && self.segments[0].0 < end.segment;
        if behind || self.written.1.elapsed() >= CURSOR_EVERY {
            self.write_cursor()?;
        }
        while self.segments.len() > 1 && self.segments[0].0 < end.segment {
            let (id, _) = self.segments.pop_front().expect("checked length");
            let path = segment_path(&self.dir, id);
            fs::remove_file(&path).map_err(io_error(&path))?;
        }
        Ok(())
    }

    /// Writes the acknowledged cursor to disk, durably.
    fn write_cursor(&mut self) -> Result<(), QueueError> {
        let cursor_path = self.dir.join("cursor");
        let json = serde_json::to_vec(&self.acked).expect("a cursor serializes");
        aerie_common::atomic_write(&cursor_path, &json).map_err(io_error(&cursor_path))?;
        self.written = (self.acked, Instant::now());
        Ok(())
    }
}

impl Drop for DiskQueue {
    /// Writes the cursor if it moved since it was last written, so that a
    /// queue closed in order sends nothing twice.
    fn drop(&mut self) {
        if self.written.0 != self.acked
            && let Err(error) = self.write_cursor()
        {
            tracing::warn!(%error, "cannot write the disk queue's cursor; the records delivered since it was last written will be sent again");
        }
    }
}

/// Opens a segment for appending, creating it if needed.
fn open_segment(path: &Path) -> Result<File, QueueError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .read(true)
        .open(path)
        .map_err(io_error(path))
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

#[cfg(test)]
mod tests;
