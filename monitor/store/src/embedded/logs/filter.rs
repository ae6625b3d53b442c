//! A granule's token filter: which words its lines may hold, so that a
//! search for a rare word reads a few hundred bytes of each granule instead
//! of decompressing and scanning it (ClickHouse's `tokenbf_v1`, per
//! granule). It is a split-block Bloom filter as Parquet specifies it
//! (256-bit blocks, eight salted bits per token, one block per token): a
//! "no" is certain, a "maybe" is wrong about once in two hundred.
//!
//! Tokens are the search's own ([`normalize_into`]): runs of letters and
//! digits, lower-cased, from the messages and the chunk's dictionary (the
//! loggers among it). The filter is written once with its segment and never
//! changed; its bytes and hash are part of the segment format, so neither
//! may change without a new format.

use std::collections::HashSet;

use super::chunk::Decoded;
use super::query::normalize_into;

/// Bits of filter per distinct token: about 0.5 % false positives.
const BITS_PER_TOKEN: usize = 12;
/// Bytes in a block: eight 32-bit words.
const BLOCK: usize = 32;

/// Parquet's salts (the split-block Bloom filter specification).
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];

/// The hash of one token, as the filter keeps it.
pub(super) fn token_hash(token: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(token)
}

/// The filter of a chunk's tokens, as bytes to write.
pub(super) fn of_chunk(decoded: &Decoded<'_>) -> Vec<u8> {
    let mut hashes = HashSet::with_capacity(decoded.rows.len() * 4);
    let mut text = Vec::with_capacity(1024);
    let mut add = |bytes: &[u8]| {
        text.clear();
        normalize_into(bytes, &mut text);
        for token in text.split(|b| *b == b' ').filter(|t| !t.is_empty()) {
            hashes.insert(token_hash(token));
        }
    };
    for row in &decoded.rows {
        add(row.message);
    }
    for entry in &decoded.dict {
        add(entry.as_bytes());
    }
    build(&hashes)
}

fn build(hashes: &HashSet<u64>) -> Vec<u8> {
    let blocks = (hashes.len() * BITS_PER_TOKEN).div_ceil(BLOCK * 8).max(1);
    let mut filter = vec![0u8; blocks * BLOCK];
    for &hash in hashes {
        let block = block_of(&mut filter, hash);
        for (word, bit) in block.chunks_exact_mut(4).zip(mask(hash)) {
            let value = u32::from_le_bytes(word.try_into().expect("4")) | bit;
            word.copy_from_slice(&value.to_le_bytes());
        }
    }
    filter
}

/// Whether the filter `filter` may hold the token of `hash` (false: it
/// certainly does not).
pub(super) fn may_hold(filter: &[u8], hash: u64) -> bool {
    if filter.len() < BLOCK || !filter.len().is_multiple_of(BLOCK) {
        // Not a filter this code wrote: it rules nothing out.
        return true;
    }
    let blocks = filter.len() / BLOCK;
    let at = block_index(hash, blocks) * BLOCK;
    filter[at..at + BLOCK]
        .chunks_exact(4)
        .zip(mask(hash))
        .all(|(word, bit)| u32::from_le_bytes(word.try_into().expect("4")) & bit != 0)
}

fn block_of(filter: &mut [u8], hash: u64) -> &mut [u8] {
    let at = block_index(hash, filter.len() / BLOCK) * BLOCK;
    &mut filter[at..at + BLOCK]
}

/// The block of a hash: its upper half scaled to the number of blocks.
fn block_index(hash: u64, blocks: usize) -> usize {
    (((hash >> 32) * blocks as u64) >> 32) as usize
}

/// One bit in each of the block's eight words, from the hash's lower half.
fn mask(hash: u64) -> [u32; 8] {
    let key = hash as u32;
    SALT.map(|salt| 1u32 << (key.wrapping_mul(salt) >> 27))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter_of(tokens: &[&str]) -> Vec<u8> {
        build(&tokens.iter().map(|t| token_hash(t.as_bytes())).collect())
    }

    #[test]
    fn every_token_put_in_is_found() {
        let tokens: Vec<String> = (0..5000).map(|n| format!("token{n}")).collect();
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let filter = filter_of(&refs);
        assert!(
            refs.iter()
                .all(|t| may_hold(&filter, token_hash(t.as_bytes())))
        );
    }

    #[test]
    fn tokens_never_put_in_are_mostly_ruled_out() {
        let tokens: Vec<String> = (0..5000).map(|n| format!("token{n}")).collect();
        let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
        let filter = filter_of(&refs);
        let wrong = (0..100_000)
            .filter(|n| may_hold(&filter, token_hash(format!("other{n}").as_bytes())))
            .count();
        // About 0.5 % by design; 1 % leaves room for chance.
        assert!(wrong < 1_000, "{wrong} false positives in 100,000");
    }

    #[test]
    fn bytes_that_are_not_a_filter_rule_nothing_out() {
        assert!(may_hold(&[], token_hash(b"x")));
        assert!(may_hold(&[0; 33], token_hash(b"x")));
    }
}
