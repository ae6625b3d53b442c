use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use aerie_common::toml_file::FieldError;

use super::compression::{Compression, RawCompression};
use crate::secret::Secret;
use crate::secret::read_secret;
use crate::sinks::http::{
    ClientError, check_url, error_chain, http_client, read_ca, read_identity,
};

/// `[monitor]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitorConfig {
    url: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    /// A client certificate for a monitor that requires one (PEM, with its
    /// chain), and its key; both or neither.
    client_cert_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
    proxy: Option<String>,
    #[serde(default = "default_batch_events")]
    batch_max_events: usize,
    #[serde(default = "default_batch_bytes")]
    batch_max_bytes: bytesize::ByteSize,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    timeout: Duration,
    #[serde(default)]
    compression: RawCompression,
}

fn default_batch_events() -> usize {
    2000
}
fn default_batch_bytes() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(4)
}
fn default_timeout() -> Duration {
    crate::sinks::http::DEFAULT_TIMEOUT
}

/// Where and how to reach the monitor.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorConfig {
    pub url: String,
    pub token: Secret,
    pub ca_file: Option<PathBuf>,
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
    /// The certificate and key as one PEM; never printed.
    #[serde(skip)]
    pub identity_pem: Option<Vec<u8>>,
    pub proxy: Option<String>,
    pub batch_max_events: usize,
    pub batch_max_bytes: bytesize::ByteSize,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub compression: Compression,
}

impl RawMonitorConfig {
    pub fn validate(self, base: &Path) -> Result<MonitorConfig, FieldError> {
        check_url("monitor.url", &self.url)?;
        let token = read_secret("monitor.token", self.token, self.token_file, base)?.ok_or_else(|| {
            FieldError::new("monitor.token_file", "missing: give the environment's ingest token in a file readable only by the agent (token_file = \"/etc/aerie/agent.token\")")
        })?;
        if let Some(proxy) = &self.proxy {
            check_url("monitor.proxy", proxy)?;
        }
        let ca_file = self.ca_file.map(|path| base.join(path));
        let ca_pem = match &ca_file {
            Some(path) => Some(
                read_ca(path).map_err(|e| FieldError::new("monitor.ca_file", error_chain(&e)))?,
            ),
            None => None,
        };
        let client_cert_file = self.client_cert_file.map(|path| base.join(path));
        let client_key_file = self.client_key_file.map(|path| base.join(path));
        let identity_pem = match (&client_cert_file, &client_key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(
                read_identity(cert, key)
                    .map_err(|e| FieldError::new("monitor.client_cert_file", error_chain(&e)))?,
            ),
            (Some(_), None) => {
                return Err(FieldError::new(
                    "monitor.client_key_file",
                    "missing: a client certificate needs its key (client_key_file = \"/etc/aerie/agent.key\")",
                ));
            }
            (None, Some(_)) => {
                return Err(FieldError::new(
                    "monitor.client_cert_file",
                    "missing: a client key needs its certificate (client_cert_file = \"/etc/aerie/agent.crt\")",
                ));
            }
        };
        if self.batch_max_events == 0 {
            return Err(FieldError::new(
                "monitor.batch_max_events",
                "must be at least 1",
            ));
        }
        Ok(MonitorConfig {
            url: self.url,
            token,
            ca_file,
            ca_pem,
            client_cert_file,
            client_key_file,
            identity_pem,
            proxy: self.proxy,
            batch_max_events: self.batch_max_events,
            batch_max_bytes: self.batch_max_bytes,
            timeout: self.timeout,
            compression: self.compression.validate()?,
        })
    }
}

impl MonitorConfig {
    /// The HTTP client: rustls, the private CA if given, the proxy if given.
    pub fn client(&self) -> Result<reqwest::Client, ClientError> {
        http_client(
            self.ca_pem.as_deref(),
            self.identity_pem.as_deref(),
            self.proxy.as_deref(),
            self.timeout,
        )
    }
}
