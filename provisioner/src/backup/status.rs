//! Where an environment's backups stand, as the dashboard's Backups page
//! shows it: the last good backup of each resource and its age against the
//! RPO target, its newest copy in the DR region, the runs in progress and
//! when the next run is due. Built from the catalog ([`super::catalog`])
//! and the schedule, so it reads AWS and never changes anything.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::catalog::{self, Row};
use super::{BackupError, Backups, schedule};
use crate::spec::backup::Backup;

/// The environment's backups at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub at: DateTime<Utc>,
    /// The RPO target, as written in the policy (`24h`).
    pub rpo: String,
    /// One entry per backed-up resource, in the catalog's order of kinds.
    pub resources: Vec<Resource>,
    /// Runs begun and not finished (the next tick finishes them).
    pub open_runs: Vec<String>,
    /// The next daily slot; a run is due now when it is `due`.
    pub next_run: DateTime<Utc>,
    pub due: bool,
    /// Whether copies go to a DR region, and which.
    pub dr_region: Option<String>,
}

/// One resource and its newest good backups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    /// `rds-snapshot`, `ebs-snapshot`, `artifacts`, `logs`.
    pub what: String,
    pub of: String,
    /// Its newest good backup in the primary region.
    pub last_good: Option<Kept>,
    /// Hours since `last_good` was taken.
    pub age_hours: Option<i64>,
    /// A good backup younger than the RPO target exists.
    pub within_rpo: bool,
    /// Its newest good copy in the DR region.
    pub dr_copy: Option<Kept>,
}

/// One backup kept somewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub run: String,
    pub time: DateTime<Utc>,
    pub id: String,
    pub region: String,
    /// `RDS`, `EBS`, `S3`, `Glacier`.
    pub location: String,
}

/// Reads the catalog and the schedule of `backups` now.
pub async fn read(backups: &Backups) -> Result<Status, BackupError> {
    let ((rows, open), newest) =
        futures_util::try_join!(catalog::list_open(backups), backups.newest_finished())?;
    let now = backups.clock.now();
    // As `schedule::due` decides, from the listings already read.
    let due = !open.is_empty() || schedule::missed_slot(&backups.policy, now, newest.as_deref());
    let open: Vec<String> = open.into_iter().collect();
    Ok(summarize(
        &rows,
        &backups.policy,
        now,
        open,
        due,
        backups.dr.as_ref().map(|dr| dr.region.clone()),
    ))
}

/// The status that `rows` (the catalog) give at `now`.
pub fn summarize(
    rows: &[Row],
    policy: &Backup,
    now: DateTime<Utc>,
    open_runs: Vec<String>,
    due: bool,
    dr_region: Option<String>,
) -> Status {
    let rpo = Duration::from_std(policy.rpo).unwrap_or(Duration::MAX);
    let mut resources: BTreeMap<(String, String), Resource> = BTreeMap::new();
    for row in rows.iter().filter(|r| r.state == "good") {
        let entry = resources
            .entry((row.what.clone(), resource_of(row)))
            .or_insert_with(|| Resource {
                what: row.what.clone(),
                of: resource_of(row),
                last_good: None,
                age_hours: None,
                within_rpo: false,
                dr_copy: None,
            });
        let slot = if row.dr_copy {
            &mut entry.dr_copy
        } else {
            &mut entry.last_good
        };
        if slot.as_ref().is_none_or(|kept| kept.time < row.time) {
            *slot = Some(Kept {
                run: row.run.clone(),
                time: row.time,
                id: row.id.clone(),
                region: row.region.clone(),
                location: row.location.clone(),
            });
        }
    }
    for resource in resources.values_mut() {
        if let Some(kept) = &resource.last_good {
            let age = now - kept.time;
            resource.age_hours = Some(age.num_hours());
            resource.within_rpo = age <= rpo;
        }
    }
    let slot = schedule::latest_slot(policy, now);
    Status {
        at: now,
        rpo: hours(policy.rpo),
        resources: resources.into_values().collect(),
        open_runs,
        next_run: if due { now } else { slot + Duration::days(1) },
        due,
        dr_region,
    }
}

/// A target for people: `24 h`, or as humantime writes it.
fn hours(duration: std::time::Duration) -> String {
    let seconds = duration.as_secs();
    if seconds.is_multiple_of(3600) {
        format!("{} h", seconds / 3600)
    } else {
        humantime::format_duration(duration).to_string()
    }
}

/// The resource a row backs up: each day's logs archive is one more
/// backup of the environment's logs, not a resource of its own.
fn resource_of(row: &Row) -> String {
    if row.what == super::names::Archived::Logs.name() {
        "the environment's logs".to_owned()
    } else {
        row.of.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn row(what: &str, of: &str, time: &str, region: &str, state: &str) -> Row {
        Row {
            run: format!("run-{time}"),
            time: at(time),
            what: what.to_owned(),
            of: of.to_owned(),
            id: format!("{what}-{time}-{region}"),
            region: region.to_owned(),
            size_bytes: 1,
            location: "S3".to_owned(),
            dr_copy: region == "eu-central-1",
            state: state.to_owned(),
        }
    }

    #[test]
    fn each_resource_shows_its_newest_good_backup_and_dr_copy_and_whether_it_is_within_the_rpo() {
        let policy = Backup {
            daily_at: "02:00".to_owned(),
            rpo: std::time::Duration::from_secs(24 * 3600),
            ..Backup::default()
        };
        let rows = [
            row(
                "rds-snapshot",
                "db",
                "2026-12-01T02:00:00Z",
                "eu-west-1",
                "good",
            ),
            row(
                "rds-snapshot",
                "db",
                "2026-12-02T02:00:00Z",
                "eu-west-1",
                "failed",
            ),
            row(
                "rds-snapshot",
                "db",
                "2026-12-01T02:00:00Z",
                "eu-central-1",
                "good",
            ),
            row(
                "rds-snapshot",
                "db",
                "2026-11-30T02:00:00Z",
                "eu-west-1",
                "good",
            ),
            row(
                "ebs-snapshot",
                "vol-1 (gateway)",
                "2026-11-29T02:00:00Z",
                "eu-west-1",
                "good",
            ),
            row(
                "logs",
                "logs of 2026-11-30",
                "2026-12-01T02:00:00Z",
                "eu-west-1",
                "good",
            ),
            row(
                "logs",
                "logs of 2026-11-29",
                "2026-11-30T02:00:00Z",
                "eu-west-1",
                "good",
            ),
        ];
        let now = at("2026-12-02T01:00:00Z");
        let status = summarize(&rows, &policy, now, vec![], false, None);
        let by: BTreeMap<(&str, &str), &Resource> = status
            .resources
            .iter()
            .map(|r| ((r.what.as_str(), r.of.as_str()), r))
            .collect();
        assert_eq!(by.len(), 3, "{by:#?}");
        let db = by[&("rds-snapshot", "db")];
        assert_eq!(
            db.last_good.as_ref().unwrap().time,
            at("2026-12-01T02:00:00Z")
        );
        assert_eq!(db.age_hours, Some(23));
        assert!(db.within_rpo);
        assert_eq!(db.dr_copy.as_ref().unwrap().region, "eu-central-1");
        let volume = by[&("ebs-snapshot", "vol-1 (gateway)")];
        assert!(!volume.within_rpo, "three days old");
        assert!(volume.dr_copy.is_none());
        let logs = by[&("logs", "the environment's logs")];
        assert_eq!(
            logs.last_good.as_ref().unwrap().time,
            at("2026-12-01T02:00:00Z")
        );
        assert_eq!(status.next_run, at("2026-12-02T02:00:00Z"));
    }

    #[test]
    fn a_due_run_is_next_now() {
        let now = at("2026-12-02T05:00:00Z");
        let status = summarize(&[], &Backup::default(), now, vec!["r".into()], true, None);
        assert_eq!(status.next_run, now);
        assert!(status.resources.is_empty());
    }
}
