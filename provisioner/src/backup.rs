//! `aerie backup`: the environment's daily backup (seed 004). One run
//! snapshots the database (RDS) and every node's volumes (EBS), archives
//! the artifacts bucket and the previous day's logs (exported by the
//! monitor) into the backup bucket, copies all of it to the DR region and
//! writes a manifest in both; `prune` applies the retention, `list` reads
//! the catalog, `fetch` brings back one day's archive for the customer.
//!
//! The catalog is AWS itself: snapshots are found by their tags, archives
//! and manifests by their keys, a run in progress by its marker object.
//! There is no state file, so any machine with the credentials sees the
//! same backups, and a run stopped at any moment is finished by the next
//! (the same run id, nothing made twice).
//!
//! This module decides what to back up, copy and remove; `aws` makes the
//! calls. It never prints (progress goes to a [`Report`]) and never reads
//! or writes a secret except the ingest token it hands to the monitor.

pub mod catalog;
pub mod fetch;
pub mod manifest;
pub mod monitor;
pub mod names;
pub mod prune;
pub mod retention;
pub mod run;
pub mod schedule;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use crate::aws::Cloud;
use crate::aws::objects::Lifecycle;
use crate::aws::retry::AwsError;
use crate::clock::{Clock, Patience, SystemClock};
use crate::spec::Spec;
use crate::spec::backup::Backup;

pub use crate::progress::{Progress, Report};

/// One environment's backups: its policy and both regions.
#[derive(Clone)]
pub struct Backups {
    pub environment: String,
    pub policy: Backup,
    /// The environment's region.
    pub primary: Cloud,
    /// The DR region, when copies go there.
    pub dr: Option<Cloud>,
    /// The environment's artifacts bucket (what its archive holds).
    pub artifacts_bucket: String,
    pub clock: Arc<dyn Clock>,
    /// Waiting on snapshots and copies.
    pub snapshots: Patience,
    /// Waiting on a Glacier restore (hours, with AWS).
    pub restores: Patience,
}

impl std::fmt::Debug for Backups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backups")
            .field("environment", &self.environment)
            .field("primary", &self.primary.region)
            .field("dr", &self.dr.as_ref().map(|dr| &dr.region))
            .finish_non_exhaustive()
    }
}

impl Backups {
    /// The backups of `spec`'s environment, with the SDK's configuration.
    pub async fn connect(spec: &Spec) -> Self {
        let primary = Cloud::connect(&spec.name, &spec.region).await;
        let dr = match (&spec.dr_region, spec.backup.copy_to_dr) {
            (Some(region), true) => Some(Cloud::connect(&spec.name, region).await),
            _ => None,
        };
        Self {
            environment: spec.name.clone(),
            policy: spec.backup.clone(),
            primary,
            dr,
            artifacts_bucket: crate::model::artifacts_bucket(spec),
            clock: Arc::new(SystemClock),
            snapshots: Patience {
                every: Duration::from_secs(15),
                timeout: Duration::from_secs(4 * 3600),
            },
            restores: Patience {
                every: Duration::from_secs(60),
                timeout: Duration::from_secs(24 * 3600),
            },
        }
    }

    /// The backup bucket of `cloud`'s region.
    pub fn bucket(&self, cloud: &Cloud) -> String {
        names::bucket(&self.environment, &cloud.region)
    }

    /// The regions holding backups: the primary first.
    pub fn regions(&self) -> impl Iterator<Item = &Cloud> {
        std::iter::once(&self.primary).chain(self.dr.as_ref())
    }

    /// The ids of the runs in progress (their markers in the primary
    /// bucket).
    pub async fn open_runs(&self) -> Result<std::collections::BTreeSet<String>, BackupError> {
        let bucket = self.bucket(&self.primary);
        Ok(self
            .primary
            .list_objects(&bucket, names::IN_PROGRESS)
            .await?
            .into_iter()
            .filter_map(|o| Some(o.key.strip_prefix(names::IN_PROGRESS)?.to_owned()))
            .collect())
    }

    /// The id of the newest finished run (its manifest in the primary
    /// bucket), if any.
    pub async fn newest_finished(&self) -> Result<Option<String>, BackupError> {
        let bucket = self.bucket(&self.primary);
        Ok(self
            .primary
            .list_objects(&bucket, names::RUNS)
            .await?
            .into_iter()
            .filter_map(|o| {
                Some(
                    o.key
                        .strip_prefix(names::RUNS)?
                        .strip_suffix(".json")?
                        .to_owned(),
                )
            })
            .max())
    }

    /// The backup bucket's lifecycle: archives to Glacier and then expired,
    /// manifests (kept readable, in S3 Standard) expired with them.
    pub fn lifecycle(&self) -> Vec<Lifecycle> {
        let expire = i32::try_from(self.policy.expire_after_days).unwrap_or(i32::MAX);
        vec![
            Lifecycle {
                id: "archives".to_owned(),
                prefix: names::ARCHIVES.to_owned(),
                glacier_after_days: Some(
                    i32::try_from(self.policy.glacier_after_days).unwrap_or(i32::MAX),
                ),
                expire_after_days: expire,
            },
            Lifecycle {
                id: "manifests".to_owned(),
                prefix: names::RUNS.to_owned(),
                glacier_after_days: None,
                expire_after_days: expire,
            },
        ]
    }
}

/// Why a backup command failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(
        "{what} in {region} was still {state} after {}; it goes on in AWS: run the command again to wait for it",
        humantime::format_duration(*waited)
    )]
    Timeout {
        what: String,
        region: String,
        state: String,
        waited: Duration,
    },
    #[error("{what} in {region} failed (AWS reports it {state}); the run stops here")]
    Failed {
        what: String,
        region: String,
        state: String,
    },
    #[error(
        "{environment} has no database and no node in {region}: nothing to back up (apply the environment first)"
    )]
    Nothing { environment: String, region: String },
    #[error("{what} in {region} disappeared while the run waited for it")]
    Vanished { what: String, region: String },
    #[error("the monitor at {url}: {message}")]
    Monitor {
        url: String,
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error(
        "no {what} archive of {day} in {bucket}: `aerie backup list` shows the days that are backed up"
    )]
    NoArchive {
        what: String,
        day: chrono::NaiveDate,
        bucket: String,
    },
    #[error(
        "{bucket}/{key}: its SHA-256 is {got}, the backup recorded {want}; the copy is damaged and nothing was written"
    )]
    Checksum {
        bucket: String,
        key: String,
        want: String,
        got: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}
