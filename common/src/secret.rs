//! Generated secrets: passwords and tokens from the operating system's
//! random source. A secret made here is never logged by this crate.

/// Letters and digits that cannot be mistaken for one another (no 0/O, 1/l/I).
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A password of `length` unambiguous letters and digits.
pub fn password(length: usize) -> String {
    let mut bytes = vec![0u8; length];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

/// A token of 32 random bytes, hex (64 characters).
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives random bytes");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_has_the_length_asked_and_only_unambiguous_characters() {
        let password = password(20);
        assert_eq!(password.len(), 20);
        assert!(
            password.bytes().all(|b| ALPHABET.contains(&b)),
            "{password}"
        );
        assert_ne!(password, super::password(20));
    }

    #[test]
    fn a_token_is_64_hex_digits() {
        let token = token();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
