//! Deletes what is older than its kind's retention, in whatever store is in use.

use std::sync::Arc;

use chrono::Utc;

use crate::config::Retention;
use crate::store::{DataKind, Store};

/// One pass: every kind, its cutoff. Answers what was deleted.
pub async fn run(store: Arc<dyn Store>, retention: Retention) -> Result<String, String> {
    let mut deleted = Vec::new();
    for (kind, keep, name) in [
        (DataKind::Metrics, retention.metrics, "metrics"),
        (DataKind::Logs, retention.logs, "logs"),
        (DataKind::ApiStats, retention.api_stats, "api statistics"),
    ] {
        let cutoff = Utc::now() - chrono::Duration::from_std(keep).map_err(|e| e.to_string())?;
        let count = store
            .delete_older_than(kind, cutoff)
            .await
            .map_err(|e| e.to_string())?;
        deleted.push(format!(
            "{count} {name} before {}",
            cutoff.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ));
    }
    Ok(format!("deleted {}", deleted.join(", ")))
}
