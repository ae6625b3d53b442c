//! LEB128 variable-length integers, as the embedded store's files write
//! small numbers (time deltas, row gaps, lengths): seven bits a byte, the
//! high bit set on every byte but the last. Reading never panics: bytes cut
//! short or a number longer than 64 bits answer `None`. A signed number
//! (a delta) is zigzagged first, so that a small one of either sign is
//! short.

/// Appends `value` to `out`.
pub(crate) fn put(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Bytes [`put`] writes for `value`.
pub(crate) fn len(value: u64) -> usize {
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

/// `value` as a number a varint keeps short whatever its sign: 0, -1, 1,
/// -2 ... as 0, 1, 2, 3 ...
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The signed number [`zigzag`] made `value` of.
pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

/// The number at `bytes[*at..]`; moves `at` past it.
pub(crate) fn get(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    let mut shift = 0;
    loop {
        let byte = *bytes.get(*at)?;
        *at += 1;
        if shift > 63 {
            return None;
        }
        value |= u64::from(byte & 0x7F) << shift;
        if byte < 0x80 {
            return Some(value);
        }
        shift += 7;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_as_written_and_cut_bytes_are_refused() {
        let numbers = [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX];
        let mut bytes = Vec::new();
        for n in numbers {
            put(&mut bytes, n);
        }
        let mut at = 0;
        for n in numbers {
            let before = at;
            assert_eq!(get(&bytes, &mut at), Some(n));
            assert_eq!(at - before, len(n), "{n} takes len({n}) bytes");
        }
        assert_eq!(at, bytes.len());
        assert_eq!(
            get(&bytes[..bytes.len() - 1], &mut (bytes.len() - 10)),
            None
        );
        assert_eq!(get(&[0xff; 11], &mut 0), None, "longer than 64 bits");
    }
}
