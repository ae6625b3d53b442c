//! The backups' snapshots as AWS has them: an RDS snapshot of the
//! environment's database and an EBS snapshot of each node's volumes, and
//! their copies in the DR region. Each is tagged `aerie:env`,
//! `aerie:backup` (the run), `aerie:of` (what it is a snapshot of) and
//! `aerie:taken` (the run's time, which the retention reads: a copy is as
//! old as its source), and found again by those tags; there is no state
//! file.
//!
//! This file makes, copies, lists and deletes snapshots one call at a
//! time; which ones, and when, is `backup`'s to decide.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Cloud;
use super::pages::all_pages;
use super::retry::{AwsError, Policy, removed, send};
use super::tags::{ENV_TAG, ROLE_TAG, any_of, tag_of};

/// The run a backup belongs to.
pub const BACKUP_TAG: &str = "aerie:backup";
/// What a snapshot is of: the database's identifier, the volume's id.
pub const OF_TAG: &str = "aerie:of";
/// When the run that made it started (RFC 3339).
pub const TAKEN_TAG: &str = "aerie:taken";
/// A DR copy: the id of the snapshot it was copied from.
pub const COPY_OF_TAG: &str = "aerie:copy-of";

/// Database or volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotKind {
    Database,
    Volume,
}

impl std::fmt::Display for SnapshotKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Database => "rds-snapshot",
            Self::Volume => "ebs-snapshot",
        })
    }
}

/// One snapshot of a backup, in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub kind: SnapshotKind,
    /// The RDS snapshot identifier, or the EBS `snap-` id.
    pub id: String,
    /// The RDS snapshot's ARN (a cross-region copy names its source by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    pub region: String,
    pub run: String,
    pub of: String,
    /// The node role whose volume it is (`aerie:role`), or `database`.
    pub role: String,
    pub taken: DateTime<Utc>,
    pub size_gb: i64,
    /// AWS's status: `available`/`completed` when good.
    pub state: String,
    /// Set on a DR copy: its source's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<String>,
}

impl Snapshot {
    /// Finished and usable.
    pub fn good(&self) -> bool {
        matches!(self.state.as_str(), "available" | "completed")
    }

    /// Failed for good: AWS will not finish it.
    pub fn failed(&self) -> bool {
        matches!(self.state.as_str(), "failed" | "error")
    }
}

/// The tags a backup snapshot gets at creation.
#[derive(Debug, Clone)]
pub struct BackupTags {
    pub run: String,
    pub of: String,
    pub role: String,
    pub taken: DateTime<Utc>,
    pub copy_of: Option<String>,
}

impl BackupTags {
    fn pairs(&self, environment: &str) -> Vec<(&'static str, String)> {
        let mut pairs = vec![
            (ENV_TAG, environment.to_owned()),
            (ROLE_TAG, self.role.clone()),
            (BACKUP_TAG, self.run.clone()),
            (OF_TAG, self.of.clone()),
            (
                TAKEN_TAG,
                self.taken
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            ),
            ("Name", format!("{environment}-backup-{}", self.run)),
        ];
        if let Some(source) = &self.copy_of {
            pairs.push((COPY_OF_TAG, source.clone()));
        }
        pairs
    }
}

/// A node's volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub id: String,
    /// The node's `aerie:role` (`gateway-1`, ...).
    pub role: String,
}

/// What AWS says of a snapshot besides its tags.
struct Described<'a> {
    kind: SnapshotKind,
    /// (key, value)
    tags: Vec<(Option<&'a str>, Option<&'a str>)>,
    id: Option<&'a str>,
    arn: Option<&'a str>,
    size_gb: Option<i32>,
    state: &'a str,
}

impl<'a> From<&'a aws_sdk_rds::types::DbSnapshot> for Described<'a> {
    fn from(s: &'a aws_sdk_rds::types::DbSnapshot) -> Self {
        Self {
            kind: SnapshotKind::Database,
            tags: s.tag_list().iter().map(|t| (t.key(), t.value())).collect(),
            arn: s.db_snapshot_arn(),
            id: s.db_snapshot_identifier(),
            size_gb: s.allocated_storage(),
            state: s.status().unwrap_or("unknown"),
        }
    }
}

impl<'a> From<&'a aws_sdk_ec2::types::Snapshot> for Described<'a> {
    fn from(s: &'a aws_sdk_ec2::types::Snapshot) -> Self {
        Self {
            kind: SnapshotKind::Volume,
            tags: s.tags().iter().map(|t| (t.key(), t.value())).collect(),
            arn: None,
            id: s.snapshot_id(),
            size_gb: s.volume_size(),
            state: s.state().map_or("unknown", |s| s.as_str()),
        }
    }
}

/// A snapshot from its (key, value) tags and what AWS says of it; `None`
/// when it is not a backup of `environment`.
fn snapshot(environment: &str, region: &str, described: Described<'_>) -> Option<Snapshot> {
    let get = |key: &str| {
        described
            .tags
            .iter()
            .find(|(k, _)| *k == Some(key))
            .and_then(|(_, v)| *v)
    };
    if get(ENV_TAG) != Some(environment) {
        return None;
    }
    let taken = DateTime::parse_from_rfc3339(get(TAKEN_TAG)?).ok()?;
    let role = match described.kind {
        SnapshotKind::Database => None,
        SnapshotKind::Volume => get(ROLE_TAG),
    };
    Some(Snapshot {
        kind: described.kind,
        id: described.id?.to_owned(),
        arn: described.arn.map(str::to_owned),
        region: region.to_owned(),
        run: get(BACKUP_TAG)?.to_owned(),
        of: get(OF_TAG)?.to_owned(),
        role: role.unwrap_or("database").to_owned(),
        taken: taken.with_timezone(&Utc),
        size_gb: described.size_gb.map_or(0, i64::from),
        state: described.state.to_owned(),
        copy_of: get(COPY_OF_TAG).map(str::to_owned),
    })
}

impl Cloud {
    /// The environment's database, when it exists and is not going.
    pub async fn database(&self) -> Result<Option<String>, AwsError> {
        let identifier = format!("{}-db", self.environment);
        Ok(self
            .describe_database(&identifier)
            .await?
            .filter(|db| {
                self.owns(db.tag_list().iter().map(|t| (t.key(), t.value())))
                    && db.db_instance_status() != Some("deleting")
            })
            .map(|_| identifier))
    }

    /// The EBS volumes of the environment's instances (the bastion and the
    /// product nodes), in the order of their roles.
    pub async fn node_volumes(&self) -> Result<Vec<Volume>, AwsError> {
        let request = self
            .ec2
            .describe_instances()
            .filters(self.env_filter())
            .filters(any_of(
                "instance-state-name",
                &["pending", "running", "stopping", "stopped"],
            ));
        let answer = send("DescribeInstances", || request.clone().send()).await?;
        let mut volumes: Vec<Volume> = answer
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| self.is_ours(i.tags()))
            .flat_map(|instance| {
                let role = tag_of(instance.tags(), ROLE_TAG).unwrap_or("instance");
                instance
                    .block_device_mappings()
                    .iter()
                    .filter_map(|m| m.ebs()?.volume_id())
                    .map(|id| Volume {
                        id: id.to_owned(),
                        role: role.to_owned(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        volumes.sort_by(|a, b| (&a.role, &a.id).cmp(&(&b.role, &b.id)));
        Ok(volumes)
    }

    /// Every backup snapshot of the environment in this region, of both
    /// kinds.
    pub async fn backup_snapshots(&self) -> Result<Vec<Snapshot>, AwsError> {
        let (mut out, volumes) =
            futures_util::try_join!(self.database_snapshots(), self.volume_snapshots())?;
        out.extend(volumes);
        Ok(out)
    }

    async fn database_snapshots(&self) -> Result<Vec<Snapshot>, AwsError> {
        all_pages(|marker| async move {
            let manual = self.rds.describe_db_snapshots().snapshot_type("manual");
            let request = manual.set_marker(marker);
            let answer = send("DescribeDBSnapshots", || request.clone().send()).await?;
            Ok((
                self.snapshots(answer.db_snapshots()),
                answer.marker().map(str::to_owned),
            ))
        })
        .await
    }

    async fn volume_snapshots(&self) -> Result<Vec<Snapshot>, AwsError> {
        all_pages(|token| async move {
            let request = self.ec2.describe_snapshots().set_next_token(token);
            let request = request.owner_ids("self").filters(self.env_filter());
            let request = request.filters(any_of("tag-key", &[BACKUP_TAG]));
            let answer = send("DescribeSnapshots", || request.clone().send()).await?;
            Ok((
                self.snapshots(answer.snapshots()),
                answer.next_token().map(str::to_owned),
            ))
        })
        .await
    }

    /// The backups of this environment among the snapshots AWS described.
    fn snapshots<'a, T>(&self, described: &'a [T]) -> Vec<Snapshot>
    where
        &'a T: Into<Described<'a>>,
    {
        let found = described.iter().filter_map(|s| self.snapshot(s.into()));
        found.collect()
    }

    /// A snapshot AWS described; `None` when it is not a backup of this
    /// environment.
    fn snapshot(&self, described: Described<'_>) -> Option<Snapshot> {
        snapshot(&self.environment, &self.region, described)
    }

    /// One snapshot as it is now (`None`: gone).
    pub async fn snapshot_now(&self, snapshot: &Snapshot) -> Result<Option<Snapshot>, AwsError> {
        let id = &snapshot.id;
        let found = match snapshot.kind {
            SnapshotKind::Database => {
                let request = self.rds.describe_db_snapshots().db_snapshot_identifier(id);
                let answer = send("DescribeDBSnapshots", || request.clone().send()).await;
                answer.map(|a| {
                    a.db_snapshots()
                        .iter()
                        .find_map(|s| self.snapshot(s.into()))
                })
            }
            SnapshotKind::Volume => {
                let request = self.ec2.describe_snapshots().snapshot_ids(id);
                let answer = send("DescribeSnapshots", || request.clone().send()).await;
                answer.map(|a| a.snapshots().iter().find_map(|s| self.snapshot(s.into())))
            }
        };
        match found {
            Err(error) if error.code.contains("NotFound") => Ok(None),
            found => found,
        }
    }

    /// Snapshots database `db` as `identifier`.
    pub async fn snapshot_database(
        &self,
        db: &str,
        identifier: &str,
        tags: &BackupTags,
    ) -> Result<Snapshot, AwsError> {
        let request = self.rds.create_db_snapshot().db_instance_identifier(db);
        let request = request.db_snapshot_identifier(identifier);
        let request = request.set_tags(Some(self.rds_tags(tags)));
        let made = send("CreateDBSnapshot", || request.clone().send()).await?;
        self.made_database("CreateDBSnapshot", made.db_snapshot())
    }

    /// Copies `source` (a snapshot in another region, named by its ARN)
    /// into this region under the same identifier, encrypted with
    /// `kms_key` of this region. (A pre-signed URL is needed only between
    /// GovCloud regions.)
    pub async fn copy_database_snapshot(
        &self,
        source: &Snapshot,
        kms_key: &str,
        tags: &BackupTags,
    ) -> Result<Snapshot, AwsError> {
        let arn = source.arn.as_deref().unwrap_or(&source.id);
        let copy = self
            .rds
            .copy_db_snapshot()
            .source_db_snapshot_identifier(arn);
        let copy = copy
            .target_db_snapshot_identifier(&source.id)
            .kms_key_id(kms_key);
        let copy = copy.set_tags(Some(self.rds_tags(tags)));
        let made = send("CopyDBSnapshot", || copy.clone().send()).await?;
        self.made_database("CopyDBSnapshot", made.db_snapshot())
    }

    /// The database snapshot call `call` answered it made.
    fn made_database(
        &self,
        call: &str,
        made: Option<&aws_sdk_rds::types::DbSnapshot>,
    ) -> Result<Snapshot, AwsError> {
        made.and_then(|s| self.snapshot(s.into()))
            .ok_or_else(|| AwsError::other(call, "AWS answered no snapshot"))
    }

    /// Snapshots volume `volume`.
    pub async fn snapshot_volume(
        &self,
        volume: &str,
        tags: &BackupTags,
    ) -> Result<Snapshot, AwsError> {
        let description = format!("aerie backup {} of {volume}", tags.run);
        let request = self.ec2.create_snapshot().volume_id(volume);
        let request = request.description(description);
        let made = request.tag_specifications(self.ec2_tags(tags));
        let made = send("CreateSnapshot", || made.clone().send()).await?;
        Ok(Snapshot {
            kind: SnapshotKind::Volume,
            id: made_id("CreateSnapshot", made.snapshot_id())?,
            arn: None,
            region: self.region.clone(),
            run: tags.run.clone(),
            of: volume.to_owned(),
            role: tags.role.clone(),
            taken: tags.taken,
            size_gb: made.volume_size().map_or(0, i64::from),
            state: made.state().map_or("pending", |s| s.as_str()).to_owned(),
            copy_of: None,
        })
    }

    /// Copies volume snapshot `source` (in another region) into this one.
    pub async fn copy_volume_snapshot(
        &self,
        source: &Snapshot,
        tags: &BackupTags,
    ) -> Result<Snapshot, AwsError> {
        let from = self.ec2.copy_snapshot().source_region(&source.region);
        let from = from.source_snapshot_id(&source.id);
        let description = format!("aerie backup {} of {}", tags.run, tags.of);
        let copy = from
            .description(description)
            .tag_specifications(self.ec2_tags(tags));
        let made = send("CopySnapshot", || copy.clone().send()).await?;
        Ok(Snapshot {
            id: made_id("CopySnapshot", made.snapshot_id())?,
            region: self.region.clone(),
            state: "pending".to_owned(),
            copy_of: Some(source.id.clone()),
            ..source.clone()
        })
    }

    /// Deletes a backup snapshot of this region (gone already is fine).
    pub async fn delete_snapshot(&self, snapshot: &Snapshot) -> Result<(), AwsError> {
        let (id, policy) = (&snapshot.id, Policy::standard());
        match snapshot.kind {
            SnapshotKind::Database => {
                let request = self.rds.delete_db_snapshot().db_snapshot_identifier(id);
                removed("DeleteDBSnapshot", policy, || request.clone().send()).await
            }
            SnapshotKind::Volume => {
                let request = self.ec2.delete_snapshot().snapshot_id(id);
                removed("DeleteSnapshot", policy, || request.clone().send()).await
            }
        }
    }

    fn rds_tags(&self, tags: &BackupTags) -> Vec<aws_sdk_rds::types::Tag> {
        tags.pairs(&self.environment)
            .into_iter()
            .map(|(key, value)| self.rds_tag(key, &value))
            .collect()
    }

    fn ec2_tags(&self, tags: &BackupTags) -> aws_sdk_ec2::types::TagSpecification {
        super::tags::tag_specification(
            aws_sdk_ec2::types::ResourceType::Snapshot,
            tags.pairs(&self.environment),
        )
    }
}

/// The id of the EBS snapshot call `call` answered it made.
fn made_id(call: &str, id: Option<&str>) -> Result<String, AwsError> {
    id.map(str::to_owned)
        .ok_or_else(|| AwsError::other(call, "AWS answered no snapshot id"))
}
