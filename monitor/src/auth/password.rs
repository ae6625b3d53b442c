//! Password hashes as `password_hash` in the config takes them: argon2id
//! with a random salt. Verifying takes as long for an unknown user as for a
//! known one (a dummy hash is checked), so timing tells nobody which exist.

use std::sync::LazyLock;

/// A hash that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the operating system gave no random salt")]
    Salt(#[source] getrandom::Error),
    #[error("argon2 could not hash the password: {0}")]
    Hash(argon2::password_hash::Error),
}

/// An argon2id hash of `password`.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(PasswordError::Salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(PasswordError::Hash)?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(PasswordError::Hash)
}

/// Whether `password` is the one `hash` was made from.
pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::PasswordVerifier;
    argon2::PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Checked when a user name is unknown, so that it takes as long.
pub static DUMMY_HASH: LazyLock<String> =
    LazyLock::new(|| hash_password("not anyone's password").expect("argon2 hashes"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_hash_verifies_that_password_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horse!", &hash));
        assert!(!verify_password("anything", &DUMMY_HASH));
    }
}
