//! `[store]`: the embedded store (the default) or Elasticsearch.

use std::path::{Path, PathBuf};

use aerie_store::embedded::LogMemory;
use aerie_wire::Secret;
use serde::{Deserialize, Serialize};

use super::{FieldError, invalid};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case", tag = "kind")]
pub(super) enum RawStore {
    Embedded {
        log_head_lines: Option<usize>,
        log_id_lists: Option<usize>,
        log_index_cache: Option<bytesize::ByteSize>,
        log_merge_segments: Option<usize>,
    },
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

impl Default for RawStore {
    fn default() -> Self {
        RawStore::Embedded {
            log_head_lines: None,
            log_id_lists: None,
            log_index_cache: None,
            log_merge_segments: None,
        }
    }
}

/// The bounds of `log_head_lines`: a granule's lines at least (fewer make
/// a segment of less than one granule), and a head of at most 4 GiB or so.
const HEAD_LINES: std::ops::RangeInclusive<usize> = 8192..=16 * 1024 * 1024;

/// The bounds of `log_merge_segments` other than 0: a merge holds the
/// merged segment's term index in memory, about 15 MiB a head of 256k lines.
const MERGE_SEGMENTS: std::ops::RangeInclusive<usize> = 2..=64;

fn default_prefix() -> String {
    "aerie".into()
}

/// Where data is kept.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum StoreConfig {
    /// What the logs keep in memory is bounded by these, not by the lines
    /// stored ([`LogMemory`]).
    Embedded {
        /// Lines held in memory (and the WAL) before they are written as a
        /// segment.
        log_head_lines: usize,
        /// Segments whose id hashes stay in memory for duplicate checks (a
        /// merged segment counts as the segments it merged).
        log_id_lists: usize,
        /// Memory for segments' index summaries kept between searches.
        log_index_cache: bytesize::ByteSize,
        /// Segments of a head merged into one at a time (0: never).
        log_merge_segments: usize,
    },
    Elasticsearch {
        /// The cluster's nodes, in the order they are preferred: requests
        /// go to the first that takes connections.
        urls: Vec<String>,
        username: Option<String>,
        password: Option<Secret>,
        index_prefix: String,
    },
}

impl StoreConfig {
    /// What the embedded store's logs keep in memory (the defaults for
    /// another store).
    pub fn log_memory(&self) -> LogMemory {
        match self {
            StoreConfig::Embedded {
                log_head_lines,
                log_id_lists,
                log_index_cache,
                log_merge_segments,
            } => LogMemory {
                head_lines: *log_head_lines,
                id_lists: *log_id_lists,
                index_cache: usize::try_from(log_index_cache.as_u64()).unwrap_or(usize::MAX),
                merge_segments: *log_merge_segments,
            },
            StoreConfig::Elasticsearch { .. } => LogMemory::default(),
        }
    }
}

impl RawStore {
    pub(super) fn validate(self, base: &Path) -> Result<StoreConfig, FieldError> {
        Ok(match self {
            RawStore::Embedded {
                log_head_lines,
                log_id_lists,
                log_index_cache,
                log_merge_segments,
            } => {
                let defaults = LogMemory::default();
                let log_head_lines = log_head_lines.unwrap_or(defaults.head_lines);
                if !HEAD_LINES.contains(&log_head_lines) {
                    return Err(invalid(
                        "store.log_head_lines",
                        format!(
                            "{log_head_lines} is outside {}..={}: the head holds at least \
                             one granule and at most 16 Mi lines (the default is {})",
                            HEAD_LINES.start(),
                            HEAD_LINES.end(),
                            defaults.head_lines
                        ),
                    ));
                }
                let log_id_lists = log_id_lists.unwrap_or(defaults.id_lists);
                if log_id_lists == 0 {
                    return Err(invalid(
                        "store.log_id_lists",
                        format!(
                            "0: keep at least the newest segment's id hashes in memory \
                             (the default is {})",
                            defaults.id_lists
                        ),
                    ));
                }
                let log_index_cache =
                    log_index_cache.unwrap_or(bytesize::ByteSize::b(defaults.index_cache as u64));
                let log_merge_segments = log_merge_segments.unwrap_or(defaults.merge_segments);
                if !(log_merge_segments == 0 || MERGE_SEGMENTS.contains(&log_merge_segments)) {
                    return Err(invalid(
                        "store.log_merge_segments",
                        format!(
                            "{log_merge_segments} is neither 0 (never merge) nor within {}..={}: \
                             a merge takes at least two segments (the default is {})",
                            MERGE_SEGMENTS.start(),
                            MERGE_SEGMENTS.end(),
                            defaults.merge_segments
                        ),
                    ));
                }
                StoreConfig::Embedded {
                    log_head_lines,
                    log_id_lists,
                    log_index_cache,
                    log_merge_segments,
                }
            }
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
