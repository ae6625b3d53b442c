//! A granule's messages kept as templates and numbers, as CLP (Rodrigues
//! et al., OSDI '21) keeps logs: each run of decimal digits that reads back
//! the same as a number is taken out of its message, which becomes a
//! template with a mark where the number was. A granule's messages share a
//! few templates, each kept once; the numbers of a template's rows sit in a
//! column per place, as they are or as differences from the one before (a
//! counter's are small), whichever is shorter. zstd then finds far more to
//! share than in the text: a counter or a duration written out in digits
//! is new bytes on every line.
//!
//! A run of digits is a number when it has no leading zero (or is `0`), at
//! most 19 digits (it fits a u64), and no hex letter on either side (hex ids
//! stay text, or each of their lines would be a template of its own).
//!
//! This module must never change a message: [`join`] gives back, byte for
//! byte, what [`Splitter::split`] was given, whatever the bytes (a mark or
//! escape byte in a message is escaped).
//!
//! ```text
//! templates: varint count, then per template its varint length and its
//!   bytes: MARK where a number was, ESCAPE before a MARK or ESCAPE byte of
//!   the message
//! each row's template: a u16 per row (the caller keeps it)
//! numbers: varint places (the most numbers of any template), a byte per
//!   place (RAW or DELTA: zigzag differences from the value before in the
//!   column, the first from 0), then per template in order, per place of
//!   it, the varint of each of its rows, in row order
//! ```

use std::collections::HashMap;

use xxhash_rust::xxh3::Xxh3Builder;

use crate::embedded::varint;

const MARK: u8 = 0x01;
const ESCAPE: u8 = 0x02;
const RAW: u8 = 0;
const DELTA: u8 = 1;
/// Digits in the longest run taken as a number: every 19-digit number
/// fits a u64.
const MAX_DIGITS: usize = 19;

/// Whether the run of digits `message[start..end]` is taken out as a
/// number.
fn is_number(message: &[u8], start: usize, end: usize) -> bool {
    let hex_letter = |at: Option<&u8>| matches!(at, Some(b'a'..=b'f' | b'A'..=b'F'));
    end - start <= MAX_DIGITS
        && (message[start] != b'0' || end - start == 1)
        && !hex_letter(start.checked_sub(1).and_then(|before| message.get(before)))
        && !hex_letter(message.get(end))
}

/// Splits messages into templates and numbers, one granule after another,
/// keeping its buffers.
#[derive(Default)]
pub(super) struct Splitter {
    /// Each template's number.
    known: HashMap<Box<[u8]>, u16, Xxh3Builder>,
    /// Numbers of places of each template.
    places: Vec<usize>,
    /// Each row's template, and its numbers: row `r`'s are
    /// `numbers[ends[r - 1]..ends[r]]`.
    of_row: Vec<u16>,
    numbers: Vec<u64>,
    ends: Vec<u32>,
    template: Vec<u8>,
}

/// A granule holds more templates than a row's u16 can name.
#[derive(Debug)]
pub(super) struct TooManyTemplates;

impl Splitter {
    /// Splits `messages`: each one's template number is appended to
    /// `of_row` as a u16 (little-endian), the templates to `templates` and
    /// the numbers to `numbers`, in the forms the module's doc describes.
    pub(super) fn split<'m>(
        &mut self,
        messages: impl Iterator<Item = &'m [u8]>,
        of_row: &mut Vec<u8>,
        templates: &mut Vec<u8>,
        numbers: &mut Vec<u8>,
    ) -> Result<(), TooManyTemplates> {
        self.known.clear();
        self.places.clear();
        self.of_row.clear();
        self.numbers.clear();
        self.ends.clear();
        for message in messages {
            self.template.clear();
            let places_before = self.numbers.len();
            let mut at = 0;
            while at < message.len() {
                let Some(next) = message[at..]
                    .iter()
                    .position(|&b| b.is_ascii_digit() || b == MARK || b == ESCAPE)
                else {
                    self.template.extend_from_slice(&message[at..]);
                    break;
                };
                let start = at + next;
                self.template.extend_from_slice(&message[at..start]);
                let byte = message[start];
                if !byte.is_ascii_digit() {
                    self.template.extend_from_slice(&[ESCAPE, byte]);
                    at = start + 1;
                    continue;
                }
                let end = start
                    + message[start..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .unwrap_or(message.len() - start);
                if is_number(message, start, end) {
                    let value = message[start..end]
                        .iter()
                        .fold(0u64, |value, digit| value * 10 + u64::from(digit - b'0'));
                    self.numbers.push(value);
                    self.template.push(MARK);
                } else {
                    self.template.extend_from_slice(&message[start..end]);
                }
                at = end;
            }
            let template = match self.known.get(self.template.as_slice()) {
                Some(&template) => template,
                None => {
                    let template = u16::try_from(self.known.len()).map_err(|_| TooManyTemplates)?;
                    self.known.insert(self.template.as_slice().into(), template);
                    self.places.push(self.numbers.len() - places_before);
                    template
                }
            };
            self.of_row.push(template);
            self.ends.push(self.numbers.len() as u32);
        }
        for template in &self.of_row {
            of_row.extend_from_slice(&template.to_le_bytes());
        }
        self.write_templates(templates);
        self.write_numbers(numbers);
        Ok(())
    }

    fn write_templates(&self, out: &mut Vec<u8>) {
        let mut in_order = vec![&[][..]; self.known.len()];
        for (template, &number) in &self.known {
            in_order[usize::from(number)] = template;
        }
        varint::put(out, in_order.len() as u64);
        for template in in_order {
            varint::put(out, template.len() as u64);
            out.extend_from_slice(template);
        }
    }

    /// The rows of each template, one template's after another's: template
    /// `t`'s from `firsts[t]`.
    fn rows_by_template(&self) -> (Vec<u32>, Vec<usize>) {
        let mut firsts = vec![0usize; self.places.len() + 1];
        for &template in &self.of_row {
            firsts[usize::from(template) + 1] += 1;
        }
        for at in 1..firsts.len() {
            firsts[at] += firsts[at - 1];
        }
        let mut rows = vec![0u32; self.of_row.len()];
        let mut next = firsts.clone();
        for (row, &template) in self.of_row.iter().enumerate() {
            rows[next[usize::from(template)]] = row as u32;
            next[usize::from(template)] += 1;
        }
        (rows, firsts)
    }

    fn write_numbers(&self, out: &mut Vec<u8>) {
        let (rows, firsts) = self.rows_by_template();
        // Each place's column of each template's rows, in row order.
        let column = |template: usize, place: usize| {
            rows[firsts[template]..firsts[template + 1]]
                .iter()
                .map(move |&row| {
                    let start = row
                        .checked_sub(1)
                        .map_or(0, |before| self.ends[before as usize]);
                    self.numbers[start as usize + place]
                })
        };
        let places = self.places.iter().copied().max().unwrap_or(0);
        // Bytes of each place's columns as values and as differences.
        let mut costs = vec![(0usize, 0usize); places];
        for (template, &its) in self.places.iter().enumerate() {
            for (place, cost) in costs.iter_mut().enumerate().take(its) {
                let mut before = 0u64;
                for value in column(template, place) {
                    cost.0 += varint::len(value);
                    cost.1 += varint::len(varint::zigzag(value.wrapping_sub(before) as i64));
                    before = value;
                }
            }
        }
        let modes: Vec<u8> = costs
            .iter()
            .map(|&(raw, delta)| if delta < raw { DELTA } else { RAW })
            .collect();
        varint::put(out, places as u64);
        out.extend_from_slice(&modes);
        for (template, &its) in self.places.iter().enumerate() {
            for (place, &mode) in modes.iter().enumerate().take(its) {
                let mut before = 0u64;
                for value in column(template, place) {
                    match mode {
                        DELTA => {
                            varint::put(out, varint::zigzag(value.wrapping_sub(before) as i64))
                        }
                        _ => varint::put(out, value),
                    }
                    before = value;
                }
            }
        }
    }
}

/// A template read back: its text with the marks and escapes taken out,
/// cut where its numbers go.
struct Template {
    /// Ends of its pieces in [`Templates::text`]: a number goes after each
    /// piece but the last.
    pieces: std::ops::Range<usize>,
    /// Rows of the granule with it.
    rows: usize,
    /// Bytes of its text, without its numbers.
    text_len: usize,
    /// Where its numbers start in the granule's values: place `p` of its
    /// row `i` (counted among its rows) is at `first + p * rows + i`.
    first: usize,
}

/// Which rows' messages are made again: a search that the term index
/// narrowed to a few rows of a granule makes only theirs.
#[derive(Debug, Clone, Copy)]
pub(super) enum Wanted<'a> {
    Every,
    /// These rows' (sorted); the others' messages come back empty.
    Rows(&'a [u32]),
}

/// The messages of `of_row` (a u16 per row) from their `templates` and
/// `numbers` sections: each message's length appended as a varint to
/// `lengths`, its bytes to `messages`, those not `wanted` empty. Answers
/// every row's message length, made again or not; `None` when the
/// sections do not hold together (a damaged granule).
pub(super) fn join(
    templates: &[u8],
    numbers: &[u8],
    of_row: &[u8],
    wanted: Wanted<'_>,
    lengths: &mut Vec<u8>,
    messages: &mut Vec<u8>,
) -> Option<Vec<usize>> {
    let of_row: Vec<usize> = of_row
        .chunks_exact(2)
        .map(|two| usize::from(u16::from_le_bytes([two[0], two[1]])))
        .collect();
    let mut text = Vec::new();
    let mut ends = Vec::new();
    let mut read = Vec::new();
    let mut at = 0;
    let count = usize::try_from(varint::get(templates, &mut at)?).ok()?;
    if count > templates.len() {
        return None;
    }
    for _ in 0..count {
        let len = usize::try_from(varint::get(templates, &mut at)?).ok()?;
        let bytes = templates.get(at..at.checked_add(len)?)?;
        at += len;
        let first = ends.len();
        let mut escaped = false;
        for &byte in bytes {
            match (escaped, byte) {
                (false, ESCAPE) => escaped = true,
                (false, MARK) => ends.push(text.len()),
                _ => {
                    text.push(byte);
                    escaped = false;
                }
            }
        }
        if escaped {
            return None;
        }
        let text_len = text.len() - first.checked_sub(1).map_or(0, |before| ends[before]);
        ends.push(text.len());
        read.push(Template {
            pieces: first..ends.len(),
            rows: 0,
            text_len,
            first: 0,
        });
    }
    if at != templates.len() {
        return None;
    }
    for &template in &of_row {
        read.get_mut(template)?.rows += 1;
    }
    let values = read_numbers(numbers, &mut read)?;
    let mut seen = vec![0usize; read.len()];
    let mut sizes = Vec::with_capacity(of_row.len());
    let listed: &[u32] = match wanted {
        Wanted::Every => &[],
        Wanted::Rows(rows) => rows,
    };
    let mut rows_wanted = listed.iter().peekable();
    for (at, &template) in of_row.iter().enumerate() {
        let its = &read[template];
        let row = seen[template];
        seen[template] += 1;
        let mut numbers =
            (0..its.pieces.len() - 1).map(|place| values[its.first + place * its.rows + row]);
        if let Wanted::Rows(_) = wanted
            && rows_wanted.next_if_eq(&&(at as u32)).is_none()
        {
            let digits = numbers.map(|value| value.checked_ilog10().map_or(1, |log| log + 1));
            sizes.push(its.text_len + digits.sum::<u32>() as usize);
            lengths.push(0);
            continue;
        }
        let start = messages.len();
        let mut piece_start = its
            .pieces
            .start
            .checked_sub(1)
            .map_or(0, |before| ends[before]);
        for piece in its.pieces.clone() {
            messages.extend_from_slice(&text[piece_start..ends[piece]]);
            piece_start = ends[piece];
            if let Some(value) = numbers.next() {
                messages.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
            }
        }
        sizes.push(messages.len() - start);
        varint::put(lengths, (messages.len() - start) as u64);
    }
    Some(sizes)
}

/// Every value of the `numbers` section, placing each template's first.
fn read_numbers(numbers: &[u8], templates: &mut [Template]) -> Option<Vec<u64>> {
    let mut at = 0;
    let places = usize::try_from(varint::get(numbers, &mut at)?).ok()?;
    let modes = numbers.get(at..at.checked_add(places)?)?;
    at += places;
    let mut values = Vec::new();
    for template in templates.iter_mut() {
        template.first = values.len();
        let its = template.pieces.len() - 1;
        for place in 0..its {
            let mode = *modes.get(place)?;
            let mut before = 0u64;
            for _ in 0..template.rows {
                let read = varint::get(numbers, &mut at)?;
                let value = match mode {
                    RAW => read,
                    DELTA => before.wrapping_add(varint::unzigzag(read) as u64),
                    _ => return None,
                };
                values.push(value);
                before = value;
            }
        }
    }
    (at == numbers.len()).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Each row's template, the templates and the numbers of `messages`.
    fn split_all(messages: &[&[u8]]) -> [Vec<u8>; 3] {
        let (mut of_row, mut templates, mut numbers) = (Vec::new(), Vec::new(), Vec::new());
        let messages = messages.iter().copied();
        Splitter::default()
            .split(messages, &mut of_row, &mut templates, &mut numbers)
            .unwrap();
        [of_row, templates, numbers]
    }

    /// The messages back from their split, every one made again; checks
    /// that their lengths are told alike when none is.
    fn round_trip(messages: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
        let [of_row, templates, numbers] = split_all(messages);
        let (mut lengths, mut joined) = (Vec::new(), Vec::new());
        let sizes = join(
            &templates,
            &numbers,
            &of_row,
            Wanted::Every,
            &mut lengths,
            &mut joined,
        );
        let unmade = join(
            &templates,
            &numbers,
            &of_row,
            Wanted::Rows(&[]),
            &mut Vec::new(),
            &mut Vec::new(),
        );
        let lens: Vec<usize> = messages.iter().map(|message| message.len()).collect();
        assert_eq!(sizes.as_ref(), Some(&lens));
        assert_eq!(unmade, sizes, "lengths told without the messages");
        let (mut at, mut start) = (0, 0);
        let mut back = Vec::new();
        while at < lengths.len() {
            let len = varint::get(&lengths, &mut at).unwrap() as usize;
            back.push(joined[start..start + len].to_vec());
            start += len;
        }
        let count = varint::get(&templates, &mut 0).unwrap() as usize;
        (back, count)
    }

    #[test]
    fn messages_come_back_byte_for_byte_whatever_their_digits_and_marks() {
        let messages: Vec<&[u8]> = vec![
            b"request seq12 took 900 ms",
            b"request seq13 took 7 ms",
            b"",
            b"0 007 0x1f 3f2a9b1c 12345678901234567890 18446744073709551615",
            b"\x01\x02 marks \x02\x01 and 5\x01",
            "ünïcode 42 ✓".as_bytes(),
            b"42",
            b"ends with a digit 9",
        ];
        let (back, _) = round_trip(&messages);
        assert_eq!(back, messages);
    }

    #[test]
    fn lines_that_differ_only_in_their_numbers_share_one_template() {
        let texts: Vec<String> = (0..100)
            .map(|n| {
                format!(
                    "request seq{} for api v{} handled in {} ms",
                    1000 + n,
                    n % 7,
                    n * 13
                )
            })
            .collect();
        let messages: Vec<&[u8]> = texts.iter().map(|text| text.as_bytes()).collect();
        let (back, templates) = round_trip(&messages);
        assert_eq!(back, messages);
        assert_eq!(templates, 1);
    }

    #[test]
    fn only_the_rows_wanted_are_made_again_the_others_empty() {
        let messages: Vec<&[u8]> = vec![b"a 1", b"b 2", b"a 3", b"c", b"a 5"];
        let [of_row, templates, numbers] = split_all(&messages);
        let (mut lengths, mut joined) = (Vec::new(), Vec::new());
        let wanted = Wanted::Rows(&[2, 4]);
        let sizes = join(
            &templates,
            &numbers,
            &of_row,
            wanted,
            &mut lengths,
            &mut joined,
        );
        assert_eq!(lengths, [0, 0, 3, 0, 3]);
        assert_eq!(joined, b"a 3a 5");
        assert_eq!(sizes, Some(vec![3, 3, 3, 1, 3]), "every row's length");
    }

    #[test]
    fn the_digits_of_a_hex_id_are_no_numbers() {
        let messages: Vec<&[u8]> = vec![b"trace 3f2a9b1c done", b"span 12ab-9c7e in 3d"];
        let [_, _, numbers] = split_all(&messages);
        assert_eq!(numbers, [0], "no place for a number");
        assert_eq!(round_trip(&messages).0, messages);
    }

    #[test]
    fn damaged_sections_are_refused_not_misread() {
        let messages: Vec<&[u8]> = vec![b"a 1 b 2", b"a 3 b 4", b"c"];
        let [of_row, templates, numbers] = split_all(&messages);
        let joins = |templates: &[u8], numbers: &[u8], of_row: &[u8]| {
            let every = Wanted::Every;
            join(
                templates,
                numbers,
                of_row,
                every,
                &mut Vec::new(),
                &mut Vec::new(),
            )
            .is_some()
        };
        assert!(joins(&templates, &numbers, &of_row));
        assert!(
            !joins(&templates, &numbers[..numbers.len() - 1], &of_row),
            "numbers cut"
        );
        assert!(
            !joins(&templates[..templates.len() - 1], &numbers, &of_row),
            "templates cut"
        );
        let mut unknown = of_row.clone();
        unknown[0] = 9;
        assert!(
            !joins(&templates, &numbers, &unknown),
            "a template that is not there"
        );
        let mut longer = numbers.clone();
        longer.push(0);
        assert!(!joins(&templates, &longer, &of_row), "numbers left over");
    }

    proptest! {
        #[test]
        fn any_messages_come_back_as_they_were(
            messages in proptest::collection::vec(
                proptest::collection::vec(
                    prop_oneof![Just(b'0'), Just(b'7'), Just(b'9'), Just(b'a'), Just(b'q'), Just(b' '), Just(MARK), Just(ESCAPE), any::<u8>()],
                    0..40,
                ),
                0..30,
            )
        ) {
            let borrowed: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
            let (back, _) = round_trip(&borrowed);
            prop_assert_eq!(back, messages);
        }

        #[test]
        fn any_sections_are_joined_or_refused_without_a_panic(
            templates in proptest::collection::vec(prop_oneof![0u8..4, any::<u8>()], 0..30),
            numbers in proptest::collection::vec(prop_oneof![0u8..4, any::<u8>()], 0..30),
            of_row in proptest::collection::vec(0u8..3, 0..8),
        ) {
            let every = Wanted::Every;
            let _ = join(&templates, &numbers, &of_row, every, &mut Vec::new(), &mut Vec::new());
        }
    }
}
