//! A segment: the head's rows written once, immutable, in granules of up to
//! [`CHUNK_ROWS`](super::chunk::CHUNK_ROWS) rows, each a chunk stored as
//! zstd-compressed columns ([`super::columns`]) and read on its own, so a
//! search reads only the granules its time range and filters need, newest
//! first.
//!
//! ```text
//! "AERIELG1"
//! granules (zstd-compressed columns, messages as templates; in segments
//!   written before, messages as text, or LZ4 blocks of chunks when the
//!   meta names no granule form)
//! the term index of all the granules' rows (`terms`)
//! each granule's time marks: the time (i64 µs) of every MARK_EVERY-th row
//! in segments written before: the rows' id hashes, sorted, 8 bytes each
//!   (16 in older ones, of which the lower 8 are read); the granules'
//!   ids are hashed instead when a duplicate check needs a segment's
//! meta (JSON: granule spans, offsets, CRCs, where the index is)
//! u64 meta offset, u32 meta length, u32 meta CRC, "AERIELG1"
//! ```
//!
//! A segment is written to a `.tmp` file, synced, and renamed into place, so
//! a segment file is whole or absent. Segments written before the term
//! index existed have none in their meta (and per-granule token filters,
//! no longer read): every granule of theirs is read for every search.

use crate::embedded::error::{EmbeddedError, io};
use std::borrow::Cow;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::blocks::BlockForm;
use super::chunk::{Decoded, Key, Span};
use super::columns::{self, Messages, Packer, Wanted};
use super::gaps::GapsForm;
use super::summaries::Summary;
use super::terms::{Terms, Written};

const MAGIC: &[u8; 8] = b"AERIELG1";
/// Rows between two time marks: a count that straddles a bucket boundary
/// learns each row's bucket from the marks around it, unless the marks
/// themselves straddle it.
pub(super) const MARK_EVERY: usize = 64;
const FOOTER: usize = 8 + 4 + 4 + 8;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct GranuleMeta {
    pub span: Span,
    offset: u64,
    len: u32,
    crc: u32,
}

/// Where some bytes of the segment are.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Extent {
    offset: u64,
    len: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    /// Every row with a sequence number below this is in a segment: WAL
    /// rows below it were written here before the WAL was emptied.
    flushed_through: u64,
    rows: u64,
    min_ts: i64,
    max_ts: i64,
    ids_offset: u64,
    ids_count: u64,
    /// Bytes per id hash stored: 0, none (the granules' ids are hashed
    /// when needed), or 8 or 16 in segments written before (absent: 16).
    #[serde(default = "sixteen")]
    id_bytes: usize,
    ids_crc: u32,
    granules: Vec<GranuleMeta>,
    /// The term index, if the segment has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    index: Option<Extent>,
    /// The granules' time marks, if the segment has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    marks: Option<Extent>,
    #[serde(default)]
    granule_form: GranuleForm,
    /// The form of the term index's blocks (absent: written before they
    /// were packed).
    #[serde(default)]
    index_form: BlockForm,
    /// The form of the term index's gaps (absent: written before they
    /// were Rice codes).
    #[serde(default)]
    gaps_form: GapsForm,
    /// The `flushed_through` of the segments merged into this one: a file
    /// of one of them left by a crash is a copy of some of these rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    merged: Vec<u64>,
}

/// Rows to read: a chunk (a head's, or a granule of a segment written
/// before granules were columns) or a granule's columns, uncompressed.
pub(super) enum Granule<'a> {
    Chunk(Cow<'a, [u8]>),
    Columns(Vec<u8>),
}

impl Granule<'_> {
    pub(super) fn decode(&self) -> Result<Decoded<'_>, EmbeddedError> {
        self.decode_first(usize::MAX)
    }

    /// The dictionary and the first `wanted` rows, read no further.
    pub(super) fn decode_first(&self, wanted: usize) -> Result<Decoded<'_>, EmbeddedError> {
        match self {
            Granule::Chunk(chunk) => super::chunk::decode_first(chunk, wanted),
            Granule::Columns(columns) => columns::decode_first(columns, wanted),
        }
    }
}

/// How a segment's granules are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum GranuleForm {
    /// LZ4 blocks of chunks, their length before: segments written before
    /// granules were columns.
    #[default]
    Lz4Rows,
    /// [`super::columns`], messages as text: segments written before
    /// messages were templates.
    ZstdColumns,
    /// [`super::columns`], messages as templates and numbers.
    ZstdTemplates,
}

fn sixteen() -> usize {
    16
}

#[derive(Debug)]
pub(super) struct Segment {
    pub path: PathBuf,
    file: File,
    meta: Meta,
    /// The id hashes, once read (the store keeps a few segments' in
    /// memory and has the others forget theirs).
    ids: Mutex<Option<Arc<Vec<u64>>>>,
    /// The summary of its term index, while the store's cache holds it.
    summary: Mutex<Option<Arc<Summary>>>,
}

/// A buffered file that counts what was written to it.
struct Counted<'a> {
    out: &'a mut std::io::BufWriter<File>,
    at: u64,
}

impl Counted<'_> {
    fn put(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.at += bytes.len() as u64;
        self.out.write_all(bytes)
    }
}

/// The segment's bytes: the compressed granules, the term index, the time
/// marks, the meta and the footer. Answers the meta.
fn write_body(
    out: &mut std::io::BufWriter<File>,
    flushed_through: u64,
    granules: Vec<(Span, &[u8])>,
    index: &Written,
) -> std::io::Result<Meta> {
    let mut out = Counted { out, at: 0 };
    out.put(MAGIC)?;
    let mut metas = Vec::with_capacity(granules.len());
    let mut packer = Packer::new()?;
    let mut compressed = Vec::new();
    let mut marks = Vec::new();
    for (span, bytes) in granules {
        let decoded = super::chunk::decode(bytes).map_err(std::io::Error::other)?;
        for row in decoded.rows.iter().step_by(MARK_EVERY) {
            marks.extend_from_slice(&row.ts.to_le_bytes());
        }
        packer.pack(&decoded, &mut compressed)?;
        metas.push(GranuleMeta {
            span,
            offset: out.at,
            len: compressed.len() as u32,
            crc: crc32fast::hash(&compressed),
        });
        out.put(&compressed)?;
    }
    let ends = Ends {
        flushed_through,
        index,
        marks: &marks,
        merged: Vec::new(),
        granule_form: GranuleForm::ZstdTemplates,
    };
    ends.write(&mut out, metas)
}

/// What a segment's file holds after its granules.
struct Ends<'a> {
    flushed_through: u64,
    index: &'a Written,
    marks: &'a [u8],
    merged: Vec<u64>,
    /// How the granules written before them are stored.
    granule_form: GranuleForm,
}

impl Ends<'_> {
    /// Writes the term index, the time marks, the meta of `granules` (those
    /// written before to `out`) and the footer; answers the meta.
    fn write(self, out: &mut Counted<'_>, granules: Vec<GranuleMeta>) -> std::io::Result<Meta> {
        let index_extent = Extent {
            offset: out.at,
            len: self.index.len() as u64,
        };
        for piece in self.index.pieces() {
            out.put(piece)?;
        }
        let marks_extent = Extent {
            offset: out.at,
            len: self.marks.len() as u64,
        };
        out.put(self.marks)?;
        let rows = granules.iter().map(|g| u64::from(g.span.rows)).sum();
        let meta = Meta {
            flushed_through: self.flushed_through,
            rows,
            min_ts: granules.iter().map(|g| g.span.min_key.0).min().unwrap_or(0),
            max_ts: granules.iter().map(|g| g.span.max_key.0).max().unwrap_or(0),
            ids_offset: out.at,
            ids_count: rows,
            id_bytes: 0,
            ids_crc: 0,
            granules,
            index: Some(index_extent),
            marks: Some(marks_extent),
            granule_form: self.granule_form,
            index_form: BlockForm::Packed,
            gaps_form: GapsForm::Rice,
            merged: self.merged,
        };
        let json = serde_json::to_vec(&meta).expect("segment meta serializes");
        let mut footer = Vec::with_capacity(FOOTER);
        footer.extend_from_slice(&out.at.to_le_bytes());
        footer.extend_from_slice(&(json.len() as u32).to_le_bytes());
        footer.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());
        footer.extend_from_slice(MAGIC);
        out.put(&json)?;
        out.put(&footer)?;
        Ok(meta)
    }
}

impl Segment {
    /// Writes granules (uncompressed chunks, with their spans) and the term
    /// index of their rows (`terms::Builder::finish`) as the segment
    /// `path`, durably; the rows' id hashes are held in memory.
    pub(super) fn write(
        path: &Path,
        flushed_through: u64,
        granules: Vec<(Span, &[u8])>,
        index: &Written,
        mut ids: Vec<u64>,
    ) -> Result<Self, EmbeddedError> {
        let written = aerie_common::atomic_write_with(path, |out| {
            write_body(out, flushed_through, granules, index)
        });
        ids.sort_unstable();
        let meta = written.map_err(io(path))?;
        Ok(Self {
            path: path.to_owned(),
            // The file was opened to write; reads need their own handle.
            file: File::open(path).map_err(io(path))?,
            meta,
            ids: Mutex::new(Some(Arc::new(ids))),
            summary: Mutex::new(None),
        })
    }

    /// Whether [`Segment::merge`] takes it: its granules are columns, with
    /// a term index and time marks (segments written before have not).
    pub(super) fn mergeable(&self) -> bool {
        matches!(
            self.meta.granule_form,
            GranuleForm::ZstdColumns | GranuleForm::ZstdTemplates
        ) && self.meta.index.is_some()
            && self.meta.marks.is_some()
    }

    /// Whether its granules are stored as `other`'s are: a merged
    /// segment's granules, copied as they are, are all of one form.
    pub(super) fn stored_like(&self, other: &Segment) -> bool {
        self.meta.granule_form == other.meta.granule_form
    }

    /// The `flushed_through` of the segments merged into this one.
    pub(super) fn merged(&self) -> &[u64] {
        &self.meta.merged
    }

    /// Writes `sources`, oldest first and each [mergeable], as one segment
    /// `path`, durably: their granules and time marks copied as they are
    /// (checksums checked), their term indexes merged a block at a time, one
    /// source's rows after another's. The rows' id hashes are held in
    /// memory when every source holds its own. The sources are left as
    /// they are.
    ///
    /// [mergeable]: Segment::mergeable
    pub(super) fn merge(path: &Path, sources: &[Arc<Segment>]) -> Result<Self, EmbeddedError> {
        let mut indexes = Vec::with_capacity(sources.len());
        let mut marks = Vec::new();
        for source in sources {
            let (Some(index), Some(extent), true) =
                (source.index(), source.meta.marks, source.mergeable())
            else {
                return Err(EmbeddedError::damaged(format!(
                    "{}: written before segments were merged, so it cannot be",
                    source.path.display()
                )));
            };
            if !source.stored_like(&sources[0]) {
                return Err(EmbeddedError::damaged(format!(
                    "{}: its granules are stored otherwise than {}'s, so the two are not merged",
                    source.path.display(),
                    sources[0].path.display()
                )));
            }
            indexes.push(index);
            marks.extend_from_slice(&source.read_at(extent.offset, extent.len as usize)?);
        }
        let terms: Vec<Terms<'_>> = indexes
            .iter()
            .map(|index| Terms::open(index))
            .collect::<Result<_, _>>()?;
        let index = super::terms::merge(&terms)?;
        let ends = Ends {
            flushed_through: sources
                .iter()
                .map(|s| s.flushed_through())
                .max()
                .unwrap_or(0),
            index: &index,
            marks: &marks,
            merged: sources.iter().map(|s| s.flushed_through()).collect(),
            granule_form: sources
                .first()
                .map_or(GranuleForm::ZstdTemplates, |s| s.meta.granule_form),
        };
        let written = aerie_common::atomic_write_with(path, |out| {
            let mut out = Counted { out, at: 0 };
            out.put(MAGIC)?;
            let mut granules = Vec::new();
            for source in sources {
                for (at, granule) in source.meta.granules.iter().enumerate() {
                    let stored = source.stored(at).map_err(std::io::Error::other)?;
                    granules.push(GranuleMeta {
                        offset: out.at,
                        ..granule.clone()
                    });
                    out.put(&stored)?;
                }
            }
            ends.write(&mut out, granules)
        });
        let meta = written.map_err(io(path))?;
        let held: Option<Vec<Arc<Vec<u64>>>> = sources.iter().map(|s| s.held_ids()).collect();
        let ids = held.map(|held| {
            let mut ids: Vec<u64> = held.iter().flat_map(|ids| ids.iter().copied()).collect();
            ids.sort_unstable();
            Arc::new(ids)
        });
        Ok(Self {
            path: path.to_owned(),
            file: File::open(path).map_err(io(path))?,
            meta,
            ids: Mutex::new(ids),
            summary: Mutex::new(None),
        })
    }

    /// Opens a segment written by [`Segment::write`]; refuses a damaged one.
    pub(super) fn open(path: &Path) -> Result<Self, EmbeddedError> {
        let file = File::open(path).map_err(io(path))?;
        let len = file.metadata().map_err(io(path))?.len();
        let damaged = |what: &str| {
            EmbeddedError::damaged(format!(
                "{}: {what}; the segment is damaged",
                path.display()
            ))
        };
        if len < (MAGIC.len() + FOOTER) as u64 {
            return Err(damaged("too short"));
        }
        let mut footer = [0u8; FOOTER];
        file.read_exact_at(&mut footer, len - FOOTER as u64)
            .map_err(io(path))?;
        if &footer[16..] != MAGIC {
            return Err(damaged("no end marker"));
        }
        let meta_offset = u64::from_le_bytes(footer[..8].try_into().expect("8"));
        let meta_len = u32::from_le_bytes(footer[8..12].try_into().expect("4"));
        let meta_crc = u32::from_le_bytes(footer[12..16].try_into().expect("4"));
        if meta_offset + u64::from(meta_len) + FOOTER as u64 != len {
            return Err(damaged("the footer does not fit the file"));
        }
        let mut json = vec![0u8; meta_len as usize];
        file.read_exact_at(&mut json, meta_offset)
            .map_err(io(path))?;
        if crc32fast::hash(&json) != meta_crc {
            return Err(damaged("the index fails its checksum"));
        }
        let meta: Meta = serde_json::from_slice(&json).map_err(|e| damaged(&e.to_string()))?;
        Ok(Self {
            path: path.to_owned(),
            file,
            meta,
            ids: Mutex::new(None),
            summary: Mutex::new(None),
        })
    }

    pub(super) fn granules(&self) -> &[GranuleMeta] {
        &self.meta.granules
    }

    pub(super) fn flushed_through(&self) -> u64 {
        self.meta.flushed_through
    }

    pub(super) fn rows(&self) -> u64 {
        self.meta.rows
    }

    /// Oldest and newest row times (µs).
    pub(super) fn time_range(&self) -> (i64, i64) {
        (self.meta.min_ts, self.meta.max_ts)
    }

    /// Granule `at`, uncompressed, with the messages of the rows `wanted`
    /// (the others' may come back empty).
    pub(super) fn granule(
        &self,
        at: usize,
        wanted: Wanted<'_>,
    ) -> Result<Granule<'static>, EmbeddedError> {
        let compressed = self.stored(at)?;
        let columns = |messages| {
            columns::decompress(&compressed, messages, wanted)
                .map(Granule::Columns)
                .map_err(|error| self.damaged_granule(at, &error))
        };
        match self.meta.granule_form {
            GranuleForm::Lz4Rows => lz4_flex::block::decompress_size_prepended(&compressed)
                .map(|chunk| Granule::Chunk(Cow::Owned(chunk)))
                .map_err(|error| self.damaged_granule(at, &error)),
            GranuleForm::ZstdColumns => columns(Messages::Text),
            GranuleForm::ZstdTemplates => columns(Messages::Templates),
        }
    }

    /// The key and message of each of `rows` (row numbers, ascending) of
    /// granule `at`, decompressed no further than the last one's message
    /// when the granule is columns.
    pub(super) fn keys_and_messages(
        &self,
        at: usize,
        rows: &[u32],
    ) -> Result<Vec<(Key, Vec<u8>)>, EmbeddedError> {
        let found = match self.meta.granule_form {
            GranuleForm::Lz4Rows => {
                let granule = self.granule(at, Wanted::Every)?;
                let decoded =
                    granule.decode_first(rows.last().map_or(0, |row| *row as usize + 1))?;
                decoded.keys_and_messages(rows)
            }
            GranuleForm::ZstdColumns => {
                columns::keys_and_messages(&self.stored(at)?, rows, Messages::Text)
            }
            GranuleForm::ZstdTemplates => {
                columns::keys_and_messages(&self.stored(at)?, rows, Messages::Templates)
            }
        };
        found.map_err(|error| self.damaged_granule(at, &error))
    }

    fn damaged_granule(&self, at: usize, error: &dyn std::fmt::Display) -> EmbeddedError {
        EmbeddedError::damaged(format!("{}: granule {at}: {error}", self.path.display()))
    }

    /// The time of each row of granule `at`, in order, read without the
    /// rest of its rows; `None` for a segment whose granules are rows.
    pub(super) fn times(&self, at: usize) -> Result<Option<Vec<i64>>, EmbeddedError> {
        if let GranuleForm::Lz4Rows = self.meta.granule_form {
            return Ok(None);
        }
        let times = columns::times(&self.stored(at)?);
        Ok(Some(
            times.map_err(|error| self.damaged_granule(at, &error))?,
        ))
    }

    /// Where in the file the time marks of granule `at` are: `None` when
    /// the segment has none, `Some(None)` when they lie outside its marks.
    fn marks_extent(&self, at: usize) -> Option<Option<(u64, usize)>> {
        let extent = self.meta.marks?;
        let marks_of = |granule: &GranuleMeta| (granule.span.rows as usize).div_ceil(MARK_EVERY);
        let before: usize = self.meta.granules[..at].iter().map(marks_of).sum();
        let count = marks_of(&self.meta.granules[at]);
        let inside = ((before + count) * 8) as u64 <= extent.len;
        Some(inside.then(|| (extent.offset + before as u64 * 8, count * 8)))
    }

    /// Asks for granule `at` to be read ahead ([`Segment::read_ahead`]).
    pub(super) fn read_granule_ahead(&self, at: usize) {
        if let Some(granule) = self.meta.granules.get(at) {
            self.read_ahead(granule.offset, granule.len as usize);
        }
    }

    /// Asks for the time marks of granule `at` to be read ahead.
    pub(super) fn read_marks_ahead(&self, at: usize) {
        if let Some(Some((offset, len))) = self.marks_extent(at) {
            self.read_ahead(offset, len);
        }
    }

    /// Asks the kernel for `len` bytes at `offset` of the file to be read
    /// ahead, without waiting: a read of them that follows finds them in
    /// memory or on their way. Advice only: when the kernel does not take
    /// it, that read waits for the bytes as it would have.
    fn read_ahead(&self, offset: u64, len: usize) {
        rustix::fs::fadvise(
            &self.file,
            offset,
            std::num::NonZeroU64::new(len as u64),
            rustix::fs::Advice::WillNeed,
        )
        .ok();
    }

    /// The `len` bytes of the file at `offset`.
    fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, EmbeddedError> {
        let mut bytes = vec![0u8; len];
        self.file
            .read_exact_at(&mut bytes, offset)
            .map_err(io(&self.path))?;
        Ok(bytes)
    }

    /// Granule `at` as stored, its checksum checked.
    fn stored(&self, at: usize) -> Result<Vec<u8>, EmbeddedError> {
        let meta = &self.meta.granules[at];
        let compressed = self.read_at(meta.offset, meta.len as usize)?;
        if crc32fast::hash(&compressed) != meta.crc {
            return Err(EmbeddedError::damaged(format!(
                "{}: granule {at} fails its checksum; the segment is damaged",
                self.path.display()
            )));
        }
        Ok(compressed)
    }

    /// The time marks of granule `at` (the times of its rows 0,
    /// [`MARK_EVERY`], 2 × [`MARK_EVERY`] ...), when the segment has them.
    pub(super) fn marks(&self, at: usize) -> Result<Option<Vec<i64>>, EmbeddedError> {
        let damaged = || {
            EmbeddedError::damaged(format!(
                "{}: the time marks of granule {at} are wrong; the segment is damaged",
                self.path.display()
            ))
        };
        let (offset, len) = match self.marks_extent(at) {
            Some(Some(extent)) => extent,
            Some(None) => return Err(damaged()),
            None => return Ok(None),
        };
        let bytes = self.read_at(offset, len)?;
        let granule = &self.meta.granules[at];
        let marks: Vec<i64> = bytes
            .chunks_exact(8)
            .map(|mark| i64::from_le_bytes(mark.try_into().expect("8")))
            .collect();
        // Rows are newest first: marks fall, within the granule's span.
        let (oldest, newest) = (granule.span.min_key.0, granule.span.max_key.0);
        if marks.windows(2).any(|pair| pair[0] < pair[1])
            || marks.iter().any(|mark| !(oldest..=newest).contains(mark))
        {
            return Err(damaged());
        }
        Ok(Some(marks))
    }

    /// The term index of the segment's rows, when it has one.
    pub(super) fn index(&self) -> Option<SegmentIndex<'_>> {
        self.meta.index.map(|extent| SegmentIndex {
            segment: self,
            extent,
        })
    }

    /// The rows' id hashes, sorted, made from the granules' ids (or read
    /// from the file of a segment written before) when not in memory
    /// (they stay there until [`Segment::forget_ids`]).
    pub(super) fn ids(&self) -> Result<Arc<Vec<u64>>, EmbeddedError> {
        let mut held = self.ids.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ids) = held.as_ref() {
            return Ok(Arc::clone(ids));
        }
        let ids = Arc::new(match self.meta.id_bytes {
            0 => self.hashed_ids()?,
            _ => self.stored_ids()?,
        });
        *held = Some(Arc::clone(&ids));
        Ok(ids)
    }

    /// The hashes of the granules' ids, sorted.
    fn hashed_ids(&self) -> Result<Vec<u64>, EmbeddedError> {
        let mut ids = Vec::with_capacity(self.meta.rows as usize);
        for at in 0..self.meta.granules.len() {
            // The ids alone: no message is made again.
            let granule = self.granule(at, Wanted::Rows(&[]))?;
            let decoded = granule.decode()?;
            ids.extend(decoded.rows.iter().map(|row| row.id_key(&decoded.dict)));
        }
        ids.sort_unstable();
        Ok(ids)
    }

    /// The id hashes a segment written before holds, sorted.
    fn stored_ids(&self) -> Result<Vec<u64>, EmbeddedError> {
        let width = self.meta.id_bytes;
        if width != 8 && width != 16 {
            return Err(EmbeddedError::damaged(format!(
                "{}: id hashes of {width} bytes; the segment is damaged or from another version",
                self.path.display()
            )));
        }
        let bytes = self.read_at(self.meta.ids_offset, self.meta.ids_count as usize * width)?;
        if crc32fast::hash(&bytes) != self.meta.ids_crc {
            return Err(EmbeddedError::damaged(format!(
                "{}: the id list fails its checksum; the segment is damaged",
                self.path.display()
            )));
        }
        // The lower half of an old 16-byte hash is its first 8 bytes.
        let mut ids: Vec<u64> = bytes
            .chunks_exact(width)
            .map(|id| u64::from_le_bytes(id[..8].try_into().expect("8")))
            .collect();
        if width == 16 {
            ids.sort_unstable();
        }
        Ok(ids)
    }

    /// Whether the id hashes are in memory now.
    pub(super) fn holds_ids(&self) -> bool {
        self.held_ids().is_some()
    }

    /// The id hashes, if they are in memory.
    fn held_ids(&self) -> Option<Arc<Vec<u64>>> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Lets the id hashes go from memory; the next [`Segment::ids`] reads
    /// them again.
    pub(super) fn forget_ids(&self) {
        *self.ids.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The summary of its term index, if it holds one.
    pub(super) fn summary(&self) -> Option<Arc<Summary>> {
        self.summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(super) fn hold_summary(&self, summary: Arc<Summary>) {
        *self.summary.lock().unwrap_or_else(|p| p.into_inner()) = Some(summary);
    }

    pub(super) fn forget_summary(&self) {
        *self.summary.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// A segment's term index, read from its file as lookups need it.
pub(super) struct SegmentIndex<'a> {
    segment: &'a Segment,
    extent: Extent,
}

impl super::terms::IndexBytes for SegmentIndex<'_> {
    fn len(&self) -> u64 {
        self.extent.len
    }

    fn read(&self, at: u64, len: usize) -> Result<Cow<'_, [u8]>, EmbeddedError> {
        if at + len as u64 > self.extent.len {
            return Err(EmbeddedError::damaged(format!(
                "{}: a read past its end",
                self.describe()
            )));
        }
        let bytes = self.segment.read_at(self.extent.offset + at, len)?;
        Ok(Cow::Owned(bytes))
    }

    fn describe(&self) -> String {
        format!("{}: term index", self.segment.path.display())
    }

    fn form(&self) -> BlockForm {
        self.segment.meta.index_form
    }

    fn gaps(&self) -> GapsForm {
        self.segment.meta.gaps_form
    }

    fn read_ahead(&self, at: u64, len: usize) {
        if at + len as u64 <= self.extent.len {
            self.segment.read_ahead(self.extent.offset + at, len);
        }
    }
}
