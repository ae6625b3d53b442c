//! Follows the files a set of globs match, line by line.
//!
//! A file is known by its fingerprint, a hash of its first line, not by its
//! path or inode: a file renamed by rotation keeps its fingerprint (reading
//! goes on where it was), a copy made by copytruncate has the same one (it is
//! not read twice), and a truncated file gets a new one once it has a new
//! first line (it is read from the start). A file whose first line is not yet
//! complete is not read until it is.
//!
//! When a followed file is truncated, whatever it held past the last read
//! position is read from its copy, if the globs match the copy (include the
//! rotated names, e.g. `app.log*`, when logrotate uses copytruncate).
//! A file renamed out of the globs or deleted is read to its end through the
//! handle already open, then let go.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::checkpoint::Checkpoints;
use crate::counters::Counters;

/// Bytes of the first line that make the fingerprint.
const FINGERPRINT_BYTES: usize = 1024;
/// Bytes read from one file in one poll: bounds memory and lets other files in.
const READ_BYTES_PER_POLL: usize = 4 * 1024 * 1024;
/// How long a file that left the globs (renamed, deleted) is still watched
/// for late writes after its last growth.
const LINGER: Duration = Duration::from_secs(2);

/// One complete line (without its newline).
#[derive(Debug)]
pub struct Line<'a> {
    pub fingerprint: u64,
    /// Offset of the line's first byte.
    pub offset: u64,
    /// Offset just past the line's newline.
    pub end: u64,
    pub path: &'a Path,
    pub bytes: &'a [u8],
    /// The line was longer than the limit and was cut there.
    pub truncated: bool,
}

/// What the tailer hands its lines to.
pub trait LineSink {
    fn line(&mut self, line: Line<'_>);
    /// The file is finished (gone from the globs and read to its end).
    fn finished(&mut self, fingerprint: u64);
}

#[derive(Debug)]
struct Watcher {
    fingerprint: u64,
    path: PathBuf,
    file: File,
    device_inode: (u64, u64),
    /// Offset just past the last complete line read.
    read_offset: u64,
    /// Bytes after `read_offset` with no newline yet.
    partial: Vec<u8>,
    /// Seen in the last scan of the globs.
    in_globs: bool,
    last_growth: Instant,
}

/// Follows the files matched by `globs`.
#[derive(Debug)]
pub struct Tailer {
    source: String,
    patterns: Vec<String>,
    max_line: usize,
    watchers: Vec<Watcher>,
    pub checkpoints: Checkpoints,
    counters: Counters,
    /// Paths already reported unreadable (reported once each).
    unreadable: HashMap<PathBuf, String>,
    buffer: Vec<u8>,
}

impl Tailer {
    pub fn new(
        source: &str,
        patterns: &[String],
        max_line: usize,
        checkpoints: Checkpoints,
        counters: Counters,
    ) -> Self {
        Self {
            source: source.to_owned(),
            patterns: patterns.to_vec(),
            max_line,
            watchers: Vec::new(),
            checkpoints,
            counters,
            unreadable: HashMap::new(),
            buffer: Vec::with_capacity(256 * 1024),
        }
    }

    /// Offsets up to which everything has been handed to the sink, per
    /// followed file (`fingerprint`, `offset`, `path`).
    pub fn read_offsets(&self) -> impl Iterator<Item = (u64, u64, &Path)> {
        self.watchers.iter().map(|watcher| {
            (
                watcher.fingerprint,
                watcher.read_offset,
                watcher.path.as_path(),
            )
        })
    }

    /// Finds new and rotated files, then reads what every followed file has
    /// gained. Answers how many bytes were read.
    pub fn poll(&mut self, sink: &mut impl LineSink) -> u64 {
        self.scan();
        let mut total = 0;
        let mut index = 0;
        while index < self.watchers.len() {
            match self.read_watcher(index, sink) {
                Ok(Some(read)) => {
                    total += read;
                    index += 1;
                }
                Ok(None) => {
                    let watcher = self.watchers.remove(index);
                    self.finish(watcher, sink);
                }
                Err(error) => {
                    let watcher = self.watchers.remove(index);
                    self.counters.add_read_error();
                    tracing::warn!(source = %self.source, path = %watcher.path.display(), %error, "stopped following a file after a read error");
                    self.finish(watcher, sink);
                }
            }
        }
        total
    }

    fn finish(&mut self, mut watcher: Watcher, sink: &mut impl LineSink) {
        if !watcher.partial.is_empty() {
            // The file will not grow again: its last line has no newline.
            let bytes = std::mem::take(&mut watcher.partial);
            let end = watcher.read_offset + bytes.len() as u64;
            sink.line(Line {
                fingerprint: watcher.fingerprint,
                offset: watcher.read_offset,
                end,
                path: &watcher.path,
                bytes: &bytes,
                truncated: false,
            });
            watcher.read_offset = end;
        }
        sink.finished(watcher.fingerprint);
        self.checkpoints
            .set(watcher.fingerprint, watcher.read_offset, &watcher.path);
    }

    /// Matches the globs against the file system and starts following new files.
    fn scan(&mut self) {
        for watcher in &mut self.watchers {
            watcher.in_globs = false;
        }
        let mut found: Vec<PathBuf> = Vec::new();
        for pattern in &self.patterns {
            match glob::glob(pattern) {
                Ok(paths) => found.extend(paths.flatten()),
                Err(error) => tracing::warn!(source = %self.source, pattern, %error, "bad glob"),
            }
        }
        found.sort();
        found.dedup();
        for path in found {
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let device_inode = (meta.dev(), meta.ino());
            if let Some(watcher) = self
                .watchers
                .iter_mut()
                .find(|watcher| watcher.device_inode == device_inode)
            {
                watcher.in_globs = true;
                watcher.path = path;
                continue;
            }
            let mut file = match File::open(&path) {
                Ok(file) => {
                    self.unreadable.remove(&path);
                    file
                }
                Err(error) => {
                    let message = error.to_string();
                    if self.unreadable.get(&path) != Some(&message) {
                        self.counters.add_read_error();
                        tracing::warn!(source = %self.source, path = %path.display(), %error, "cannot open a log file; will retry");
                        self.unreadable.insert(path, message);
                    }
                    continue;
                }
            };
            let Some(fingerprint) = fingerprint(&mut file) else {
                continue; // no complete first line yet
            };
            if self
                .watchers
                .iter()
                .any(|watcher| watcher.fingerprint == fingerprint)
            {
                continue; // a copy of a file already followed
            }
            // A copy shorter than what was read of its content has nothing new.
            let offset = self
                .checkpoints
                .get(fingerprint)
                .unwrap_or(0)
                .min(meta.len());
            tracing::debug!(source = %self.source, path = %path.display(), offset, "following file");
            self.watchers.push(Watcher {
                fingerprint,
                path,
                file,
                device_inode,
                read_offset: offset,
                partial: Vec::new(),
                in_globs: true,
                last_growth: Instant::now(),
            });
        }
    }

    /// Reads what the file gained. `None` when the watcher is done with it.
    fn read_watcher(
        &mut self,
        index: usize,
        sink: &mut impl LineSink,
    ) -> std::io::Result<Option<u64>> {
        let watcher = &mut self.watchers[index];
        let len = watcher.file.metadata()?.len();
        let position = watcher.read_offset + watcher.partial.len() as u64;
        let rewritten = len > 0 && fingerprint(&mut watcher.file) != Some(watcher.fingerprint);
        if len < position || rewritten {
            // Truncated (copytruncate) or rewritten in place: the rest of the
            // old content, if anywhere, is in a copy with our fingerprint.
            tracing::debug!(source = %self.source, path = %watcher.path.display(), "file truncated");
            let fingerprint = watcher.fingerprint;
            if let Some(copy) = self.find_copy(fingerprint, position) {
                let watcher = &mut self.watchers[index];
                watcher.file = copy.0;
                watcher.device_inode = copy.1;
                watcher.path = copy.2;
                watcher.in_globs = true;
                return self.read_watcher(index, sink);
            }
            return Ok(None);
        }
        // Read first, then make sure the file is still the one we think: a
        // copytruncate and new writes between the check above and the read
        // would otherwise hand the new generation's lines over under the old
        // fingerprint (and so under ids nobody could match later).
        self.buffer.clear();
        watcher.file.seek(SeekFrom::Start(position))?;
        (&mut watcher.file)
            .take(READ_BYTES_PER_POLL as u64)
            .read_to_end(&mut self.buffer)?;
        let read = self.buffer.len() as u64;
        if read > 0 && fingerprint(&mut watcher.file) != Some(watcher.fingerprint) {
            tracing::debug!(source = %self.source, path = %watcher.path.display(), "file rewritten while read; reading again");
            return Ok(Some(0));
        }
        let mut chunk = &self.buffer[..];
        while let Some(newline) = chunk.iter().position(|byte| *byte == b'\n') {
            let (line, rest) = chunk.split_at(newline);
            let bytes: &[u8] = if watcher.partial.is_empty() {
                line
            } else {
                watcher.partial.extend_from_slice(line);
                &watcher.partial
            };
            let end = watcher.read_offset + bytes.len() as u64 + 1;
            let truncated = bytes.len() > self.max_line;
            sink.line(Line {
                fingerprint: watcher.fingerprint,
                offset: watcher.read_offset,
                end,
                path: &watcher.path,
                bytes: &bytes[..bytes.len().min(self.max_line)],
                truncated,
            });
            if truncated {
                self.counters.add_truncated_line();
            }
            watcher.partial.clear();
            watcher.read_offset = end;
            chunk = &rest[1..];
        }
        watcher.partial.extend_from_slice(chunk);
        let now = Instant::now();
        if read > 0 {
            watcher.last_growth = now;
        }
        if !watcher.in_globs && read == 0 && now.duration_since(watcher.last_growth) > LINGER {
            return Ok(None);
        }
        Ok(Some(read))
    }

    /// A file matched by the globs, other than the followed ones, with this
    /// fingerprint and at least `len` bytes: the copy copytruncate made.
    fn find_copy(&self, fingerprint: u64, len: u64) -> Option<(File, (u64, u64), PathBuf)> {
        for pattern in &self.patterns {
            for path in glob::glob(pattern).ok()?.flatten() {
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                let device_inode = (meta.dev(), meta.ino());
                if !meta.is_file()
                    || meta.len() < len
                    || self.watchers.iter().any(|w| w.device_inode == device_inode)
                {
                    continue;
                }
                let Ok(mut file) = File::open(&path) else {
                    continue;
                };
                if self::fingerprint(&mut file) == Some(fingerprint) {
                    return Some((file, device_inode, path));
                }
            }
        }
        None
    }
}

/// The hash of the file's first line (or first 1 KiB), or `None` while the
/// first line is incomplete.
fn fingerprint(file: &mut File) -> Option<u64> {
    let mut head = [0u8; FINGERPRINT_BYTES];
    let mut filled = 0;
    file.seek(SeekFrom::Start(0)).ok()?;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(count) => filled += count,
            Err(_) => return None,
        }
    }
    let first_line = match head[..filled].iter().position(|byte| *byte == b'\n') {
        Some(newline) => &head[..=newline],
        None if filled == head.len() => &head[..],
        None => return None,
    };
    Some(xxhash_rust::xxh3::xxh3_64(first_line))
}
