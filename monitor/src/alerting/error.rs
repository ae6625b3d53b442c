//! Why the alert engine could not do what was asked.

use std::path::PathBuf;

use aerie_common::toml_file::FileError;

/// An alert engine failure, naming the file or rule behind it.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("alerting is not configured: add an [alerting] section to the monitor's config")]
    NotConfigured,
    /// The rules file did not load; the error names the file, the rule and the fix.
    #[error(transparent)]
    Rules(#[from] FileError),
    #[error("the rules file was not reloaded; the {kept} current rules stay in force")]
    RulesKept {
        #[source]
        source: FileError,
        kept: usize,
    },
    #[error("{}: cannot {action}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the alert state could not be read or written in the cluster")]
    Store(#[from] crate::store::StoreError),
    #[error(
        "the alert state in the cluster (document alerts/state of the shared state) is not state this monitor can read: remove it to start afresh"
    )]
    SharedState {
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the alert state was not saved: other monitors wrote it first {attempts} times in a row; the next evaluation tries again"
    )]
    Contended { attempts: usize },
    #[error("the alert state could not be read")]
    State(#[from] aerie_common::JsonFileError),
}

impl AlertError {
    pub(super) fn io(
        path: &std::path::Path,
        action: &'static str,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_owned();
        move |source| Self::Io {
            path,
            action,
            source,
        }
    }
}
