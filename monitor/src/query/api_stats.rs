//! API statistics over a range: the store's windows summed per API and
//! tenant, the same rows for the API and the dashboard. Usage per period
//! comes from the usage ledger (`jobs::usage::Ledger::rows`), its one home.

use crate::query::TimeRange;
use crate::store::{ApiStatsRow, Store, StoreError, sum_api_stats};

/// One row per API and tenant of `environment` over `range`.
pub async fn api_stats(
    store: &dyn Store,
    environment: &str,
    range: &TimeRange,
) -> Result<Vec<ApiStatsRow>, StoreError> {
    let records = store.api_stats(environment, range.from, range.to).await?;
    Ok(sum_api_stats(records))
}
