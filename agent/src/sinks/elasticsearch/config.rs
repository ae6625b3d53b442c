use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use aerie_common::toml_file::FieldError;

use crate::secret::Secret;
use crate::secret::read_secret;
use crate::sinks::http::{check_url, error_chain, read_ca};

/// `[elasticsearch]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawElasticsearchConfig {
    url: String,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    #[serde(default = "default_prefix")]
    index_prefix: String,
    #[serde(default = "default_batch_events")]
    batch_max_events: usize,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    timeout: Duration,
}

fn default_prefix() -> String {
    "aerie".into()
}
fn default_batch_events() -> usize {
    1000
}
fn default_timeout() -> Duration {
    crate::sinks::http::DEFAULT_TIMEOUT
}

/// Where and how to reach Elasticsearch.
#[derive(Debug, Clone, Serialize)]
pub struct ElasticsearchConfig {
    pub url: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    #[serde(skip)]
    pub ca_pem: Option<Vec<u8>>,
    pub proxy: Option<String>,
    pub index_prefix: String,
    pub batch_max_events: usize,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl RawElasticsearchConfig {
    pub fn validate(self, base: &Path) -> Result<ElasticsearchConfig, FieldError> {
        check_url("elasticsearch.url", &self.url)?;
        let password = read_secret(
            "elasticsearch.password",
            self.password,
            self.password_file,
            base,
        )?;
        if password.is_some() && self.username.is_none() {
            return Err(FieldError::new(
                "elasticsearch.username",
                "missing: a password is set, so name the user too",
            ));
        }
        if let Some(proxy) = &self.proxy {
            check_url("elasticsearch.proxy", proxy)?;
        }
        let valid_prefix = !self.index_prefix.is_empty()
            && self
                .index_prefix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid_prefix {
            return Err(FieldError::new(
                "elasticsearch.index_prefix",
                format!(
                    "{:?}: use lowercase letters, digits and '-'",
                    self.index_prefix
                ),
            ));
        }
        let ca_file = self.ca_file.map(|path| base.join(path));
        let ca_pem = match &ca_file {
            Some(path) => Some(
                read_ca(path)
                    .map_err(|e| FieldError::new("elasticsearch.ca_file", error_chain(&e)))?,
            ),
            None => None,
        };
        if self.batch_max_events == 0 {
            return Err(FieldError::new(
                "elasticsearch.batch_max_events",
                "must be at least 1",
            ));
        }
        Ok(ElasticsearchConfig {
            url: self.url,
            username: self.username,
            password,
            ca_file,
            ca_pem,
            proxy: self.proxy,
            index_prefix: self.index_prefix,
            batch_max_events: self.batch_max_events,
            timeout: self.timeout,
        })
    }
}
