//! Immutable files of metric samples, one UTC day each. Per series the
//! timestamps are varint deltas (sorted, so never negative) and the values raw
//! little-endian f64, behind an index of series sorted by id. A block is
//! written once under a temporary name, synced and renamed; it is checked
//! against its CRC when opened, and a query reads just the series it needs.
//!
//! ```text
//! "AERIETS1" | seq u64 | day i64 | n u32 | superseded seq u64 * n
//! | entries u32 | (series u32, count u32, min i64, max i64, offset u64, ts_len u32) * entries
//! | data | crc32 u32
//! ```

use crate::embedded::error::EmbeddedError;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"AERIETS1";
const ENTRY_LEN: usize = 36;

/// A series' number and its samples, sorted by time.
pub(super) type SeriesSamples = (u32, Vec<(i64, f64)>);

/// Where one series' samples are in a block.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) series: u32,
    pub(super) count: u32,
    pub(super) min_ts: i64,
    pub(super) max_ts: i64,
    offset: u64,
    ts_len: u32,
}

/// One block file, open.
#[derive(Debug)]
pub(super) struct Block {
    pub(super) path: PathBuf,
    pub(super) seq: u64,
    /// Days since the epoch (UTC) of every sample in it.
    pub(super) day: i64,
    /// Blocks this one replaces (a compaction or a retention rewrite): if
    /// they are still on disk after a crash, they are removed at open.
    pub(super) supersedes: Vec<u64>,
    pub(super) min_ts: i64,
    pub(super) max_ts: i64,
    pub(super) points: u64,
    entries: Vec<Entry>,
    file: File,
}

/// The UTC day of a Unix-millisecond timestamp.
pub(super) fn day_of(millis: i64) -> i64 {
    millis.div_euclid(86_400_000)
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
}

impl Block {
    /// The file name of block `seq` of `day`.
    pub(super) fn file_name(day: i64, seq: u64) -> String {
        format!("{day:06}-{seq:010}.blk")
    }

    /// Writes a block of `series` (sorted by id, each sorted by time, none
    /// empty) into `dir`, durably, and opens it.
    pub(super) fn write(
        dir: &Path,
        seq: u64,
        day: i64,
        supersedes: &[u64],
        series: &[SeriesSamples],
    ) -> std::io::Result<Block> {
        let mut header = Vec::with_capacity(64 + series.len() * ENTRY_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&seq.to_le_bytes());
        header.extend_from_slice(&day.to_le_bytes());
        header.extend_from_slice(&(supersedes.len() as u32).to_le_bytes());
        for old in supersedes {
            header.extend_from_slice(&old.to_le_bytes());
        }
        header.extend_from_slice(&(series.len() as u32).to_le_bytes());
        let data_start = header.len() + series.len() * ENTRY_LEN;
        let mut data = Vec::new();
        for (id, points) in series {
            let offset = (data_start + data.len()) as u64;
            let (min_ts, max_ts) = (points[0].0, points[points.len() - 1].0);
            let mut previous = min_ts;
            for (ts, _) in points {
                crate::embedded::varint::put(&mut data, (ts - previous) as u64);
                previous = *ts;
            }
            let ts_len = (data_start + data.len()) as u64 - offset;
            for (_, value) in points {
                data.extend_from_slice(&value.to_le_bytes());
            }
            header.extend_from_slice(&id.to_le_bytes());
            header.extend_from_slice(&(points.len() as u32).to_le_bytes());
            header.extend_from_slice(&min_ts.to_le_bytes());
            header.extend_from_slice(&max_ts.to_le_bytes());
            header.extend_from_slice(&offset.to_le_bytes());
            header.extend_from_slice(&(ts_len as u32).to_le_bytes());
        }
        let mut crc = crc32fast::Hasher::new();
        crc.update(&header);
        crc.update(&data);
        let path = dir.join(Self::file_name(day, seq));
        aerie_common::atomic_write_with(&path, |out| {
            out.write_all(&header)?;
            out.write_all(&data)?;
            out.write_all(&crc.finalize().to_le_bytes())
        })?;
        Self::open(&path).map_err(std::io::Error::other)
    }

    /// Opens and checks a block file.
    pub(super) fn open(path: &Path) -> Result<Block, EmbeddedError> {
        let fail = |what: &str| EmbeddedError::damaged(format!("{}: {what}", path.display()));
        let file = File::open(path).map_err(|e| fail(&e.to_string()))?;
        let map = std::fs::read(path).map_err(|e| fail(&e.to_string()))?;
        if map.len() < 32 || &map[..8] != MAGIC {
            return Err(fail("not an Aerie metric block (bad magic or too short)"));
        }
        let body = map.len() - 4;
        if crc32fast::hash(&map[..body]) != read_u32(&map, body) {
            return Err(fail("checksum mismatch: the block is damaged"));
        }
        let seq = read_u64(&map, 8);
        let day = read_u64(&map, 16) as i64;
        let superseded = read_u32(&map, 24) as usize;
        let mut at = 28;
        let supersedes = (0..superseded)
            .map(|i| read_u64(&map, at + i * 8))
            .collect();
        at += superseded * 8;
        let count = read_u32(&map, at) as usize;
        at += 4;
        if at + count * ENTRY_LEN > body {
            return Err(fail("index runs past the end of the file"));
        }
        let entries: Vec<Entry> = (0..count)
            .map(|i| {
                let e = at + i * ENTRY_LEN;
                Entry {
                    series: read_u32(&map, e),
                    count: read_u32(&map, e + 4),
                    min_ts: read_u64(&map, e + 8) as i64,
                    max_ts: read_u64(&map, e + 16) as i64,
                    offset: read_u64(&map, e + 24),
                    ts_len: read_u32(&map, e + 32),
                }
            })
            .collect();
        for entry in &entries {
            let end = entry.offset + u64::from(entry.ts_len) + 8 * u64::from(entry.count);
            if end > body as u64 {
                return Err(fail("a series runs past the end of the file"));
            }
        }
        Ok(Block {
            path: path.to_owned(),
            seq,
            day,
            supersedes,
            min_ts: entries.iter().map(|e| e.min_ts).min().unwrap_or(i64::MAX),
            max_ts: entries.iter().map(|e| e.max_ts).max().unwrap_or(i64::MIN),
            points: entries.iter().map(|e| u64::from(e.count)).sum(),
            entries,
            file,
        })
    }

    pub(super) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(super) fn entry(&self, series: u32) -> Option<&Entry> {
        self.entries
            .binary_search_by_key(&series, |entry| entry.series)
            .ok()
            .map(|at| &self.entries[at])
    }

    /// Appends the samples of `entry` within `from..=to` to `out`, in order.
    pub(super) fn read(
        &self,
        entry: &Entry,
        from: i64,
        to: i64,
        out: &mut Vec<(i64, f64)>,
    ) -> Result<(), EmbeddedError> {
        self.scan(entry, from, to, &mut Vec::new(), |ts, value| {
            out.push((ts, value))
        })
    }

    /// Calls `visit` with each sample of `entry` within `from..=to`, in order;
    /// `buffer` is for the bytes read (kept between calls to save allocations).
    pub(super) fn scan(
        &self,
        entry: &Entry,
        from: i64,
        to: i64,
        buffer: &mut Vec<u8>,
        mut visit: impl FnMut(i64, f64),
    ) -> Result<(), EmbeddedError> {
        if entry.max_ts < from || entry.min_ts > to {
            return Ok(());
        }
        buffer.clear();
        buffer.resize(entry.ts_len as usize + 8 * entry.count as usize, 0);
        self.file
            .read_exact_at(buffer, entry.offset)
            .map_err(|error| EmbeddedError::damaged(format!("{}: {error}", self.path.display())))?;
        let (times, values) = buffer.split_at(entry.ts_len as usize);
        let mut at = 0;
        let mut ts = entry.min_ts;
        for value in values.chunks_exact(8) {
            let Some(delta) = crate::embedded::varint::get(times, &mut at) else {
                return Err(EmbeddedError::damaged(format!(
                    "{}: a block's times end early; the file is damaged",
                    self.path.display()
                )));
            };
            ts += delta as i64;
            if ts > to {
                break;
            }
            if ts >= from {
                visit(
                    ts,
                    f64::from_le_bytes(value.try_into().expect("eight bytes")),
                );
            }
        }
        Ok(())
    }

    /// Whether the block holds a sample of `series` at `ts`.
    pub(super) fn holds(&self, series: u32, ts: i64) -> Result<bool, EmbeddedError> {
        let Some(entry) = self.entry(series) else {
            return Ok(false);
        };
        let mut found = Vec::new();
        self.read(entry, ts, ts, &mut found)?;
        Ok(!found.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_reads_back_what_was_written_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        let series = vec![
            (3, vec![(1_000, 1.5), (11_000, -2.0), (1_000_000_000, 7.25)]),
            (9, vec![(5_000, f64::MAX)]),
        ];
        let block = Block::write(dir.path(), 42, 0, &[7, 8], &series).unwrap();
        assert_eq!((block.seq, block.day, block.points), (42, 0, 4));
        assert_eq!(block.supersedes, [7, 8]);
        assert_eq!((block.min_ts, block.max_ts), (1_000, 1_000_000_000));
        let mut out = Vec::new();
        block
            .read(block.entry(3).unwrap(), 0, i64::MAX, &mut out)
            .unwrap();
        assert_eq!(out, series[0].1);
        out.clear();
        block
            .read(block.entry(3).unwrap(), 2_000, 11_000, &mut out)
            .unwrap();
        assert_eq!(out, [(11_000, -2.0)]);
        assert!(block.entry(4).is_none());
        assert!(block.holds(9, 5_000).unwrap() && !block.holds(9, 5_001).unwrap());

        let path = block.path.clone();
        drop(block);
        let mut bytes = std::fs::read(&path).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0xFF;
        std::fs::write(&path, bytes).unwrap();
        let error = Block::open(&path).unwrap_err();
        let error = error.to_string();
        assert!(error.contains("checksum mismatch"), "{error}");
    }
}
