//! `aerie backup prune`: the retention applied in both regions. It reads
//! every backup snapshot and the runs in progress, lets `retention`
//! decide, and removes what it says, nothing else. Archives and
//! manifests are left to the bucket's lifecycle.

use super::retention::{self, Decision};
use super::{BackupError, Backups};
use crate::aws::snapshots::Snapshot;
use crate::progress::{Progress, Report};

/// What prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    pub removed: Vec<Snapshot>,
    pub kept: usize,
}

/// Removes every snapshot the policy no longer keeps.
pub async fn prune(backups: &Backups, report: &dyn Report) -> Result<Pruned, BackupError> {
    let mut snapshots = Vec::new();
    for cloud in backups.regions() {
        report.report(Progress::Working(format!("snapshots in {}", cloud.region)));
        snapshots.extend(cloud.backup_snapshots().await?);
    }
    let open = backups.open_runs().await?;
    let decided = retention::decide(
        &snapshots,
        &backups.policy,
        &backups.primary.region,
        &open,
        backups.clock.now(),
    );
    let mut pruned = Pruned::default();
    for (snapshot, decision) in decided {
        if decision != Decision::Remove {
            pruned.kept += 1;
            continue;
        }
        let cloud = backups
            .regions()
            .find(|c| c.region == snapshot.region)
            .expect("every snapshot was read from one of the regions");
        cloud.delete_snapshot(snapshot).await?;
        report.report(Progress::Done(format!(
            "- {} {} of {} in {} (run {})",
            snapshot.kind, snapshot.id, snapshot.of, snapshot.region, snapshot.run
        )));
        pruned.removed.push(snapshot.clone());
    }
    report.report(Progress::End { ok: true });
    Ok(pruned)
}
