//! A versioned record of every apply (seed 004: every script, document and
//! configuration kept in a versioned repository): a git repository in
//! which each apply that changed something commits, under `<environment>/`,
//! the spec, every rendered file the instances boot with, the plan that
//! was applied and the handover package, with the environment, the operator and the plan's summary
//! in the message. `history` lists those commits and diffs two of them.
//!
//! Driven through the `git` command, so the record is an ordinary
//! repository the operators can push, review and clone. Nothing secret is
//! ever written here: the spec and the rendered files hold references only.
//! A failed apply commits nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::render::{Artifacts, Bundle};

/// Why the record could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{}: cannot write the history", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("git {args} in {}: {stderr}", dir.display())]
    Git {
        dir: PathBuf,
        args: String,
        stderr: String,
    },
    #[error("git cannot be run (install git: apt-get install git)")]
    NoGit(#[source] std::io::Error),
}

/// The history repository of one environment.
#[derive(Debug, Clone)]
pub struct History {
    /// The repository's folder.
    pub dir: PathBuf,
    pub environment: String,
}

/// What one apply records.
#[derive(Debug)]
pub struct Record<'a> {
    /// The spec file's text, as the operator wrote it.
    pub spec: &'a str,
    /// Every instance's user-data.
    pub artifacts: &'a Artifacts,
    /// Every node's configuration bundle, file by file.
    pub bundles: &'a [Bundle],
    /// The plan as it was printed.
    pub plan: &'a str,
    /// The plan's one-line summary (`Plan: 2 to add, ...`).
    pub summary: &'a str,
    /// Who applied it.
    pub operator: &'a str,
    /// The handover package as it stood after the apply.
    pub handover: Option<&'a crate::handover::Handover>,
}

/// One commit of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub commit: String,
    pub date: String,
    pub subject: String,
}

impl History {
    /// The history of `environment` in `dir`.
    pub fn new(dir: &Path, environment: &str) -> Self {
        Self {
            dir: dir.to_owned(),
            environment: environment.to_owned(),
        }
    }

    /// The operator's name: `AERIE_OPERATOR`, else the login name.
    pub fn operator() -> String {
        ["AERIE_OPERATOR", "USER", "LOGNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "unknown".to_owned())
    }

    /// Writes `record` under `<environment>/` and commits it; answers the
    /// commit.
    pub fn commit(&self, record: &Record<'_>) -> Result<String, HistoryError> {
        self.init()?;
        let root = self.dir.join(&self.environment);
        // Replaced whole: a file no longer rendered leaves the record too.
        let rendered = root.join("rendered");
        if rendered.exists() {
            std::fs::remove_dir_all(&rendered).map_err(|source| HistoryError::Write {
                path: rendered.clone(),
                source,
            })?;
        }
        let mut files = vec![
            (root.join("spec.toml"), record.spec.to_owned()),
            (root.join("plan.txt"), record.plan.to_owned()),
        ];
        if let Some(handover) = record.handover {
            files.push((root.join("handover.md"), handover.markdown.clone()));
            files.push((root.join("handover.html"), handover.html.clone()));
        }
        for (role, user_data) in &record.artifacts.user_data {
            files.push((
                rendered.join(role).join("user-data.yaml"),
                user_data.clone(),
            ));
        }
        for bundle in record.bundles {
            for (path, text) in &bundle.files {
                files.push((rendered.join(&bundle.role).join(path), text.clone()));
            }
        }
        for (path, text) in files {
            let write = || -> std::io::Result<()> {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, text)
            };
            write().map_err(|source| HistoryError::Write {
                path: path.clone(),
                source,
            })?;
        }
        self.git(&["add", "--all", "--", &self.environment])?;
        let message = format!(
            "{}: applied by {}\n\n{}",
            self.environment, record.operator, record.summary
        );
        let author = format!("user.name={}", record.operator);
        self.git(&[
            "-c",
            &author,
            "-c",
            "user.email=aerie@localhost",
            "commit",
            "--quiet",
            "--allow-empty",
            "-m",
            &message,
        ])?;
        Ok(self
            .git(&["rev-parse", "--short", "HEAD"])?
            .trim()
            .to_owned())
    }

    /// Every apply recorded for the environment, newest first.
    pub fn entries(&self) -> Result<Vec<Entry>, HistoryError> {
        if !self.dir.join(".git").exists() {
            return Ok(Vec::new());
        }
        let log = self.git(&["log", "--format=%h%x09%cI%x09%s", "--", &self.environment])?;
        Ok(log
            .lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, '\t');
                Some(Entry {
                    commit: parts.next()?.to_owned(),
                    date: parts.next()?.to_owned(),
                    subject: parts.next()?.to_owned(),
                })
            })
            .collect())
    }

    /// What changed in the environment's record between two commits
    /// (`A..B`).
    pub fn diff(&self, range: &str) -> Result<String, HistoryError> {
        self.git(&["diff", range, "--", &self.environment])
    }

    fn init(&self) -> Result<(), HistoryError> {
        if self.dir.join(".git").exists() {
            return Ok(());
        }
        std::fs::create_dir_all(&self.dir).map_err(|source| HistoryError::Write {
            path: self.dir.clone(),
            source,
        })?;
        self.git(&["init", "--quiet"])?;
        Ok(())
    }

    fn git(&self, args: &[&str]) -> Result<String, HistoryError> {
        let output = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .output()
            .map_err(HistoryError::NoGit)?;
        if !output.status.success() {
            return Err(HistoryError::Git {
                dir: self.dir.clone(),
                args: args.join(" "),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}
