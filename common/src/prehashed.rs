//! A hasher for keys that are hashes already (a log file's fingerprint, an
//! event id's 128 bits): it keeps the key's own bits instead of hashing them
//! again, which on a map looked up for every log line is a measurable share
//! of the work. It must only be used for keys whose bits are uniformly
//! spread; any other key would crowd a few buckets.

use std::hash::{BuildHasherDefault, Hasher};

/// The [`Hasher`] that keeps a prehashed key's bits.
#[derive(Debug, Default, Clone, Copy)]
pub struct Prehashed(u64);

/// What builds [`Prehashed`] hashers, for `HashMap::default()`.
pub type BuildPrehashed = BuildHasherDefault<Prehashed>;

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn write_u128(&mut self, value: u128) {
        self.0 = (value as u64) ^ ((value >> 64) as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn a_prehashed_key_keeps_its_bits() {
        let build = BuildPrehashed::default();
        assert_eq!(build.hash_one(0xdead_beef_u64), 0xdead_beef);
        let wide = (7u128 << 64) | 5;
        assert_eq!(build.hash_one(wide), 7 ^ 5);
    }
}
