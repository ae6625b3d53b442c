//! When a backup is due: the daily slot (`daily_at`, UTC) and whether the
//! newest finished run is older than the latest slot, or a run is open.
//! The monitor's backup job asks this on every tick, so a missed slot (the
//! monitor was down) is caught up at the next one, and a run is never
//! taken twice for one slot.

use chrono::{DateTime, Duration, Utc};

use super::{BackupError, Backups, names};
use crate::spec::backup::Backup;

/// The start of the latest daily slot at or before `now`.
pub fn latest_slot(policy: &Backup, now: DateTime<Utc>) -> DateTime<Utc> {
    let (hour, minute) = policy.daily_time().unwrap_or((2, 0));
    let today = now
        .date_naive()
        .and_hms_opt(hour, minute, 0)
        .expect("a validated time of day")
        .and_utc();
    if today <= now {
        today
    } else {
        today - Duration::days(1)
    }
}

/// Whether a run is due now: one is open (finish it), or none has
/// finished since the latest slot.
pub async fn due(backups: &Backups) -> Result<bool, BackupError> {
    if !backups.open_runs().await?.is_empty() {
        return Ok(true);
    }
    let newest = backups.newest_finished().await?;
    Ok(missed_slot(
        &backups.policy,
        backups.clock.now(),
        newest.as_deref(),
    ))
}

/// Whether `newest` (the newest finished run's id) is older than the
/// latest slot at `now`, or there is none.
pub fn missed_slot(policy: &Backup, now: DateTime<Utc>, newest: Option<&str>) -> bool {
    let slot = latest_slot(policy, now);
    newest
        .and_then(names::run_time)
        .is_none_or(|finished| finished < slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn the_latest_slot_is_today_once_its_time_has_come_and_yesterday_before() {
        let policy = Backup {
            daily_at: "02:30".to_owned(),
            ..Backup::default()
        };
        assert_eq!(
            latest_slot(&policy, at("2026-12-02T02:30:00Z")),
            at("2026-12-02T02:30:00Z")
        );
        assert_eq!(
            latest_slot(&policy, at("2026-12-02T23:59:00Z")),
            at("2026-12-02T02:30:00Z")
        );
        assert_eq!(
            latest_slot(&policy, at("2026-12-02T02:29:59Z")),
            at("2026-12-01T02:30:00Z")
        );
    }
}
