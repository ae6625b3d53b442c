//! `aerie backup list`: every backup of the environment, read from AWS in
//! both regions (snapshots by tag, archives by key with their storage
//! class, open runs by marker), so it works from any machine. It reads and
//! never changes anything.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::names;
use super::{BackupError, Backups};

/// One backup in one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub run: String,
    pub time: DateTime<Utc>,
    /// `rds-snapshot`, `ebs-snapshot`, `artifacts`, `logs`.
    pub what: String,
    /// The database, the volume (and its node), the bucket or the day.
    pub of: String,
    /// The snapshot id or the object key.
    pub id: String,
    pub region: String,
    pub size_bytes: u64,
    /// `RDS`, `EBS`, `S3`, `Glacier`.
    pub location: String,
    pub dr_copy: bool,
    /// `good`, `pending`, `failed`, or `in progress` (its run is open).
    pub state: String,
}

/// Every backup, newest run first.
pub async fn list(backups: &Backups) -> Result<Vec<Row>, BackupError> {
    Ok(list_open(backups).await?.0)
}

/// Every backup, newest run first, and the ids of the runs in progress.
pub async fn list_open(
    backups: &Backups,
) -> Result<(Vec<Row>, std::collections::BTreeSet<String>), BackupError> {
    let mut rows = Vec::new();
    // Every listing at once: both regions' snapshots and archives, and the
    // open runs.
    let listings = futures_util::future::try_join_all(backups.regions().map(|cloud| async move {
        let snapshots = cloud.backup_snapshots().await?;
        let objects = cloud
            .list_objects(&backups.bucket(cloud), names::ARCHIVES)
            .await?;
        Ok::<_, BackupError>((cloud, snapshots, objects))
    }));
    let (open, listings) = futures_util::try_join!(backups.open_runs(), listings)?;
    let state = |run: &str, own: String| {
        if open.contains(run) {
            "in progress".to_owned()
        } else {
            own
        }
    };
    for (cloud, snapshots, objects) in listings {
        let dr_copy = cloud.region != backups.primary.region;
        for s in snapshots {
            let own = if s.good() {
                "good"
            } else if s.failed() {
                "failed"
            } else {
                "pending"
            };
            rows.push(Row {
                state: state(&s.run, own.to_owned()),
                time: s.taken,
                what: s.kind.to_string(),
                of: if s.role == "database" {
                    s.of.clone()
                } else {
                    format!("{} ({})", s.of, s.role)
                },
                id: s.id,
                region: s.region,
                size_bytes: u64::try_from(s.size_gb).unwrap_or(0) << 30,
                location: match s.kind {
                    crate::aws::snapshots::SnapshotKind::Database => "RDS",
                    crate::aws::snapshots::SnapshotKind::Volume => "EBS",
                }
                .to_owned(),
                dr_copy,
                run: s.run,
            });
        }
        for object in objects {
            let Some((day, what, run)) = names::parse_archive_key(&object.key) else {
                continue;
            };
            rows.push(Row {
                time: names::run_time(&run).unwrap_or_default(),
                what: what.name().to_owned(),
                of: match what {
                    names::Archived::Artifacts => backups.artifacts_bucket.clone(),
                    names::Archived::Logs => format!("logs of {day}"),
                },
                region: cloud.region.clone(),
                size_bytes: u64::try_from(object.size).unwrap_or(0),
                location: if object.archived() { "Glacier" } else { "S3" }.to_owned(),
                dr_copy,
                state: state(&run, "good".to_owned()),
                id: object.key,
                run,
            });
        }
    }
    rows.sort_by(|a, b| {
        (&b.run, a.dr_copy, &a.what, &a.of).cmp(&(&a.run, b.dr_copy, &b.what, &b.of))
    });
    Ok((rows, open))
}

/// The rows as a table for people.
pub fn render(rows: &[Row]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let header = [
        "RUN", "TIME", "WHAT", "OF", "REGION", "SIZE", "WHERE", "STATE", "ID",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.run.clone(),
                r.time.format("%Y-%m-%d %H:%M").to_string(),
                r.what.clone(),
                r.of.clone(),
                r.region.clone(),
                size(r.size_bytes),
                if r.dr_copy {
                    format!("{} (DR copy)", r.location)
                } else {
                    r.location.clone()
                },
                r.state.clone(),
                r.id.clone(),
            ]
        })
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            cells
                .iter()
                .map(|c| c[i].len())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut String, values: &[&str]| {
        let padded: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&mut out, &header);
    for row in &cells {
        line(
            &mut out,
            &row.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    out
}

/// A size for people: bytes, KiB, MiB or GiB.
fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{} GiB", b >> 30),
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}
