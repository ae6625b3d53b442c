//! `[dashboard]`: sessions and logins of the web dashboard.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::periodic::minutes_5;

/// The web dashboard's sessions and logins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// How long a login lasts without being used.
    #[serde(default = "hours_12", with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Failed logins allowed per user name and client address within
    /// `login_window`; more are refused until the window passes.
    #[serde(default = "five")]
    pub max_login_failures: usize,
    #[serde(default = "minutes_5", with = "humantime_serde")]
    pub login_window: Duration,
}

impl Default for DashboardConfig {
    fn default() -> Self {
        Self {
            session_ttl: hours_12(),
            max_login_failures: five(),
            login_window: minutes_5(),
        }
    }
}

fn hours_12() -> Duration {
    Duration::from_secs(12 * 3600)
}
fn five() -> usize {
    5
}
