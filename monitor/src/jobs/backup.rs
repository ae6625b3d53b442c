//! The daily backup of every environment whose `backup_spec` is set, run
//! headless through the provisioner's library (`aerie_provisioner::backup`),
//! so no cron is needed on the monitoring host. On each tick it asks AWS
//! whether a run is due (a run left open, or none finished since the
//! latest `daily_at` slot) and runs it; the day's logs come from this
//! monitor's store and the outcome is written into it (the success metric
//! the `backup_age` rule watches, or an ERROR event naming what failed).
//!
//! AWS access is the SDK's standard configuration of the monitor's
//! process. A failure is the job's error (shown by `GET /api/v1/jobs`); it
//! never stops the other environments' backups.

use std::path::Path;
use std::sync::Arc;

use aerie_common::toml_file::TomlFile as _;
use aerie_provisioner::backup::monitor::{
    BACKUP_HOST, Monitor as Reports, failure_event, success_event,
};
use aerie_provisioner::backup::{BackupError, Backups, Progress};
use aerie_provisioner::spec::Spec;
use chrono::{DateTime, NaiveDate, Utc};

use crate::query::export::DayExport;
use crate::store::{Store, WriteBatch};

/// The backups of `environments` (name, spec file) that are due.
pub async fn run(
    store: Arc<dyn Store>,
    environments: &[(String, std::path::PathBuf)],
) -> Result<String, super::JobError> {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for (name, path) in environments {
        match backup(&store, name, path).await {
            Ok(Some(run)) => done.push(format!("{name} (run {run})")),
            Ok(None) => {}
            Err(error) => failed.push(format!("{name}: {}", aerie_common::error_chain(&error))),
        }
    }
    if failed.is_empty() {
        Ok(if done.is_empty() {
            "no backup due".to_owned()
        } else {
            format!("backed up {}", done.join(", "))
        })
    } else {
        Err(failed.join("; ").into())
    }
}

/// Why one environment's backup did not run or failed.
#[derive(Debug, thiserror::Error)]
enum JobFailure {
    #[error(transparent)]
    Spec(#[from] aerie_common::toml_file::FileError),
    #[error(transparent)]
    Backup(#[from] BackupError),
}

/// Runs `name`'s backup when due; answers the run's id.
async fn backup(
    store: &Arc<dyn Store>,
    name: &str,
    path: &std::path::Path,
) -> Result<Option<String>, JobFailure> {
    let spec = Spec::load(path)?;
    let backups = Backups::connect(&spec).await;
    if !aerie_provisioner::backup::schedule::due(&backups).await? {
        return Ok(None);
    }
    let reports = StoreReports {
        store: Arc::clone(store),
        environment: name.to_owned(),
    };
    let report = |progress: Progress| {
        if let Progress::Done(line) = progress {
            tracing::info!(environment = name, "{line}");
        }
    };
    let manifest = aerie_provisioner::backup::run::run(&backups, Some(&reports), &report).await?;
    Ok(Some(manifest.run))
}

/// The run's reports written straight into this monitor's store, and the
/// day's logs read from it.
struct StoreReports {
    store: Arc<dyn Store>,
    environment: String,
}

impl StoreReports {
    async fn write(&self, event: aerie_wire::Event) -> Result<(), BackupError> {
        let batch = WriteBatch {
            environment: self.environment.clone(),
            host: BACKUP_HOST.to_owned(),
            events: vec![event],
        };
        self.store
            .write(&batch)
            .await
            .map(drop)
            .map_err(|e| self.failed("writing the report", e))
    }

    fn failed(&self, what: &str, source: crate::store::StoreError) -> BackupError {
        BackupError::Monitor {
            url: "this monitor's store".to_owned(),
            message: what.to_owned(),
            source: Some(Box::new(source)),
        }
    }
}

#[async_trait::async_trait]
impl Reports for StoreReports {
    async fn export_logs(&self, day: NaiveDate, out: &Path) -> Result<bool, BackupError> {
        use tokio::io::AsyncWriteExt as _;
        let io = |source| BackupError::Io {
            path: out.to_owned(),
            source,
        };
        let mut file = tokio::fs::File::create(out).await.map_err(io)?;
        let mut export = DayExport::new(&self.environment, day);
        while let Some(bytes) = export
            .next(&*self.store)
            .await
            .map_err(|e| self.failed("exporting the day's logs", e))?
        {
            file.write_all(&bytes).await.map_err(io)?;
        }
        file.sync_all().await.map_err(io)?;
        Ok(true)
    }

    async fn succeeded(&self, run: &str, at: DateTime<Utc>) -> Result<(), BackupError> {
        self.write(success_event(&self.environment, run, at)).await
    }

    async fn failed(&self, what: &str, at: DateTime<Utc>) -> Result<(), BackupError> {
        self.write(failure_event(&self.environment, what, at)).await
    }
}
