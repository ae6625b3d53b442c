//! A granule as a segment stores it: the chunk's rows turned into columns
//! and compressed with zstd, so that what repeats sits together (times a
//! few microseconds apart, the same host row after row, the words of one
//! message next to the next one's). ClickHouse's MergeTree parts keep each
//! column apart for the same reason. Messages are kept as templates and
//! numbers (`templates`): a granule of the product's logs takes about 7
//! bytes a line this way, against 14 with the messages as text and 55 as
//! LZ4-compressed rows.
//!
//! [`decompress`] gives a granule's columns back with the messages as
//! text, whichever way they are stored, and [`decode_first`] reads the
//! rows straight from those, as [`super::chunk::decode_first`] reads them
//! from a chunk: the same rows [`Packer::pack`] was given, whatever reads
//! them. This module must never change a row.
//!
//! ```text
//! u32 rows, then the byte lengths of five sections: u32 times, u32
//!   sequence numbers, u32 ids, u32 templates, u32 numbers
//! times: per row, varint zigzag of its time (µs) less the row before's
//!   (the first row's less 0)
//! sequence numbers: the same
//! fields: per column (environment, host, file, level, logger, template) a
//!   u16 per row
//! ids: per row as the chunk has it (u8 1 + 16 bytes, or u8 0 + u8 length
//!   + text), except an id its origin spells: u8 2, varint the number of
//!   its file within the granule (numbered as they first come, by host and
//!   fingerprint), the fingerprint (u64) when the file comes first, and the
//!   varint zigzag of its offset less the offset of the file's row before
//!   (0 for the first) plus its message's length; the id is the origin's
//!   hash with the row's host
//! templates, numbers: the messages, as `templates` writes them
//! the chunk's dictionary, as it is
//! ```
//!
//! Granules written before messages were templates ([`Messages::Text`])
//! have no template column, an origin's distance without its message's
//! length, and message lengths (a varint per row) and the messages one
//! after another in place of the templates and numbers.
//!
//! The whole is one zstd frame (level 1), after a u32 of its length
//! uncompressed.

use super::chunk::{Decoded, Id, Key, LOCATED, RowRef};
pub(super) use super::templates::Wanted;
use super::templates::{self, Splitter};
use crate::embedded::error::EmbeddedError;
use crate::embedded::varint;
use aerie_wire::Origin;

/// zstd's level: its fastest positive one. Higher levels saved 1 % more of
/// the product's logs for twice the time.
const LEVEL: i32 = 1;
/// A row's fields: environment, host, file, level, logger.
const FIELDS: usize = 5;
const HEADER: usize = 4 + 5 * 4;

/// How a granule's messages are kept in its columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Messages {
    /// As their text, after their lengths: granules written before.
    Text,
    /// As templates and numbers, each row's template a sixth field.
    Templates,
}

/// Compresses granules one after another, with one zstd context.
pub(super) struct Packer {
    zstd: zstd::bulk::Compressor<'static>,
    columns: Vec<u8>,
    splitter: Splitter,
    /// The messages split: each row's template, the templates, the numbers.
    split: [Vec<u8>; 3],
}

impl Packer {
    pub(super) fn new() -> std::io::Result<Self> {
        Ok(Self {
            zstd: zstd::bulk::Compressor::new(LEVEL)?,
            columns: Vec::new(),
            splitter: Splitter::default(),
            split: Default::default(),
        })
    }

    /// The stored form of the chunk `decoded` was read from, its messages
    /// as templates, into `out` (cleared first).
    pub(super) fn pack(&mut self, decoded: &Decoded<'_>, out: &mut Vec<u8>) -> std::io::Result<()> {
        let [of_row, templates, numbers] = &mut self.split;
        for part in [&mut *of_row, &mut *templates, &mut *numbers] {
            part.clear();
        }
        let messages = decoded.rows.iter().map(|row| row.message);
        self.splitter
            .split(messages, of_row, templates, numbers)
            .map_err(|_| std::io::Error::other("a granule holds more than 65,536 templates"))?;
        columns_into(decoded, &self.split, &mut self.columns);
        out.clear();
        out.extend_from_slice(&(self.columns.len() as u32).to_le_bytes());
        out.resize(4 + zstd::zstd_safe::compress_bound(self.columns.len()), 0);
        let len = self.zstd.compress_to_buffer(&self.columns, &mut out[4..])?;
        out.truncate(4 + len);
        Ok(())
    }
}

/// The files a granule's origins name, numbered as they first come, each
/// with the offset of its row before: an origin is kept as its file's
/// number and its distance from that row, about a line's length. Rows are
/// newest first, so that distance is less the row's own line; with its
/// message's length added (`shift`), what is left is the rest of the line
/// (time, level, logger), much the same from line to line.
#[derive(Default)]
struct Files {
    /// (host, fingerprint, offset of the file's row before).
    seen: Vec<(u16, u64, u64)>,
}

impl Files {
    fn put(&mut self, out: &mut Vec<u8>, host: u16, origin: Origin, shift: u64) {
        out.push(LOCATED);
        let found = self
            .seen
            .iter()
            .position(|&(h, fingerprint, _)| h == host && fingerprint == origin.fingerprint);
        let number = found.unwrap_or(self.seen.len());
        varint::put(out, number as u64);
        if found.is_none() {
            out.extend_from_slice(&origin.fingerprint.to_le_bytes());
            self.seen.push((host, origin.fingerprint, 0));
        }
        let before = &mut self.seen[number].2;
        let distance = origin.offset.wrapping_sub(*before).wrapping_add(shift);
        varint::put(out, varint::zigzag(distance as i64));
        *before = origin.offset;
    }

    /// The origin [`Files::put`] wrote at `bytes[*at..]` (after its form
    /// byte); moves `at` past it.
    fn get(&mut self, bytes: &[u8], at: &mut usize) -> Option<Origin> {
        let number = usize::try_from(varint::get(bytes, at)?).ok()?;
        if number == self.seen.len() {
            let fingerprint = bytes.get(*at..*at + 8)?;
            *at += 8;
            let fingerprint = u64::from_le_bytes(fingerprint.try_into().ok()?);
            self.seen.push((0, fingerprint, 0));
        }
        let (_, fingerprint, before) = self.seen.get_mut(number)?;
        let offset = before.wrapping_add(varint::unzigzag(varint::get(bytes, at)?) as u64);
        *before = offset;
        Some(Origin {
            fingerprint: *fingerprint,
            offset,
        })
    }
}

/// The columns of `decoded`'s rows, uncompressed, into `out`, with their
/// messages `split` (each row's template, the templates, the numbers).
fn columns_into(decoded: &Decoded<'_>, split: &[Vec<u8>; 3], out: &mut Vec<u8>) {
    let [of_row, templates, numbers] = split;
    let rows = &decoded.rows;
    out.clear();
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    out.resize(HEADER, 0);
    // Writes one section and its length into the header.
    let section = |out: &mut Vec<u8>, at: usize, write: &dyn Fn(&mut Vec<u8>)| {
        let start = out.len();
        write(out);
        let len = (out.len() - start) as u32;
        out[4 + 4 * at..8 + 4 * at].copy_from_slice(&len.to_le_bytes());
    };
    section(out, 0, &|out| {
        let mut last = 0i64;
        for row in rows {
            varint::put(out, varint::zigzag(row.ts.wrapping_sub(last)));
            last = row.ts;
        }
    });
    section(out, 1, &|out| {
        let mut last = 0u64;
        for row in rows {
            varint::put(out, varint::zigzag(row.seq.wrapping_sub(last) as i64));
            last = row.seq;
        }
    });
    for field in 0..FIELDS {
        for row in rows {
            let value = [row.env, row.host, row.file, row.level, row.logger][field];
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    out.extend_from_slice(of_row);
    section(out, 2, &|out| {
        let mut files = Files::default();
        for row in rows {
            match row.id {
                Id::Located { origin, .. } | Id::Kept { origin, .. } => {
                    files.put(out, row.host, origin, row.message.len() as u64)
                }
                id => id.write_to(out),
            }
        }
    });
    section(out, 3, &|out| out.extend_from_slice(templates));
    section(out, 4, &|out| out.extend_from_slice(numbers));
    super::chunk::write_dict(&decoded.dict, out);
}

/// The columns of a stored granule ([`Packer::pack`]'s `out`, or one
/// written before with `messages` as text), decompressed, with the
/// messages as text (of the rows `wanted` when they are templates, the
/// others' empty); [`decode_first`] reads their rows.
pub(super) fn decompress(
    stored: &[u8],
    messages: Messages,
    wanted: Wanted<'_>,
) -> Result<Vec<u8>, EmbeddedError> {
    let damaged = |what: &str| EmbeddedError::damaged(format!("a granule's columns {what}"));
    let (len, frame) = stored
        .split_first_chunk::<4>()
        .ok_or_else(|| damaged("are cut short"))?;
    let columns = zstd::bulk::decompress(frame, u32::from_le_bytes(*len) as usize)
        .map_err(|error| damaged(&format!("do not decompress: {error}")))?;
    match messages {
        Messages::Text => Ok(columns),
        Messages::Templates => {
            as_text(&columns, wanted).ok_or_else(|| damaged("do not fit their lengths"))
        }
    }
}

/// Columns whose messages are templates, with the messages as text (those
/// of the rows `wanted`).
fn as_text(columns: &[u8], wanted: Wanted<'_>) -> Option<Vec<u8>> {
    let mut sections = Sections {
        bytes: columns,
        at: 0,
    };
    let (count, lens) = sections.header()?;
    let mut take = |len: usize| sections.take(len);
    let (times, seqs) = (take(lens[0])?, take(lens[1])?);
    let (fields, of_row) = (take(count.checked_mul(2 * FIELDS)?)?, take(2 * count)?);
    let (ids, templates, numbers) = (take(lens[2])?, take(lens[3])?, take(lens[4])?);
    let dict = &columns[sections.at..];
    let (mut lengths, mut messages) = (Vec::with_capacity(2 * count), Vec::new());
    let sizes = templates::join(
        templates,
        numbers,
        of_row,
        wanted,
        &mut lengths,
        &mut messages,
    )?;
    let ids = unshifted(ids, &sizes)?;
    let ids = ids.as_slice();
    let mut out = Vec::with_capacity(HEADER + columns.len() + messages.len());
    out.extend_from_slice(&(count as u32).to_le_bytes());
    for len in [
        times.len(),
        seqs.len(),
        ids.len(),
        lengths.len(),
        messages.len(),
    ] {
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
    for section in [times, seqs, fields, ids, &lengths, &messages, dict] {
        out.extend_from_slice(section);
    }
    Some(out)
}

/// The time (µs) of each row of a stored granule, in order, decompressing
/// no further than the times (the first section): a count learns each
/// row's bucket from them without the rest of the granule.
pub(super) fn times(stored: &[u8]) -> Result<Vec<i64>, EmbeddedError> {
    use std::io::Read;
    let damaged = |what: &str| EmbeddedError::damaged(format!("a granule's times {what}"));
    let frame = stored.get(4..).ok_or_else(|| damaged("are cut short"))?;
    let mut decoder = zstd::stream::read::Decoder::with_buffer(frame)
        .map_err(|error| damaged(&format!("do not decompress: {error}")))?;
    let mut header = [0u8; HEADER];
    let mut section = Vec::new();
    let read = decoder.read_exact(&mut header).and_then(|()| {
        let len = u32::from_le_bytes(header[4..8].try_into().expect("4"));
        decoder
            .by_ref()
            .take(u64::from(len))
            .read_to_end(&mut section)
    });
    read.map_err(|error| damaged(&format!("do not decompress: {error}")))?;
    let rows = u32::from_le_bytes(header[..4].try_into().expect("4")) as usize;
    let mut at = 0;
    let times = undelta(&section, rows, &mut at).ok_or_else(|| damaged("are cut short"))?;
    if at != section.len() {
        return Err(damaged("do not fit their length"));
    }
    Ok(times)
}

/// The first `rows` values of a section of zigzag varint deltas (times,
/// sequence numbers), read from `at`, which is left after them.
fn undelta(section: &[u8], rows: usize, at: &mut usize) -> Option<Vec<i64>> {
    let mut values = Vec::with_capacity(rows.min(section.len()));
    let mut value = 0i64;
    for _ in 0..rows {
        value = value.wrapping_add(varint::unzigzag(varint::get(section, at)?));
        values.push(value);
    }
    Some(values)
}

/// The key and message of each of `rows` (row numbers, ascending) of a
/// stored granule, decompressing no further than the last one's message
/// when `messages` are text: a host's newest line is read without the rest
/// of its granule.
pub(super) fn keys_and_messages(
    stored: &[u8],
    rows: &[u32],
    messages: Messages,
) -> Result<Vec<(Key, Vec<u8>)>, EmbeddedError> {
    let damaged = |what: &str| EmbeddedError::damaged(format!("a granule's columns {what}"));
    match messages {
        Messages::Text => {
            let frame = stored.get(4..).ok_or_else(|| damaged("are cut short"))?;
            let decoder = zstd::stream::read::Decoder::with_buffer(frame)
                .map_err(|error| damaged(&format!("do not decompress: {error}")))?;
            keys_and_messages_of(decoder, rows)
        }
        Messages::Templates => {
            // A row's numbers sit with its template's, after every row's
            // template: the granule is decompressed whole, and only the
            // messages of `rows` made again.
            let columns = decompress(stored, messages, Wanted::Rows(rows))?;
            keys_and_messages_of(columns.as_slice(), rows)
        }
    }
}

/// [`keys_and_messages`] of the columns (messages as text) that `source`
/// reads, read no further than the last row's message.
fn keys_and_messages_of(
    mut source: impl std::io::Read,
    rows: &[u32],
) -> Result<Vec<(Key, Vec<u8>)>, EmbeddedError> {
    use std::io::Read;
    let damaged = |what: &str| EmbeddedError::damaged(format!("a granule's columns {what}"));
    let cut = || damaged("do not fit their lengths");
    // The next `len` bytes, or with `keep` false, passed over.
    let mut next = |len: usize, keep: bool| -> Result<Vec<u8>, EmbeddedError> {
        let mut section = Vec::with_capacity(if keep { len } else { 0 });
        let mut taken = source.by_ref().take(len as u64);
        let read = match keep {
            true => taken.read_to_end(&mut section),
            false => std::io::copy(&mut taken, &mut std::io::sink()).map(|n| n as usize),
        };
        let read = read.map_err(|error| damaged(&format!("do not decompress: {error}")))?;
        (read == len).then_some(section).ok_or_else(cut)
    };
    let header = next(HEADER, true)?;
    let mut sections = Sections {
        bytes: &header,
        at: 0,
    };
    let (count, lens) = sections.header().ok_or_else(cut)?;
    let Some(&last) = rows.last() else {
        return Ok(Vec::new());
    };
    let wanted = last as usize + 1;
    if wanted > count {
        return Err(damaged(&format!(
            "hold {count} rows, not row {last} that a term index names"
        )));
    }
    // Each wanted row's running sum of a section of varints.
    let sums = |section: &[u8]| -> Result<Vec<u64>, EmbeddedError> {
        let (mut at, mut sum) = (0, 0u64);
        let mut sums = Vec::with_capacity(wanted);
        for _ in 0..wanted {
            sum = sum.wrapping_add(varint::get(section, &mut at).ok_or_else(cut)?);
            sums.push(sum);
        }
        Ok(sums)
    };
    let undelta = |section: &[u8]| undelta(section, wanted, &mut 0).ok_or_else(cut);
    let times = undelta(&next(lens[0], true)?)?;
    let seqs = undelta(&next(lens[1], true)?)?;
    let fields_len = count.checked_mul(2 * FIELDS).ok_or_else(cut)?;
    next(fields_len, false)?;
    next(lens[2], false)?;
    let ends = sums(&next(lens[3], true)?)?;
    let end = ends[wanted - 1] as usize;
    if end > lens[4] {
        return Err(cut());
    }
    let messages = next(end, true)?;
    rows.iter()
        .map(|&row| {
            let row = row as usize;
            let start = row.checked_sub(1).map_or(0, |before| ends[before] as usize);
            let message = messages.get(start..ends[row] as usize).ok_or_else(cut)?;
            Ok(((times[row], seqs[row] as u64), message.to_vec()))
        })
        .collect()
}

/// The ids section of columns with templates as granules with messages as
/// text have it: each origin's distance from its file's row before without
/// its message's length (`sizes`, a row's after another's).
fn unshifted(ids: &[u8], sizes: &[usize]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(ids.len());
    let (mut at, mut files) = (0, 0u64);
    let mut sizes = sizes.iter();
    while at < ids.len() {
        let length = *sizes.next()? as u64;
        let start = at;
        if ids[at] != LOCATED {
            Id::read_from(ids, &mut at).ok()?;
            out.extend_from_slice(&ids[start..at]);
            continue;
        }
        at += 1;
        let file = varint::get(ids, &mut at)?;
        if file == files {
            // A file's first row: its fingerprint follows.
            at += 8;
            files += 1;
        }
        out.extend_from_slice(ids.get(start..at)?);
        let shifted = varint::unzigzag(varint::get(ids, &mut at)?) as u64;
        varint::put(
            &mut out,
            varint::zigzag(shifted.wrapping_sub(length) as i64),
        );
    }
    Some(out)
}

/// Reads one section after another.
struct Sections<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Sections<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let section = self.bytes.get(self.at..self.at.checked_add(len)?)?;
        self.at += len;
        Some(section)
    }

    fn u32(&mut self) -> Option<usize> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?) as usize)
    }

    /// The rows, then the byte lengths of the five sections.
    fn header(&mut self) -> Option<(usize, [usize; 5])> {
        let rows = self.u32()?;
        let mut lens = [0; 5];
        for len in &mut lens {
            *len = self.u32()?;
        }
        Some((rows, lens))
    }
}

/// The dictionary and the first `wanted` rows (all of them, when there are
/// fewer) of decompressed columns, borrowed from them as
/// [`chunk::decode_first`](super::chunk::decode_first) borrows from a chunk.
pub(super) fn decode_first(columns: &[u8], wanted: usize) -> Result<Decoded<'_>, EmbeddedError> {
    let cut = || EmbeddedError::damaged("a granule's columns do not fit their lengths");
    let mut sections = Sections {
        bytes: columns,
        at: 0,
    };
    let (count, lens) = sections.header().ok_or_else(cut)?;
    let fields_len = count.checked_mul(2 * FIELDS).ok_or_else(cut)?;
    let mut section = |len: usize| sections.take(len).ok_or_else(cut);
    let (times, seqs, fields) = (section(lens[0])?, section(lens[1])?, section(fields_len)?);
    let (ids, lengths, messages) = (section(lens[2])?, section(lens[3])?, section(lens[4])?);
    let dict = super::chunk::read_dict(&columns[sections.at..])?;
    let field = |field: usize, row: usize| {
        let at = 2 * (field * count + row);
        u16::from_le_bytes([fields[at], fields[at + 1]])
    };
    let rows_wanted = count.min(wanted);
    let mut rows = Vec::with_capacity(rows_wanted);
    let (mut time_at, mut seq_at, mut id_at, mut len_at, mut message_at) = (0, 0, 0, 0, 0usize);
    let (mut ts, mut seq) = (0i64, 0u64);
    let mut files = Files::default();
    for row in 0..rows_wanted {
        let time_delta = varint::get(times, &mut time_at).ok_or_else(cut)?;
        let seq_delta = varint::get(seqs, &mut seq_at).ok_or_else(cut)?;
        ts = ts.wrapping_add(varint::unzigzag(time_delta));
        seq = seq.wrapping_add(varint::unzigzag(seq_delta) as u64);
        let id = match ids.get(id_at) {
            Some(&LOCATED) => {
                id_at += 1;
                let origin = files.get(ids, &mut id_at).ok_or_else(cut)?;
                let host = dict.get(usize::from(field(1, row))).ok_or_else(|| {
                    EmbeddedError::damaged("a granule's row names a host its dictionary lacks")
                })?;
                Id::Kept { origin, host }
            }
            _ => Id::read_from(ids, &mut id_at)?,
        };
        let len = varint::get(lengths, &mut len_at).ok_or_else(cut)? as usize;
        let message = message_at
            .checked_add(len)
            .and_then(|end| messages.get(message_at..end))
            .ok_or_else(cut)?;
        message_at += len;
        rows.push(RowRef {
            ts,
            seq,
            env: field(0, row),
            host: field(1, row),
            file: field(2, row),
            level: field(3, row),
            logger: field(4, row),
            id,
            message,
        });
    }
    let whole = (time_at, seq_at, id_at, len_at, message_at)
        == (
            times.len(),
            seqs.len(),
            ids.len(),
            lengths.len(),
            messages.len(),
        );
    if wanted >= count && !whole {
        return Err(cut());
    }
    Ok(Decoded { dict, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::logs::chunk::{Builder, NewRow, decode};

    /// The id of row `n` of host `host`: a line read at an origin (two
    /// files a host, offsets now ahead, now behind the file's row before)
    /// one time in two, else a hex id, a text one or none.
    fn id_of(n: i64, host: &str) -> Id<'static> {
        let texts = ["0123456789abcdef0123456789abcdef", "resent-7", ""];
        if n % 2 == 1 {
            let origin = Origin {
                fingerprint: 0xfeed_0000 + (n as u64 / 2) % 2,
                offset: (1u64 << 33) - (n as u64) * 120 + (n as u64 % 7) * 500,
            };
            return Id::of_line(
                origin.id(host).as_str().to_owned().leak(),
                host,
                Some(origin),
            );
        }
        Id::of(texts[n as usize / 2 % 3])
    }

    fn chunk_of_rows() -> Vec<u8> {
        let mut builder = Builder::default();
        for n in 0..300i64 {
            let host = ["gw-1", "gw-2", "tm-1"][n as usize % 3];
            builder.push(&NewRow {
                // Out of order, and one far in the past: deltas of both signs.
                ts: if n == 7 {
                    -5
                } else {
                    1_700_000_000_000_000 - n * 997 + (n % 3) * 5_000
                },
                seq: (1000 - n) as u64 * 3,
                env: "acme",
                host,
                file: "/var/log/app.log",
                level: (n % 5 != 0).then_some("INFO"),
                logger: (n % 2 == 0).then_some("Handler"),
                id: id_of(n, host),
                message: match n % 4 {
                    0 => "ünïcode".as_bytes(),
                    1 => b"",
                    _ => format!("request seq{n} 0x1f{n} took {} ms", n % 9)
                        .into_bytes()
                        .leak(),
                },
            });
        }
        builder.finish().unwrap().1
    }

    /// Each row with its strings, as `decoded` holds them.
    fn rows_of<'a>(decoded: &'a Decoded<'a>) -> Vec<NewRow<'a>> {
        let rows = decoded.rows.iter();
        rows.map(|row| NewRow::from_ref(row, &decoded.dict))
            .collect()
    }

    /// The stored granule of `chunk`.
    fn packed(chunk: &[u8]) -> Vec<u8> {
        let mut stored = Vec::new();
        Packer::new()
            .unwrap()
            .pack(&decode(chunk).unwrap(), &mut stored)
            .unwrap();
        stored
    }

    /// A stored granule as one written before messages were templates.
    fn with_text(stored: &[u8]) -> Vec<u8> {
        let columns = decompress(stored, Messages::Templates, Wanted::Every).unwrap();
        let mut old = (columns.len() as u32).to_le_bytes().to_vec();
        old.extend_from_slice(&zstd::bulk::compress(&columns, LEVEL).unwrap());
        old
    }

    /// The rows of a stored granule, as text to compare.
    fn stored_rows(stored: &[u8], wanted: usize) -> Result<String, EmbeddedError> {
        let columns = decompress(stored, Messages::Templates, Wanted::Every)?;
        let decoded = decode_first(&columns, wanted)?;
        Ok(format!("{:?}", rows_of(&decoded)))
    }

    #[test]
    fn a_chunks_rows_come_back_from_its_columns_as_they_were() {
        let chunk = chunk_of_rows();
        let decoded = decode(&chunk).unwrap();
        let mut packer = Packer::new().unwrap();
        let mut stored = Vec::new();
        packer.pack(&decoded, &mut stored).unwrap();
        let rows = rows_of(&decoded);
        assert_eq!(
            stored_rows(&stored, usize::MAX).unwrap(),
            format!("{rows:?}")
        );
        assert_eq!(
            stored_rows(&stored, 7).unwrap(),
            format!("{:?}", &rows[..7])
        );
        let each: Vec<i64> = decoded.rows.iter().map(|row| row.ts).collect();
        assert_eq!(times(&stored).unwrap(), each);
        assert!(
            stored.len() < chunk.len() / 4,
            "{} of {}",
            stored.len(),
            chunk.len()
        );
        // The packer's buffers are reused: a second granule is its own.
        let mut single = Builder::default();
        single.push(&rows[5]);
        let single = single.finish().unwrap().1;
        packer.pack(&decode(&single).unwrap(), &mut stored).unwrap();
        assert_eq!(
            stored_rows(&stored, usize::MAX).unwrap(),
            format!("{:?}", [rows[5]])
        );
    }

    #[test]
    fn a_line_read_at_an_origin_keeps_its_id_in_a_few_bytes_not_sixteen() {
        let granule = |located: bool| {
            let mut builder = Builder::default();
            for n in 0..8192u64 {
                let host = ["gw-1", "gw-2"][n as usize % 2];
                let origin = Origin {
                    fingerprint: 0xfeed + n % 2,
                    offset: 1_000_000 - n * 90 - n % 13,
                };
                let id = origin.id(host).as_str().to_owned().leak();
                builder.push(&NewRow {
                    ts: 1_700_000_000_000_000 - n as i64 * 100,
                    seq: 100_000 - n,
                    env: "acme",
                    host,
                    file: "/var/log/app.log",
                    level: None,
                    logger: None,
                    id: Id::of_line(id, host, located.then_some(origin)),
                    message: b"",
                });
            }
            let chunk = builder.finish().unwrap().1;
            let mut stored = Vec::new();
            Packer::new()
                .unwrap()
                .pack(&decode(&chunk).unwrap(), &mut stored)
                .unwrap();
            let back = decompress(&stored, Messages::Templates, Wanted::Every).unwrap();
            let ids: Vec<String> = decode_first(&back, usize::MAX)
                .unwrap()
                .rows
                .iter()
                .map(|row| row.id.to_string())
                .collect();
            (stored.len(), ids)
        };
        let (hex_bytes, hex_ids) = granule(false);
        let (located_bytes, located_ids) = granule(true);
        assert_eq!(located_ids, hex_ids, "the same ids come back");
        assert!(hex_bytes > 8192 * 16, "{hex_bytes}");
        assert!(
            located_bytes < 8192 * 3,
            "{located_bytes} bytes for 8192 ids"
        );
    }

    #[test]
    fn the_rows_asked_for_are_read_without_the_rest_of_the_granule() {
        let chunk = chunk_of_rows();
        let decoded = decode(&chunk).unwrap();
        let mut stored = Vec::new();
        Packer::new().unwrap().pack(&decoded, &mut stored).unwrap();
        let asked = [0u32, 4, 7, 120, 299];
        let expected: Vec<(Key, Vec<u8>)> = asked
            .iter()
            .map(|&row| {
                let row = &decoded.rows[row as usize];
                (row.key(), row.message.to_vec())
            })
            .collect();
        let old = with_text(&stored);
        for (stored, messages) in [(&stored, Messages::Templates), (&old, Messages::Text)] {
            let read = |rows: &[u32]| keys_and_messages(stored, rows, messages);
            assert_eq!(read(&asked).unwrap(), expected, "{messages:?}");
            assert_eq!(read(&[]).unwrap(), Vec::new());
            let error = read(&[3, 300]).unwrap_err();
            assert!(error.to_string().contains("row 300"), "{error}");
            let cut = keys_and_messages(&stored[..stored.len() / 2], &[299], messages);
            assert!(cut.is_err(), "a cut granule is refused");
        }
    }

    #[test]
    fn a_granule_written_before_messages_were_templates_reads_the_same() {
        let stored = packed(&chunk_of_rows());
        let old = with_text(&stored);
        let rows =
            |columns: &[u8]| format!("{:?}", rows_of(&decode_first(columns, usize::MAX).unwrap()));
        assert_eq!(
            rows(&decompress(&old, Messages::Text, Wanted::Every).unwrap()),
            rows(&decompress(&stored, Messages::Templates, Wanted::Every).unwrap())
        );
        assert_eq!(times(&old).unwrap(), times(&stored).unwrap());
    }

    #[test]
    fn damaged_columns_are_refused_not_misread() {
        let stored = packed(&chunk_of_rows());
        let templates = Messages::Templates;
        assert!(
            decompress(&stored[..stored.len() - 1], templates, Wanted::Every).is_err(),
            "cut"
        );
        assert!(
            decompress(&stored[..3], templates, Wanted::Every).is_err(),
            "no length"
        );
        assert!(times(&stored[..40]).is_err(), "times cut");
        let columns = decompress(&stored, templates, Wanted::Every).unwrap();
        for (what, at, value) in [("more rows", 0, 0x01), ("longer times", 4, 0x7f)] {
            let mut wrong = columns.clone();
            wrong[at] = wrong[at].wrapping_add(value);
            assert!(decode_first(&wrong, usize::MAX).is_err(), "{what}");
        }
        let as_stored = decompress(&stored, Messages::Text, Wanted::Every).unwrap();
        assert!(as_text(&as_stored, Wanted::Every).is_some());
        for (what, at) in [
            ("more rows", 0),
            ("longer times", 4),
            ("longer templates", 16),
        ] {
            let mut wrong = as_stored.clone();
            wrong[at] = wrong[at].wrapping_add(1);
            assert!(as_text(&wrong, Wanted::Every).is_none(), "{what}");
        }
    }
}
