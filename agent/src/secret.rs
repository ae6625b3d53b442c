//! Secrets in the agent's config: the one type shared with the monitor.

pub use aerie_wire::Secret;

use std::path::{Path, PathBuf};

use aerie_common::toml_file::FieldError;

/// Reads a secret from `inline` or `file` (relative to `base`), exactly one.
pub fn read_secret(
    field: &str,
    inline: Option<String>,
    file: Option<PathBuf>,
    base: &Path,
) -> Result<Option<Secret>, FieldError> {
    Secret::from_inline_or_file(field, inline, file, base)
        .map_err(|(field, message)| FieldError::new(field, message))
}
