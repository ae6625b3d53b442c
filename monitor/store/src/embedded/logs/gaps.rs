//! A term's rows as Golomb-Rice codes of the gaps between them, as search
//! indexes keep postings in bits rather than bytes (Lucene's and PISA's
//! bit-packed blocks, Elias-Fano): a word in one line of a thousand takes
//! about 12 bits a row this way, against 16 as a varint of its gap. The
//! code's parameter `k` is chosen per term, from its rows' spread.
//!
//! A term's rows are sorted and distinct, so each gap is the row less the
//! one before less one. A gap whose quotient would take [`ESCAPE`] zeros or
//! more (a burst far from the rest) is written whole in 32 bits instead.
//!
//! ```text
//! varint the first row, u8 k, then bits from each byte's lowest up: per
//!   row after the first, its gap's quotient by 2^k as that many zeros and
//!   a one, then the gap's k low bits (or ESCAPE zeros and the gap in 32
//!   bits); zeros from the last code to the byte's end
//! ```
//!
//! Reading must never accept what this module did not write as rows: a row
//! out of range or bits that end inside a code refuse the term's rows.

use serde::{Deserialize, Serialize};

use crate::embedded::varint;

/// How an index's terms' gaps are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum GapsForm {
    /// A varint each: segments written before.
    #[default]
    Varint,
    /// This module's codes.
    Rice,
}

/// Zeros that say a gap is written whole: longer quotients cost more.
const ESCAPE: u32 = 48;
/// Bits of a gap written whole.
const WHOLE: u32 = 32;

/// Appends the codes of `rows` (sorted, distinct, at least one) to `out`.
pub(super) fn put(rows: &[u32], out: &mut Vec<u8>) {
    let Some((&first, rest)) = rows.split_first() else {
        return;
    };
    varint::put(out, u64::from(first));
    let gaps = || {
        rows.windows(2)
            .map(|pair| pair[1].wrapping_sub(pair[0]).wrapping_sub(1))
    };
    let k = best_k(gaps(), rest.len(), rows[rows.len() - 1] - first);
    out.push(k as u8);
    let mut bits = BitWriter {
        out,
        word: 0,
        held: 0,
    };
    for gap in gaps() {
        let quotient = gap >> k;
        if quotient >= ESCAPE {
            bits.put(0, ESCAPE);
            bits.put(u64::from(gap), WHOLE);
        } else {
            bits.put(1 << quotient, quotient + 1);
            bits.put(u64::from(gap) & ((1 << k) - 1), k);
        }
    }
    bits.finish();
}

/// The parameter that codes `count` gaps summing to at most `spread` in
/// the fewest bits: the mean gap's bit length, or one either side, each
/// costed in one pass over the gaps.
fn best_k(gaps: impl Iterator<Item = u32>, count: usize, spread: u32) -> u32 {
    let mean = u64::from(spread) / count.max(1) as u64;
    let near = (64 - mean.leading_zeros()).clamp(1, 30);
    let candidates = [near - 1, near, near + 1];
    let mut costs = [0u64; 3];
    for gap in gaps {
        for (cost, k) in costs.iter_mut().zip(candidates) {
            *cost += match gap >> k {
                quotient if quotient >= ESCAPE => u64::from(ESCAPE + WHOLE),
                quotient => u64::from(quotient + 1 + k),
            };
        }
    }
    let cheapest = (0..3).min_by_key(|&at| costs[at]).unwrap_or(1);
    candidates[cheapest]
}

struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Bits not yet written, the first in the lowest; fewer than 8 between
    /// calls.
    word: u64,
    held: u32,
}

impl BitWriter<'_> {
    /// Appends the `len` (at most 48) low bits of `value`, lowest first.
    fn put(&mut self, value: u64, len: u32) {
        self.word |= value << self.held;
        self.held += len;
        while self.held >= 8 {
            self.out.push(self.word as u8);
            self.word >>= 8;
            self.held -= 8;
        }
    }

    fn finish(self) {
        if self.held > 0 {
            self.out.push(self.word as u8);
        }
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    /// Bits read.
    at: usize,
}

impl BitReader<'_> {
    fn left(&self) -> usize {
        self.bytes.len() * 8 - self.at
    }

    /// The next 57 bits or more, the next first, zeros past the end.
    fn peek(&self) -> u64 {
        let byte = self.at / 8;
        let mut word = [0u8; 8];
        let end = (byte + 8).min(self.bytes.len());
        word[..end - byte].copy_from_slice(&self.bytes[byte..end]);
        u64::from_le_bytes(word) >> (self.at % 8)
    }

    /// The next `len` (at most 32) bits as a number.
    fn take(&mut self, len: u32) -> Option<u32> {
        if len as usize > self.left() {
            return None;
        }
        let value = self.peek() & ((1u64 << len) - 1);
        self.at += len as usize;
        Some(value as u32)
    }

    /// The next gap's quotient (after its zeros and one), or `None` for
    /// a gap written whole (its zeros read).
    fn quotient(&mut self) -> Option<Option<u32>> {
        let zeros = self.peek().trailing_zeros().min(ESCAPE);
        if zeros == ESCAPE {
            return (ESCAPE as usize <= self.left()).then(|| {
                self.at += ESCAPE as usize;
                None
            });
        }
        if zeros as usize >= self.left() {
            return None;
        }
        self.at += zeros as usize + 1;
        Some(Some(zeros))
    }
}

/// Appends the rows coded in `body` (by [`put`]) to `out`; `None` when the
/// codes are malformed or name a row of `rows` or more.
pub(super) fn read(body: &[u8], rows: u32, out: &mut Vec<u32>) -> Option<()> {
    let mut at = 0;
    let first = u32::try_from(varint::get(body, &mut at)?).ok()?;
    let k = u32::from(*body.get(at)?);
    if k > 31 || first >= rows {
        return None;
    }
    out.push(first);
    let mut bits = BitReader {
        bytes: &body[at + 1..],
        at: 0,
    };
    let mut row = first;
    // What is left after the last code is fewer than 8 zeros.
    while bits.left() >= 8 || bits.peek() != 0 {
        let gap = match bits.quotient()? {
            Some(quotient) => (quotient << k) | bits.take(k)?,
            None => bits.take(WHOLE)?,
        };
        row = row.checked_add(gap)?.checked_add(1)?;
        if row >= rows {
            return None;
        }
        out.push(row);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn back(rows: &[u32], total: u32) -> Option<Vec<u32>> {
        let mut body = Vec::new();
        put(rows, &mut body);
        let mut out = Vec::new();
        read(&body, total, &mut out).map(|()| out)
    }

    #[test]
    fn rows_near_and_far_come_back_as_they_were() {
        let cases: [&[u32]; 6] = [
            &[0],
            &[7, 8, 9, 10],
            &[0, u32::MAX - 1],
            &[3, 1_000, 1_001, 4_000_000, 4_000_002],
            &[u32::MAX - 2, u32::MAX - 1],
            &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
        ];
        for rows in cases {
            assert_eq!(back(rows, u32::MAX).as_deref(), Some(rows));
        }
    }

    #[test]
    fn a_word_in_one_line_of_a_thousand_takes_about_twelve_bits_a_row() {
        let mut state = 11u64;
        let mut rows = Vec::new();
        let mut row = 0u32;
        for _ in 0..2_000 {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
            // Gaps spread evenly over 0..2000: a mean of 1000.
            row += 1 + ((state >> 33) % 2_000) as u32;
            rows.push(row);
        }
        let mut body = Vec::new();
        put(&rows, &mut body);
        let bits = body.len() * 8 / rows.len();
        assert!((11..=13).contains(&bits), "{bits} bits a row");
        assert_eq!(back(&rows, u32::MAX), Some(rows));
    }

    #[test]
    fn codes_that_are_cut_or_name_a_row_out_of_range_are_refused() {
        let rows = [5, 90, 91, 5_000, 70_000];
        let mut body = Vec::new();
        put(&rows, &mut body);
        let read_all = |body: &[u8], total| read(body, total, &mut Vec::new());
        assert!(read_all(&body, 70_001).is_some());
        assert!(
            read_all(&body, 70_000).is_none(),
            "the last row is out of range"
        );
        assert!(read_all(&body[..body.len() - 1], 70_001).is_none(), "cut");
        assert!(read_all(&body[..1], 70_001).is_none(), "no parameter");
        let mut wrong = body.clone();
        wrong[1] = 40;
        assert!(read_all(&wrong, 70_001).is_none(), "a parameter over 31");
    }

    proptest! {
        #[test]
        fn any_sorted_rows_come_back_as_they_were(
            mut rows in proptest::collection::btree_set(
                prop_oneof![0u32..64, 0u32..100_000, any::<u32>()],
                1..200,
            ).prop_map(|set| set.into_iter().collect::<Vec<u32>>())
        ) {
            rows.retain(|&row| row < u32::MAX);
            prop_assume!(!rows.is_empty());
            prop_assert_eq!(back(&rows, u32::MAX), Some(rows));
        }

        #[test]
        fn any_bytes_are_read_or_refused_without_a_panic(
            body in proptest::collection::vec(any::<u8>(), 0..40),
        ) {
            let mut out = Vec::new();
            if read(&body, 1_000, &mut out).is_some() {
                prop_assert!(out.windows(2).all(|pair| pair[0] < pair[1]));
                prop_assert!(out.iter().all(|&row| row < 1_000));
            }
        }
    }
}
