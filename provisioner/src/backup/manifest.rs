//! A run's manifest: what one backup run made, in which region, with each
//! archive's SHA-256. Written to the backup bucket of both regions when the
//! run completes (`runs/<run>.json`), so the record survives the loss of
//! either region. It records; it never decides anything.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One completed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub run: String,
    pub environment: String,
    pub started: DateTime<Utc>,
    pub finished: DateTime<Utc>,
    pub items: Vec<Item>,
    /// What the run could not back up, and why (`logs: no monitor`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

/// One thing a run made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// `rds-snapshot`, `ebs-snapshot`, `artifacts`, `logs`.
    pub what: String,
    /// What it is a backup of: the database, a volume, a bucket, a day.
    pub of: String,
    /// The snapshot's id, or the archive's key.
    pub id: String,
    pub region: String,
    pub size_bytes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// A copy in the DR region.
    pub dr_copy: bool,
}
