//! Time behind a trait: what waits on AWS (a snapshot becoming available,
//! a Glacier restore) asks a [`Clock`] for the time and to sleep, so a
//! test can run hours of waiting in an instant. It never decides how long
//! to wait: the caller does.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The time, and a way to let it pass.
#[async_trait::async_trait]
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
    async fn sleep(&self, duration: Duration);
}

/// The wall clock and tokio's timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait::async_trait]
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// How patient a wait is: how often it asks, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patience {
    pub every: Duration,
    pub timeout: Duration,
}
