//! `[backup]`: the environment's backup policy (seed 004: daily backups of
//! the databases, volumes, artifacts and logs, copied to the DR site, kept
//! three months). Every field has a default, so an environment without
//! the section is backed up by the defaults; a bad value is refused with
//! the field and the fix, before any AWS call.

use std::time::Duration;

use serde::Deserialize;

use aerie_common::toml_file::FieldError;

/// The backup policy.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// When the daily run starts, UTC, `HH:MM`.
    #[serde(default = "default_daily_at")]
    pub daily_at: String,
    /// How many days snapshots are kept in the primary region.
    #[serde(default = "default_keep_days")]
    pub keep_days: u32,
    /// How many days their copies are kept in the DR region.
    #[serde(default = "default_dr_keep_days")]
    pub dr_keep_days: u32,
    /// When archives (artifacts, logs) move to Glacier.
    #[serde(default = "default_glacier_after_days")]
    pub glacier_after_days: u32,
    /// When archives expire.
    #[serde(default = "default_expire_after_days")]
    pub expire_after_days: u32,
    /// Whether everything is copied to the spec's `dr_region`.
    #[serde(default = "default_copy_to_dr")]
    pub copy_to_dr: bool,
    /// The recovery point objective the alerts and the dashboard measure
    /// the age of the last good backup against.
    #[serde(default = "default_rpo", with = "humantime_serde")]
    pub rpo: Duration,
    /// The recovery time objective DR drills are measured against.
    #[serde(default = "default_rto", with = "humantime_serde")]
    pub rto: Duration,
}

impl Default for Backup {
    fn default() -> Self {
        Self {
            daily_at: default_daily_at(),
            keep_days: default_keep_days(),
            dr_keep_days: default_dr_keep_days(),
            glacier_after_days: default_glacier_after_days(),
            expire_after_days: default_expire_after_days(),
            copy_to_dr: default_copy_to_dr(),
            rpo: default_rpo(),
            rto: default_rto(),
        }
    }
}

fn default_daily_at() -> String {
    "02:00".to_owned()
}

fn default_keep_days() -> u32 {
    7
}

fn default_dr_keep_days() -> u32 {
    14
}

fn default_glacier_after_days() -> u32 {
    30
}

fn default_expire_after_days() -> u32 {
    90
}

fn default_copy_to_dr() -> bool {
    true
}

fn default_rpo() -> Duration {
    Duration::from_secs(24 * 3600)
}

fn default_rto() -> Duration {
    Duration::from_secs(4 * 3600)
}

/// The customer may ask for the archives of any day of the last three
/// months (seed 004).
const ASKABLE_DAYS: u32 = 90;

impl Backup {
    /// The daily time as (hour, minute).
    pub fn daily_time(&self) -> Option<(u32, u32)> {
        let (hour, minute) = self.daily_at.split_once(':')?;
        let (hour, minute) = (hour.parse().ok()?, minute.parse().ok()?);
        (hour < 24 && minute < 60 && self.daily_at.len() == 5).then_some((hour, minute))
    }

    /// Checks the policy; `dr_region` is the spec's.
    pub fn validate(&self, dr_region: Option<&str>) -> Result<(), FieldError> {
        let invalid =
            |field: &str, message: String| FieldError::new(format!("backup.{field}"), message);
        if self.daily_time().is_none() {
            return Err(invalid(
                "daily_at",
                format!(
                    "{:?}: write the UTC time as HH:MM (e.g. \"02:00\")",
                    self.daily_at
                ),
            ));
        }
        for (field, days) in [
            ("keep_days", self.keep_days),
            ("dr_keep_days", self.dr_keep_days),
        ] {
            if !(1..=3650).contains(&days) {
                return Err(invalid(
                    field,
                    format!("{days}: keep snapshots 1 to 3650 days"),
                ));
            }
        }
        if self.glacier_after_days == 0 {
            return Err(invalid(
                "glacier_after_days",
                "0: archives move to Glacier after 1 day or more (default 30)".to_owned(),
            ));
        }
        if self.expire_after_days <= self.glacier_after_days {
            return Err(invalid(
                "expire_after_days",
                format!(
                    "{}: archives must expire after they move to Glacier (glacier_after_days is {})",
                    self.expire_after_days, self.glacier_after_days
                ),
            ));
        }
        if self.expire_after_days < ASKABLE_DAYS {
            return Err(invalid(
                "expire_after_days",
                format!(
                    "{}: the customer may ask for any day of the last three months: keep archives {ASKABLE_DAYS} days or more",
                    self.expire_after_days
                ),
            ));
        }
        if self.copy_to_dr && dr_region.is_none() {
            return Err(invalid(
                "copy_to_dr",
                "copies go to the DR region, and the spec names none: set dr_region, or copy_to_dr = false".to_owned(),
            ));
        }
        let hours = self.rpo.as_secs() / 3600;
        if self.rpo < Duration::from_secs(3600) || hours > 7 * 24 {
            return Err(invalid(
                "rpo",
                format!(
                    "{}: the recovery point objective is 1h to 7d (e.g. \"24h\")",
                    humantime::format_duration(self.rpo)
                ),
            ));
        }
        if self.rto < Duration::from_secs(60) || self.rto > Duration::from_secs(7 * 24 * 3600) {
            return Err(invalid(
                "rto",
                format!(
                    "{}: the recovery time objective is 1m to 7d (e.g. \"4h\")",
                    humantime::format_duration(self.rto)
                ),
            ));
        }
        Ok(())
    }
}
