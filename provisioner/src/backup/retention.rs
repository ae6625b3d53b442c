//! The retention policy as a pure decision: given every backup snapshot
//! of both regions, which to keep and which to remove. A snapshot older
//! than its region's limit (`keep_days` in the primary, `dr_keep_days` in
//! the DR region, counted from its run's start) goes, except the newest
//! good one of each thing in each region, and anything of a run still in
//! progress. Archives are not decided here: the bucket's lifecycle moves
//! and expires them.
//!
//! No AWS call and no clock: `prune` gathers, this decides.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

use crate::aws::snapshots::{Snapshot, SnapshotKind};
use crate::spec::backup::Backup;

/// What becomes of one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The newest good backup of its resource in its region.
    KeepNewest,
    /// Younger than its region's limit.
    KeepYoung,
    /// Its run is still in progress.
    KeepInProgress,
    Remove,
}

/// Decides every snapshot; `now` is the time prune runs.
pub fn decide<'a>(
    snapshots: &'a [Snapshot],
    policy: &Backup,
    primary_region: &str,
    open_runs: &BTreeSet<String>,
    now: DateTime<Utc>,
) -> Vec<(&'a Snapshot, Decision)> {
    let mut newest: BTreeMap<(&str, SnapshotKind, &str), &Snapshot> = BTreeMap::new();
    for snapshot in snapshots.iter().filter(|s| s.good()) {
        let key = (
            snapshot.region.as_str(),
            snapshot.kind,
            snapshot.of.as_str(),
        );
        let entry = newest.entry(key).or_insert(snapshot);
        if (snapshot.taken, &snapshot.id) > (entry.taken, &entry.id) {
            *entry = snapshot;
        }
    }
    snapshots
        .iter()
        .map(|snapshot| {
            let key = (
                snapshot.region.as_str(),
                snapshot.kind,
                snapshot.of.as_str(),
            );
            let days = if snapshot.region == primary_region {
                policy.keep_days
            } else {
                policy.dr_keep_days
            };
            let decision = if newest.get(&key).is_some_and(|n| n.id == snapshot.id) {
                Decision::KeepNewest
            } else if open_runs.contains(&snapshot.run) {
                Decision::KeepInProgress
            } else if now - snapshot.taken < Duration::days(i64::from(days)) {
                Decision::KeepYoung
            } else {
                Decision::Remove
            };
            (snapshot, decision)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "2026-12-02T03:00:00Z";

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn snapshot(region: &str, of: &str, days_old: i64, state: &str) -> Snapshot {
        let taken = at(NOW) - Duration::days(days_old);
        Snapshot {
            kind: SnapshotKind::Volume,
            id: format!("snap-{region}-{of}-{days_old}"),
            arn: None,
            region: region.to_owned(),
            run: crate::backup::names::run_id(taken),
            of: of.to_owned(),
            role: "gateway-1".to_owned(),
            taken,
            size_gb: 40,
            state: state.to_owned(),
            copy_of: None,
        }
    }

    fn removed(snapshots: &[Snapshot], open: &BTreeSet<String>) -> Vec<String> {
        decide(snapshots, &Backup::default(), "eu-west-1", open, at(NOW))
            .into_iter()
            .filter(|(_, d)| *d == Decision::Remove)
            .map(|(s, _)| s.id.clone())
            .collect()
    }

    #[test]
    fn snapshots_past_their_regions_limit_go_and_younger_ones_stay() {
        // Defaults: 7 days in the primary region, 14 in the DR region.
        let snapshots: Vec<Snapshot> = [1, 6, 7, 8, 13, 14, 20]
            .into_iter()
            .flat_map(|days| {
                [
                    snapshot("eu-west-1", "vol-1", days, "completed"),
                    snapshot("eu-central-1", "vol-1", days, "completed"),
                ]
            })
            .collect();
        assert_eq!(
            removed(&snapshots, &BTreeSet::new()),
            [
                "snap-eu-west-1-vol-1-7",
                "snap-eu-west-1-vol-1-8",
                "snap-eu-west-1-vol-1-13",
                "snap-eu-west-1-vol-1-14",
                "snap-eu-central-1-vol-1-14",
                "snap-eu-west-1-vol-1-20",
                "snap-eu-central-1-vol-1-20",
            ]
        );
    }

    #[test]
    fn the_newest_good_backup_of_each_thing_stays_however_old() {
        let snapshots = vec![
            snapshot("eu-west-1", "vol-1", 30, "completed"),
            snapshot("eu-west-1", "vol-1", 40, "completed"),
            // A newer one that failed does not count as the newest good.
            snapshot("eu-west-1", "vol-1", 20, "error"),
            snapshot("eu-west-1", "vol-2", 50, "completed"),
            snapshot("eu-central-1", "vol-1", 60, "completed"),
        ];
        assert_eq!(
            removed(&snapshots, &BTreeSet::new()),
            ["snap-eu-west-1-vol-1-40", "snap-eu-west-1-vol-1-20"]
        );
    }

    #[test]
    fn nothing_of_a_run_in_progress_is_removed() {
        let snapshots = vec![
            snapshot("eu-west-1", "vol-1", 1, "completed"),
            snapshot("eu-west-1", "vol-1", 30, "pending"),
            snapshot("eu-west-1", "vol-1", 31, "completed"),
        ];
        let open = BTreeSet::from([snapshots[1].run.clone()]);
        assert_eq!(removed(&snapshots, &open), ["snap-eu-west-1-vol-1-31"]);
    }
}
