//! Deletes what is older than its kind's retention, in whatever store is in use.

use std::sync::Arc;

use chrono::Utc;

use crate::config::Retention;
use crate::store::{DataKind, Store, StoreError};

/// One pass: every kind, its cutoff. Answers what was deleted.
pub async fn run(store: Arc<dyn Store>, retention: Retention) -> Result<String, StoreError> {
    let mut deleted = Vec::new();
    for (kind, keep, name) in [
        (DataKind::Metrics, retention.metrics, "metrics"),
        (DataKind::Logs, retention.logs, "logs"),
        (DataKind::ApiStats, retention.api_stats, "api statistics"),
    ] {
        // A retention too long for chrono keeps everything.
        let keep = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        let cutoff = Utc::now()
            .checked_sub_signed(keep)
            .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
        let count = store.delete_older_than(kind, cutoff).await?;
        deleted.push(format!(
            "{count} {name} before {}",
            cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    Ok(format!("deleted {}", deleted.join(", ")))
}
