//! The row codec that the WAL, the in-memory head and the segments' granules
//! share. A chunk is its rows, newest first, then a dictionary of the
//! strings rows repeat (environment, host, file, level, logger):
//!
//! ```text
//! u32 length of the rows, u32 rows, per row: i64 µs, u64 seq, u16 env,
//!   host, file, level, logger (u16::MAX: none), id (u8 0 + u8 length +
//!   text, u8 1 + 16 bytes for 32 lower-case hex digits, or u8 2 + those 16
//!   bytes + u64 fingerprint + u64 offset for an id its origin spells), u32
//!   message length, message
//! u16 entries, per entry: u16 length, UTF-8
//! ```
//!
//! Rows come first so that a chunk is written in one pass into the buffer
//! that becomes its WAL frame, with no copy.

use crate::embedded::error::EmbeddedError;
use aerie_wire::Origin;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// No value (a line without a level or logger).
pub(super) const NONE: u16 = u16::MAX;

/// Where a row sorts: its time (µs) and its sequence number, unique.
pub(super) type Key = (i64, u64);

/// What a chunk holds, to tell without reading its rows whether a query or
/// a duplicate check needs it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Span {
    pub rows: u32,
    pub min_key: Key,
    pub max_key: Key,
    pub dict: Vec<String>,
}

impl Span {
    /// The dictionary index of `value`, if any row uses it.
    pub(super) fn index_of(&self, value: &str) -> Option<u16> {
        self.dict
            .iter()
            .position(|entry| entry == value)
            .map(|at| at as u16)
    }
}

/// The form byte of an [`Id::Located`], in a chunk and in a granule's
/// columns alike.
pub(super) const LOCATED: u8 = 2;

/// An event id as stored: the agent's ids are 32 hex digits (128 bits),
/// kept as the number, with the line's origin when the id is its
/// [`Origin::hash`] (a granule keeps only the origin then, and works the id
/// out again from it and the row's host); any other text is kept as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Id<'a> {
    Hex(u128),
    Located {
        value: u128,
        origin: Origin,
    },
    /// An [`Id::Located`] read back from a granule, which keeps only the
    /// origin: its value is worked out from the origin and the row's
    /// `host` when it is asked for ([`Id::hashed`]), so that a search or a
    /// count, which shows few ids or none, hashes no other row's.
    Kept {
        origin: Origin,
        host: &'a str,
    },
    Text(&'a str),
}

impl<'a> Id<'a> {
    pub(super) fn of(text: &'a str) -> Self {
        match lower_hex_128(text.as_bytes()) {
            Some(value) => Id::Hex(value),
            None => Id::Text(text),
        }
    }

    /// The id `text` of a line from `host` that says it was read at
    /// `origin`: [`Id::Located`] when the id is what that origin spells,
    /// else as [`Id::of`] (a sender's origin is a hint, never trusted).
    pub(super) fn of_line(text: &'a str, host: &str, origin: Option<Origin>) -> Self {
        match (Id::of(text), origin) {
            (Id::Hex(value), Some(origin)) if origin.hash(host) == value => {
                Id::Located { value, origin }
            }
            (id, _) => id,
        }
    }

    /// The id with its value worked out: [`Id::Kept`] becomes the
    /// [`Id::Located`] it was stored as; any other is as it is.
    pub(super) fn hashed(self) -> Self {
        match self {
            Id::Kept { origin, host } => Id::Located {
                value: origin.hash(host),
                origin,
            },
            id => id,
        }
    }

    /// What duplicates are recognised by: the id within its environment.
    /// Ids are unique within an environment only; the same id sent by two
    /// environments is two events, so the environment is part of the key.
    /// It is the lower half of the 128-bit hash (segments written before
    /// kept all of it): a new line is taken for a held one by chance about
    /// once in 10^19 / (lines it is checked against).
    pub(super) fn key(&self, environment: &str) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(environment.as_bytes());
        // A byte no environment name holds ends the name.
        hasher.update(&[0xff]);
        match self {
            Id::Hex(value) | Id::Located { value, .. } => hasher.update(&value.to_le_bytes()),
            Id::Kept { origin, host } => hasher.update(&origin.hash(host).to_le_bytes()),
            Id::Text(text) => hasher.update(text.as_bytes()),
        }
        hasher.digest128() as u64
    }
}

impl<'a> Id<'a> {
    /// The id at `bytes[*at..]` as [`Id::write_to`] wrote it; moves `at`
    /// past it.
    pub(super) fn read_from(bytes: &'a [u8], at: &mut usize) -> Result<Self, EmbeddedError> {
        let mut reader = Reader { bytes, at: *at };
        let id = match reader.u8()? {
            1 => Id::Hex(reader.u128()?),
            LOCATED => Id::Located {
                value: reader.u128()?,
                origin: Origin {
                    fingerprint: reader.u64()?,
                    offset: reader.u64()?,
                },
            },
            _ => {
                let len = reader.u8()? as usize;
                Id::Text(reader.text(len)?)
            }
        };
        *at = reader.at;
        Ok(id)
    }

    /// Appends the id as a chunk stores it: u8 1 and 16 bytes; u8 2, 16
    /// bytes and the origin's two u64s; or u8 0, a u8 length and the text
    /// (its first 255 bytes).
    pub(super) fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Id::Hex(value) => {
                out.push(1);
                out.extend_from_slice(&value.to_le_bytes());
            }
            Id::Located { value, origin } => {
                out.push(LOCATED);
                out.extend_from_slice(&value.to_le_bytes());
                out.extend_from_slice(&origin.fingerprint.to_le_bytes());
                out.extend_from_slice(&origin.offset.to_le_bytes());
            }
            Id::Kept { .. } => self.hashed().write_to(out),
            Id::Text(text) => {
                let kept = &text.as_bytes()[..text.len().min(255)];
                out.push(0);
                out.push(kept.len() as u8);
                out.extend_from_slice(kept);
            }
        }
    }
}

/// The number 32 lower-case hex digits spell, or `None` for anything
/// else: each digit's value looked up in [`NIBBLES`] with no branch, what
/// is not a digit marked by a high bit that the end checks once (it is
/// asked for every line stored; `u128::from_str_radix` took three times as
/// long).
fn lower_hex_128(digits: &[u8]) -> Option<u128> {
    let digits: &[u8; 32] = digits.try_into().ok()?;
    let (mut value, mut marks) = (0u128, 0u8);
    for &digit in digits {
        let nibble = NIBBLES[usize::from(digit)];
        marks |= nibble;
        value = value << 4 | u128::from(nibble & 0xf);
    }
    (marks < 0x10).then_some(value)
}

/// Each byte's value as a lower-case hex digit; 0x10 for any other byte.
const NIBBLES: [u8; 256] = {
    let mut table = [0x10u8; 256];
    let mut digit = 0;
    while digit < 16 {
        table[b"0123456789abcdef"[digit] as usize] = digit as u8;
        digit += 1;
    }
    table
};

impl std::fmt::Display for Id<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Id::Hex(value) | Id::Located { value, .. } => write!(f, "{value:032x}"),
            Id::Kept { origin, host } => write!(f, "{:032x}", origin.hash(host)),
            Id::Text(text) => f.write_str(text),
        }
    }
}

/// One row as read from a chunk; strings are dictionary indexes.
#[derive(Debug, Clone, Copy)]
pub(super) struct RowRef<'a> {
    pub ts: i64,
    pub seq: u64,
    pub env: u16,
    pub host: u16,
    pub file: u16,
    pub level: u16,
    pub logger: u16,
    pub id: Id<'a>,
    /// UTF-8 (checked when it was written); read as text only when shown.
    pub message: &'a [u8],
}

impl RowRef<'_> {
    pub(super) fn key(&self) -> Key {
        (self.ts, self.seq)
    }

    /// The row's duplicate key ([`Id::key`]), its environment read from
    /// the chunk's dictionary `dict`.
    pub(super) fn id_key(&self, dict: &[&str]) -> u64 {
        let environment = dict.get(self.env as usize).copied().unwrap_or_default();
        self.id.key(environment)
    }
}

/// One row to write, with its strings.
#[derive(Debug, Clone, Copy)]
pub(super) struct NewRow<'a> {
    pub ts: i64,
    pub seq: u64,
    pub env: &'a str,
    pub host: &'a str,
    pub file: &'a str,
    pub level: Option<&'a str>,
    pub logger: Option<&'a str>,
    pub id: Id<'a>,
    pub message: &'a [u8],
}

impl<'a> NewRow<'a> {
    /// The row `row` of a chunk with dictionary `dict`, its id hashed.
    pub(super) fn from_ref(row: &RowRef<'a>, dict: &[&'a str]) -> Self {
        let text = |at: u16| dict.get(at as usize).copied();
        NewRow {
            ts: row.ts,
            seq: row.seq,
            env: text(row.env).unwrap_or_default(),
            host: text(row.host).unwrap_or_default(),
            file: text(row.file).unwrap_or_default(),
            level: text(row.level),
            logger: text(row.logger),
            id: row.id.hashed(),
            message: row.message,
        }
    }
}

/// Rows at most in one chunk: its dictionary indexes fit in a u16.
pub(super) const CHUNK_ROWS: usize = 8192;

/// Rows in each chunk of `rows` rows split into as few chunks as can hold
/// them, as even as can be: 9,000 rows are two chunks of 4,500, each big
/// enough to become a granule as it is, not 8,192 and 808, whose small
/// chunk is encoded and indexed again when the head becomes a segment.
pub(super) fn even_chunk(rows: usize) -> usize {
    rows.div_ceil(rows.div_ceil(CHUNK_ROWS).max(1)).max(1)
}

/// Encodes rows, given newest first, into a chunk.
pub(super) struct Builder {
    dict: Vec<String>,
    index: HashMap<String, u16>,
    last: [(u16, usize); 5],
    /// `prefix` bytes for the caller, then the chunk.
    out: Vec<u8>,
    prefix: usize,
    count: u32,
    min_key: Option<Key>,
    max_key: Option<Key>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new(0)
    }
}

impl Builder {
    /// A builder whose output starts with `prefix` bytes left for the caller
    /// (a WAL frame's header).
    pub(super) fn new(prefix: usize) -> Self {
        Self::with_capacity(prefix, 256 * 64)
    }

    /// As [`Builder::new`], with room for `bytes` of rows.
    pub(super) fn with_capacity(prefix: usize, bytes: usize) -> Self {
        let mut out = Vec::with_capacity(prefix + 8 + bytes + 1024);
        out.resize(prefix + 8, 0);
        Self {
            dict: Vec::new(),
            index: HashMap::new(),
            last: [(0, 0); 5],
            out,
            prefix,
            count: 0,
            min_key: None,
            max_key: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.count as usize
    }

    /// The dictionary index of `value`; `slot` remembers the last one per
    /// column, since consecutive rows mostly repeat it.
    fn intern(&mut self, slot: usize, value: &str) -> u16 {
        let (at, len) = self.last[slot];
        if len == value.len() + 1 && self.dict[at as usize] == value {
            return at;
        }
        // Not the last one: the dictionary is short, and a scan of it is
        // cheaper than hashing the value.
        if self.dict.len() <= 8
            && let Some(at) = self.dict.iter().position(|entry| entry == value)
        {
            let at = at as u16;
            self.last[slot] = (at, value.len() + 1);
            return at;
        }
        let at = match self.index.get(value) {
            Some(at) => *at,
            None => {
                let at = self.dict.len() as u16;
                self.dict.push(value.to_owned());
                self.index.insert(value.to_owned(), at);
                at
            }
        };
        self.last[slot] = (at, value.len() + 1);
        at
    }

    pub(super) fn push(&mut self, row: &NewRow<'_>) {
        let env = self.intern(0, row.env);
        let host = self.intern(1, row.host);
        let file = self.intern(2, row.file);
        // Levels are kept in capitals, whatever case they came in.
        let level = row.level.map_or(NONE, |level| {
            if level.bytes().any(|b| b.is_ascii_lowercase()) {
                self.intern(3, &level.to_ascii_uppercase())
            } else {
                self.intern(3, level)
            }
        });
        let logger = row.logger.map_or(NONE, |logger| self.intern(4, logger));
        let out = &mut self.out;
        out.extend_from_slice(&row.ts.to_le_bytes());
        out.extend_from_slice(&row.seq.to_le_bytes());
        for index in [env, host, file, level, logger] {
            out.extend_from_slice(&index.to_le_bytes());
        }
        row.id.write_to(out);
        out.extend_from_slice(&(row.message.len() as u32).to_le_bytes());
        out.extend_from_slice(row.message);
        let key = (row.ts, row.seq);
        self.count += 1;
        self.min_key = Some(self.min_key.map_or(key, |min| min.min(key)));
        self.max_key = Some(self.max_key.map_or(key, |max| max.max(key)));
    }

    /// The chunk's span and bytes (after the prefix); `None` when no row
    /// was pushed.
    pub(super) fn finish(self) -> Option<(Span, Vec<u8>)> {
        let (min_key, max_key) = (self.min_key?, self.max_key?);
        let mut bytes = self.out;
        let rows_len = (bytes.len() - self.prefix - 8) as u32;
        bytes[self.prefix..self.prefix + 4].copy_from_slice(&rows_len.to_le_bytes());
        bytes[self.prefix + 4..self.prefix + 8].copy_from_slice(&self.count.to_le_bytes());
        write_dict(&self.dict, &mut bytes);
        Some((
            Span {
                rows: self.count,
                min_key,
                max_key,
                dict: self.dict,
            },
            bytes,
        ))
    }
}

/// A chunk read back: its dictionary and rows, borrowed from its bytes.
pub(super) struct Decoded<'a> {
    pub dict: Vec<&'a str>,
    pub rows: Vec<RowRef<'a>>,
}

impl Decoded<'_> {
    /// The key and message of each of `rows` (row numbers a term index
    /// named); a row it does not hold is damage.
    pub(super) fn keys_and_messages(
        &self,
        rows: &[u32],
    ) -> Result<Vec<(Key, Vec<u8>)>, EmbeddedError> {
        let row = |&row: &u32| match self.rows.get(row as usize) {
            Some(row) => Ok((row.key(), row.message.to_vec())),
            None => Err(EmbeddedError::damaged(format!(
                "it holds {} rows, not row {row} that a term index names",
                self.rows.len()
            ))),
        };
        rows.iter().map(row).collect()
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EmbeddedError> {
        let part = self
            .bytes
            .get(self.at..self.at + n)
            .ok_or("a chunk ends in the middle of a row")?;
        self.at += n;
        Ok(part)
    }

    fn u8(&mut self) -> Result<u8, EmbeddedError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, EmbeddedError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }

    fn u32(&mut self) -> Result<u32, EmbeddedError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }

    fn u128(&mut self) -> Result<u128, EmbeddedError> {
        Ok(u128::from_le_bytes(self.take(16)?.try_into().expect("16")))
    }

    fn u64(&mut self) -> Result<u64, EmbeddedError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }

    fn text(&mut self, n: usize) -> Result<&'a str, EmbeddedError> {
        std::str::from_utf8(self.take(n)?)
            .map_err(|_| "a chunk holds text that is not UTF-8".into())
    }
}

/// Appends a chunk's dictionary: u16 entries, per entry u16 length, UTF-8.
pub(super) fn write_dict<S: AsRef<str>>(dict: &[S], out: &mut Vec<u8>) {
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    for entry in dict {
        let entry = entry.as_ref();
        out.extend_from_slice(&(entry.len() as u16).to_le_bytes());
        out.extend_from_slice(entry.as_bytes());
    }
}

/// A chunk's dictionary, `bytes` starting where it does.
pub(super) fn read_dict(bytes: &[u8]) -> Result<Vec<&str>, EmbeddedError> {
    let mut reader = Reader { bytes, at: 0 };
    let entries = reader.u16()?;
    let mut dict = Vec::with_capacity(entries as usize);
    for _ in 0..entries {
        let len = reader.u16()? as usize;
        dict.push(reader.text(len)?);
    }
    Ok(dict)
}

/// Reads a chunk written by [`Builder`].
pub(super) fn decode(bytes: &[u8]) -> Result<Decoded<'_>, EmbeddedError> {
    decode_first(bytes, usize::MAX)
}

/// The dictionary and the first `wanted` rows of a chunk (all of them, when
/// it holds fewer), read no further.
pub(super) fn decode_first(bytes: &[u8], wanted: usize) -> Result<Decoded<'_>, EmbeddedError> {
    let mut reader = Reader { bytes, at: 0 };
    let rows_len = reader.u32()? as usize;
    let count = reader.u32()? as usize;
    let dict = read_dict(bytes.get(8 + rows_len..).unwrap_or_default())?;
    let mut rows = Vec::with_capacity(count.min(wanted).min(CHUNK_ROWS * 4));
    for _ in 0..count.min(wanted) {
        let ts = reader.u64()? as i64;
        let seq = reader.u64()?;
        let (env, host, file) = (reader.u16()?, reader.u16()?, reader.u16()?);
        let (level, logger) = (reader.u16()?, reader.u16()?);
        let id = Id::read_from(bytes, &mut reader.at)?;
        let len = reader.u32()? as usize;
        let message = reader.take(len)?;
        rows.push(RowRef {
            ts,
            seq,
            env,
            host,
            file,
            level,
            logger,
            id,
            message,
        });
    }
    if wanted >= count && reader.at != 8 + rows_len {
        return Err(EmbeddedError::damaged(
            "a chunk's rows do not fill their length",
        ));
    }
    Ok(Decoded { dict, rows })
}

/// The key and message of each of `rows` (row numbers, ascending) of a
/// chunk: the rows before and between are stepped over, not decoded.
pub(super) fn keys_and_messages<'a>(
    bytes: &'a [u8],
    rows: &[u32],
) -> Result<Vec<(Key, &'a [u8])>, EmbeddedError> {
    let mut reader = Reader { bytes, at: 0 };
    let count = {
        reader.u32()?;
        reader.u32()?
    };
    let mut found = Vec::with_capacity(rows.len());
    let mut wanted = rows.iter().peekable();
    for row in 0..count {
        let Some(&&next) = wanted.peek() else {
            break;
        };
        if row == next {
            wanted.next();
            let key = (reader.u64()? as i64, reader.u64()?);
            reader.take(2 * 5)?;
            skip_id(&mut reader)?;
            let len = reader.u32()? as usize;
            found.push((key, reader.take(len)?));
        } else {
            reader.take(8 + 8 + 2 * 5)?;
            skip_id(&mut reader)?;
            let len = reader.u32()? as usize;
            reader.take(len)?;
        }
    }
    match wanted.next() {
        Some(row) => Err(EmbeddedError::damaged(format!(
            "a term index names row {row}, which its chunk of {count} rows does not hold"
        ))),
        None => Ok(found),
    }
}

/// Steps over an id as [`Id::write_to`] wrote it.
fn skip_id(reader: &mut Reader<'_>) -> Result<(), EmbeddedError> {
    let len = match reader.u8()? {
        1 => 16,
        LOCATED => 32,
        _ => usize::from(reader.u8()?),
    };
    reader.take(len).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_split_into_the_fewest_chunks_as_even_as_can_be() {
        for (rows, each) in [(0, 1), (1, 1), (8192, 8192), (8193, 4097), (9000, 4500)] {
            assert_eq!(even_chunk(rows), each, "{rows} rows");
        }
        assert_eq!(even_chunk(20_000), 6667);
        assert_eq!(20_000usize.div_ceil(even_chunk(20_000)), 3);
    }

    #[test]
    fn rows_round_trip_with_their_dictionary() {
        let mut builder = Builder::default();
        let id = "0123456789abcdef0123456789abcdef";
        let rows = [
            NewRow {
                ts: 20,
                seq: 2,
                env: "acme",
                host: "gw-1",
                file: "/f",
                level: Some("ERROR"),
                logger: None,
                id: Id::of(id),
                message: b"boom",
            },
            NewRow {
                ts: 10,
                seq: 1,
                env: "acme",
                host: "gw-1",
                file: "/f",
                level: None,
                logger: Some("L"),
                id: Id::of("resent-7"),
                message: "ünïcode".as_bytes(),
            },
        ];
        for row in &rows {
            builder.push(row);
        }
        let (span, bytes) = builder.finish().unwrap();
        assert_eq!(
            (span.rows, span.min_key, span.max_key),
            (2, (10, 1), (20, 2))
        );
        assert_eq!(span.dict, ["acme", "gw-1", "/f", "ERROR", "L"]);
        let decoded = decode(&bytes).unwrap();
        let back: Vec<NewRow<'_>> = decoded
            .rows
            .iter()
            .map(|row| NewRow::from_ref(row, &decoded.dict))
            .collect();
        assert_eq!(back[0].id.to_string(), id);
        assert!(matches!(back[0].id, Id::Hex(_)));
        assert_eq!(back[1].id, Id::Text("resent-7"));
        assert_eq!((back[0].level, back[0].logger), (Some("ERROR"), None));
        assert_eq!((back[1].level, back[1].logger), (None, Some("L")));
        assert_eq!(back[1].message, "ünïcode".as_bytes());
        assert!(
            decode(&bytes[..bytes.len() - 1]).is_err(),
            "a cut chunk is refused"
        );
    }

    #[test]
    fn the_rows_asked_for_are_read_and_those_between_stepped_over() {
        let mut builder = Builder::default();
        let ids: Vec<String> = (0..6)
            .map(|n| match n % 2 {
                0 => format!("{n:032x}"),
                _ => format!("resent-{n}"),
            })
            .collect();
        let messages: Vec<String> = (0..6).map(|n| format!("line {n}")).collect();
        for n in (0..6).rev() {
            builder.push(&NewRow {
                ts: n,
                seq: n as u64,
                env: "acme",
                host: "gw-1",
                file: "/f",
                level: None,
                logger: None,
                id: Id::of(&ids[n as usize]),
                message: messages[n as usize].as_bytes(),
            });
        }
        let (_, bytes) = builder.finish().unwrap();
        let found = keys_and_messages(&bytes, &[0, 3, 5]).unwrap();
        let expected: Vec<(Key, &[u8])> = vec![
            ((5, 5), b"line 5"),
            ((2, 2), b"line 2"),
            ((0, 0), b"line 0"),
        ];
        assert_eq!(found, expected);
        let error = keys_and_messages(&bytes, &[1, 6]).unwrap_err();
        assert!(
            error.to_string().contains("row 6"),
            "a row past the chunk is named: {error}"
        );
    }

    #[test]
    fn only_lower_case_32_digit_hex_is_kept_as_a_number() {
        assert!(matches!(
            Id::of("0123456789ABCDEF0123456789abcdef"),
            Id::Text(_)
        ));
        assert!(matches!(Id::of("0123456789abcdef"), Id::Text(_)));
        assert!(matches!(
            Id::of("0123456789abcdef0123456789abcdeg"),
            Id::Text(_)
        ));
        assert!(matches!(
            Id::of("+123456789abcdef0123456789abcdef"),
            Id::Text(_)
        ));
        for hex in [
            "0123456789abcdef0123456789abcdef",
            "ffffffffffffffffffffffffffffffff",
            "00000000000000000000000000000000",
            "f00000000000000000000000000000a1",
        ] {
            let value = u128::from_str_radix(hex, 16).unwrap();
            assert_eq!(Id::of(hex), Id::Hex(value));
            assert_eq!(Id::of(hex).to_string(), hex);
        }
        assert_eq!(Id::of("x").key("acme"), Id::of("x").key("acme"));
        assert_ne!(Id::of("x").key("acme"), Id::of("y").key("acme"));
    }

    #[test]
    fn the_same_id_in_two_environments_has_two_keys() {
        let hex = "0123456789abcdef0123456789abcdef";
        assert_ne!(Id::of(hex).key("acme"), Id::of(hex).key("globex"));
        assert_ne!(Id::of("x").key("acme"), Id::of("x").key("globex"));
        // The name ends where the id begins: "ab" + "c" is not "a" + "bc".
        assert_ne!(Id::of("c").key("ab"), Id::of("bc").key("a"));
    }
}
