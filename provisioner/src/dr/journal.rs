//! The record of every DR execution: the runbook (its text, so a resume
//! runs what was started), and one record per step and per undo (inputs,
//! outputs, start, end, outcome, attempts, the error), the outcome and a
//! drill's RPO and RTO. It is written after every change, to a local
//! folder and to `dr-runs/<run>.json` in the DR region's backup bucket,
//! so the audit survives the loss of the primary region (and of the
//! machine). Inputs hold names and ids, never a secret.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DrError;
use super::steps::Values;
use crate::aws::Cloud;

/// Where executions are in the bucket.
pub const PREFIX: &str = "dr-runs/";

/// One execution of a runbook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub run: String,
    pub runbook: String,
    /// The runbook's text as it was started.
    pub runbook_text: String,
    pub environment: String,
    /// The DR region it ran in.
    pub region: String,
    pub isolated: bool,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    pub outcome: Outcome,
    pub steps: Vec<Record>,
    /// The undo, newest step first.
    pub undo: Vec<Record>,
    /// When the restored backup was taken.
    pub recovery_point: Option<DateTime<Utc>>,
    pub rpo_seconds: Option<i64>,
    pub rto_seconds: Option<i64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
}

/// Where an execution is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Its steps are running (or it stopped with the process).
    Running,
    /// Its undo is running (or stopped with the process).
    Undoing,
    Succeeded,
    Failed,
}

impl Outcome {
    pub fn finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Running => "running",
            Self::Undoing => "undoing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        })
    }
}

/// One step, or one step's undo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub step: String,
    pub kind: String,
    pub inputs: Values,
    pub outputs: Values,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    pub outcome: StepOutcome,
    pub attempts: u32,
    pub error: Option<String>,
}

/// How one step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepOutcome {
    Running,
    Done,
    Failed,
}

impl Record {
    /// Seconds from its start to its end.
    pub fn seconds(&self) -> Option<f64> {
        self.ended
            .map(|end| (end - self.started).num_milliseconds() as f64 / 1000.0)
    }
}

/// Where executions are kept.
#[derive(Debug, Clone)]
pub struct Journal {
    /// The local folder.
    pub dir: PathBuf,
    /// The DR region, and its backup bucket.
    pub cloud: Cloud,
    pub bucket: String,
}

impl Journal {
    fn local(&self, run: &str) -> PathBuf {
        self.dir.join(format!("{run}.json"))
    }

    fn failed(
        place: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> DrError {
        DrError::Journal {
            place: place.into(),
            source: Box::new(source),
        }
    }

    /// Writes `execution` in both places.
    pub async fn save(&self, execution: &Execution) -> Result<(), DrError> {
        let text = serde_json::to_vec_pretty(execution)
            .map_err(|e| Self::failed("the execution record", e))?;
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Self::failed(self.dir.display().to_string(), e))?;
        let path = self.local(&execution.run);
        let partial = path.with_extension("json.partial");
        std::fs::write(&partial, &text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|e| Self::failed(path.display().to_string(), e))?;
        let sha = crate::render::sha256_hex(&text);
        self.cloud
            .put_object(&self.bucket, &key(&execution.run), text, &sha)
            .await
            .map_err(|e| Self::failed(format!("s3://{}/{}", self.bucket, key(&execution.run)), e))
    }

    /// Execution `run`: the local record, else the bucket's.
    pub async fn load(&self, run: &str) -> Result<Execution, DrError> {
        let path = self.local(run);
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(_) => match self.cloud.get_object(&self.bucket, &key(run)).await {
                Ok(text) => text,
                Err(error) if error.is("NoSuchKey") || error.code == "HTTP 404" => {
                    return Err(DrError::UnknownRun {
                        run: run.to_owned(),
                    });
                }
                Err(error) => return Err(error.into()),
            },
        };
        serde_json::from_slice(&text).map_err(|e| Self::failed(path.display().to_string(), e))
    }

    /// Every execution, local or in the bucket, newest first.
    pub async fn list(&self) -> Result<Vec<Execution>, DrError> {
        let mut runs: std::collections::BTreeSet<String> = std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                entry
                    .file_name()
                    .to_str()?
                    .strip_suffix(".json")
                    .map(str::to_owned)
            })
            .collect();
        if self.cloud.bucket_exists(&self.bucket).await? {
            for object in self.cloud.list_objects(&self.bucket, PREFIX).await? {
                if let Some(run) = object
                    .key
                    .strip_prefix(PREFIX)
                    .and_then(|k| k.strip_suffix(".json"))
                {
                    runs.insert(run.to_owned());
                }
            }
        }
        let mut out = Vec::new();
        for run in runs.iter().rev() {
            out.push(self.load(run).await?);
        }
        Ok(out)
    }
}

fn key(run: &str) -> String {
    format!("{PREFIX}{run}.json")
}
