//! Usage summaries per tenant (seed 001): requests, faults and bytes per
//! hour, day and month, computed from API statistics and kept in a ledger of
//! their own under the data directory, apart from raw data, so that billing
//! figures outlive the raw data's retention.
//!
//! Each run recomputes the hours of the last two days from the store (late
//! records are counted where they belong; older hours are left as they
//! are), then derives days and months from the ledger's hours. A record
//! counts in the hour its window ended.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

use crate::store::Store;

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
    #[error("{}: cannot read the usage ledger", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the usage ledger is not valid JSON", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: cannot write the usage ledger", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the store did not give the API statistics")]
    Store(#[from] crate::store::StoreError),
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

/// The hourly usage of every environment, on disk.
#[derive(Debug)]
pub struct Ledger {
    file: PathBuf,
    hours: Mutex<Hours>,
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
        let hours = match std::fs::read(&file) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| LedgerError::Parse {
                path: file.clone(),
                source,
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Hours::new(),
            Err(source) => return Err(LedgerError::Read { path: file, source }),
        };
        Ok(Self {
            file,
            hours: Mutex::new(hours),
        })
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
        self.save()?;
        Ok(format!(
            "recomputed {recomputed} tenant-hours since {}",
            from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ))
    }

    fn save(&self) -> Result<(), LedgerError> {
        let json = serde_json::to_vec(&*self.hours.lock().expect("ledger lock"))
            .expect("the ledger serializes");
        aerie_common::atomic_write(&self.file, &json).map_err(|source| LedgerError::Write {
            path: self.file.clone(),
            source,
        })
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
