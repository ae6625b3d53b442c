use std::path::PathBuf;
use std::time::Duration;

/// Why a test service could not be started or a condition was not met.
///
/// Every variant names the service and, where a tool is missing, the command
/// that installs it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{tool} is not installed (looked for {path}); install it with: {fix}")]
    NotInstalled {
        tool: &'static str,
        path: PathBuf,
        fix: &'static str,
    },
    #[error("could not run {service} ({program}): {source}; install it with: {fix}")]
    Spawn {
        service: &'static str,
        program: PathBuf,
        fix: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("{service} exited before it was ready ({status}); its log {log}:\n{tail}")]
    Exited {
        service: &'static str,
        status: std::process::ExitStatus,
        log: PathBuf,
        tail: String,
    },
    #[error("{service} did not answer within {timeout:?}; its log {log}:\n{tail}")]
    NotReady {
        service: &'static str,
        timeout: Duration,
        log: PathBuf,
        tail: String,
    },
    #[error("no free port on 127.0.0.1: {0}")]
    NoFreePort(#[source] std::io::Error),
    #[error("timed out after {timeout:?} waiting for {what}")]
    Timeout { what: String, timeout: Duration },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Http {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{0}")]
    Other(String),
}
