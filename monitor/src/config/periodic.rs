//! `[jobs]` and `[retention]`: how often the periodic jobs run and how long
//! each kind of data is kept.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How often the periodic jobs run (each also runs at start and on demand).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobsConfig {
    #[serde(default = "minutes_5", with = "humantime_serde")]
    pub usage_every: Duration,
    #[serde(default = "hour_1", with = "humantime_serde")]
    pub retention_every: Duration,
    /// How often the backup job asks whether a backup is due.
    #[serde(default = "minutes_15", with = "humantime_serde")]
    pub backup_every: Duration,
    /// How often the throttle job recounts this month's usage of the
    /// environments with quotas and decides.
    #[serde(default = "minute_1", with = "humantime_serde")]
    pub throttle_every: Duration,
}

pub(super) fn minutes_5() -> Duration {
    Duration::from_secs(300)
}
fn minute_1() -> Duration {
    Duration::from_secs(60)
}
fn minutes_15() -> Duration {
    Duration::from_secs(900)
}
fn hour_1() -> Duration {
    Duration::from_secs(3600)
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            usage_every: minutes_5(),
            retention_every: hour_1(),
            backup_every: minutes_15(),
            throttle_every: minute_1(),
        }
    }
}

/// How long each kind of data is kept.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    #[serde(default = "days_30", with = "humantime_serde")]
    pub metrics: Duration,
    #[serde(default = "days_14", with = "humantime_serde")]
    pub logs: Duration,
    #[serde(default = "days_90", with = "humantime_serde")]
    pub api_stats: Duration,
    /// The alert history (transitions and notifications).
    #[serde(default = "days_90", with = "humantime_serde")]
    pub alerts: Duration,
}

pub(super) fn days(n: u64) -> Duration {
    Duration::from_secs(n * 24 * 3600)
}
fn days_30() -> Duration {
    days(30)
}
fn days_14() -> Duration {
    days(14)
}
fn days_90() -> Duration {
    days(90)
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            metrics: days_30(),
            logs: days_14(),
            api_stats: days_90(),
            alerts: days_90(),
        }
    }
}
