//! Follows the files a set of globs match, line by line.
//!
//! A file is known by its fingerprint, a hash of its first line, not by its
//! path or inode: a file renamed by rotation keeps its fingerprint (reading
//! goes on where it was), a copy made by copytruncate has the same one (it is
//! not read twice), and a truncated file gets a new one once it has a new
//! first line (it is read from the start). A file whose first line is not yet
//! complete is not read until it is.
//!
//! Two live files may begin alike (a common header). A new file whose first
//! line is a followed file's is compared with it over what both hold: the
//! same bytes make it a copy (not read; said in the log and counted as
//! `aerie.agent.files.taken_for_copies`), different bytes a file of its own,
//! whose fingerprint is then salted with its device and inode. Which of the
//! alike files owns the plain fingerprint is kept with the checkpoints (the
//! inode it was read through), so a restart gives each file its own again.
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
    /// The file's identity: its first line's hash, salted when another
    /// live file begins the same way.
    fingerprint: u64,
    /// Its first line's hash, as read.
    first_line: u64,
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

    /// Records, for every followed file, where reading resumes: what
    /// `resume` makes of (fingerprint, offset up to which everything was
    /// handed to the sink), such as the start of an event still open.
    pub fn checkpoint_read(&mut self, resume: impl Fn(u64, u64) -> u64) {
        for watcher in &self.watchers {
            let offset = resume(watcher.fingerprint, watcher.read_offset);
            self.checkpoints.set(
                watcher.fingerprint,
                offset,
                &watcher.path,
                watcher.device_inode,
            );
        }
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
        self.checkpoints.set(
            watcher.fingerprint,
            watcher.read_offset,
            &watcher.path,
            watcher.device_inode,
        );
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
        let mut new = Vec::new();
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
            if let Some(mut file) = self.open(&path) {
                // None: no complete first line yet.
                if let Some(first_line) = fingerprint(&mut file) {
                    new.push((path, file, meta.len(), device_inode, first_line));
                }
            }
        }
        // The file that owned a fingerprint before (a restart) claims it
        // first; the others that begin alike are then compared with it.
        new.sort_by_key(|(_, _, _, inode, first_line)| {
            self.checkpoints.inode(*first_line) != Some(*inode)
        });
        for (path, mut file, len, device_inode, first_line) in new {
            let Some(fingerprint) = self.identify(&path, &mut file, device_inode, first_line)
            else {
                continue;
            };
            // A copy shorter than what was read of its content has nothing new.
            let offset = self.checkpoints.get(fingerprint).unwrap_or(0).min(len);
            tracing::debug!(source = %self.source, path = %path.display(), offset, "following file");
            self.watchers.push(Watcher {
                fingerprint,
                first_line,
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

    /// Opens `path`, saying once per path and reason when it cannot.
    fn open(&mut self, path: &Path) -> Option<File> {
        match File::open(path) {
            Ok(file) => {
                self.unreadable.remove(path);
                Some(file)
            }
            Err(error) => {
                let message = error.to_string();
                if self.unreadable.get(path) != Some(&message) {
                    self.counters.add_read_error();
                    tracing::warn!(source = %self.source, path = %path.display(), %error, "cannot open a log file; will retry");
                    self.unreadable.insert(path.to_owned(), message);
                }
                None
            }
        }
    }

    /// The fingerprint a new file is followed under, or `None` when it is
    /// a copy of a followed file (said in the log and counted).
    fn identify(
        &mut self,
        path: &Path,
        file: &mut File,
        device_inode: (u64, u64),
        first_line: u64,
    ) -> Option<u64> {
        let salted = salt(first_line, device_inode);
        let mut alike_any = false;
        for alike in self
            .watchers
            .iter_mut()
            .filter(|w| w.first_line == first_line)
        {
            alike_any = true;
            // A followed file that no longer begins so was truncated: this
            // is where its old content went. One that still does is compared.
            let still = fingerprint(&mut alike.file) == Some(first_line);
            if !still || same_content(&mut alike.file, file) {
                self.counters.add_file_taken_for_a_copy();
                tracing::info!(source = %self.source, path = %path.display(), copy_of = %alike.path.display(), "not read: it holds what a followed file holds (a copy)");
                return None;
            }
        }
        if alike_any {
            tracing::info!(source = %self.source, path = %path.display(), "a file that begins like a followed one but is not a copy of it: followed on its own");
            return Some(salted);
        }
        // The only live file that begins so: the plain fingerprint, unless
        // it was salted before (another file owns the plain one).
        Some(if self.checkpoints.get(salted).is_some() {
            salted
        } else {
            first_line
        })
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
        let rewritten = len > 0 && fingerprint(&mut watcher.file) != Some(watcher.first_line);
        if len < position || rewritten {
            // Truncated (copytruncate) or rewritten in place: the rest of the
            // old content, if anywhere, is in a copy with our fingerprint.
            tracing::debug!(source = %self.source, path = %watcher.path.display(), "file truncated");
            let first_line = watcher.first_line;
            if let Some(copy) = self.find_copy(first_line, position) {
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
        if read > 0 && fingerprint(&mut watcher.file) != Some(watcher.first_line) {
            tracing::debug!(source = %self.source, path = %watcher.path.display(), "file rewritten while read; reading again");
            return Ok(Some(0));
        }
        let mut chunk = &self.buffer[..];
        while let Some(newline) = memchr::memchr(b'\n', chunk) {
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

    /// A file matched by the globs, other than the followed ones, whose first
    /// line hashes to `first_line`, with at least `len` bytes: the copy
    /// copytruncate made.
    fn find_copy(&self, first_line: u64, len: u64) -> Option<(File, (u64, u64), PathBuf)> {
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
                if self::fingerprint(&mut file) == Some(first_line) {
                    return Some((file, device_inode, path));
                }
            }
        }
        None
    }
}

/// How far two files that begin alike are compared before one is taken for
/// a copy of the other.
const COMPARE_BYTES: u64 = 16 * 1024 * 1024;

/// Whether `a` and `b` hold the same bytes as far as both go (up to
/// [`COMPARE_BYTES`]): a copy holds what its original held when copied.
fn same_content(a: &mut File, b: &mut File) -> bool {
    let (Ok(len_a), Ok(len_b)) = (a.metadata().map(|m| m.len()), b.metadata().map(|m| m.len()))
    else {
        return false;
    };
    let mut left = len_a.min(len_b).min(COMPARE_BYTES);
    if a.seek(SeekFrom::Start(0)).is_err() || b.seek(SeekFrom::Start(0)).is_err() {
        return false;
    }
    let (mut buf_a, mut buf_b) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    while left > 0 {
        let want = left.min(buf_a.len() as u64) as usize;
        if a.read_exact(&mut buf_a[..want]).is_err() || b.read_exact(&mut buf_b[..want]).is_err() {
            return false;
        }
        if buf_a[..want] != buf_b[..want] {
            return false;
        }
        left -= want as u64;
    }
    true
}

/// The fingerprint of a file that begins like another live file: its
/// first line's hash with its device and inode.
fn salt(first_line: u64, (device, inode): (u64, u64)) -> u64 {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&first_line.to_le_bytes());
    bytes[8..16].copy_from_slice(&device.to_le_bytes());
    bytes[16..].copy_from_slice(&inode.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&bytes)
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
