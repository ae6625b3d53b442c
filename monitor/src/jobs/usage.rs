//! Usage summaries per tenant (seed 001): requests, faults and bytes per
//! hour, day and month, computed from API statistics and kept in a ledger of
//! their own under the data directory, apart from raw data, so that billing
//! figures outlive the raw data's retention.
//!
//! Each run recomputes the hours of the last two days from the store (late
//! records are counted where they belong; older hours are left as they
//! are), then derives days and months from the ledger's hours. A record
//! counts in the hour its window ended.
//!
//! With a store several monitors share, the ledger lives in the cluster
//! instead of the data directory: one document per environment and month
//! (`usage/<environment>/<YYYY-MM>`), written by the leader after each
//! run, read again by the leader before it (a new leader starts from what
//! the last one recorded) and by any monitor before it answers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use super::Keep;
use crate::store::Store;
use crate::store::shared::SharedState;

/// How far back each run recomputes hours.
const RECOMPUTE: i64 = 48;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Hour,
    Day,
    Month,
}

/// A period that is not one of hour, day, month.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("period {0:?} is not one of hour, day, month")]
pub struct UnknownPeriod(pub String);

impl std::str::FromStr for Period {
    type Err = UnknownPeriod;
    fn from_str(text: &str) -> Result<Self, UnknownPeriod> {
        match text {
            "hour" => Ok(Self::Hour),
            "day" => Ok(Self::Day),
            "month" => Ok(Self::Month),
            other => Err(UnknownPeriod(other.to_owned())),
        }
    }
}

/// Why the usage ledger could not be read, refreshed or written.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("the usage ledger could not be read")]
    Read(#[from] aerie_common::JsonFileError),
    #[error("{}: cannot write the usage ledger", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the store did not give the API statistics")]
    Store(#[from] crate::store::StoreError),
    #[error("the usage ledger's document {key} in the cluster is not valid")]
    SharedParse {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// One tenant's usage in one period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub requests: u64,
    pub faults: u64,
    pub bytes: u64,
}

/// A row of the usage API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRow {
    pub tenant: String,
    pub period: Period,
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub usage: Usage,
}

/// environment → tenant → hour start → usage.
type Hours = BTreeMap<String, BTreeMap<String, BTreeMap<DateTime<Utc>, Usage>>>;

/// The hourly usage of every environment, on disk or in the cluster.
#[derive(Debug)]
pub struct Ledger {
    keep: Keep,
    hours: Mutex<Hours>,
}

/// The kind of the ledger's shared documents.
const SHARED_KIND: &str = "usage";

/// One environment's hours of one month, as kept in the cluster.
#[derive(Debug, Serialize, Deserialize)]
struct Month {
    environment: String,
    /// The month's start: what the documents are listed by.
    at: DateTime<Utc>,
    tenants: BTreeMap<String, BTreeMap<DateTime<Utc>, Usage>>,
}

fn hour_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(at)
}

fn start_of(period: Period, hour: DateTime<Utc>) -> DateTime<Utc> {
    match period {
        Period::Hour => hour,
        Period::Day => Utc
            .with_ymd_and_hms(hour.year(), hour.month(), hour.day(), 0, 0, 0)
            .single()
            .unwrap_or(hour),
        Period::Month => Utc
            .with_ymd_and_hms(hour.year(), hour.month(), 1, 0, 0, 0)
            .single()
            .unwrap_or(hour),
    }
}

impl Ledger {
    pub fn open(file: PathBuf) -> Result<Self, LedgerError> {
        let hours: Hours = aerie_common::read_json_or_default(&file)?;
        Ok(Self {
            keep: Keep::File(file),
            hours: Mutex::new(hours),
        })
    }

    /// A ledger kept in the monitors' shared state.
    pub fn shared(shared: Arc<dyn SharedState>) -> Self {
        Self {
            keep: Keep::Shared(shared),
            hours: Mutex::default(),
        }
    }

    /// Reads `environment`'s hours again from the cluster (a ledger on disk
    /// is this monitor's own and always current).
    pub async fn load(&self, environment: &str) -> Result<(), LedgerError> {
        let Keep::Shared(shared) = &self.keep else {
            return Ok(());
        };
        let documents = shared
            .list(
                SHARED_KIND,
                "at",
                DateTime::<Utc>::UNIX_EPOCH,
                ("environment", environment),
            )
            .await?;
        let mut tenants: BTreeMap<String, BTreeMap<DateTime<Utc>, Usage>> = BTreeMap::new();
        for document in documents {
            let month: Month =
                serde_json::from_value(document).map_err(|source| LedgerError::SharedParse {
                    key: format!("{SHARED_KIND}/{environment}"),
                    source,
                })?;
            for (tenant, hours) in month.tenants {
                tenants.entry(tenant).or_default().extend(hours);
            }
        }
        self.hours
            .lock()
            .expect("ledger lock")
            .insert(environment.to_owned(), tenants);
        Ok(())
    }

    /// Recomputes the recent hours of `environments` from the store and saves.
    pub async fn refresh(
        &self,
        store: &Arc<dyn Store>,
        environments: &[String],
    ) -> Result<String, LedgerError> {
        let now = Utc::now();
        let from = hour_of(now) - Duration::hours(RECOMPUTE);
        let mut recomputed = 0;
        for environment in environments {
            self.load(environment).await?;
            let records = store.api_stats(environment, from, now).await?;
            let mut fresh: BTreeMap<String, BTreeMap<DateTime<Utc>, Usage>> = BTreeMap::new();
            for record in records {
                let usage = fresh
                    .entry(record.tenant)
                    .or_default()
                    .entry(hour_of(record.window_end))
                    .or_default();
                usage.requests += record.count;
                usage.faults += record.faults;
                usage.bytes += record.bytes;
            }
            let mut hours = self.hours.lock().expect("ledger lock");
            let tenants = hours.entry(environment.clone()).or_default();
            for hours in tenants.values_mut() {
                hours.retain(|start, _| *start < from);
            }
            for (tenant, fresh) in fresh {
                recomputed += fresh.len();
                tenants.entry(tenant).or_default().extend(fresh);
            }
        }
        self.save(environments, start_of(Period::Month, from))
            .await?;
        Ok(format!(
            "recomputed {recomputed} tenant-hours since {}",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
    }

    /// Writes the ledger: the whole file, or in the cluster the months of
    /// `environments` from `since` on (the older ones did not change).
    async fn save(&self, environments: &[String], since: DateTime<Utc>) -> Result<(), LedgerError> {
        let shared = match &self.keep {
            Keep::File(file) => {
                let json = serde_json::to_vec(&*self.hours.lock().expect("ledger lock"))
                    .expect("the ledger serializes");
                return aerie_common::atomic_write(file, &json).map_err(|source| {
                    LedgerError::Write {
                        path: file.clone(),
                        source,
                    }
                });
            }
            Keep::Shared(shared) => shared,
        };
        for environment in environments {
            for month in self.months(environment, since) {
                let key = format!("{environment}/{}", month.at.format("%Y-%m"));
                let body = serde_json::to_value(&month).expect("a ledger month serializes");
                crate::store::shared::overwrite(shared.as_ref(), SHARED_KIND, &key, &body).await?;
            }
        }
        Ok(())
    }

    /// `environment`'s hours from the month of `since` on, by month.
    fn months(&self, environment: &str, since: DateTime<Utc>) -> Vec<Month> {
        let hours = self.hours.lock().expect("ledger lock");
        let mut months: BTreeMap<DateTime<Utc>, Month> = BTreeMap::new();
        for (tenant, tenant_hours) in hours.get(environment).into_iter().flatten() {
            for (hour, usage) in tenant_hours.range(since..) {
                let at = start_of(Period::Month, *hour);
                let month = months.entry(at).or_insert_with(|| Month {
                    environment: environment.to_owned(),
                    at,
                    tenants: BTreeMap::new(),
                });
                month
                    .tenants
                    .entry(tenant.clone())
                    .or_default()
                    .insert(*hour, usage.clone());
            }
        }
        months.into_values().collect()
    }

    /// Usage of `environment` (one tenant, or all) per `period`, oldest first.
    pub fn rows(&self, environment: &str, tenant: Option<&str>, period: Period) -> Vec<UsageRow> {
        let hours = self.hours.lock().expect("ledger lock");
        let mut rows: BTreeMap<(String, DateTime<Utc>), Usage> = BTreeMap::new();
        for (name, tenant_hours) in hours.get(environment).into_iter().flatten() {
            if tenant.is_some_and(|wanted| wanted != name) {
                continue;
            }
            for (hour, usage) in tenant_hours {
                let total = rows
                    .entry((name.clone(), start_of(period, *hour)))
                    .or_default();
                total.requests += usage.requests;
                total.faults += usage.faults;
                total.bytes += usage.bytes;
            }
        }
        rows.into_iter()
            .map(|((tenant, start), usage)| UsageRow {
                tenant,
                period,
                start,
                usage,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_on_their_boundaries() {
        let at: DateTime<Utc> = "2026-11-21T13:47:12Z".parse().unwrap();
        assert_eq!(hour_of(at).to_rfc3339(), "2026-11-21T13:00:00+00:00");
        assert_eq!(
            start_of(Period::Day, hour_of(at)).to_rfc3339(),
            "2026-11-21T00:00:00+00:00"
        );
        assert_eq!(
            start_of(Period::Month, hour_of(at)).to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        assert!(
            "week"
                .parse::<Period>()
                .unwrap_err()
                .to_string()
                .contains("hour, day, month")
        );
    }
}
