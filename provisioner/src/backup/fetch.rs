//! `aerie backup fetch`: one day's archive (logs or artifacts) brought back
//! for the customer. The newest archive of that day is read from the
//! primary region's backup bucket (the DR region's when the primary has
//! none); one that has moved to Glacier is restored first, with the wait
//! reported as it goes; the bytes stream to disk and are checked against
//! the SHA-256 the run recorded before the file takes its name.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::names::{self, Archived};
use super::{BackupError, Backups};
use crate::aws::Cloud;
use crate::aws::objects::Restore;
use crate::progress::{Progress, Report};

/// How many days a restored copy stays readable.
const RESTORED_DAYS: i32 = 7;

/// Fetches `what` of `day` into folder `out`; answers the file written.
pub async fn fetch(
    backups: &Backups,
    day: NaiveDate,
    what: Archived,
    out: &Path,
    report: &dyn Report,
) -> Result<PathBuf, BackupError> {
    let (cloud, bucket, key) = locate(backups, day, what).await?;
    let restored = restore(backups, cloud, &bucket, &key, report).await?;
    report.report(Progress::Working(format!("downloading {key}")));
    let name = key.rsplit('/').next().unwrap_or(&key);
    let path = out.join(format!("{day}-{name}"));
    // Streamed to a file beside the final one, checked, then renamed: a
    // wrong or partial download never takes the final name.
    let partial = out.join(format!(".{day}-{name}.partial"));
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let size = cloud.download(&bucket, &key, &partial).await?;
    let (got, _) = crate::render::sha256_file(&partial).map_err(io(&partial))?;
    if let Some(want) = restored.sha256
        && want != got
    {
        let _ = std::fs::remove_file(&partial);
        return Err(BackupError::Checksum {
            bucket,
            key,
            want,
            got,
        });
    }
    std::fs::rename(&partial, &path).map_err(io(&path))?;
    report.report(Progress::Done(format!(
        "= {} ({size} bytes, sha256 {got}, from {bucket} in {})",
        path.display(),
        cloud.region
    )));
    report.report(Progress::End { ok: true });
    Ok(path)
}

/// The region, bucket and key of the newest archive of `what` for `day`.
async fn locate(
    backups: &Backups,
    day: NaiveDate,
    what: Archived,
) -> Result<(&Cloud, String, String), BackupError> {
    let prefix = names::archive_prefix(day, what);
    for cloud in backups.regions() {
        let bucket = backups.bucket(cloud);
        let newest = cloud
            .list_objects(&bucket, &prefix)
            .await?
            .into_iter()
            .filter(|o| names::parse_archive_key(&o.key).is_some())
            .map(|o| o.key)
            .max();
        if let Some(key) = newest {
            return Ok((cloud, bucket, key));
        }
    }
    Err(BackupError::NoArchive {
        what: what.name().to_owned(),
        day,
        bucket: backups.bucket(&backups.primary),
    })
}

/// The object described once it can be read: restored from Glacier first
/// when it has moved there.
async fn restore(
    backups: &Backups,
    cloud: &Cloud,
    bucket: &str,
    key: &str,
    report: &dyn Report,
) -> Result<crate::aws::objects::Stored, BackupError> {
    let patience = backups.restores;
    let start = backups.clock.now();
    let mut asked = false;
    loop {
        let stored =
            cloud
                .head_object(bucket, key)
                .await?
                .ok_or_else(|| BackupError::Vanished {
                    what: format!("{bucket}/{key}"),
                    region: cloud.region.clone(),
                })?;
        if !stored.archived() || stored.restore == Some(Restore::Done) {
            return Ok(stored);
        }
        if stored.restore.is_none() && !asked {
            cloud.restore_object(bucket, key, RESTORED_DAYS).await?;
            report.report(Progress::Done(format!(
                "~ {key} is in {}: restore asked for (hours with AWS)",
                stored.storage_class
            )));
            asked = true;
        }
        let waited = (backups.clock.now() - start).to_std().unwrap_or_default();
        if waited >= patience.timeout {
            return Err(BackupError::Timeout {
                what: format!("the restore of {bucket}/{key}"),
                region: cloud.region.clone(),
                state: "in progress".to_owned(),
                waited,
            });
        }
        report.report(Progress::Working(format!(
            "waiting for the restore of {key} ({} so far)",
            humantime::format_duration(std::time::Duration::from_secs(waited.as_secs()))
        )));
        backups.clock.sleep(patience.every).await;
    }
}
