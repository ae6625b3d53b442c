//! The JSON files a program keeps for itself (the monitor's usage ledger,
//! throttle decisions and alert state): read whole, or the default when
//! there is none yet, with an error naming the file. They are written with
//! [`crate::atomic_write`]. Never for a file a person writes: those are
//! TOML ([`crate::toml_file`]), with errors that point at the line.

use std::path::{Path, PathBuf};

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JsonFileError {
    #[error("{}: cannot read it", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: it is not valid JSON of what it should hold (restore it from a backup or move it away to start afresh)", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// What `path` holds, or `T::default()` when there is no such file.
pub fn read_json_or_default<T>(path: &Path) -> Result<T, JsonFileError>
where
    T: serde::de::DeserializeOwned + Default,
{
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| JsonFileError::Parse {
            path: path.to_owned(),
            source,
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(source) => Err(JsonFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_the_default_and_a_damaged_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let none: Vec<u32> = read_json_or_default(&path).unwrap();
        assert!(none.is_empty());
        std::fs::write(&path, "[1, 2]").unwrap();
        assert_eq!(read_json_or_default::<Vec<u32>>(&path).unwrap(), [1, 2]);
        std::fs::write(&path, "[1, 2").unwrap();
        let error = read_json_or_default::<Vec<u32>>(&path).unwrap_err();
        assert!(matches!(error, JsonFileError::Parse { .. }));
        assert!(error.to_string().contains("state.json"), "{error}");
    }
}
