//! Why the embedded store's own files could not be read or written. Each
//! error names the file; the operating system's or the decoder's reason is
//! its source or its text.

use std::path::{Path, PathBuf};

/// A failure of the embedded store's files.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EmbeddedError {
    /// Reading, writing, syncing or renaming a file failed.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file holds what this store did not write: damaged, cut short, or
    /// from another version. The text says what and where.
    #[error("{0}")]
    Damaged(String),
}

impl EmbeddedError {
    /// What is wrong with the data, in a sentence that names the file.
    pub(crate) fn damaged(what: impl Into<String>) -> Self {
        Self::Damaged(what.into())
    }
}

impl From<&str> for EmbeddedError {
    fn from(what: &str) -> Self {
        Self::Damaged(what.to_owned())
    }
}

impl From<String> for EmbeddedError {
    fn from(what: String) -> Self {
        Self::Damaged(what)
    }
}

/// Maps an I/O error on `path` into an [`EmbeddedError`].
pub(crate) fn io(path: &Path) -> impl Fn(std::io::Error) -> EmbeddedError + '_ {
    move |source| EmbeddedError::Io {
        path: path.to_owned(),
        source,
    }
}
