//! The one contract for every TOML file a person writes (agent config,
//! monitor config, alert rules, environment spec): read it, parse it with
//! unknown fields refused, validate it into its final type, and on any
//! problem say which file, which field, and how to fix it.
//!
//! Each crate keeps its own raw and validated types; only the loading and
//! the error shape live here.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A problem with a file a person wrote: where it is and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: cannot read it: {source}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not TOML, or not the fields this file takes (the message has the line).
    #[error("{}: {message}", file.display())]
    Parse { file: PathBuf, message: String },
    #[error("{}: {field}: {message}", file.display())]
    Invalid {
        file: PathBuf,
        field: String,
        message: String,
    },
}

/// A problem with one field, before the file's name is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<(String, String)> for FieldError {
    fn from((field, message): (String, String)) -> Self {
        Self { field, message }
    }
}

/// A file as written, checked into what the program uses: relative paths
/// in it are taken from `base`, the file's folder; what is wrong names the
/// field and the fix.
pub trait Validate {
    type Valid;
    fn validate(self, base: &Path) -> Result<Self::Valid, FieldError>;
}

/// A file of TOML read with the one loader: `load` and `parse` read `Raw`
/// and validate it, errors naming the file, the field and the fix.
pub trait TomlFile: Sized {
    /// The file as written.
    type Raw: DeserializeOwned + Validate<Valid = Self>;

    /// Reads and validates `file`.
    fn load(file: &Path) -> Result<Self, FileError> {
        load(file, Self::Raw::validate)
    }

    /// Validates `text`, the contents of `file` (named in errors).
    fn parse(file: &Path, text: &str) -> Result<Self, FileError> {
        parse(file, text, Self::Raw::validate)
    }
}

/// Reads `file`, then [`parse`]s it.
pub fn load<Raw, T, E>(
    file: &Path,
    validate: impl FnOnce(Raw, &Path) -> Result<T, E>,
) -> Result<T, FileError>
where
    Raw: DeserializeOwned,
    E: Into<FieldError>,
{
    let text = std::fs::read_to_string(file).map_err(|source| FileError::Read {
        file: file.to_path_buf(),
        source,
    })?;
    parse(file, &text, validate)
}

/// Parses `text`, the contents of `file`, as `Raw`, then validates it with
/// the folder of `file` (relative paths in a file are taken from there).
pub fn parse<Raw, T, E>(
    file: &Path,
    text: &str,
    validate: impl FnOnce(Raw, &Path) -> Result<T, E>,
) -> Result<T, FileError>
where
    Raw: DeserializeOwned,
    E: Into<FieldError>,
{
    let raw: Raw = toml::from_str(text).map_err(|error| FileError::Parse {
        file: file.to_path_buf(),
        message: error.to_string().trim_end().to_owned(),
    })?;
    let base = file.parent().unwrap_or(Path::new("."));
    validate(raw, base).map_err(|error| {
        let FieldError { field, message } = error.into();
        FileError::Invalid {
            file: file.to_path_buf(),
            field,
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Raw {
        port: u16,
    }

    fn validate(raw: Raw, _: &Path) -> Result<u16, FieldError> {
        if raw.port < 1024 {
            return Err(FieldError::new("port", "use 1024 or above (e.g. 2222)"));
        }
        Ok(raw.port)
    }

    fn parse_text(text: &str) -> Result<u16, FileError> {
        parse(Path::new("/etc/aerie/x.toml"), text, validate)
    }

    #[test]
    fn a_valid_file_gives_its_validated_value() {
        assert_eq!(parse_text("port = 2222").unwrap(), 2222);
    }

    #[test]
    fn an_unknown_field_names_the_file_and_the_field() {
        let error = parse_text("port = 2222\nprot = 1").unwrap_err().to_string();
        assert!(error.starts_with("/etc/aerie/x.toml: "), "{error}");
        assert!(error.contains("prot"), "{error}");
    }

    #[test]
    fn an_invalid_value_names_the_file_the_field_and_the_fix() {
        let error = parse_text("port = 22").unwrap_err().to_string();
        assert_eq!(
            error,
            "/etc/aerie/x.toml: port: use 1024 or above (e.g. 2222)"
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let error = load(Path::new("/nonexistent/aerie.toml"), validate).unwrap_err();
        assert!(matches!(error, FileError::Read { .. }));
        assert!(
            error
                .to_string()
                .starts_with("/nonexistent/aerie.toml: cannot read it")
        );
    }
}
