//! Where the backups live and what they are called: the backup bucket of
//! each region, the keys of archives, manifests and run markers, run ids
//! and RDS snapshot identifiers. One home, so `run`, `list`, `prune` and
//! `fetch` agree; nothing here calls AWS.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// Archives: `archives/<day>/<what>-<run>.<ext>`.
pub const ARCHIVES: &str = "archives/";
/// Manifests: `runs/<run>.json`.
pub const RUNS: &str = "runs/";
/// A run in progress: `in-progress/<run>` (removed when it completes).
pub const IN_PROGRESS: &str = "in-progress/";

const RUN_FORMAT: &str = "%Y%m%d-%H%M%S";

/// The backup bucket of `environment` in `region`.
pub fn bucket(environment: &str, region: &str) -> String {
    format!("aerie-{environment}-{region}-backups")
}

/// A run's id: its start, UTC, to the second (`20261202-020000`); ids
/// sort as their times do.
pub fn run_id(at: DateTime<Utc>) -> String {
    at.format(RUN_FORMAT).to_string()
}

/// The time a run id names.
pub fn run_time(id: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(id, RUN_FORMAT)
        .ok()
        .map(|t| t.and_utc())
}

/// The RDS snapshot of run `run` (and its DR copy: the same identifier).
pub fn database_snapshot(environment: &str, run: &str) -> String {
    format!("aerie-{environment}-{run}")
}

/// What an archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Archived {
    /// The artifacts bucket: configuration bundles and distributions.
    Artifacts,
    /// One day's log events of the environment, NDJSON in ECS names.
    Logs,
}

impl Archived {
    pub fn name(self) -> &'static str {
        match self {
            Self::Artifacts => "artifacts",
            Self::Logs => "logs",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Artifacts => "tar.gz",
            Self::Logs => "ndjson.gz",
        }
    }
}

/// The key of run `run`'s archive of `what` for `day`.
pub fn archive_key(day: NaiveDate, what: Archived, run: &str) -> String {
    format!("{ARCHIVES}{day}/{}-{run}.{}", what.name(), what.extension())
}

/// The prefix of every archive of `what` for `day`.
pub fn archive_prefix(day: NaiveDate, what: Archived) -> String {
    format!("{ARCHIVES}{day}/{}-", what.name())
}

/// An archive key read back: (day, what, run).
pub fn parse_archive_key(key: &str) -> Option<(NaiveDate, Archived, String)> {
    let rest = key.strip_prefix(ARCHIVES)?;
    let (day, file) = rest.split_once('/')?;
    let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
    [Archived::Artifacts, Archived::Logs]
        .into_iter()
        .find_map(|what| {
            let run = file
                .strip_prefix(what.name())?
                .strip_prefix('-')?
                .strip_suffix(what.extension())?
                .strip_suffix('.')?;
            run_time(run).map(|_| (day, what, run.to_owned()))
        })
}

/// The key of run `run`'s manifest.
pub fn manifest_key(run: &str) -> String {
    format!("{RUNS}{run}.json")
}

/// The key of run `run`'s in-progress marker.
pub fn marker_key(run: &str) -> String {
    format!("{IN_PROGRESS}{run}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_names_its_time_and_reads_back() {
        let at = DateTime::parse_from_rfc3339("2026-12-02T02:00:07Z")
            .unwrap()
            .to_utc();
        assert_eq!(run_id(at), "20261202-020007");
        assert_eq!(run_time(&run_id(at)), Some(at));
        assert_eq!(run_time("yesterday"), None);
    }

    #[test]
    fn an_archive_key_reads_back_to_its_day_kind_and_run() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        for what in [Archived::Artifacts, Archived::Logs] {
            let key = archive_key(day, what, "20261201-020000");
            assert!(key.starts_with(&archive_prefix(day, what)), "{key}");
            assert_eq!(
                parse_archive_key(&key),
                Some((day, what, "20261201-020000".to_owned()))
            );
        }
        assert_eq!(parse_archive_key("archives/2026-11-30/other.txt"), None);
        assert_eq!(parse_archive_key("runs/20261201-020000.json"), None);
    }
}
