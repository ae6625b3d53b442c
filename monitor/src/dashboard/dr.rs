//! The DR page of an environment: the history of its DR executions (drills
//! and restores, as `aerie dr` reports them on host `aerie-dr`) with their
//! RPO and RTO against the targets of the spec this monitor backs the
//! environment up by, and the steps of the last one with their durations.
//! Everything is read from the store; the page starts nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use aerie_common::toml_file::TomlFile as _;
use aerie_provisioner::dr::report::{
    DR_HOST, RESULT_METRIC, RPO_METRIC, RTO_METRIC, STEP_METRIC, figure,
};
use aerie_provisioner::spec::Spec;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::pages::{local, merge, page, store_error};
use super::{PageError, SignedIn, readable};
use crate::state::AppState;
use crate::store::{MetricQuery, Point};

/// How far back the history goes.
const HISTORY: chrono::Duration = chrono::Duration::days(400);
/// How many executions it lists.
const SHOWN: usize = 50;

/// One execution, as its reports say.
#[derive(Debug, Default)]
struct Run {
    at: Option<DateTime<Utc>>,
    runbook: String,
    met: bool,
    rpo: Option<f64>,
    rto: Option<f64>,
}

pub(super) async fn dr(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(env): Path<String>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    let now = Utc::now();
    let points = async |name: &str| -> Result<Vec<Point>, PageError> {
        state
            .store
            .metric_points(&MetricQuery {
                environment: environment.name.clone(),
                host: Some(DR_HOST.to_owned()),
                name: name.to_owned(),
                from: now - HISTORY,
                to: now,
            })
            .await
            .map_err(store_error)
    };
    let mut runs: BTreeMap<String, Run> = BTreeMap::new();
    for point in points(RESULT_METRIC).await? {
        let run = runs.entry(label(&point, "run")).or_default();
        run.at = Some(point.timestamp);
        run.runbook = label(&point, "runbook");
        run.met = point.value >= 1.0;
    }
    for point in points(RPO_METRIC).await? {
        runs.entry(label(&point, "run")).or_default().rpo = Some(point.value);
    }
    for point in points(RTO_METRIC).await? {
        runs.entry(label(&point, "run")).or_default().rto = Some(point.value);
    }
    let targets = environment.backup_spec.as_ref().and_then(|path| {
        Spec::load(path)
            .ok()
            .map(|spec| (spec.backup.rpo, spec.backup.rto))
    });
    let newest: Vec<(&String, &Run)> = {
        let mut all: Vec<_> = runs.iter().filter(|(_, r)| r.at.is_some()).collect();
        all.sort_by_key(|(_, r)| std::cmp::Reverse(r.at));
        all.into_iter().take(SHOWN).collect()
    };
    let mut steps: Vec<(String, String, f64)> = match newest.first() {
        Some((last, _)) => points(STEP_METRIC)
            .await?
            .into_iter()
            .filter(|p| &label(p, "run") == *last)
            .map(|p| (label(&p, "order"), label(&p, "step"), p.value))
            .collect(),
        None => Vec::new(),
    };
    steps.sort_by(|a, b| a.0.cmp(&b.0));
    let figure = |seconds: Option<f64>, target: Option<Duration>| {
        json!({
            "shown": seconds.map(|s| figure(s.max(0.0) as i64)),
            "within": match (seconds, target) {
                (Some(s), Some(t)) => Some(s <= t.as_secs_f64()),
                _ => None,
            },
        })
    };
    let data = merge(
        signed_in.context(&state.config, &format!("DR · {env}")),
        json!({
            "env": environment.name,
            "targets": targets.map(|(rpo, rto)| json!({
                "rpo": humantime::format_duration(rpo).to_string(),
                "rto": humantime::format_duration(rto).to_string(),
            })),
            "runs": newest.iter().map(|(id, run)| json!({
                "run": id,
                "at": run.at.map(local),
                "runbook": run.runbook,
                "met": run.met,
                "rpo": figure(run.rpo, targets.map(|t| t.0)),
                "rto": figure(run.rto, targets.map(|t| t.1)),
            })).collect::<Vec<_>>(),
            "last": newest.first().map(|(id, _)| id),
            "steps": steps.iter().map(|(order, step, seconds)| json!({
                "order": order.trim_start_matches('0'),
                "step": step,
                "seconds": format!("{seconds:.1}"),
            })).collect::<Vec<Value>>(),
        }),
    );
    Ok(page(StatusCode::OK, "dr", &data))
}

fn label(point: &Point, name: &str) -> String {
    point.labels.get(name).cloned().unwrap_or_default()
}
