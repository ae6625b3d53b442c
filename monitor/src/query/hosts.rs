//! Which hosts of an environment are up: seen by the monitor within
//! `host_down_after`. One rule for the API, the dashboard and anything else
//! that shows a host's state.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::{Store, StoreError};

/// A host and whether it is up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostStatus {
    pub host: String,
    pub last_seen: DateTime<Utc>,
    pub up: bool,
}

/// Every host of `environment`, sorted by name, up when seen within
/// `down_after` of `now`.
pub async fn host_status(
    store: &dyn Store,
    environment: &str,
    down_after: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<HostStatus>, StoreError> {
    let down_after = chrono::Duration::from_std(down_after).unwrap_or(chrono::Duration::MAX);
    let mut hosts: Vec<HostStatus> = store
        .hosts(environment)
        .await?
        .into_iter()
        .map(|seen| HostStatus {
            up: now - seen.last_seen <= down_after,
            host: seen.host,
            last_seen: seen.last_seen,
        })
        .collect();
    hosts.sort_by(|a, b| a.host.cmp(&b.host));
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::WriteBatch;
    use crate::store::memory::MemoryStore;

    #[tokio::test]
    async fn a_host_is_up_until_it_has_been_silent_longer_than_down_after() {
        let store = MemoryStore::new();
        for host in ["gw-2", "gw-1"] {
            let batch = WriteBatch {
                environment: "acme-prod".into(),
                host: host.into(),
                events: Vec::new(),
            };
            store.write(&batch).await.unwrap();
        }
        let minute = Duration::from_secs(60);
        let now = Utc::now();
        let hosts = host_status(&store, "acme-prod", minute, now).await.unwrap();
        assert_eq!(
            hosts.iter().map(|h| h.host.as_str()).collect::<Vec<_>>(),
            ["gw-1", "gw-2"]
        );
        assert!(hosts.iter().all(|h| h.up));
        let later = now + chrono::Duration::minutes(2);
        let hosts = host_status(&store, "acme-prod", minute, later)
            .await
            .unwrap();
        assert!(hosts.iter().all(|h| !h.up));
    }
}
