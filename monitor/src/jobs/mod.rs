//! Periodic work as reconcilers (usage, throttling, retention, backups,
//! alert evaluation): each
//! job runs on a timer and on demand,
//! looks at the world (the store) rather than at hints, and records a status
//! that `GET /api/v1/jobs` shows. A failed run is logged and tried again at
//! the next tick; it never stops the monitor. When several monitors share
//! a store, only the holder of its lease (`leader`) runs them; the others
//! stand by and say so in their status. With a shared store the leader
//! records each run's status in the cluster (`jobs/<name>`), and a monitor
//! standing by shows those, so every replica answers what the jobs did.

pub mod backup;
pub mod leader;
pub mod retention;
pub mod throttle;
pub mod usage;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::shared::SharedState;
use tokio::sync::Notify;

/// Starts the monitor's jobs: usage summaries, retention, the daily
/// backups of the environments that name their spec, throttling decisions
/// for the environments with quotas, and alert evaluation when alerting is
/// configured.
pub fn start(
    config: &Arc<crate::Config>,
    store: Arc<dyn crate::store::Store>,
    shared: Option<Arc<dyn SharedState>>,
    leadership: Arc<leader::Leadership>,
    ledger: Arc<usage::Ledger>,
    throttle: Arc<throttle::Throttle>,
    alerts: Option<Arc<crate::alerting::Engine>>,
) -> Jobs {
    let mut jobs = Jobs {
        jobs: BTreeMap::new(),
        leadership: Some(leadership),
        shared,
    };
    let environments: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
    let usage_store = Arc::clone(&store);
    let backup_store = Arc::clone(&store);
    if config.environments.iter().any(|e| !e.quotas.is_empty()) {
        let (config, store, ledger) = (Arc::clone(config), Arc::clone(&store), Arc::clone(&ledger));
        let engine = alerts.clone();
        jobs.add("throttle", config.jobs.throttle_every, move || {
            let (config, store, ledger) =
                (Arc::clone(&config), Arc::clone(&store), Arc::clone(&ledger));
            let (throttle, engine) = (Arc::clone(&throttle), engine.clone());
            async move {
                let decided =
                    throttle::run(&config, &store, &ledger, &throttle, engine.as_deref()).await;
                decided.map_err(|e| Box::new(e) as JobError)
            }
        });
    }
    jobs.add("usage", config.jobs.usage_every, move || {
        let (store, ledger, environments) = (
            Arc::clone(&usage_store),
            Arc::clone(&ledger),
            environments.clone(),
        );
        async move {
            let refreshed = ledger.refresh(&store, &environments).await;
            refreshed.map_err(|e| Box::new(e) as JobError)
        }
    });
    let retention = config.retention.clone();
    jobs.add("retention", config.jobs.retention_every, move || {
        let (store, retention) = (Arc::clone(&store), retention.clone());
        async move {
            let deleted = retention::run(store, retention).await;
            deleted.map_err(|e| Box::new(e) as JobError)
        }
    });
    let backups: Vec<(String, std::path::PathBuf)> = config
        .environments
        .iter()
        .filter_map(|e| Some((e.name.clone(), e.backup_spec.clone()?)))
        .collect();
    if !backups.is_empty() {
        let store = Arc::clone(&backup_store);
        let backups = Arc::new(backups);
        jobs.add("backup", config.jobs.backup_every, move || {
            let (store, backups) = (Arc::clone(&store), Arc::clone(&backups));
            async move { backup::run(store, &backups).await }
        });
    }
    if let (Some(engine), Some(alerting)) = (alerts, &config.alerting) {
        jobs.add("alerts", alerting.evaluate_every, move || {
            let engine = Arc::clone(&engine);
            async move {
                let evaluated = engine.evaluate().await;
                evaluated.map_err(|e| Box::new(e) as JobError)
            }
        });
    }
    jobs
}

/// What a job last did.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JobStatus {
    pub runs: u64,
    pub last_run: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// What the last successful run did, in a sentence.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
    /// The monitor (its lease holder name) that made this record.
    #[serde(default)]
    pub ran_by: Option<String>,
    /// Whether the monitor answering stands by: the record is then the
    /// leader's, read from the cluster.
    #[serde(default)]
    pub standing_by: bool,
}

/// Where a job keeps what must outlive a restart (the usage ledger, the
/// throttle's decisions): this monitor's data directory, or the cluster
/// its replicas share.
#[derive(Debug)]
enum Keep {
    /// A JSON file under the data directory.
    File(std::path::PathBuf),
    /// Documents of the monitors' shared state.
    Shared(Arc<dyn SharedState>),
}

/// The kind of the shared documents that hold the leader's job statuses.
const SHARED_KIND: &str = "jobs";

/// Records the leader's `status` of job `name` in the cluster; a failure is
/// logged (the next run records again).
async fn record(shared: &dyn SharedState, name: &str, status: &JobStatus) {
    let body = serde_json::to_value(status).expect("a job status serializes");
    if let Err(error) = crate::store::shared::overwrite(shared, SHARED_KIND, name, &body).await {
        let error = aerie_common::error_chain(&error);
        tracing::warn!(job = name, %error, "cannot record the job's status in the cluster");
    }
}

/// Why a run of a job failed: the job's own error.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

type Run =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<String, JobError>> + Send>> + Send + Sync>;

struct Job {
    status: Mutex<JobStatus>,
    wake: Notify,
    run: Run,
}

/// The monitor's jobs, by name.
#[derive(Default)]
pub struct Jobs {
    jobs: BTreeMap<&'static str, Arc<Job>>,
    /// When set, jobs run only while this monitor leads.
    leadership: Option<Arc<leader::Leadership>>,
    /// When set, the leader's statuses are recorded there.
    shared: Option<Arc<dyn SharedState>>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.jobs.keys()).finish()
    }
}

impl Jobs {
    /// Adds a job that runs now, then every `every`, and whenever woken.
    pub fn add<F, Fut>(&mut self, name: &'static str, every: Duration, run: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, JobError>> + Send + 'static,
    {
        let run: Run = Arc::new(move || Box::pin(run()));
        let job = Arc::new(Job {
            status: Mutex::default(),
            wake: Notify::new(),
            run,
        });
        self.jobs.insert(name, Arc::clone(&job));
        let leadership = self.leadership.clone();
        let shared = self.shared.clone();
        tokio::spawn(async move {
            loop {
                let status = Self::run_once(name, &job, leadership.as_deref()).await;
                if let (Some(shared), Some(status)) = (&shared, status) {
                    record(shared.as_ref(), name, &status).await;
                }
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = job.wake.notified() => {}
                }
            }
        });
    }

    /// Runs the job if this monitor leads; answers the status recorded, or
    /// `None` when it stood by.
    async fn run_once(
        name: &str,
        job: &Job,
        leadership: Option<&leader::Leadership>,
    ) -> Option<JobStatus> {
        if leadership.is_some_and(|l| !l.leads()) {
            let mut status = job.status.lock().expect("job status lock");
            status.runs += 1;
            status.last_run = Some(Utc::now());
            status.last_result = Some("standing by: another monitor leads".to_owned());
            status.standing_by = true;
            return None;
        }
        let result = (job.run)().await;
        let now = Utc::now();
        let mut status = job.status.lock().expect("job status lock");
        status.runs += 1;
        status.last_run = Some(now);
        status.ran_by = leadership.map(|l| l.holder().to_owned());
        status.standing_by = false;
        match result {
            Ok(summary) => {
                tracing::debug!(job = name, %summary, "job ran");
                status.last_success = Some(now);
                status.last_result = Some(summary);
                status.last_error = None;
            }
            Err(error) => {
                let error = aerie_common::error_chain(&*error);
                tracing::warn!(job = name, %error, "job failed; will try again");
                status.last_error = Some(error);
            }
        }
        Some(status.clone())
    }

    /// What each job did on this monitor (its own runs, also those it
    /// stood by).
    pub fn own_statuses(&self) -> BTreeMap<&'static str, JobStatus> {
        self.jobs
            .iter()
            .map(|(name, job)| (*name, job.status.lock().expect("job status lock").clone()))
            .collect()
    }

    /// Every job's status: this monitor's own while it leads (or when no
    /// other monitor shares its store); the leader's, as recorded in the
    /// cluster, while it stands by. A record that cannot be read gives this
    /// monitor's own, which says it stands by.
    pub async fn statuses(&self) -> BTreeMap<&'static str, JobStatus> {
        let mut statuses = self.own_statuses();
        let standing_by = self.leadership.as_ref().is_some_and(|l| !l.leads());
        for status in statuses.values_mut() {
            status.standing_by = standing_by;
        }
        let Some(shared) = self.shared.as_ref().filter(|_| standing_by) else {
            return statuses;
        };
        for (name, status) in &mut statuses {
            match shared.get(SHARED_KIND, name).await {
                Ok(Some((body, _))) => match serde_json::from_value::<JobStatus>(body) {
                    Ok(leader) => {
                        *status = JobStatus {
                            standing_by,
                            ..leader
                        }
                    }
                    Err(error) => {
                        tracing::warn!(job = name, %error, "the leader's job status does not parse")
                    }
                },
                Ok(None) => {}
                Err(error) => {
                    let error = aerie_common::error_chain(&error);
                    tracing::warn!(job = name, %error, "cannot read the leader's job status");
                }
            }
        }
        statuses
    }

    /// Runs `name` now; answers once that run is recorded, with its status.
    pub async fn run_now(&self, name: &str) -> Option<JobStatus> {
        let job = self.jobs.get(name)?;
        let before = job.status.lock().expect("job status lock").runs;
        job.wake.notify_one();
        loop {
            let status = job.status.lock().expect("job status lock").clone();
            if status.runs > before {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
