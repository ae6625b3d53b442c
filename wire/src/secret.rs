//! A token or password: the bearer tokens of the ingest protocol, and the
//! other credentials Aerie's configs hold. It never shows itself in logs,
//! `Debug` output or printed configs.

use std::fmt;
use std::path::{Path, PathBuf};

/// A secret value. `Debug`, `Display` and `Serialize` print a mask.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    pub const MASK: &'static str = "********";

    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself, for the one place that sends or compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A config's `<field>` or `<field>_file` (relative to `base`), at most one
    /// of them; `Err` says what is wrong, to be reported with the field's name.
    pub fn from_inline_or_file(
        field: &str,
        inline: Option<String>,
        file: Option<PathBuf>,
        base: &Path,
    ) -> Result<Option<Self>, (String, String)> {
        match (inline, file) {
            (Some(_), Some(_)) => Err((
                field.to_owned(),
                format!("both {field} and {field}_file are set: keep one (prefer {field}_file)"),
            )),
            (Some(value), None) if value.trim().is_empty() => {
                Err((field.to_owned(), "is empty".to_owned()))
            }
            (Some(value), None) => Ok(Some(Self::new(value))),
            (None, Some(path)) => {
                let path = base.join(path);
                let value = std::fs::read_to_string(&path).map_err(|error| {
                    (
                        format!("{field}_file"),
                        format!("cannot read {}: {error}", path.display()),
                    )
                })?;
                let value = value.trim();
                if value.is_empty() {
                    return Err((
                        format!("{field}_file"),
                        format!("{} is empty", path.display()),
                    ));
                }
                Ok(Some(Self::new(value)))
            }
            (None, None) => Ok(None),
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::MASK)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::MASK)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::MASK)
    }
}
