//! The Backups page of an environment: the last good backup of each
//! resource and its age against the RPO target, its copy in the DR region,
//! the runs in progress, the next run and the last failures.
//!
//! The backups themselves are read from AWS on each view, through the
//! provisioner's catalog (`aerie_provisioner::backup::status`), with the
//! spec this monitor backs the environment up by; the failures are the
//! ERROR reports failed runs wrote into the store. The page never starts a
//! run (the jobs API does) and shows an AWS error as a message beside
//! what the store still knows.

use std::time::Duration;

use aerie_common::toml_file::TomlFile as _;
use aerie_provisioner::backup::Backups;
use aerie_provisioner::backup::monitor::BACKUP_HOST;
use aerie_provisioner::backup::status::{self, Kept, Status};
use aerie_provisioner::spec::Spec;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde_json::{Value, json};

use super::pages::{local, merge, page, store_error};
use super::{PageError, SignedIn, readable};
use crate::state::AppState;
use crate::store::LogQuery;

/// How long the page waits for AWS before showing what it has.
const AWS_PATIENCE: Duration = Duration::from_secs(20);
/// How far back the page looks for failed runs.
const FAILURES_SINCE: chrono::Duration = chrono::Duration::days(30);
/// How many failures it lists.
const FAILURES_SHOWN: usize = 10;

pub(super) async fn backups(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(env): Path<String>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    let now = Utc::now();
    let failures = state
        .store
        .logs(&LogQuery {
            environment: environment.name.clone(),
            host: Some(BACKUP_HOST.to_owned()),
            text: None,
            level: Some("ERROR".to_owned()),
            file: None,
            from: now - FAILURES_SINCE,
            to: now,
            limit: FAILURES_SHOWN,
            cursor: None,
        })
        .await
        .map_err(store_error)?;
    let mut data = merge(
        signed_in.context(&state.config, &format!("Backups · {env}")),
        json!({
            "env": environment.name,
            "failures": failures.lines.iter().map(|l| json!({
                "at": local(l.timestamp),
                "message": l.message,
            })).collect::<Vec<_>>(),
        }),
    );
    let Some(spec) = &environment.backup_spec else {
        data = merge(data, json!({ "not_here": true }));
        return Ok(page(StatusCode::OK, "backups", &data));
    };
    data = match read(spec).await {
        Ok(status) => merge(data, status_json(&status)),
        Err(error) => merge(data, json!({ "error": aerie_common::error_chain(&error) })),
    };
    Ok(page(StatusCode::OK, "backups", &data))
}

/// Why the page could not read the backups from AWS.
#[derive(Debug, thiserror::Error)]
enum Unread {
    #[error("The backup spec could not be read")]
    Spec(#[source] aerie_common::toml_file::FileError),
    #[error("The backups could not be read from AWS")]
    Aws(#[source] aerie_provisioner::backup::BackupError),
    #[error(
        "AWS did not list the backups within {}; reload the page to try again.",
        humantime::format_duration(AWS_PATIENCE)
    )]
    Slow,
}

/// The environment's backups in AWS, or why they could not be read.
async fn read(spec: &std::path::Path) -> Result<Status, Unread> {
    let spec = Spec::load(spec).map_err(Unread::Spec)?;
    let backups = Backups::connect(&spec).await;
    tokio::time::timeout(AWS_PATIENCE, status::read(&backups))
        .await
        .map_err(|_| Unread::Slow)?
        .map_err(Unread::Aws)
}

fn status_json(status: &Status) -> Value {
    let kept = |kept: &Option<Kept>| {
        kept.as_ref().map(|k| {
            json!({
                "at": local(k.time),
                "run": k.run,
                "id": k.id,
                "region": k.region,
                "location": k.location,
            })
        })
    };
    json!({
        "status": {
            "rpo": status.rpo,
            "dr_region": status.dr_region,
            "next_run": if status.due { "due now".to_owned() } else { local(status.next_run) },
            "open_runs": status.open_runs,
            "resources": status.resources.iter().map(|r| json!({
                "what": r.what,
                "of": r.of,
                "last_good": kept(&r.last_good),
                "age": r.age_hours.map(|h| if h < 48 { format!("{h} h") } else { format!("{} days", h / 24) }),
                "within_rpo": r.within_rpo,
                "dr_copy": kept(&r.dr_copy),
            })).collect::<Vec<_>>(),
        }
    })
}
