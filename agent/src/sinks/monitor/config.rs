use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{FieldError, read_secret};
use crate::secret::Secret;

/// `[monitor]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMonitorConfig {
    url: String,
    token: Option<String>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    #[serde(default = "default_batch_events")]
    batch_max_events: usize,
    #[serde(default = "default_batch_bytes")]
    batch_max_bytes: bytesize::ByteSize,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    timeout: Duration,
    #[serde(default = "yes")]
    compression: bool,
}

fn default_batch_events() -> usize {
    2000
}
fn default_batch_bytes() -> bytesize::ByteSize {
    bytesize::ByteSize::mib(4)
}
fn default_timeout() -> Duration {
    super::DEFAULT_TIMEOUT
}
fn yes() -> bool {
    true
}

/// Where and how to reach the monitor.
#[derive(Debug, Clone, Serialize)]
pub struct MonitorConfig {
    pub url: String,
    pub token: Secret,
    pub ca_file: Option<PathBuf>,
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
    pub proxy: Option<String>,
    pub batch_max_events: usize,
    pub batch_max_bytes: bytesize::ByteSize,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub compression: bool,
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
            Some(path) => {
                Some(read_ca(path).map_err(|message| FieldError::new("monitor.ca_file", message))?)
            }
            None => None,
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
            proxy: self.proxy,
            batch_max_events: self.batch_max_events,
            batch_max_bytes: self.batch_max_bytes,
            timeout: self.timeout,
            compression: self.compression,
        })
    }
}

impl MonitorConfig {
    /// The HTTP client: rustls, the private CA if given, the proxy if given.
    pub fn client(&self) -> Result<reqwest::Client, String> {
        http_client(self.ca_pem.as_deref(), self.proxy.as_deref(), self.timeout)
    }
}

/// An HTTP client for a sink: rustls with the system roots plus `ca_pem`,
/// through `proxy` when given.
pub fn http_client(
    ca_pem: Option<&[u8]>,
    proxy: Option<&str>,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("aerie-agent/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = ca_pem {
        for certificate in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| e.to_string())? {
            builder = builder.add_root_certificate(certificate);
        }
    }
    if let Some(proxy) = proxy {
        builder =
            builder.proxy(reqwest::Proxy::all(proxy).map_err(|e| format!("proxy {proxy}: {e}"))?);
    }
    builder.build().map_err(|error| error.to_string())
}

pub fn check_url(field: &str, url: &str) -> Result<(), FieldError> {
    let parsed = reqwest::Url::parse(url).map_err(|error| {
        FieldError::new(
            field,
            format!("{url:?} is not a URL ({error}); write e.g. \"https://monitor.example:8443\""),
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FieldError::new(
            field,
            format!("{url:?}: the scheme must be http or https"),
        ));
    }
    Ok(())
}

pub fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    let pem =
        std::fs::read(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    match reqwest::Certificate::from_pem_bundle(&pem) {
        Ok(certificates) if !certificates.is_empty() => Ok(pem),
        _ => Err(format!("{} holds no PEM certificate", path.display())),
    }
}
