//! Periodic work as reconcilers (usage, throttling, retention, backups,
//! alert evaluation): each
//! job runs on a timer and on demand,
//! looks at the world (the store) rather than at hints, and records a status
//! that `GET /api/v1/jobs` shows. A failed run is logged and tried again at
//! the next tick; it never stops the monitor. When several monitors share
//! a store, only the holder of its lease (`leader`) runs them; the others
//! stand by and say so in their status.

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
use serde::Serialize;
use tokio::sync::Notify;

/// Starts the monitor's jobs: usage summaries, retention, the daily
/// backups of the environments that name their spec, throttling decisions
/// for the environments with quotas, and alert evaluation when alerting is
/// configured.
pub fn start(
    config: &Arc<crate::Config>,
    store: Arc<dyn crate::store::Store>,
    leadership: Arc<leader::Leadership>,
    ledger: Arc<usage::Ledger>,
    throttle: Arc<throttle::Throttle>,
    alerts: Option<Arc<crate::alerting::Engine>>,
) -> Jobs {
    let mut jobs = Jobs {
        jobs: BTreeMap::new(),
        leadership: Some(leadership),
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
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobStatus {
    pub runs: u64,
    pub last_run: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    /// What the last successful run did, in a sentence.
    pub last_result: Option<String>,
    pub last_error: Option<String>,
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
        tokio::spawn(async move {
            loop {
                Self::run_once(name, &job, leadership.as_deref()).await;
                tokio::select! {
                    () = tokio::time::sleep(every) => {}
                    () = job.wake.notified() => {}
                }
            }
        });
    }

    async fn run_once(name: &str, job: &Job, leadership: Option<&leader::Leadership>) {
        if leadership.is_some_and(|l| !l.leads()) {
            let mut status = job.status.lock().expect("job status lock");
            status.runs += 1;
            status.last_run = Some(Utc::now());
            status.last_result = Some("standing by: another monitor leads".to_owned());
            return;
        }
        let result = (job.run)().await;
        let now = Utc::now();
        let mut status = job.status.lock().expect("job status lock");
        status.runs += 1;
        status.last_run = Some(now);
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
    }

    /// Every job's status.
    pub fn statuses(&self) -> BTreeMap<&'static str, JobStatus> {
        self.jobs
            .iter()
            .map(|(name, job)| (*name, job.status.lock().expect("job status lock").clone()))
            .collect()
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
