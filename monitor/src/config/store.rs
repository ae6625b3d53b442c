//! `[store]`: the embedded store (the default) or Elasticsearch.

use std::path::{Path, PathBuf};

use aerie_wire::Secret;
use serde::{Deserialize, Serialize};

use super::{FieldError, invalid};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
pub(super) enum RawStore {
    #[default]
    Embedded,
    Elasticsearch {
        url: Urls,
        username: Option<String>,
        password: Option<String>,
        password_file: Option<PathBuf>,
        #[serde(default = "default_prefix")]
        index_prefix: String,
    },
}

/// `url`: one node's URL, or a list of the cluster's nodes.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Urls {
    One(String),
    Many(Vec<String>),
}

fn default_prefix() -> String {
    "aerie".into()
}

/// Where data is kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StoreConfig {
    Embedded,
    Elasticsearch {
        /// The cluster's nodes, in the order they are preferred: requests
        /// go to the first that takes connections.
        urls: Vec<String>,
        username: Option<String>,
        password: Option<Secret>,
        index_prefix: String,
    },
}

impl RawStore {
    pub(super) fn validate(self, base: &Path) -> Result<StoreConfig, FieldError> {
        Ok(match self {
            RawStore::Embedded => StoreConfig::Embedded,
            RawStore::Elasticsearch {
                url,
                username,
                password,
                password_file,
                index_prefix,
            } => {
                let urls = match url {
                    Urls::One(url) => vec![url],
                    Urls::Many(urls) => urls,
                };
                if urls.is_empty() {
                    return Err(invalid(
                        "store.url",
                        "empty: name at least one of the cluster's nodes",
                    ));
                }
                if let Some(url) = urls
                    .iter()
                    .find(|url| !(url.starts_with("http://") || url.starts_with("https://")))
                {
                    return Err(invalid(
                        "store.url",
                        format!("{url:?} is not an http or https URL"),
                    ));
                }
                let password =
                    Secret::from_inline_or_file("store.password", password, password_file, base)?;
                if password.is_some() && username.is_none() {
                    return Err(invalid(
                        "store.username",
                        "missing: a password is set, so name the user too",
                    ));
                }
                StoreConfig::Elasticsearch {
                    urls,
                    username,
                    password,
                    index_prefix,
                }
            }
        })
    }
}
