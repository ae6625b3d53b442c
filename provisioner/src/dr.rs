//! `aerie dr`: disaster recovery by runbook (seed 004). A runbook
//! (`runbooks/*.toml`, [`runbook`]) is a list of declarative steps of known
//! kinds ([`steps`]); the engine ([`engine`]) runs them in the DR region
//! with timeouts and retries, journals every step ([`journal`]: locally
//! and in the DR region's backup bucket, so the audit outlives the primary
//! region), resumes an execution stopped at any moment, undoes what it made
//! when asked, and measures a drill's RPO and RTO.
//!
//! Every step first looks for its own result (by name and the
//! `aerie:dr-run` tag), so running it twice changes nothing. A drill is
//! isolated: its resources carry its own names and tags, never the
//! environment's, and it always tears down. Nothing here prints (progress
//! goes to a [`Report`]) and no secret is journaled: the database password
//! is read from Secrets Manager when a step needs it and kept nowhere.

pub mod connect;
pub mod converge;
pub mod engine;
pub mod journal;
pub mod report;
pub mod runbook;
pub mod scope;
pub mod site;
pub mod steps;

use std::sync::Arc;
use std::time::Duration;

use crate::aws::Cloud;
use crate::aws::retry::{AwsError, send};
use crate::clock::{Clock, SystemClock};
use crate::spec::Spec;

pub use crate::progress::{Progress, Report};
pub use connect::ConnectTo;

/// The runbooks shipped in `runbooks/`, built into the binary so `aerie dr`
/// works from any folder: (name, text).
pub const SHIPPED: [(&str, &str); 3] = [
    ("failover", include_str!("../../runbooks/failover.toml")),
    (
        "restore-database",
        include_str!("../../runbooks/restore-database.toml"),
    ),
    ("drill", include_str!("../../runbooks/drill.toml")),
];

/// What every step of one execution works with.
pub struct Context {
    pub spec: Spec,
    /// The environment's region (its secrets, when it is still there).
    pub primary: Cloud,
    /// The DR region, where everything is restored.
    pub dr: Cloud,
    /// The execution's id.
    pub run: String,
    /// A drill: its own names and tags, nothing of the environment's.
    pub isolated: bool,
    pub clock: Arc<dyn Clock>,
    /// How often a wait asks AWS again.
    pub poll: Duration,
    pub connect_to: ConnectTo,
    /// What signs the database's TLS certificate, beside the public roots.
    pub database_ca: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("environment", &self.spec.name)
            .field("dr", &self.dr.region)
            .field("run", &self.run)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The clients of `spec`'s two regions, with the SDK's configuration.
    pub async fn connect(spec: Spec, run: String, isolated: bool) -> Result<Self, DrError> {
        let region = spec.dr_region.clone().ok_or_else(|| DrError::NoDrRegion {
            environment: spec.name.clone(),
        })?;
        Ok(Self {
            primary: Cloud::connect(&spec.name, &spec.region).await,
            dr: Cloud::connect(&spec.name, &region).await,
            spec,
            run,
            isolated,
            clock: Arc::new(SystemClock),
            poll: Duration::from_secs(15),
            connect_to: ConnectTo::default(),
            database_ca: None,
        })
    }

    /// The name the DR site's resources carry: the environment's for a
    /// real recovery, `<name>-drill-<run>` for a drill ([`site::name`]).
    pub fn site(&self) -> String {
        site::name(&self.spec.name, &self.run, self.isolated)
    }

    /// The spec of the DR site ([`site::spec`]).
    pub fn site_spec(&self) -> Result<Spec, DrError> {
        site::spec(&self.spec, &self.site()).ok_or_else(|| DrError::NoDrRegion {
            environment: self.spec.name.clone(),
        })
    }

    /// The DR region's clients, for the DR site's resources.
    pub fn site_cloud(&self) -> Cloud {
        Cloud {
            environment: self.site(),
            ..self.dr.clone()
        }
    }

    /// The database master password: the DR region's replica of the
    /// secret first (the primary region may be gone), then the primary's.
    pub async fn master_password(&self) -> Result<String, DrError> {
        let name = crate::model::rds_secret_name(&self.spec.name);
        let mut last = None;
        for cloud in [&self.dr, &self.primary] {
            let request = cloud.secrets.get_secret_value().secret_id(&name);
            match send("GetSecretValue", || request.clone().send()).await {
                Ok(answer) => {
                    if let Some(text) = answer.secret_string() {
                        return Ok(text.to_owned());
                    }
                }
                Err(error) => last = Some(error),
            }
        }
        Err(DrError::Secret { name, source: last })
    }
}

/// A new execution's id: its start, UTC, to the millisecond.
pub fn run_id(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y%m%d-%H%M%S-%3f").to_string()
}

/// Why a runbook or one of its steps failed.
#[derive(Debug, thiserror::Error)]
pub enum DrError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error(transparent)]
    Apply(#[from] crate::apply::ApplyError),
    #[error("{environment} has no dr_region in its spec: there is nowhere to recover to")]
    NoDrRegion { environment: String },
    #[error("step {step}: input {input} {problem}")]
    Input {
        step: String,
        input: String,
        problem: String,
    },
    #[error(transparent)]
    Unresolved(#[from] scope::Unresolved),
    #[error(
        "no good copy of {environment}'s database backup in {region}: run `aerie backup run` (with copies to the DR region) first"
    )]
    NoRecoveryPoint { environment: String, region: String },
    #[error(
        "{what} in {region} already exists and was made by {by}, not by this execution; remove it or choose another name"
    )]
    Taken {
        what: String,
        region: String,
        by: String,
    },
    #[error(
        "the artifacts archive of backup {run} is not in {bucket} in {region} ({key}): the DR site's nodes would boot without their distributions; run `aerie backup run` (with copies to the DR region) first"
    )]
    NoArchive {
        run: String,
        bucket: String,
        key: String,
        region: String,
    },
    #[error(
        "the artifacts archive {key} in {bucket} reads back with SHA-256 {got}, but the backup recorded {want}: the copy is damaged; restore from an older backup"
    )]
    ArchiveChecksum {
        bucket: String,
        key: String,
        want: String,
        got: String,
    },
    #[error("the artifacts archive at {}", path.display())]
    Archive {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what} in {region} disappeared while the step waited for it")]
    Vanished { what: String, region: String },
    #[error("{what} in {region} failed (AWS reports it {state})")]
    Failed {
        what: String,
        region: String,
        state: String,
    },
    #[error("the secret {name} could not be read in either region")]
    Secret {
        name: String,
        #[source]
        source: Option<AwsError>,
    },
    #[error(
        "the database at {endpoint} offers no TLS connection that can be trusted: give --database-ca with the certificates that sign its certificate (for RDS, https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem)"
    )]
    DatabaseTls {
        endpoint: String,
        #[source]
        source: mysql_async::Error,
    },
    #[error("the database at {endpoint}")]
    Sql {
        endpoint: String,
        #[source]
        source: mysql_async::Error,
    },
    #[error("the database at {endpoint} has no {what}: the restored data is not complete")]
    Missing { endpoint: String, what: String },
    #[error("{node} is not healthy at {url}: {problem}")]
    Health {
        node: String,
        url: String,
        problem: String,
    },
    #[error("the step did not finish within {}", humantime::format_duration(*after))]
    Timeout { after: Duration },
    #[error("the journal at {place}")]
    Journal {
        place: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("there is no DR execution {run} (`aerie dr runs` lists them)")]
    UnknownRun { run: String },
    #[error(
        "step {step} ({kind}) failed after {attempts} attempt(s): {message}; the journal of run {run} has the details"
    )]
    StepFailed {
        run: String,
        step: String,
        kind: String,
        attempts: u32,
        message: String,
    },
    #[error("undoing step {step} failed: {message}; run `aerie dr resume {run}` to finish")]
    UndoFailed {
        run: String,
        step: String,
        message: String,
    },
}

impl DrError {
    /// Whether trying the step again cannot help: a database whose TLS
    /// cannot be trusted stays so until someone gives `--database-ca`, and
    /// a backup's artifacts archive that is missing or damaged stays so.
    pub fn permanent(&self) -> bool {
        matches!(
            self,
            Self::DatabaseTls { .. } | Self::NoArchive { .. } | Self::ArchiveChecksum { .. }
        )
    }
}
