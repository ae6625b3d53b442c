//! The query endpoints: hosts, metrics, logs (pages and counts), API statistics. Bearer token of
//! a user; an environment the user may not see is answered as not found.

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, auth};
use crate::jobs::JobStatus;
use crate::jobs::usage::{Period, UsageRow};
use crate::query::{HostStatus, MetricError, TimeRange, host_status, logs, metrics};
use crate::store::{
    Aggregation, ApiStatsRow, CountBy, LogCounts, LogPage, LogQuery, MetricQuery, Series,
};
use crate::timespec::parse_duration;

/// Query parameters whose rejection is a JSON [`ApiError`] naming the problem.
#[derive(Debug)]
pub(super) struct Params<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| Self(params))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct EnvParams {
    env: String,
}

pub(super) async fn hosts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<EnvParams>,
) -> Result<Json<Vec<HostStatus>>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let hosts = host_status(
        &*state.store,
        &environment.name,
        state.config.host_down_after,
        Utc::now(),
    )
    .await?;
    Ok(Json(hosts))
}

/// `from` and `to`, defaulting to the last `default_span`, checked by the
/// one range rule (`crate::query::range`).
fn range(from: Option<&str>, to: Option<&str>, default_span: &str) -> Result<TimeRange, ApiError> {
    TimeRange::parse(from, to, default_span, Utc::now())
        .map_err(|e| ApiError::BadRequest(e.to_string()))
}

impl From<MetricError> for ApiError {
    fn from(error: MetricError) -> Self {
        match error {
            MetricError::Store(error) => error.into(),
            MetricError::Unknown { .. } => Self::NotFound(error.to_string()),
            _ => Self::BadRequest(error.to_string()),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct MetricParams {
    env: String,
    host: Option<String>,
    name: String,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    agg: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct MetricAnswer {
    name: String,
    agg: String,
    step_ms: i64,
    series: Vec<Series>,
}

pub(super) async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<MetricParams>,
) -> Result<Json<MetricAnswer>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let range = range(params.from.as_deref(), params.to.as_deref(), "now-1h")?;
    let step_ms = metrics::step_ms(params.step.as_deref().unwrap_or("60s"), &range)?;
    let agg_text = params.agg.unwrap_or_else(|| "avg".into());
    let aggregation: Aggregation =
        agg_text
            .parse()
            .map_err(|unknown: crate::store::UnknownAggregation| {
                ApiError::BadRequest(unknown.to_string())
            })?;
    let query = MetricQuery {
        environment: environment.name.clone(),
        host: params.host,
        name: params.name.clone(),
        from: range.from,
        to: range.to,
    };
    let series = metrics::named_series(&*state.store, &query, step_ms, aggregation).await?;
    Ok(Json(MetricAnswer {
        name: params.name,
        agg: agg_text,
        step_ms,
        series,
    }))
}

#[derive(Debug, Deserialize)]
pub(super) struct LogParams {
    env: String,
    host: Option<String>,
    q: Option<String>,
    level: Option<String>,
    file: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

pub(super) async fn logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<LogParams>,
) -> Result<Json<LogPage>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let TimeRange { from, to } = range(params.from.as_deref(), params.to.as_deref(), "now-24h")?;
    let limit = logs::limit(params.limit).map_err(|bad| ApiError::BadRequest(bad.to_string()))?;
    let page = state
        .store
        .logs(&LogQuery {
            environment: environment.name.clone(),
            host: params.host,
            text: params.q,
            level: params.level,
            file: params.file,
            from,
            to,
            limit,
            cursor: params.cursor,
        })
        .await?;
    Ok(Json(page))
}

#[derive(Debug, Deserialize)]
pub(super) struct CountParams {
    env: String,
    host: Option<String>,
    q: Option<String>,
    level: Option<String>,
    file: Option<String>,
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
    /// What the count is broken down by besides the total: `host`,
    /// `bucket`, both (comma-separated; when absent) or nothing (empty).
    by: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct CountAnswer {
    step_ms: i64,
    #[serde(flatten)]
    counts: LogCounts,
}

/// `GET /api/v1/logs/count`: the lines a search finds, counted in all and
/// (as `by` asks, both by default) per host and per step of time, without
/// reading them out.
pub(super) async fn count_logs(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<CountParams>,
) -> Result<Json<CountAnswer>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let range = range(params.from.as_deref(), params.to.as_deref(), "now-24h")?;
    let step_ms = match params.step.as_deref() {
        Some(step) => metrics::step_ms(step, &range)?,
        None => logs::histogram_step_ms(&range),
    };
    let step = std::time::Duration::from_millis(step_ms.unsigned_abs());
    let by = count_by(params.by.as_deref(), step)?;
    let counts = state
        .store
        .count_logs(
            &LogQuery {
                environment: environment.name.clone(),
                host: params.host,
                text: params.q,
                level: params.level,
                file: params.file,
                from: range.from,
                to: range.to,
                limit: 0,
                cursor: None,
            },
            by,
        )
        .await?;
    Ok(Json(CountAnswer { step_ms, counts }))
}

/// The breakdown a count's `by` names (see [`CountParams::by`]), buckets
/// being `step` long.
fn count_by(by: Option<&str>, step: std::time::Duration) -> Result<CountBy, ApiError> {
    let Some(by) = by else {
        return Ok(CountBy::hosts_and_buckets(step));
    };
    let mut asked = CountBy::TOTAL;
    for name in by.split(',').map(str::trim).filter(|name| !name.is_empty()) {
        match name {
            "host" => asked.hosts = true,
            "bucket" => asked.buckets = Some(step),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "by: {other:?} is not a breakdown of a count; use host, bucket, both \
                     (by=host,bucket) or none (by=) for the total alone"
                )));
            }
        }
    }
    Ok(asked)
}

#[derive(Debug, Deserialize)]
pub(super) struct StatsParams {
    env: String,
    from: Option<String>,
    to: Option<String>,
}

pub(super) async fn api_stats(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<StatsParams>,
) -> Result<Json<Vec<ApiStatsRow>>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let range = range(params.from.as_deref(), params.to.as_deref(), "now-24h")?;
    let rows = crate::query::api_stats(&*state.store, &environment.name, &range).await?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize)]
pub(super) struct UsageParams {
    env: String,
    tenant: Option<String>,
    period: Option<String>,
}

pub(super) async fn usage(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<UsageParams>,
) -> Result<Json<Vec<UsageRow>>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let period: Period = params.period.as_deref().unwrap_or("day").parse().map_err(
        |unknown: crate::jobs::usage::UnknownPeriod| ApiError::BadRequest(unknown.to_string()),
    )?;
    state
        .ledger
        .load(&environment.name)
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(state.ledger.rows(
        &environment.name,
        params.tenant.as_deref(),
        period,
    )))
}

pub(super) async fn jobs(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<std::collections::BTreeMap<&'static str, JobStatus>>, ApiError> {
    auth::operator(&state.config, &headers)?;
    Ok(Json(state.jobs.statuses().await))
}

/// Runs a job now and answers with its status once the run is recorded.
pub(super) async fn run_job(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    auth::operator(&state.config, &headers)?;
    state
        .jobs
        .run_now(&name)
        .await
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no job {name:?}")))
}

fn engine(state: &AppState) -> Result<&std::sync::Arc<crate::alerting::Engine>, ApiError> {
    state.alerts.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "alerting is not configured on this monitor ([alerting] in its config)".into(),
        )
    })
}

pub(super) async fn alerts(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<EnvParams>,
) -> Result<Json<Vec<crate::alerting::Alert>>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    Ok(Json(
        engine(&state)?.fresh().await.alerts(&environment.name),
    ))
}

#[derive(Debug, Deserialize)]
pub(super) struct HistoryParams {
    env: String,
    from: Option<String>,
}

pub(super) async fn alert_history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<HistoryParams>,
) -> Result<Json<Vec<crate::alerting::HistoryEntry>>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let TimeRange { from, .. } = range(params.from.as_deref(), None, "now-7d")?;
    let history = engine(&state)?.history(&environment.name, from).await;
    Ok(Json(history.map_err(|e| {
        ApiError::Unavailable(aerie_common::error_chain(&e))
    })?))
}

/// Silences whose environment matcher (if any) the user may read.
pub(super) async fn silences(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<Vec<crate::alerting::Silence>>, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let silences = engine(&state)?.fresh().await.silences();
    Ok(Json(
        silences
            .into_iter()
            .filter(|s| match s.matchers.get("environment") {
                Some(environment) => user.can_read(environment),
                None => user.role == crate::config::Role::Operator,
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSilence {
    matchers: std::collections::BTreeMap<String, String>,
    comment: String,
    /// How long it lasts, e.g. "2h".
    duration: String,
}

pub(super) async fn create_silence(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(axum::http::StatusCode, Json<crate::alerting::Silence>), ApiError> {
    let user = auth::operator(&state.config, &headers)?;
    let new: NewSilence = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the body is not a silence: {e}")))?;
    if new.matchers.is_empty() {
        return Err(ApiError::BadRequest(
            "matchers: give at least one (environment, rule, host, severity or a label)".into(),
        ));
    }
    if new.comment.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "comment: say why the alerts are silenced".into(),
        ));
    }
    if let Some(environment) = new.matchers.get("environment") {
        auth::readable(&state.config, user, environment)?;
    }
    let duration = parse_duration(&new.duration)
        .map_err(|e| ApiError::BadRequest(format!("duration: {e}")))?;
    let ends_at = Utc::now()
        + chrono::Duration::from_std(duration)
            .map_err(|_| ApiError::BadRequest("duration: too long".into()))?;
    let silence = engine(&state)?
        .silence(new.matchers, &user.name, &new.comment, ends_at, Utc::now())
        .await
        .map_err(|e| ApiError::Unavailable(aerie_common::error_chain(&e)))?;
    Ok((axum::http::StatusCode::CREATED, Json(silence)))
}

pub(super) async fn expire_silence(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<crate::alerting::Silence>, ApiError> {
    auth::operator(&state.config, &headers)?;
    engine(&state)?
        .expire(&id, Utc::now())
        .await
        .map_err(|e| ApiError::Unavailable(aerie_common::error_chain(&e)))?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no silence {id:?}")))
}

/// Reloads the rules file; a bad file keeps the current rules (400, why).
pub(super) async fn reload_rules(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, ApiError> {
    auth::operator(&state.config, &headers)?;
    let count = engine(&state)?
        .reload()
        .map_err(|e| ApiError::BadRequest(aerie_common::error_chain(&e)))?;
    Ok(Json(serde_json::json!({ "rules": count })))
}
