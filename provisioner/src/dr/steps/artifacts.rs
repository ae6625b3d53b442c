//! `artifacts`: the DR site's artifacts bucket, made by the planner like
//! the environment's (versioned, encrypted, public access blocked,
//! tagged), holding what the site's nodes boot from:
//!
//! - each node's configuration bundle, rendered for the site (its region,
//!   its bucket, the recovered environment's secrets as replicated there);
//! - the distributions (`dist/`), restored from the backup run's artifacts
//!   archive in the DR region's backup bucket, checked against the digest
//!   the backup recorded. The archive's bundles are left out: they name
//!   the primary region.
//!
//! An object already there with the archive's digest is not written again,
//! and the planner finds the bucket and bundles by name and tag, so running
//! it twice changes nothing. The undo removes the bucket with every version
//! of every object. An environment without `[nodes]` has no artifacts: the
//! step then does nothing.

use std::time::Duration;

use serde_json::Value;

use super::{Input, StepKind, Values, text};
use crate::aws::Cloud;
use crate::backup::names::{self, Archived};
use crate::dr::converge::{self, Part};
use crate::dr::{Context, DrError};
use crate::model::Kind;

pub(super) struct Artifacts;

const INPUTS: &[Input] = &[Input {
    name: "backup",
    required: true,
    doc: "the backup run whose artifacts archive holds the distributions (`${point.backup}`)",
}];

/// What the step makes.
const KINDS: [Kind; 2] = [Kind::Bucket, Kind::Object];

const PART: Part<'static> = Part {
    make: &KINDS,
    read: &KINDS,
    fit: |_| {},
};

/// Where the distributions are in the artifacts bucket and its archive.
const DISTRIBUTIONS: &str = "dist/";

#[async_trait::async_trait]
impl StepKind for Artifacts {
    fn inputs(&self) -> &'static [Input] {
        INPUTS
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["bucket", "distributions"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(30 * 60)
    }

    fn retries(&self) -> u32 {
        2
    }

    fn mutating(&self) -> bool {
        true
    }

    fn describe(&self, inputs: &Values) -> String {
        format!(
            "make the DR site's artifacts bucket with each node's bundle rendered for the site, and restore the distributions from backup {}'s artifacts archive",
            inputs.get("backup").and_then(Value::as_str).unwrap_or("?")
        )
    }

    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError> {
        let backup = text(inputs, step, "backup")?;
        let site = context.site_spec()?;
        if site.nodes.is_none() {
            return Ok(Values::from([
                ("bucket".to_owned(), Value::from("")),
                ("distributions".to_owned(), Value::from(0)),
            ]));
        }
        let day = names::run_time(backup)
            .ok_or_else(|| DrError::Input {
                step: step.to_owned(),
                input: "backup".to_owned(),
                problem: format!("is {backup:?}, not a backup run's id (20261202-020000)"),
            })?
            .date_naive();
        let cloud = context.site_cloud();
        converge::converge(&cloud, &site, PART).await?;
        let bucket = crate::model::artifacts_bucket(&site);
        let key = names::archive_key(day, Archived::Artifacts, backup);
        let restored = distributions(context, &cloud, backup, &key, &bucket).await?;
        Ok(Values::from([
            ("bucket".to_owned(), Value::from(bucket)),
            ("distributions".to_owned(), Value::from(restored)),
        ]))
    }

    async fn undo(&self, context: &Context, _step: &str, _inputs: &Values) -> Result<(), DrError> {
        let site = context.site_spec()?;
        converge::tear_down(&context.site_cloud(), &site, &KINDS).await?;
        Ok(())
    }
}

/// Puts the distributions of the archive `key` (of run `backup`, in the DR
/// region's backup bucket) into the site's `bucket`, each only when it is
/// not there with the same digest; answers how many the archive holds.
async fn distributions(
    context: &Context,
    site: &Cloud,
    backup: &str,
    key: &str,
    bucket: &str,
) -> Result<usize, DrError> {
    let dr = &context.dr;
    let from = names::bucket(&context.spec.name, &dr.region);
    let Some(archive) = dr.head_object(&from, key).await? else {
        return Err(DrError::NoArchive {
            run: backup.to_owned(),
            bucket: from,
            key: key.to_owned(),
            region: dr.region.clone(),
        });
    };
    let spool = tempfile::tempdir().map_err(|source| DrError::Archive {
        path: std::env::temp_dir(),
        source,
    })?;
    let path = spool.path().join("artifacts.tar.gz");
    dr.download(&from, key, &path).await?;
    let io = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| DrError::Archive { path, source }
    };
    let (got, _) = crate::render::sha256_file(&path).map_err(io(&path))?;
    if let Some(want) = archive.sha256
        && want != got
    {
        return Err(DrError::ArchiveChecksum {
            bucket: from,
            key: key.to_owned(),
            want,
            got,
        });
    }
    let files = {
        let (archive, dir) = (path.clone(), spool.path().to_owned());
        tokio::task::spawn_blocking(move || {
            crate::render::unpack_files(&archive, DISTRIBUTIONS, &dir)
        })
        .await
        .expect("unpacking does not panic")
        .map_err(io(&path))?
    };
    for (name, file) in &files {
        let (sha256, _) = crate::render::sha256_file(file).map_err(io(file))?;
        let there = site.head_object(bucket, name).await?;
        if there.and_then(|o| o.sha256).as_deref() == Some(sha256.as_str()) {
            continue;
        }
        site.put_file(bucket, name, file, &sha256).await?;
    }
    Ok(files.len())
}
