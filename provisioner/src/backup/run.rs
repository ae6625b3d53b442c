//! One backup run, what the daily schedule starts: the database and every
//! node volume snapshotted, the artifacts and the previous day's logs
//! archived, all of it copied to the DR region, a manifest in both.
//!
//! Every step first looks for its result (by tag, by key) and only makes
//! what is missing, and a run stays open (its marker object) until its
//! manifest is written: a run stopped at any moment (`kill -9`, a refused
//! call) is finished by the next one, under the same id, with nothing
//! made twice and no copy without its source.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration as Days, Utc};

use super::manifest::{Item, Manifest};
use super::monitor::Monitor;
use super::names::{self, Archived};
use super::{BackupError, Backups};
use crate::aws::Cloud;
use crate::aws::snapshots::{BackupTags, Snapshot, SnapshotKind};
use crate::progress::{Progress, Report};

/// The KMS key the database's DR copy is encrypted with: the DR region's
/// AWS-managed key for RDS.
pub const DR_KMS_KEY: &str = "alias/aws/rds";

/// The run being made: its id and start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub id: String,
    pub started: DateTime<Utc>,
    /// Finishing one an earlier invocation left open.
    pub resumed: bool,
}

/// An archive in the primary backup bucket.
#[derive(Debug, Clone)]
struct Stored {
    what: Archived,
    day: chrono::NaiveDate,
    key: String,
    size: u64,
    sha256: Option<String>,
}

/// Runs (or finishes) one backup; tells `monitor` how it went.
pub async fn run(
    backups: &Backups,
    monitor: Option<&dyn Monitor>,
    report: &dyn Report,
) -> Result<Manifest, BackupError> {
    let outcome = Box::pin(attempt(backups, monitor, report)).await;
    if let Some(monitor) = monitor {
        let now = backups.clock.now();
        let told = match &outcome {
            Ok(manifest) => monitor.succeeded(&manifest.run, manifest.finished).await,
            Err(error) => {
                let what = aerie_common::error_chain(error);
                monitor.failed(&what, now).await
            }
        };
        if let Err(error) = told {
            report.report(Progress::Done(format!(
                "! the monitor was not told: {}",
                aerie_common::error_chain(&error)
            )));
        }
    }
    report.report(Progress::End {
        ok: outcome.is_ok(),
    });
    outcome
}

async fn attempt(
    backups: &Backups,
    monitor: Option<&dyn Monitor>,
    report: &dyn Report,
) -> Result<Manifest, BackupError> {
    report.report(Progress::Working("backup buckets".to_owned()));
    let lifecycle = backups.lifecycle();
    for cloud in backups.regions() {
        let bucket = backups.bucket(cloud);
        cloud.secure_bucket(&bucket, "backups", &lifecycle).await?;
    }
    let run = open(backups).await?;
    report.report(Progress::Done(if run.resumed {
        format!("~ finishing run {} (interrupted)", run.id)
    } else {
        format!("+ run {}", run.id)
    }));
    let snapshots = snapshot(backups, &run, report).await?;
    let mut skipped = Vec::new();
    let archives = archive(backups, &run, monitor, &mut skipped, report).await?;
    let copies = match &backups.dr {
        Some(dr) => copy(backups, dr, &run, &snapshots, &archives, report).await?,
        None => Vec::new(),
    };
    let manifest = Manifest {
        run: run.id.clone(),
        environment: backups.environment.clone(),
        started: run.started,
        finished: backups.clock.now(),
        items: items(backups, &snapshots, &archives, &copies),
        skipped,
    };
    close(backups, &manifest).await?;
    report.report(Progress::Done(format!(
        "= run {}: {} items",
        run.id,
        manifest.items.len()
    )));
    Ok(manifest)
}

/// The run left open by an interrupted invocation (the oldest, if ever
/// more than one), else a new one, marked open before anything is made.
async fn open(backups: &Backups) -> Result<Run, BackupError> {
    let bucket = backups.bucket(&backups.primary);
    let resumable = backups
        .open_runs()
        .await?
        .into_iter()
        .find_map(|id| Some((names::run_time(&id)?, id)));
    if let Some((started, id)) = resumable {
        return Ok(Run {
            id,
            started,
            resumed: true,
        });
    }
    // A new run's id is later than every finished one's (two runs in one
    // second would otherwise share it).
    let newest = backups.newest_finished().await?;
    let mut started = backups.clock.now();
    while newest
        .as_ref()
        .is_some_and(|n| *n >= names::run_id(started))
    {
        backups.clock.sleep(std::time::Duration::from_secs(1)).await;
        started = backups.clock.now();
    }
    let id = names::run_id(started);
    let body = format!(
        "{{\"run\":\"{id}\",\"environment\":\"{}\"}}",
        backups.environment
    );
    let sha256 = crate::render::sha256_hex(body.as_bytes());
    backups
        .primary
        .put_object(&bucket, &names::marker_key(&id), body.into_bytes(), &sha256)
        .await?;
    Ok(Run {
        id,
        started: names::run_time(&names::run_id(started)).unwrap_or(started),
        resumed: false,
    })
}

/// The run's snapshots in the primary region: the database and every
/// node volume, made where missing, one of each, waited for.
async fn snapshot(
    backups: &Backups,
    run: &Run,
    report: &dyn Report,
) -> Result<Vec<Snapshot>, BackupError> {
    let cloud = &backups.primary;
    let existing = of_run(cloud, run).await?;
    let tags = |of: &str, role: &str| BackupTags {
        run: run.id.clone(),
        of: of.to_owned(),
        role: role.to_owned(),
        taken: run.started,
        copy_of: None,
    };
    let mut made = Vec::new();
    if let Some(db) = cloud.database().await? {
        report.report(Progress::Working(format!("snapshot of {db}")));
        match existing.get(&(SnapshotKind::Database, db.clone())) {
            Some(found) => made.push(found.clone()),
            None => {
                let id = names::database_snapshot(&backups.environment, &run.id);
                let snapshot = match cloud
                    .snapshot_database(&db, &id, &tags(&db, "database"))
                    .await
                {
                    Ok(snapshot) => snapshot,
                    // Made by an attempt whose answer was lost.
                    Err(error) if error.is("DBSnapshotAlreadyExists") => of_run(cloud, run)
                        .await?
                        .remove(&(SnapshotKind::Database, db.clone()))
                        .ok_or(error)?,
                    Err(error) => return Err(error.into()),
                };
                report.report(Progress::Done(format!("+ rds-snapshot {}", snapshot.id)));
                made.push(snapshot);
            }
        }
    }
    let volumes = cloud.node_volumes().await?;
    if made.is_empty() && volumes.is_empty() {
        return Err(BackupError::Nothing {
            environment: backups.environment.clone(),
            region: cloud.region.clone(),
        });
    }
    for volume in volumes {
        report.report(Progress::Working(format!("snapshot of {}", volume.id)));
        match existing.get(&(SnapshotKind::Volume, volume.id.clone())) {
            Some(found) => made.push(found.clone()),
            None => {
                let snapshot = cloud
                    .snapshot_volume(&volume.id, &tags(&volume.id, &volume.role))
                    .await?;
                report.report(Progress::Done(format!(
                    "+ ebs-snapshot {} of {} ({})",
                    snapshot.id, volume.id, volume.role
                )));
                made.push(snapshot);
            }
        }
    }
    settle(backups, cloud, made).await
}

/// The run's snapshots in `cloud`'s region by (kind, what of); of two
/// of one thing (a create retried after its answer was lost), the
/// second is removed.
async fn of_run(
    cloud: &Cloud,
    run: &Run,
) -> Result<BTreeMap<(SnapshotKind, String), Snapshot>, BackupError> {
    let mut all: Vec<Snapshot> = cloud
        .backup_snapshots()
        .await?
        .into_iter()
        .filter(|s| s.run == run.id)
        .collect();
    all.sort_by(|a, b| (a.failed(), &a.id).cmp(&(b.failed(), &b.id)));
    let mut out = BTreeMap::new();
    let mut twice = Vec::new();
    for snapshot in all {
        match out.entry((snapshot.kind, snapshot.of.clone())) {
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(snapshot);
            }
            std::collections::btree_map::Entry::Occupied(_) => twice.push(snapshot),
        }
    }
    for snapshot in &twice {
        cloud.delete_snapshot(snapshot).await?;
    }
    Ok(out)
}

/// Waits until every snapshot is good; a failed one fails the run.
async fn settle(
    backups: &Backups,
    cloud: &Cloud,
    snapshots: Vec<Snapshot>,
) -> Result<Vec<Snapshot>, BackupError> {
    let patience = backups.snapshots;
    let start = backups.clock.now();
    let mut settled = Vec::with_capacity(snapshots.len());
    for mut snapshot in snapshots {
        // What a create answered may already be stale: ask once before
        // waiting.
        let mut asked = false;
        loop {
            let what = format!("{} {} of {}", snapshot.kind, snapshot.id, snapshot.of);
            if snapshot.good() {
                break;
            }
            if snapshot.failed() {
                return Err(BackupError::Failed {
                    what,
                    region: cloud.region.clone(),
                    state: snapshot.state,
                });
            }
            let waited = (backups.clock.now() - start).to_std().unwrap_or_default();
            if waited >= patience.timeout {
                return Err(BackupError::Timeout {
                    what,
                    region: cloud.region.clone(),
                    state: snapshot.state,
                    waited,
                });
            }
            if asked {
                backups.clock.sleep(patience.every).await;
            }
            asked = true;
            snapshot = cloud
                .snapshot_now(&snapshot)
                .await?
                .ok_or(BackupError::Vanished {
                    what,
                    region: cloud.region.clone(),
                })?;
        }
        settled.push(snapshot);
    }
    Ok(settled)
}

/// The run's archives in the primary bucket: the artifacts as they are
/// now (filed under the run's day), and the previous day's logs.
async fn archive(
    backups: &Backups,
    run: &Run,
    monitor: Option<&dyn Monitor>,
    skipped: &mut Vec<String>,
    report: &dyn Report,
) -> Result<Vec<Stored>, BackupError> {
    let cloud = &backups.primary;
    let bucket = backups.bucket(cloud);
    let today = run.started.date_naive();
    let yesterday = today - Days::days(1);
    let mut out = Vec::new();
    for (what, day) in [(Archived::Artifacts, today), (Archived::Logs, yesterday)] {
        let key = names::archive_key(day, what, &run.id);
        report.report(Progress::Working(format!("archive {key}")));
        if let Some(found) = cloud.head_object(&bucket, &key).await? {
            out.push(Stored {
                what,
                day,
                key,
                size: u64::try_from(found.size).unwrap_or(0),
                sha256: found.sha256,
            });
            continue;
        }
        let spool = tempfile::tempdir().map_err(|source| BackupError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
        let file = match what {
            Archived::Artifacts => artifacts(backups, spool.path()).await?,
            Archived::Logs => match monitor {
                Some(monitor) => {
                    let path = spool.path().join("logs.ndjson.gz");
                    match monitor.export_logs(day, &path).await? {
                        true => Some(spooled(path)?),
                        false => None,
                    }
                }
                None => None,
            },
        };
        let Some(Spooled { path, sha256, size }) = file else {
            skipped.push(match what {
                Archived::Artifacts => format!(
                    "artifacts: the environment has no artifacts bucket ({})",
                    backups.artifacts_bucket
                ),
                Archived::Logs => format!(
                    "logs of {day}: no monitor to export them from (the monitor's URL and an operator's API token in AERIE_MONITOR_TOKEN)"
                ),
            });
            continue;
        };
        cloud.put_file(&bucket, &key, &path, &sha256).await?;
        report.report(Progress::Done(format!(
            "+ {} {key} ({size} bytes)",
            what.name()
        )));
        out.push(Stored {
            what,
            day,
            key,
            size,
            sha256: Some(sha256),
        });
    }
    Ok(out)
}

/// An archive waiting on disk to be uploaded.
struct Spooled {
    path: std::path::PathBuf,
    sha256: String,
    size: u64,
}

/// The file at `path`, measured to be uploaded like the archives made
/// beside it.
fn spooled(path: std::path::PathBuf) -> Result<Spooled, BackupError> {
    let (sha256, size) = crate::render::sha256_file(&path).map_err(|source| BackupError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(Spooled { path, sha256, size })
}

/// Every current object of the artifacts bucket as one `.tar.gz` in
/// `dir`, or `None` when the environment has no artifacts bucket. Objects
/// stream to disk and into the archive one at a time: a product
/// distribution of hundreds of megabytes never sits in memory.
async fn artifacts(
    backups: &Backups,
    dir: &std::path::Path,
) -> Result<Option<Spooled>, BackupError> {
    let cloud = &backups.primary;
    let bucket = &backups.artifacts_bucket;
    if !cloud.bucket_exists(bucket).await? {
        return Ok(None);
    }
    let mut files = Vec::new();
    for (n, object) in cloud
        .list_objects(bucket, "")
        .await?
        .into_iter()
        .enumerate()
    {
        let path = dir.join(format!("object-{n}"));
        cloud.download(bucket, &object.key, &path).await?;
        files.push((object.key, path));
    }
    let path = dir.join("artifacts.tar.gz");
    let packed = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || crate::render::pack_files(&files, &path))
            .await
            .expect("packing does not panic")
    };
    let (sha256, size) = packed.map_err(|source| BackupError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(Some(Spooled { path, sha256, size }))
}

/// Copies the run's snapshots and archives to the DR region: each only
/// after its source exists, only when no copy of it does.
async fn copy(
    backups: &Backups,
    dr: &Cloud,
    run: &Run,
    snapshots: &[Snapshot],
    archives: &[Stored],
    report: &dyn Report,
) -> Result<Vec<Snapshot>, BackupError> {
    let existing = of_run(dr, run).await?;
    let mut copies = Vec::new();
    for source in snapshots {
        report.report(Progress::Working(format!("DR copy of {}", source.id)));
        if let Some(found) = existing.get(&(source.kind, source.of.clone())) {
            copies.push(found.clone());
            continue;
        }
        let tags = BackupTags {
            run: run.id.clone(),
            of: source.of.clone(),
            role: source.role.clone(),
            taken: source.taken,
            copy_of: Some(source.id.clone()),
        };
        let copy = match source.kind {
            SnapshotKind::Database => {
                match dr.copy_database_snapshot(source, DR_KMS_KEY, &tags).await {
                    Ok(copy) => copy,
                    Err(error) if error.is("DBSnapshotAlreadyExists") => of_run(dr, run)
                        .await?
                        .remove(&(source.kind, source.of.clone()))
                        .ok_or(error)?,
                    Err(error) => return Err(error.into()),
                }
            }
            SnapshotKind::Volume => dr.copy_volume_snapshot(source, &tags).await?,
        };
        report.report(Progress::Done(format!(
            "+ {} {} in {} (copy of {})",
            copy.kind, copy.id, dr.region, source.id
        )));
        copies.push(copy);
    }
    let copies = settle(backups, dr, copies).await?;
    let (from, to) = (backups.bucket(&backups.primary), backups.bucket(dr));
    for archive in archives {
        if dr.head_object(&to, &archive.key).await?.is_none() {
            dr.copy_object(&from, &to, &archive.key).await?;
            report.report(Progress::Done(format!(
                "+ {} {} in {}",
                archive.what.name(),
                archive.key,
                dr.region
            )));
        }
    }
    Ok(copies)
}

/// What the manifest lists.
fn items(
    backups: &Backups,
    snapshots: &[Snapshot],
    archives: &[Stored],
    copies: &[Snapshot],
) -> Vec<Item> {
    let snapshot = |s: &Snapshot, dr_copy: bool| Item {
        what: s.kind.to_string(),
        of: s.of.clone(),
        id: s.id.clone(),
        region: s.region.clone(),
        size_bytes: u64::try_from(s.size_gb).unwrap_or(0) << 30,
        sha256: None,
        dr_copy,
    };
    let archive = |a: &Stored, region: &str, dr_copy: bool| Item {
        what: a.what.name().to_owned(),
        of: match a.what {
            Archived::Artifacts => backups.artifacts_bucket.clone(),
            Archived::Logs => format!("{} logs of {}", backups.environment, a.day),
        },
        id: a.key.clone(),
        region: region.to_owned(),
        size_bytes: a.size,
        sha256: a.sha256.clone(),
        dr_copy,
    };
    let mut items: Vec<Item> = snapshots.iter().map(|s| snapshot(s, false)).collect();
    items.extend(
        archives
            .iter()
            .map(|a| archive(a, &backups.primary.region, false)),
    );
    items.extend(copies.iter().map(|s| snapshot(s, true)));
    if let Some(dr) = &backups.dr {
        items.extend(archives.iter().map(|a| archive(a, &dr.region, true)));
    }
    items
}

/// Writes the manifest to every region's bucket, then closes the run.
async fn close(backups: &Backups, manifest: &Manifest) -> Result<(), BackupError> {
    let body = serde_json::to_vec_pretty(manifest).expect("a manifest serializes");
    let sha256 = crate::render::sha256_hex(&body);
    let key = names::manifest_key(&manifest.run);
    for cloud in backups.regions() {
        cloud
            .put_object(&backups.bucket(cloud), &key, body.clone(), &sha256)
            .await?;
    }
    let bucket = backups.bucket(&backups.primary);
    backups
        .primary
        .delete_object(&bucket, &names::marker_key(&manifest.run))
        .await?;
    Ok(())
}
