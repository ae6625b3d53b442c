//! A term index's blocks: up to [`BLOCK`](super::terms) terms, sorted, each
//! with where its rows are, written and read in the form segments are
//! written in now ([`BlockForm::Packed`]) and in the form written before
//! ([`BlockForm::Prefixed`]), which is still read.
//!
//! ```text
//! prefixed (before): varint offset of the block's first postings; per term
//!   u8 prefix shared with the term before, u8 length of the rest, the
//!   rest, varint (value << 2 | form)
//! packed: varint (length << 1 | zstd), then the body below as it is or as
//!   one zstd frame; the body: varint offset of the block's first
//!   postings; per term a byte (shared << 4 | rest), where a nibble of 15
//!   is followed by a byte of its value less 15, the rest, varint
//!   (value << 2 | form), where the one row of form 0 is the zigzag of its
//!   distance from the block's one row before (0 for the first)
//! ```
//!
//! Forms: 0 one row (the value), 1 every row, 2 gaps (the value: their
//! length in the postings), 3 a bitmap (its length). Terms that sort next
//! to each other are often in rows next to each other (a request's number
//! and the next one's), so a one-row term takes a byte or two, not three;
//! compressed, a block of the product's logs takes a third of its
//! prefixed size.
//!
//! The caller checks a block's CRC before walking it; walking checks the
//! rest (terms that fit, rows in range of a u32) and never panics on
//! damaged bytes.

use serde::{Deserialize, Serialize};

use crate::embedded::varint;

/// zstd's level for blocks: a fast one, which leaves literals as they are
/// and so builds no Huffman table for a block of a few hundred bytes. It
/// writes blocks 5 % larger than level 1 in a third of the time.
const LEVEL: i32 = -1;
/// A block's body is never longer than this: 128 terms of at most 128
/// bytes, with their headers and words, fit with room to spare.
const MAX_BODY: usize = 1 << 16;
/// A header nibble that says its value is in a byte of its own.
const ESCAPE: u8 = 15;

/// How an index's blocks are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum BlockForm {
    /// Segments written before: shared-prefix terms, rows as they are.
    #[default]
    Prefixed,
    /// Packed headers, one-row terms as distances, zstd.
    Packed,
}

/// Where a term's rows are, as a block says.
#[derive(Debug, Clone, Copy)]
pub(super) enum Posted {
    /// In one row, this one (most terms: ids, numbers, rare words).
    One(u32),
    Every,
    /// Gaps (the first row, then each one's distance from the one before)
    /// at this offset and length of the postings.
    Gaps(u64, usize),
    /// A roaring bitmap at this offset and length.
    Bitmap(u64, usize),
}

/// Writes blocks in the packed form, one at a time, with one zstd context.
pub(super) struct BlockWriter {
    body: Vec<u8>,
    previous: Vec<u8>,
    previous_row: u32,
    zstd: zstd::bulk::Compressor<'static>,
    compressed: Vec<u8>,
}

/// zstd fails on bytes in memory only when it cannot allocate its context,
/// where a `Vec` would abort the process.
const ZSTD_ALLOCATES: &str = "zstd allocates its compression context";

impl BlockWriter {
    pub(super) fn new() -> Self {
        Self {
            body: Vec::new(),
            previous: Vec::new(),
            previous_row: 0,
            zstd: zstd::bulk::Compressor::new(LEVEL).expect(ZSTD_ALLOCATES),
            compressed: Vec::new(),
        }
    }

    /// Opens a block whose first term's postings (if any) are at
    /// `postings_offset`.
    pub(super) fn open(&mut self, postings_offset: u64) {
        self.body.clear();
        self.previous.clear();
        self.previous_row = 0;
        varint::put(&mut self.body, postings_offset);
    }

    /// Adds `term` (after the block's terms before) with `word`: `value <<
    /// 2 | form`, the value of form 0 its one row.
    pub(super) fn push(&mut self, term: &[u8], word: u64) {
        let shared = self
            .previous
            .iter()
            .zip(term)
            .take_while(|(a, b)| a == b)
            .count();
        let rest = term.len() - shared;
        let nibble = |n: usize| (n as u8).min(ESCAPE);
        self.body.push(nibble(shared) << 4 | nibble(rest));
        for n in [shared, rest] {
            if n >= ESCAPE as usize {
                self.body.push(n as u8 - ESCAPE);
            }
        }
        self.body.extend_from_slice(&term[shared..]);
        let word = match word & 3 {
            0 => {
                let row = (word >> 2) as u32;
                let distance = i64::from(row) - i64::from(self.previous_row);
                self.previous_row = row;
                varint::zigzag(distance) << 2
            }
            _ => word,
        };
        varint::put(&mut self.body, word);
        self.previous.clear();
        self.previous.extend_from_slice(term);
    }

    /// Appends the open block, as stored, to `out`.
    pub(super) fn seal(&mut self, out: &mut Vec<u8>) {
        let bound = zstd::zstd_safe::compress_bound(self.body.len());
        self.compressed.clear();
        self.compressed.reserve(bound);
        let len = self
            .zstd
            .compress_to_buffer(&self.body, &mut self.compressed)
            .expect(ZSTD_ALLOCATES);
        let body_len = self.body.len() as u64;
        if len < self.body.len() {
            varint::put(out, body_len << 1 | 1);
            out.extend_from_slice(&self.compressed);
        } else {
            varint::put(out, body_len << 1);
            out.extend_from_slice(&self.body);
        }
    }
}

thread_local! {
    static DECOMPRESSOR: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

/// The body of a stored block (its CRC left off) in `form`: `None` when it
/// is malformed.
fn body(form: BlockForm, stored: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    use std::borrow::Cow;
    match form {
        BlockForm::Prefixed => Some(Cow::Borrowed(stored)),
        BlockForm::Packed => {
            let mut at = 0;
            let head = varint::get(stored, &mut at)?;
            let (len, compressed) = (usize::try_from(head >> 1).ok()?, head & 1 == 1);
            let rest = &stored[at..];
            if !compressed {
                return (rest.len() == len).then_some(Cow::Borrowed(rest));
            }
            if len > MAX_BODY {
                return None;
            }
            let body = DECOMPRESSOR.with_borrow_mut(|held| {
                if held.is_none() {
                    *held = zstd::bulk::Decompressor::new().ok();
                }
                held.as_mut()?.decompress(rest, len).ok()
            })?;
            (body.len() == len).then_some(Cow::Owned(body))
        }
    }
}

/// Walks the terms of a stored block (its CRC left off) in `form`, in
/// order, with where each one's rows are; stops when `seen` answers false
/// and answers whether it went to the end. `bad` is the error for a
/// malformed block.
pub(super) fn walk<E>(
    form: BlockForm,
    stored: &[u8],
    bad: impl Fn() -> E,
    mut seen: impl FnMut(&[u8], Posted) -> Result<bool, E>,
) -> Result<bool, E> {
    let body = body(form, stored).ok_or_else(&bad)?;
    let body = &*body;
    let mut cursor = 0;
    let mut offset = varint::get(body, &mut cursor).ok_or_else(&bad)?;
    let mut term = Vec::with_capacity(super::terms::MAX_TERM);
    let mut previous_row = 0i64;
    while cursor < body.len() {
        let (shared, rest) = match form {
            BlockForm::Prefixed => {
                let rest = *body.get(cursor + 1).ok_or_else(&bad)?;
                cursor += 2;
                (body[cursor - 2] as usize, rest as usize)
            }
            BlockForm::Packed => {
                let header = body[cursor];
                cursor += 1;
                let mut nibble = |n: u8| -> Option<usize> {
                    if n < ESCAPE {
                        return Some(n as usize);
                    }
                    let more = *body.get(cursor)?;
                    cursor += 1;
                    Some(ESCAPE as usize + more as usize)
                };
                let shared = nibble(header >> 4).ok_or_else(&bad)?;
                let rest = nibble(header & 0xF).ok_or_else(&bad)?;
                (shared, rest)
            }
        };
        let suffix = body.get(cursor..cursor + rest).ok_or_else(&bad)?;
        if shared > term.len() {
            return Err(bad());
        }
        term.truncate(shared);
        term.extend_from_slice(suffix);
        cursor += rest;
        let word = varint::get(body, &mut cursor).ok_or_else(&bad)?;
        let value = word >> 2;
        let posted = match word & 3 {
            0 => {
                let row = match form {
                    BlockForm::Prefixed => i64::try_from(value).map_err(|_| bad())?,
                    BlockForm::Packed => previous_row + varint::unzigzag(value),
                };
                previous_row = row;
                Posted::One(u32::try_from(row).map_err(|_| bad())?)
            }
            1 => Posted::Every,
            2 => Posted::Gaps(offset, value as usize),
            _ => Posted::Bitmap(offset, value as usize),
        };
        if word & 2 != 0 {
            offset = offset.checked_add(value).ok_or_else(&bad)?;
        }
        if !seen(&term, posted)? {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Terms and words as a block holds them, read back from `stored`.
    fn read(form: BlockForm, stored: &[u8]) -> Option<Vec<(Vec<u8>, String)>> {
        let mut terms = Vec::new();
        walk(
            form,
            stored,
            || (),
            |term, posted| {
                terms.push((term.to_vec(), format!("{posted:?}")));
                Ok(true)
            },
        )
        .ok()?;
        Some(terms)
    }

    fn packed(terms: &[(&[u8], u64)]) -> Vec<u8> {
        let mut writer = BlockWriter::new();
        writer.open(1000);
        for (term, word) in terms {
            writer.push(term, *word);
        }
        let mut stored = Vec::new();
        writer.seal(&mut stored);
        stored
    }

    #[test]
    fn a_packed_block_reads_back_every_term_and_where_its_rows_are() {
        let long = [b'x'; 40];
        let longer = [b'x'; 128];
        let terms: Vec<(&[u8], u64)> = vec![
            (b"a", 7 << 2),
            (b"seq100", 90_000 << 2),
            (b"seq1000", 89_999 << 2),
            (b"seq1001", 12 << 2),
            (b"seq1002", u64::from(u32::MAX) << 2),
            (b"some", 1),
            (b"words", 30 << 2 | 2),
            (&long, 5 << 2 | 3),
            (&longer, 0),
        ];
        let back = read(BlockForm::Packed, &packed(&terms)).unwrap();
        let expected = [
            "One(7)",
            "One(90000)",
            "One(89999)",
            "One(12)",
            "One(4294967295)",
            "Every",
            "Gaps(1000, 30)",
            "Bitmap(1030, 5)",
            "One(0)",
        ];
        assert_eq!(back.len(), terms.len());
        for ((term, posted), ((want, _), expected)) in back.iter().zip(terms.iter().zip(expected)) {
            assert_eq!(term.as_slice(), *want);
            assert_eq!(posted, expected);
        }
    }

    #[test]
    fn neighbouring_one_row_terms_take_a_few_bytes_each_compressed() {
        let terms: Vec<(Vec<u8>, u64)> = (0..128u64)
            .map(|n| {
                (
                    format!("seq{}", 4_000_000 + n).into_bytes(),
                    (200_000 - n) << 2,
                )
            })
            .collect();
        let borrowed: Vec<(&[u8], u64)> = terms.iter().map(|(t, w)| (t.as_slice(), *w)).collect();
        let stored = packed(&borrowed);
        assert!(stored.len() < 128 * 3, "{} bytes", stored.len());
        assert_eq!(read(BlockForm::Packed, &stored).unwrap().len(), 128);
    }

    #[test]
    fn a_damaged_or_cut_block_is_refused_and_never_panics() {
        let terms: Vec<(&[u8], u64)> = vec![(b"alpha", 3 << 2), (b"alphabet", 2), (b"beta", 1)];
        let stored = packed(&terms);
        for cut in 0..stored.len() {
            let _ = read(BlockForm::Packed, &stored[..cut]);
            let _ = read(BlockForm::Prefixed, &stored[..cut]);
        }
        for at in 0..stored.len() {
            for flip in [1u8, 0x80, 0xFF] {
                let mut damaged = stored.clone();
                damaged[at] ^= flip;
                let _ = read(BlockForm::Packed, &damaged);
            }
        }
        assert!(read(BlockForm::Packed, &stored[..stored.len() - 1]).is_none());
        let mut huge = Vec::new();
        varint::put(&mut huge, (1u64 << 40) << 1 | 1);
        assert!(read(BlockForm::Packed, &huge).is_none());
    }
}
