//! A part's term index: for every word its lines hold, and for every level,
//! host, environment and file, the rows that hold it. A search reads the
//! rows its words and fields allow and decompresses only the granules that
//! have one; a count the index answers exactly reads only each host's
//! newest line (ClickHouse's text index, Lucene's postings, kept per
//! segment).
//!
//! Terms are the search's own tokens ([`normalize_into`]) of the message and
//! of the logger, and a row's fields as a [`Field`] byte before the value
//! (levels lower-cased); a term is cut at [`MAX_TERM`] bytes. Rows are
//! numbered from 0 in the part's order (a segment's granules one after
//! another, each newest first).
//!
//! ```text
//! postings of the terms in more than one row but not in all, one after
//!   another: Rice codes of their gaps (`gaps`; a varint each in segments
//!   written before), or a roaring bitmap (its portable form)
//! blocks of up to BLOCK terms, sorted, each in its form (`blocks`: packed
//!   and compressed, or prefixed in segments written before) and a u32
//!   CRC of it
//! table, per block: u8 length of its first term, the term, u32 offset
//! u32 CRC of the table, u32 rows, u32 blocks, u32 table length,
//!   u64 postings length
//! ```
//!
//! The index must never leave out a row that holds a term: a search would
//! miss the line. Blocks and the table carry CRCs; postings are checked as
//! they are read (rows in order and in range, a bitmap that parses).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use aerie_common::BuildPrehashed;
use roaring::RoaringBitmap;

use super::blocks::{self, BlockForm, BlockWriter, Posted};
use super::chunk::Decoded;
use super::gaps::{self, GapsForm};
use super::query::normalize_into;
use crate::embedded::error::EmbeddedError;
use crate::embedded::varint;

/// Bytes of a term kept: a longer token is indexed by its start, and a
/// search for a word this long or longer is not answered exactly.
pub(super) const MAX_TERM: usize = 128;
/// Terms in a block: the table holds one per block.
const BLOCK: usize = 128;
const TRAILER: usize = 4 * 4 + 8;

/// A row's fields, as the byte that starts their terms (never in a token).
#[derive(Debug, Clone, Copy)]
pub(super) enum Field {
    Level = 1,
    Host = 2,
    Environment = 3,
    File = 4,
}

/// The term of a field's value.
pub(super) fn field_term(field: Field, value: &str) -> Vec<u8> {
    let mut term = Vec::with_capacity(1 + value.len());
    term.push(field as u8);
    match field {
        Field::Level => term.extend(value.bytes().map(|b| b.to_ascii_lowercase())),
        _ => term.extend_from_slice(value.as_bytes()),
    }
    term.truncate(MAX_TERM);
    term
}

/// Whether a search for `term` is answered exactly by the index (it was
/// not cut).
pub(super) fn whole(term: &[u8]) -> bool {
    term.len() < MAX_TERM
}

fn cut(term: &[u8]) -> &[u8] {
    &term[..term.len().min(MAX_TERM)]
}

/// A term's first eight bytes as a number, in the terms' order: terms
/// compared by it first, then by the rest where it is equal, are compared
/// as bytes, and most comparisons touch no term.
fn prefix(term: &[u8]) -> u64 {
    let mut first = [0u8; 8];
    let len = term.len().min(8);
    first[..len].copy_from_slice(&term[..len]);
    u64::from_be_bytes(first)
}

/// No term (the end of a chain of terms that share a hash).
const NO_TERM: u32 = u32::MAX;

/// Gathers the terms of rows, then writes the index. Terms are interned:
/// a map from each term's hash to its number, the bytes of all in one
/// buffer, so that a token costs a hash and a lookup, not an allocation.
/// Each row's terms' numbers are kept one row after another, and sorted
/// into each term's rows when the index is written (no list per term to
/// grow, so a token's row is one write at the end of one list).
#[derive(Default)]
pub(super) struct Builder {
    /// The first term with each hash.
    by_hash: HashMap<u64, u32, BuildPrehashed>,
    /// Term `t`'s bytes are `bytes[starts[t]..starts[t + 1]]`.
    bytes: Vec<u8>,
    starts: Vec<u32>,
    /// The next term with the same hash as `t` ([`NO_TERM`]: none).
    same_hash: Vec<u32>,
    /// The last row that term `t` was added to.
    last_row: Vec<u32>,
    /// The numbers of the terms of each row, one row after another: row
    /// `r`'s end at `row_ends[r]`, so the row being added is the
    /// `row_ends.len()`th.
    posted: Vec<u32>,
    row_ends: Vec<u32>,
}

impl Builder {
    fn term(&self, at: u32) -> &[u8] {
        let at = at as usize;
        &self.bytes[self.starts[at] as usize..self.starts[at + 1] as usize]
    }

    /// The number of `term`, which is added if new.
    fn intern(&mut self, term: &[u8]) -> (u32, bool) {
        let hash = xxhash_rust::xxh3::xxh3_64(term);
        let mut link = None;
        if let Some(&first) = self.by_hash.get(&hash) {
            let mut at = first;
            loop {
                if self.term(at) == term {
                    return (at, false);
                }
                match self.same_hash[at as usize] {
                    NO_TERM => break,
                    next => at = next,
                }
            }
            link = Some(at);
        }
        if self.starts.is_empty() {
            self.starts.push(0);
        }
        let at = self.same_hash.len() as u32;
        self.bytes.extend_from_slice(term);
        self.starts.push(self.bytes.len() as u32);
        self.same_hash.push(NO_TERM);
        match link {
            Some(last) => self.same_hash[last as usize] = at,
            None => {
                self.by_hash.insert(hash, at);
            }
        }
        (at, true)
    }

    /// The rows added so far, and so the number of the row being added.
    fn rows(&self) -> u32 {
        self.row_ends.len() as u32
    }

    /// Adds the row being added to the rows of `term`; answers the term's
    /// number.
    fn put(&mut self, term: &[u8]) -> u32 {
        let (at, new) = self.intern(term);
        if new {
            self.last_row.push(self.rows());
            self.posted.push(at);
        } else {
            self.put_at(at);
        }
        at
    }

    /// Adds the row being added to the rows of term number `at`.
    fn put_at(&mut self, at: u32) {
        let row = self.rows();
        let last = &mut self.last_row[at as usize];
        if *last != row {
            *last = row;
            self.posted.push(at);
        }
    }

    /// Marks the end of the row being added.
    fn end_row(&mut self) {
        self.row_ends.push(self.posted.len() as u32);
    }

    /// Adds the row being added to the rows of each of `terms`, the terms
    /// of dictionary entry `entry`; `numbers` remembers the entry's terms'
    /// numbers, so that the rows after the first that use it hash nothing.
    fn put_entry(&mut self, terms: &[Vec<u8>], numbers: &mut [Option<Vec<u32>>], entry: usize) {
        match numbers.get(entry) {
            Some(Some(known)) => {
                for &at in known {
                    self.put_at(at);
                }
            }
            Some(None) => {
                let known = terms.iter().map(|term| self.put(term)).collect();
                numbers[entry] = Some(known);
            }
            None => {}
        }
    }

    /// Adds a chunk's rows, numbered after the rows added before.
    pub(super) fn add(&mut self, decoded: &Decoded<'_>) {
        // Per dictionary entry, the terms it gives as a logger, and as
        // each field.
        let logger_terms = |value: &str| -> Vec<Vec<u8>> {
            let mut tokens = Vec::new();
            normalize_into(value.as_bytes(), &mut tokens);
            let tokens = tokens
                .split(|b| *b == b' ')
                .filter(|token| !token.is_empty());
            tokens.map(|token| cut(token).to_vec()).collect()
        };
        let fields = [Field::Level, Field::Host, Field::Environment, Field::File];
        let of_entry: Vec<[Vec<Vec<u8>>; 5]> = decoded
            .dict
            .iter()
            .map(|value| {
                let field = |at: usize| vec![field_term(fields[at], value)];
                [logger_terms(value), field(0), field(1), field(2), field(3)]
            })
            .collect();
        let mut numbers: [Vec<Option<Vec<u32>>>; 5] =
            std::array::from_fn(|_| vec![None; decoded.dict.len()]);
        let mut text = Vec::with_capacity(1024);
        for row in &decoded.rows {
            text.clear();
            normalize_into(row.message, &mut text);
            for token in text.split(|b| *b == b' ') {
                if !token.is_empty() {
                    self.put(cut(token));
                }
            }
            let values = [row.logger, row.level, row.host, row.env, row.file];
            for (kind, value) in values.into_iter().enumerate() {
                let entry = value as usize;
                if let Some(terms) = of_entry.get(entry) {
                    self.put_entry(&terms[kind], &mut numbers[kind], entry);
                }
            }
            self.end_row();
        }
    }

    /// The index.
    pub(super) fn finish(mut self) -> Written {
        // Sorted by their first eight bytes as a number, then by the rest
        // where those are equal: most comparisons touch no term.
        let mut order: Vec<(u64, u32)> = (0..self.same_hash.len() as u32)
            .map(|at| (prefix(self.term(at)), at))
            .collect();
        order.sort_unstable_by(|(a_prefix, a), (b_prefix, b)| {
            a_prefix
                .cmp(b_prefix)
                .then_with(|| self.term(*a).cmp(self.term(*b)))
        });
        // Each term's rows, one term after another (a counting sort of the
        // rows' terms): term `t`'s from `firsts[t]`.
        let mut firsts = vec![0u32; order.len() + 1];
        for &at in &self.posted {
            firsts[at as usize + 1] += 1;
        }
        for at in 1..firsts.len() {
            firsts[at] += firsts[at - 1];
        }
        let mut rows = vec![0u32; self.posted.len()];
        let mut next = firsts.clone();
        let mut start = 0;
        for (row, &end) in self.row_ends.iter().enumerate() {
            for &at in &self.posted[start as usize..end as usize] {
                rows[next[at as usize] as usize] = row as u32;
                next[at as usize] += 1;
            }
            start = end;
        }
        // Let go before the index is written: a head's are megabytes.
        drop(std::mem::take(&mut self.posted));
        let mut writer = Writer::new(self.rows());
        for (_, at) in order {
            let at = at as usize;
            let its = &rows[firsts[at] as usize..firsts[at + 1] as usize];
            writer.push(self.term(at as u32), its);
        }
        writer.finish()
    }
}

/// Writes an index from its terms, given in order with their rows.
struct Writer {
    rows: u32,
    postings: Vec<u8>,
    blocks: Vec<u8>,
    table: Vec<u8>,
    /// Terms in the open block, and where it starts in `blocks`.
    in_block: usize,
    block_start: usize,
    block: BlockWriter,
    blocks_count: u32,
}

impl Writer {
    fn new(rows: u32) -> Self {
        Self {
            rows,
            postings: Vec::new(),
            blocks: Vec::new(),
            table: Vec::new(),
            in_block: 0,
            block_start: 0,
            block: BlockWriter::new(),
            blocks_count: 0,
        }
    }

    /// Adds `term` (after every term added before) and its rows, sorted.
    fn push(&mut self, term: &[u8], rows: &[u32]) {
        if self.in_block == BLOCK {
            self.close_block();
        }
        if self.in_block == 0 {
            self.block_start = self.blocks.len();
            self.table.push(term.len() as u8);
            self.table.extend_from_slice(term);
            self.table
                .extend_from_slice(&(self.block_start as u32).to_le_bytes());
            self.block.open(self.postings.len() as u64);
            self.blocks_count += 1;
        }
        let word = encode(rows, self.rows, &mut self.postings);
        self.block.push(term, word);
        self.in_block += 1;
    }

    fn close_block(&mut self) {
        self.block.seal(&mut self.blocks);
        let crc = crc32fast::hash(&self.blocks[self.block_start..]);
        self.blocks.extend_from_slice(&crc.to_le_bytes());
        self.in_block = 0;
    }

    fn finish(mut self) -> Written {
        if self.in_block > 0 {
            self.close_block();
        }
        let postings_len = self.postings.len() as u64;
        let mut rest = self.blocks;
        rest.reserve_exact(self.table.len() + 24);
        rest.extend_from_slice(&self.table);
        rest.extend_from_slice(&crc32fast::hash(&self.table).to_le_bytes());
        rest.extend_from_slice(&self.rows.to_le_bytes());
        rest.extend_from_slice(&self.blocks_count.to_le_bytes());
        rest.extend_from_slice(&(self.table.len() as u32).to_le_bytes());
        rest.extend_from_slice(&postings_len.to_le_bytes());
        Written {
            postings: self.postings,
            rest,
        }
    }
}

/// An index as written: its postings, then its blocks, table and tail,
/// kept in two pieces so that a segment's file takes them one after the
/// other, never copied into one (a merged segment's index is tens of
/// megabytes, and joining them held it twice).
pub(super) struct Written {
    postings: Vec<u8>,
    rest: Vec<u8>,
}

impl Written {
    /// Its bytes, in the order they are stored.
    pub(super) fn pieces(&self) -> [&[u8]; 2] {
        [&self.postings, &self.rest]
    }

    pub(super) fn len(&self) -> usize {
        self.postings.len() + self.rest.len()
    }

    /// Its bytes in one buffer, for an index read where it is made (a
    /// chunk's in the head).
    pub(super) fn into_bytes(self) -> Vec<u8> {
        let mut bytes = self.postings;
        bytes.reserve_exact(self.rest.len());
        bytes.extend_from_slice(&self.rest);
        bytes
    }
}

/// One index as one after another of its terms, a block at a time, for a
/// merge.
struct Cursor<'a, 'b> {
    terms: &'a Terms<'b>,
    /// The number of its first row in the merged index.
    base: u32,
    block: usize,
    /// The open block's terms, one after another, and each's end there
    /// and where its rows are.
    terms_bytes: Vec<u8>,
    entries: Vec<(usize, Posted)>,
    at: usize,
    /// The current term's [`prefix`] (`u64::MAX` past the last).
    prefix: u64,
}

impl<'a, 'b> Cursor<'a, 'b> {
    fn new(terms: &'a Terms<'b>, base: u32) -> Result<Self, EmbeddedError> {
        let mut cursor = Self {
            terms,
            base,
            block: 0,
            terms_bytes: Vec::new(),
            entries: Vec::with_capacity(BLOCK),
            at: 0,
            prefix: u64::MAX,
        };
        cursor.load()?;
        Ok(cursor)
    }

    /// Reads the next block with a term, if any.
    fn load(&mut self) -> Result<(), EmbeddedError> {
        self.entries.clear();
        self.terms_bytes.clear();
        self.at = 0;
        while self.entries.is_empty() && self.block < self.terms.table.entries.len() {
            self.terms.walk(self.block, |term, posted| {
                self.terms_bytes.extend_from_slice(term);
                self.entries.push((self.terms_bytes.len(), posted));
                Ok(true)
            })?;
            self.block += 1;
        }
        self.settle();
        Ok(())
    }

    /// Notes the current term's prefix.
    fn settle(&mut self) {
        self.prefix = self.term().map_or(u64::MAX, prefix);
    }

    /// Its current term with its prefix, to compare by.
    fn key(&self) -> (u64, Option<&[u8]>) {
        (self.prefix, self.term())
    }

    fn term(&self) -> Option<&[u8]> {
        let (end, _) = self.entries.get(self.at)?;
        let start = match self.at {
            0 => 0,
            at => self.entries[at - 1].0,
        };
        Some(&self.terms_bytes[start..*end])
    }

    /// Appends the current term's rows, numbered in the merged index, and
    /// moves on.
    fn take_rows(&mut self, out: &mut Vec<u32>) -> Result<(), EmbeddedError> {
        let (_, posted) = self.entries[self.at];
        let start = out.len();
        self.terms.rows_into(posted, out)?;
        for row in &mut out[start..] {
            *row += self.base;
        }
        self.at += 1;
        if self.at == self.entries.len() {
            self.load()?;
        } else {
            self.settle();
        }
        Ok(())
    }
}

/// The index of the rows of `parts`' indexes, one part's rows after
/// another's: each term's rows gathered from every part that has it.
/// Reads each part a block at a time, so that a segment's index is made
/// from its chunks' without holding every term in memory.
pub(super) fn merge(parts: &[Terms<'_>]) -> Result<Written, EmbeddedError> {
    let mut cursors = Vec::with_capacity(parts.len());
    let mut base = 0u32;
    for terms in parts {
        cursors.push(Cursor::new(terms, base)?);
        base += terms.rows;
    }
    let mut writer = Writer::new(base);
    // The places of the cursors with a term left, as a binary heap by
    // their current term, smallest first; ties in the parts' order, so that
    // rows stay sorted. Terms are compared where the cursors hold them.
    let mut heap: Vec<usize> = (0..cursors.len())
        .filter(|&at| cursors[at].term().is_some())
        .collect();
    for at in (0..heap.len() / 2).rev() {
        sift_down(&mut heap, at, &cursors);
    }
    let (mut term, mut rows) = (Vec::new(), Vec::new());
    while let Some(&first) = heap.first() {
        term.clear();
        term.extend_from_slice(cursors[first].term().unwrap_or_default());
        let key = (cursors[first].prefix, Some(term.as_slice()));
        rows.clear();
        while let Some(&at) = heap.first() {
            if cursors[at].key() != key {
                break;
            }
            cursors[at].take_rows(&mut rows)?;
            if cursors[at].term().is_none() {
                heap.swap_remove(0);
            }
            sift_down(&mut heap, 0, &cursors);
        }
        writer.push(&term, &rows);
    }
    Ok(writer.finish())
}

/// Moves the cursor at `heap[at]` down the heap until neither cursor below
/// it has a smaller term.
fn sift_down(heap: &mut [usize], mut at: usize, cursors: &[Cursor<'_, '_>]) {
    let key = |place: usize| (cursors[place].key(), place);
    loop {
        let mut least = at;
        for child in [2 * at + 1, 2 * at + 2] {
            if child < heap.len() && key(heap[child]) < key(heap[least]) {
                least = child;
            }
        }
        if least == at {
            return;
        }
        heap.swap(at, least);
        at = least;
    }
}

/// The block's word for `rows` (sorted, of `total` rows) in their smallest
/// form; gaps or a bitmap are appended to `postings`.
fn encode(rows: &[u32], total: u32, postings: &mut Vec<u8>) -> u64 {
    if rows.len() == total as usize {
        return 1;
    }
    if let [row] = rows {
        return u64::from(*row) << 2;
    }
    let start = postings.len();
    gaps::put(rows, postings);
    if rows.len() > 256 && bitmap_floor(rows) < postings.len() - start {
        let mut bitmap =
            RoaringBitmap::from_sorted_iter(rows.iter().copied()).expect("rows are sorted");
        bitmap.optimize();
        if bitmap.serialized_size() < postings.len() - start {
            postings.truncate(start);
            bitmap
                .serialize_into(&mut *postings)
                .expect("a Vec takes every write");
            return (((postings.len() - start) as u64) << 2) | 3;
        }
    }
    (((postings.len() - start) as u64) << 2) | 2
}

/// The fewest bytes a roaring bitmap of `rows` (sorted, distinct, at least
/// one) takes: for each container (rows sharing their upper 16 bits), the
/// least of an array (2 bytes a row), a bitmap (8 KiB) and runs (2 bytes,
/// and 4 a run), headers left out. A term whose gaps take no more is not
/// made a bitmap to be weighed: most terms' gaps are the smaller.
fn bitmap_floor(rows: &[u32]) -> usize {
    let container = |count: usize, runs: usize| (2 * count).min(8192).min(2 + 4 * runs);
    let (mut floor, mut count, mut runs) = (0, 0, 0);
    let mut last: Option<u32> = None;
    for &row in rows {
        if last.is_some_and(|last| last >> 16 != row >> 16) {
            floor += container(count, runs);
            (count, runs) = (0, 0);
        }
        if last.is_none_or(|last| row != last.wrapping_add(1) || row >> 16 != last >> 16) {
            runs += 1;
        }
        count += 1;
        last = Some(row);
    }
    floor + container(count, runs)
}

/// Where an index's bytes are read from: memory (a head chunk's) or a
/// segment's file.
pub(super) trait IndexBytes {
    fn len(&self) -> u64;
    fn read(&self, at: u64, len: usize) -> Result<Cow<'_, [u8]>, EmbeddedError>;
    /// What the index is, for errors ("<segment path>: term index").
    fn describe(&self) -> String;
    /// The form its blocks are written in.
    fn form(&self) -> BlockForm;
    /// The form its terms' gaps are written in.
    fn gaps(&self) -> GapsForm;
    /// Asks for `len` bytes at `at` to be read ahead, without waiting for
    /// them: a read of them that follows finds them in memory or on their
    /// way. Bytes in memory already need nothing.
    fn read_ahead(&self, _at: u64, _len: usize) {}
}

impl IndexBytes for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read(&self, at: u64, len: usize) -> Result<Cow<'_, [u8]>, EmbeddedError> {
        let at = at as usize;
        self.get(at..at + len)
            .map(Cow::Borrowed)
            .ok_or_else(|| "a term index is cut short".into())
    }

    fn describe(&self) -> String {
        "a head chunk's term index".into()
    }

    fn form(&self) -> BlockForm {
        BlockForm::Packed
    }

    fn gaps(&self) -> GapsForm {
        GapsForm::Rice
    }
}

/// An index's block table, read once: the first term and offset of each
/// block, which a lookup needs before it reads any block. A segment's is
/// kept between searches ([`Terms::with_table`]).
#[derive(Debug)]
pub(super) struct Table {
    form: BlockForm,
    gaps: GapsForm,
    rows: u32,
    postings_len: u64,
    blocks_len: u64,
    /// The table's bytes, and where each entry starts in them.
    bytes: Vec<u8>,
    entries: Vec<u32>,
}

impl Table {
    /// The table of the index in `bytes`, checked.
    pub(super) fn read(bytes: &dyn IndexBytes) -> Result<Self, EmbeddedError> {
        let damaged = |what: &str| EmbeddedError::damaged(format!("{}: {what}", bytes.describe()));
        let len = bytes.len();
        if len < TRAILER as u64 {
            return Err(damaged("too short"));
        }
        let trailer = bytes.read(len - TRAILER as u64, TRAILER)?;
        let u32_at = |at: usize| u32::from_le_bytes(trailer[at..at + 4].try_into().expect("4"));
        let (table_crc, rows, blocks, table_len) = (u32_at(0), u32_at(4), u32_at(8), u32_at(12));
        let postings_len = u64::from_le_bytes(trailer[16..24].try_into().expect("8"));
        let Some(blocks_len) = (len - TRAILER as u64)
            .checked_sub(u64::from(table_len))
            .and_then(|rest| rest.checked_sub(postings_len))
        else {
            return Err(damaged("its parts do not fit its length"));
        };
        let table = bytes
            .read(postings_len + blocks_len, table_len as usize)?
            .into_owned();
        if crc32fast::hash(&table) != table_crc {
            return Err(damaged("its table fails its checksum"));
        }
        let mut entries = Vec::with_capacity(blocks as usize);
        let mut at = 0;
        while at < table.len() {
            entries.push(at as u32);
            at += 1 + table[at] as usize + 4;
        }
        if at != table.len() || entries.len() != blocks as usize {
            return Err(damaged("its table does not hold its blocks"));
        }
        Ok(Self {
            form: bytes.form(),
            gaps: bytes.gaps(),
            rows,
            postings_len,
            blocks_len,
            bytes: table,
            entries,
        })
    }

    /// Bytes it takes in memory.
    pub(super) fn size(&self) -> usize {
        self.bytes.capacity() + self.entries.capacity() * 4
    }
}

/// Where some terms' rows are, looked up before ([`Terms::look_up`]), each
/// term cut as the index cuts terms: a lookup of one of them reads no block.
#[derive(Debug, Default)]
pub(super) struct Found(Vec<(Vec<u8>, Option<Posted>)>);

impl Found {
    fn get(&self, term: &[u8]) -> Option<Option<Posted>> {
        let found = self.0.iter().find(|(found, _)| found.as_slice() == term);
        found.map(|(_, posted)| *posted)
    }
}

/// An index opened for lookups.
pub(super) struct Terms<'a> {
    bytes: &'a dyn IndexBytes,
    pub rows: u32,
    table: Arc<Table>,
    found: &'a Found,
}

/// No term looked up before.
static NOTHING_FOUND: Found = Found(Vec::new());

impl<'a> Terms<'a> {
    pub(super) fn open(bytes: &'a dyn IndexBytes) -> Result<Self, EmbeddedError> {
        Ok(Self::with_table(bytes, Arc::new(Table::read(bytes)?)))
    }

    /// The index in `bytes`, whose table was read before.
    pub(super) fn with_table(bytes: &'a dyn IndexBytes, table: Arc<Table>) -> Self {
        Self {
            bytes,
            rows: table.rows,
            table,
            found: &NOTHING_FOUND,
        }
    }

    /// The index, with the terms in `found` looked up already.
    pub(super) fn with_found(self, found: &'a Found) -> Self {
        Self { found, ..self }
    }

    /// Asks for the blocks that lookups of `terms` read to be read ahead.
    pub(super) fn read_blocks_ahead(&self, terms: &[Vec<u8>]) {
        for term in terms {
            let Some(at) = self.entries_before(cut(term)).checked_sub(1) else {
                continue;
            };
            if let Ok((start, end)) = self.block_bounds(at) {
                let len = (end - start) as usize;
                self.bytes.read_ahead(self.table.postings_len + start, len);
            }
        }
    }

    /// Where the rows of each of `terms` are, their blocks read; the rows
    /// are asked to be read ahead.
    pub(super) fn look_up(&self, terms: &[Vec<u8>]) -> Result<Found, EmbeddedError> {
        let mut found = Found::default();
        for term in terms {
            let term = cut(term);
            if found.get(term).is_some() {
                continue;
            }
            let posted = self.posted(term)?;
            if let Some(Posted::Gaps(offset, len) | Posted::Bitmap(offset, len)) = posted
                && offset + len as u64 <= self.table.postings_len
            {
                self.bytes.read_ahead(offset, len);
            }
            found.0.push((term.to_vec(), posted));
        }
        Ok(found)
    }

    fn damaged(&self, what: &str) -> EmbeddedError {
        EmbeddedError::damaged(format!("{}: {what}", self.bytes.describe()))
    }

    /// Block `at`'s first term and offset.
    fn entry(&self, at: usize) -> (&[u8], u64) {
        let start = self.table.entries[at] as usize;
        let len = self.table.bytes[start] as usize;
        let term = &self.table.bytes[start + 1..start + 1 + len];
        let offset = &self.table.bytes[start + 1 + len..start + 1 + len + 4];
        (
            term,
            u64::from(u32::from_le_bytes(offset.try_into().expect("4"))),
        )
    }

    /// Where block `at` starts and ends among the blocks, checked.
    fn block_bounds(&self, at: usize) -> Result<(u64, u64), EmbeddedError> {
        let (_, start) = self.entry(at);
        let end = if at + 1 < self.table.entries.len() {
            self.entry(at + 1).1
        } else {
            self.table.blocks_len
        };
        if end < start + 4 || end > self.table.blocks_len {
            return Err(self.damaged("a block's bounds are wrong"));
        }
        Ok((start, end))
    }

    /// Block `at`'s bytes, checked.
    fn block(&self, at: usize) -> Result<Cow<'_, [u8]>, EmbeddedError> {
        let (start, end) = self.block_bounds(at)?;
        let block = self
            .bytes
            .read(self.table.postings_len + start, (end - start) as usize)?;
        let (body, crc) = block.split_at(block.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4")) {
            return Err(self.damaged("a block fails its checksum"));
        }
        Ok(block)
    }

    /// Walks the terms of block `at` in order, with where each one's rows
    /// are; stops when `seen` answers false.
    fn walk(
        &self,
        at: usize,
        seen: impl FnMut(&[u8], Posted) -> Result<bool, EmbeddedError>,
    ) -> Result<bool, EmbeddedError> {
        let block = self.block(at)?;
        let bad = || self.damaged("a block's terms are malformed");
        blocks::walk(self.table.form, &block[..block.len() - 4], bad, seen)
    }

    fn bytes_of(&self, offset: u64, len: usize) -> Result<Cow<'_, [u8]>, EmbeddedError> {
        if offset + len as u64 > self.table.postings_len {
            return Err(self.damaged("a term's rows lie outside the index"));
        }
        self.bytes.read(offset, len)
    }

    /// The rows at `posted`, checked: in range and in order.
    fn bitmap(&self, posted: Posted) -> Result<RoaringBitmap, EmbeddedError> {
        let bad = || self.damaged("a term's rows are malformed");
        Ok(match posted {
            Posted::Bitmap(offset, len) => {
                read_bitmap(&self.bytes_of(offset, len)?, self.rows).ok_or_else(bad)?
            }
            Posted::Every => self.every_row(),
            Posted::One(_) | Posted::Gaps(..) => {
                let mut rows = Vec::new();
                self.rows_into(posted, &mut rows)?;
                RoaringBitmap::from_sorted_iter(rows).map_err(|_| bad())?
            }
        })
    }

    /// Appends the rows at `posted` to `out`, checked.
    fn rows_into(&self, posted: Posted, out: &mut Vec<u32>) -> Result<(), EmbeddedError> {
        let bad = || self.damaged("a term's rows are malformed");
        match posted {
            Posted::One(row) if row < self.rows => out.push(row),
            Posted::One(_) => return Err(bad()),
            Posted::Every => out.extend(0..self.rows),
            Posted::Gaps(offset, len) => {
                let body = self.bytes_of(offset, len)?;
                let read = match self.table.gaps {
                    GapsForm::Varint => read_varint_gaps(&body, self.rows, out),
                    GapsForm::Rice => gaps::read(&body, self.rows, out),
                };
                read.ok_or_else(bad)?
            }
            Posted::Bitmap(..) => out.extend(&self.bitmap(posted)?),
        }
        Ok(())
    }

    /// The rows that hold `term` (cut as the index cuts terms); empty when
    /// none does.
    pub(super) fn rows_of(&self, term: &[u8]) -> Result<RoaringBitmap, EmbeddedError> {
        match self.posted(term)? {
            Some(posted) => self.bitmap(posted),
            None => Ok(RoaringBitmap::new()),
        }
    }

    /// The rows that hold `term`, as [`Terms::rows_of`] says, or `None`
    /// when every row does: a set that an intersection with changes
    /// nothing is not made (a segment's environment, most often).
    pub(super) fn rows_unless_every(
        &self,
        term: &[u8],
    ) -> Result<Option<RoaringBitmap>, EmbeddedError> {
        match self.posted(term)? {
            Some(Posted::Every) => Ok(None),
            Some(posted) => self.bitmap(posted).map(Some),
            None => Ok(Some(RoaringBitmap::new())),
        }
    }

    /// Every row of the index.
    pub(super) fn every_row(&self) -> RoaringBitmap {
        let mut every = RoaringBitmap::new();
        every.insert_range(0..self.rows);
        every
    }

    /// Where the rows of `term` (cut as the index cuts terms) are; `None`
    /// when no row holds it.
    fn posted(&self, term: &[u8]) -> Result<Option<Posted>, EmbeddedError> {
        let term = cut(term);
        if let Some(found) = self.found.get(term) {
            return Ok(found);
        }
        let block = self.entries_before(term);
        let Some(block) = block.checked_sub(1) else {
            return Ok(None);
        };
        let mut found = None;
        self.walk(block, |have, posted| {
            match have.cmp(term) {
                std::cmp::Ordering::Less => return Ok(true),
                std::cmp::Ordering::Equal => found = Some(posted),
                std::cmp::Ordering::Greater => {}
            }
            Ok(false)
        })?;
        Ok(found)
    }

    /// Every term that starts with `prefix` and its rows.
    pub(super) fn with_prefix(
        &self,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, RoaringBitmap)>, EmbeddedError> {
        let mut located = Vec::new();
        let first = self.entries_before(prefix).saturating_sub(1);
        for block in first..self.table.entries.len() {
            let more = self.walk(block, |term, posted| {
                if term.starts_with(prefix) {
                    located.push((term.to_vec(), posted));
                    Ok(true)
                } else {
                    Ok(term < prefix)
                }
            })?;
            if !more {
                break;
            }
        }
        located
            .into_iter()
            .map(|(term, posted)| Ok((term, self.bitmap(posted)?)))
            .collect()
    }

    /// How many blocks start at or before `term`.
    fn entries_before(&self, term: &[u8]) -> usize {
        let (mut low, mut high) = (0, self.table.entries.len());
        while low < high {
            let middle = (low + high) / 2;
            if self.entry(middle).0 <= term {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }
}

/// Appends gaps written by [`encode`] as rows to `out`: each in order and
/// below `rows`.
/// Rows as an index written before wrote them: a varint of the first, then
/// of each one's distance from the one before.
fn read_varint_gaps(body: &[u8], rows: u32, out: &mut Vec<u32>) -> Option<()> {
    let mut at = 0;
    let mut row = 0u64;
    let mut first = true;
    while at < body.len() {
        let gap = varint::get(body, &mut at)?;
        if !first && gap == 0 {
            return None;
        }
        first = false;
        row += gap;
        out.push(u32::try_from(row).ok().filter(|row| *row < rows)?);
    }
    Some(())
}

fn read_bitmap(body: &[u8], rows: u32) -> Option<RoaringBitmap> {
    let bitmap = RoaringBitmap::deserialize_from(body).ok()?;
    match bitmap.max() {
        Some(max) if max >= rows => None,
        _ => Some(bitmap),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::embedded::logs::chunk::{self, Builder as ChunkBuilder, Id, NewRow};

    /// A chunk of (host, message, level) rows, newest first in that order.
    pub(in crate::embedded::logs) fn chunk_of(rows: &[(&str, &str, Option<&str>)]) -> Vec<u8> {
        let mut builder = ChunkBuilder::default();
        for (at, (host, message, level)) in rows.iter().enumerate() {
            builder.push(&NewRow {
                ts: 1000 - at as i64,
                seq: at as u64,
                env: "acme",
                host,
                file: "/f",
                level: *level,
                logger: Some("ThrottleHandler"),
                id: Id::of("x"),
                message: message.as_bytes(),
            });
        }
        builder.finish().unwrap().1
    }

    /// The index of these chunks' rows, one chunk's after another's.
    pub(in crate::embedded::logs) fn index_of(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut builder = Builder::default();
        for bytes in chunks {
            builder.add(&chunk::decode(bytes).unwrap());
        }
        builder.finish().into_bytes()
    }

    fn rows(bitmap: RoaringBitmap) -> Vec<u32> {
        bitmap.into_iter().collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Within the headers (at most 49 bytes for five containers) of it.
        #[test]
        fn a_bitmap_takes_its_floor_and_its_headers(
            rows in proptest::collection::btree_set(0u32..300_000, 1..5_000),
            runs in proptest::collection::vec((0u32..300_000, 1u32..20_000), 0..4),
        ) {
            let mut rows = rows;
            for (start, len) in runs {
                rows.extend(start..start.saturating_add(len));
            }
            let rows: Vec<u32> = rows.into_iter().collect();
            let mut bitmap = RoaringBitmap::from_sorted_iter(rows.iter().copied()).unwrap();
            bitmap.optimize();
            let floor = bitmap_floor(&rows);
            proptest::prop_assert!(floor <= bitmap.serialized_size(), "{floor}");
            proptest::prop_assert!(floor + 49 >= bitmap.serialized_size(), "{floor}");
        }
    }

    #[test]
    fn every_word_and_field_finds_exactly_its_rows() {
        let bytes = index_of(&[
            chunk_of(&[
                ("gw-1", "Heap space low", Some("warn")),
                ("gw-2", "request handled", None),
            ]),
            chunk_of(&[("gw-1", "heap dump written; heap full", Some("ERROR"))]),
        ]);
        let terms = Terms::open(&bytes).unwrap();
        assert_eq!(terms.rows, 3);
        assert_eq!(rows(terms.rows_of(b"heap").unwrap()), [0, 2]);
        assert_eq!(rows(terms.rows_of(b"handled").unwrap()), [1]);
        assert_eq!(rows(terms.rows_of(b"throttlehandler").unwrap()), [0, 1, 2]);
        assert!(terms.rows_of(b"missing").unwrap().is_empty());
        assert!(terms.rows_of(b"").unwrap().is_empty());
        let level = |l| rows(terms.rows_of(&field_term(Field::Level, l)).unwrap());
        assert_eq!(level("WARN"), [0]);
        assert_eq!(level("error"), [2]);
        let host = |h| rows(terms.rows_of(&field_term(Field::Host, h)).unwrap());
        assert_eq!(host("gw-1"), [0, 2]);
        assert!(host("gw-3").is_empty());
        let hosts: Vec<(Vec<u8>, Vec<u32>)> = terms
            .with_prefix(&[Field::Host as u8])
            .unwrap()
            .into_iter()
            .map(|(term, bitmap)| (term[1..].to_vec(), rows(bitmap)))
            .collect();
        assert_eq!(
            hosts,
            [(b"gw-1".to_vec(), vec![0, 2]), (b"gw-2".to_vec(), vec![1])]
        );
    }

    #[test]
    fn many_terms_and_every_postings_form_read_back() {
        // 3000 rows: a word in every row, one in every third, one in the
        // first half, one per row, and enough terms for many blocks.
        let messages: Vec<String> = (0..3000)
            .map(|n| {
                let third = if n % 3 == 0 { "third" } else { "" };
                let half = if n < 1500 { "firsthalf" } else { "" };
                format!("always seq{n} {third} {half}")
            })
            .collect();
        let rows_in: Vec<(&str, &str, Option<&str>)> = messages
            .iter()
            .map(|m| ("gw-1", m.as_str(), None))
            .collect();
        let bytes = index_of(&[chunk_of(&rows_in)]);
        let terms = Terms::open(&bytes).unwrap();
        assert_eq!(terms.rows_of(b"always").unwrap().len(), 3000);
        let third = rows(terms.rows_of(b"third").unwrap());
        assert_eq!(third, (0..3000).step_by(3).collect::<Vec<u32>>());
        // One run of rows: a bitmap is smaller than their gaps.
        let half = rows(terms.rows_of(b"firsthalf").unwrap());
        assert_eq!(half, (0..1500).collect::<Vec<u32>>());
        let mut forms = std::collections::BTreeMap::new();
        for block in 0..terms.table.entries.len() {
            terms
                .walk(block, |term, posted| {
                    let form = format!("{posted:?}");
                    forms.insert(term.to_vec(), form.split('(').next().unwrap().to_owned());
                    Ok(true)
                })
                .unwrap();
        }
        let form = |term: &[u8]| forms[term].as_str();
        assert_eq!(
            [
                form(b"always"),
                form(b"seq5"),
                form(b"third"),
                form(b"firsthalf")
            ],
            ["Every", "One", "Gaps", "Bitmap"]
        );
        for n in [0u32, 1, 127, 128, 1999, 2999] {
            assert_eq!(
                rows(terms.rows_of(format!("seq{n}").as_bytes()).unwrap()),
                [n]
            );
        }
        // Merged with another index after itself, every row appears again
        // as far on as it has rows; the other's words are found too.
        let other = index_of(&[chunk_of(&[("gw-2", "always other", None)])]);
        let other = Terms::open(&other).unwrap();
        let bytes = merge(&[terms, other]).unwrap().into_bytes();
        let merged = Terms::open(&bytes).unwrap();
        assert_eq!(merged.rows, 3001);
        assert_eq!(rows(merged.rows_of(b"seq5").unwrap()), [5]);
        assert_eq!(rows(merged.rows_of(b"other").unwrap()), [3000]);
        assert_eq!(merged.rows_of(b"always").unwrap().len(), 3001);
        assert_eq!(
            merged
                .rows_of(&field_term(Field::Host, "gw-2"))
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            merged
                .rows_of(&field_term(Field::Host, "gw-1"))
                .unwrap()
                .len(),
            3000
        );
    }

    #[test]
    fn a_damaged_index_is_refused_by_name() {
        let bytes = index_of(&[chunk_of(&[("gw-1", "heap space", None)])]);
        let mut broken = bytes.clone();
        let last_block_byte = broken.len() - TRAILER - 10;
        broken[last_block_byte] ^= 0xff;
        let failed = Terms::open(&broken)
            .and_then(|terms| terms.rows_of(b"heap"))
            .unwrap_err()
            .to_string();
        assert!(failed.contains("term index"), "{failed}");
        assert!(Terms::open(&bytes[..10].to_vec()).is_err());
    }

    #[test]
    fn long_words_are_found_by_their_start_and_not_called_whole() {
        let long = "x".repeat(300);
        let bytes = index_of(&[chunk_of(&[("gw-1", &long, None)])]);
        let terms = Terms::open(&bytes).unwrap();
        assert_eq!(rows(terms.rows_of(long.as_bytes()).unwrap()), [0]);
        assert!(!whole(long.as_bytes()));
        assert!(whole(b"heap"));
    }
}
