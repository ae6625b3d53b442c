//! Which monitor does the work that must happen once — alert evaluation
//! and its mail, usage, retention, throttling, backups — when several
//! monitors share one store: the holder of the store's lease
//! ([`Store::lead`]), renewed every third of its time and taken over by
//! another monitor when it lapses. With the embedded store the one monitor
//! always leads.
//!
//! A monitor counts itself the leader only while its last renewal is
//! younger than the lease less a margin, on its own monotonic clock: one
//! that stalls stops working before another can take over. It never
//! decides who leads by anything but the store's answer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::Store;

/// How long a lease lasts unless renewed.
pub const LEASE: Duration = Duration::from_secs(15);

/// This monitor's standing in the lease.
#[derive(Debug)]
pub struct Leadership {
    holder: String,
    ttl: Duration,
    /// When this monitor last won or renewed the lease.
    won: Mutex<Option<Instant>>,
}

impl Leadership {
    /// Asks for the lease once, then keeps asking every third of `ttl`.
    pub async fn start(store: Arc<dyn Store>, ttl: Duration) -> Arc<Self> {
        let leadership = Arc::new(Self {
            holder: holder_name(),
            ttl,
            won: Mutex::new(None),
        });
        leadership.ask(&*store).await;
        let renewing = Arc::clone(&leadership);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(renewing.ttl / 3).await;
                renewing.ask(&*store).await;
            }
        });
        leadership
    }

    async fn ask(&self, store: &dyn Store) {
        let asked = Instant::now();
        match store.lead(&self.holder, self.ttl).await {
            Ok(true) => {
                let mut won = self.won.lock().unwrap_or_else(|p| p.into_inner());
                if won.is_none() {
                    tracing::info!(holder = %self.holder, "this monitor leads");
                }
                *won = Some(asked);
            }
            Ok(false) => {
                let mut won = self.won.lock().unwrap_or_else(|p| p.into_inner());
                if won.take().is_some() {
                    tracing::warn!(holder = %self.holder, "another monitor leads now");
                }
            }
            Err(error) => tracing::warn!(
                error = %aerie_common::error_chain(&error),
                "the lease could not be renewed; leading until it lapses"
            ),
        }
    }

    /// Whether this monitor leads now: its last win is younger than the
    /// lease less a fifth (time for a stalled renewal to show).
    pub fn leads(&self) -> bool {
        let won = *self.won.lock().unwrap_or_else(|p| p.into_inner());
        won.is_some_and(|at| at.elapsed() < self.ttl - self.ttl / 5)
    }

    pub fn holder(&self) -> &str {
        &self.holder
    }
}

/// This monitor's name in the lease: its host, its process and a random
/// part (two monitors on one host differ).
fn holder_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "monitor".to_owned());
    let mut random = [0u8; 4];
    let _ = getrandom::fill(&mut random);
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        u32::from_le_bytes(random)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn with_a_store_that_one_monitor_owns_the_monitor_leads_from_the_start() {
        let store: Arc<dyn Store> = Arc::new(crate::store::memory::MemoryStore::default());
        let leadership = Leadership::start(store, LEASE).await;
        assert!(leadership.leads());
        assert!(
            leadership
                .holder()
                .contains(&std::process::id().to_string())
        );
    }
}
