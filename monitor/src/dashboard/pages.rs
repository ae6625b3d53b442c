//! The dashboard's pages. Each reads what it shows straight from the store,
//! the alert engine or the usage ledger; input is checked first and a
//! problem is shown on the page, in words.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::chart::{self, Line, Unit};
use super::{PageError, SignedIn, readable, secure_headers};
use crate::query::{RangeError, TimeRange, host_status, logs, metrics};
use crate::state::AppState;
use crate::store::{Aggregation, CountBy, LogQuery, MetricQuery, StoreError};
use crate::timespec::{TimeSpecError, parse_duration, parse_time};

pub(super) fn page(status: StatusCode, name: &str, data: &Value) -> Response {
    (status, secure_headers(), super::render(name, data)).into_response()
}

pub(super) fn store_error(error: StoreError) -> PageError {
    PageError::Unavailable(format!("The store did not answer: {error}"))
}

pub(super) fn merge(mut base: Value, extra: Value) -> Value {
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub(super) fn local(at: DateTime<Utc>) -> String {
    at.with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// The ranges the picker offers.
const RANGES: [(&str, &str); 7] = [
    ("15m", "Last 15 minutes"),
    ("1h", "Last hour"),
    ("6h", "Last 6 hours"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("custom", "Custom (from / to)"),
];

/// A time range as the picker sends it: a named range, or `from` and `to`
/// (RFC 3339 or `now-<duration>`), which win when given.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RangeParams {
    range: Option<String>,
    from: Option<String>,
    to: Option<String>,
    refresh: Option<String>,
}

struct Range {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    name: String,
}

/// Why the range picked on a page cannot be shown, as the page says it.
#[derive(Debug, thiserror::Error)]
enum PickError {
    #[error("From: {0}")]
    From(TimeSpecError),
    #[error("To: {0}")]
    To(TimeSpecError),
    #[error(
        "The range starts ({}) after it ends ({}): pick a From before the To.",
        rfc3339(*from),
        rfc3339(*to)
    )]
    Reversed {
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    #[error("Range: {0}")]
    Span(TimeSpecError),
    #[error("Range: too long")]
    TooLong,
}

impl From<RangeError> for PickError {
    fn from(error: RangeError) -> Self {
        match error {
            RangeError::From(e) => Self::From(e),
            RangeError::To(e) => Self::To(e),
            RangeError::NotBefore { from, to } => Self::Reversed { from, to },
        }
    }
}

impl RangeParams {
    fn resolve(&self, default: &str) -> Result<Range, PickError> {
        let now = Utc::now();
        fn given(value: &Option<String>) -> Option<&str> {
            value.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let name = self
            .range
            .clone()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| default.to_owned());
        if given(&self.from).is_some() || given(&self.to).is_some() || name == "custom" {
            let default_from = format!("now-{default}");
            let TimeRange { from, to } =
                TimeRange::parse(given(&self.from), given(&self.to), &default_from, now)?;
            return Ok(Range {
                from,
                to,
                name: "custom".into(),
            });
        }
        let span = parse_duration(&name).map_err(PickError::Span)?;
        let span = chrono::Duration::from_std(span).map_err(|_| PickError::TooLong)?;
        Ok(Range {
            from: now - span,
            to: now,
            name,
        })
    }

    fn picker(&self, chosen: &str) -> Value {
        json!({
            "ranges": RANGES.iter().map(|(value, label)| json!({
                "value": value, "label": label, "selected": *value == chosen,
            })).collect::<Vec<_>>(),
            "from": self.from.clone().unwrap_or_default(),
            "to": self.to.clone().unwrap_or_default(),
            "refresh": self.refresh.clone().unwrap_or_default(),
            "refresh_options": (["", "10s", "30s", "1m", "5m"]).iter().map(|r| json!({
                "value": r,
                "label": if r.is_empty() { "off" } else { r },
                "selected": self.refresh.as_deref().unwrap_or("") == *r,
            })).collect::<Vec<_>>(),
        })
    }

    fn refresh_ms(&self) -> Option<u64> {
        let text = self.refresh.as_deref().filter(|r| !r.is_empty())?;
        parse_duration(text)
            .ok()
            .map(|d| d.as_millis().max(5000) as u64)
    }
}

struct HostView {
    host: String,
    up: bool,
    last_seen: DateTime<Utc>,
    firing: usize,
}

async fn host_views(state: &AppState, environment: &str) -> Result<Vec<HostView>, PageError> {
    let alerts = match &state.alerts {
        Some(engine) => engine.fresh().await.alerts(environment),
        None => Vec::new(),
    };
    let hosts = host_status(
        &*state.store,
        environment,
        state.config.host_down_after,
        Utc::now(),
    )
    .await
    .map_err(store_error)?;
    Ok(hosts
        .into_iter()
        .map(|status| HostView {
            firing: alerts
                .iter()
                .filter(|a| a.host == status.host && a.state == crate::alerting::State::Firing)
                .count(),
            up: status.up,
            host: status.host,
            last_seen: status.last_seen,
        })
        .collect())
}

fn host_json(environment: &str, host: &HostView) -> Value {
    json!({
        "name": host.host,
        "up": host.up,
        "last_seen": local(host.last_seen),
        "firing": host.firing,
        "link": format!("/env/{environment}/host/{}", super::urlencode(&host.host)),
    })
}

pub(super) async fn environments(
    State(state): State<AppState>,
    signed_in: SignedIn,
) -> Result<Response, PageError> {
    let mut environments = Vec::new();
    for environment in state
        .config
        .environments
        .iter()
        .filter(|e| signed_in.user.can_read(&e.name))
    {
        let hosts = host_views(&state, &environment.name).await?;
        let firing = state
            .alerts
            .as_ref()
            .map(|engine| {
                engine
                    .alerts(&environment.name)
                    .iter()
                    .filter(|a| a.state == crate::alerting::State::Firing)
                    .count()
            })
            .unwrap_or(0);
        environments.push(json!({
            "name": environment.name,
            "customer": environment.customer,
            "up": hosts.iter().filter(|h| h.up).count(),
            "down": hosts.iter().filter(|h| !h.up).count(),
            "firing": firing,
            "hosts": hosts.iter().map(|h| host_json(&environment.name, h)).collect::<Vec<_>>(),
        }));
    }
    let data = merge(
        signed_in.context(&state.config, "Environments"),
        json!({ "environments": environments }),
    );
    Ok(page(StatusCode::OK, "environments", &data))
}

pub(super) async fn environment(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(env): Path<String>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    let hosts = host_views(&state, &environment.name).await?;
    let data = merge(
        signed_in.context(&state.config, &environment.name),
        json!({
            "env": environment.name,
            "customer": environment.customer,
            "hosts": hosts.iter().map(|h| host_json(&environment.name, h)).collect::<Vec<_>>(),
        }),
    );
    Ok(page(StatusCode::OK, "environment", &data))
}

/// What the host page draws: a title, the metrics on it, their unit.
const HOST_CHARTS: [(&str, &[&str], Unit); 6] = [
    ("CPU", &["system.cpu.total.pct"], Unit::Percent),
    (
        "Load",
        &["system.load.1", "system.load.5", "system.load.15"],
        Unit::Plain,
    ),
    (
        "Memory and swap",
        &["system.memory.used.pct", "system.swap.used.pct"],
        Unit::Percent,
    ),
    (
        "Disk used per mount",
        &["system.filesystem.used.pct"],
        Unit::Percent,
    ),
    (
        "Network",
        &["system.network.in.bytes", "system.network.out.bytes"],
        Unit::Bytes,
    ),
    (
        "JVM heap",
        &["jvm.heap.used.bytes", "jvm.heap.max.bytes"],
        Unit::Bytes,
    ),
];

pub(super) async fn host(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((env, host)): Path<(String, String)>,
    Query(params): Query<RangeParams>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    let hosts = host_views(&state, &environment.name).await?;
    let Some(view) = hosts.iter().find(|h| h.host == host) else {
        return Err(PageError::NotFound(format!(
            "No host {host:?} has reported in {env}."
        )));
    };
    let base = merge(
        signed_in.context(&state.config, &format!("{host} · {env}")),
        json!({
            "env": env,
            "host": host_json(&env, view),
            "refresh_ms": params.refresh_ms(),
        }),
    );
    let range = match params.resolve("1h") {
        Ok(range) => range,
        Err(message) => {
            let data = merge(
                base,
                json!({ "error": message.to_string(), "picker": params.picker("custom") }),
            );
            return Ok(page(StatusCode::BAD_REQUEST, "host", &data));
        }
    };
    let step_ms = metrics::chart_step_ms(
        &TimeRange {
            from: range.from,
            to: range.to,
        },
        240,
    );
    let mut charts = Vec::new();
    for (title, metrics, unit) in HOST_CHARTS {
        let mut lines: Vec<Line> = Vec::new();
        for metric in metrics {
            let query = MetricQuery {
                environment: env.clone(),
                host: Some(host.clone()),
                name: (*metric).to_owned(),
                from: range.from,
                to: range.to,
            };
            let series = state
                .store
                .metric_series(&query, step_ms, Aggregation::Avg)
                .await
                .map_err(store_error)?;
            let short = metric
                .rsplit_once("system.")
                .map_or(*metric, |(_, rest)| rest);
            for mut line in chart::lines(short, series) {
                if metrics.len() > 1 && !line.label.starts_with(short) {
                    line.label = format!("{short} {}", line.label);
                }
                lines.push(line);
            }
        }
        let points: usize = lines.iter().map(|l| l.points.len()).sum();
        charts.push(json!({
            "title": title,
            "id": title.to_lowercase().replace(' ', "-"),
            "empty": points == 0,
            "svg": chart::svg(title, &lines, range.from.timestamp_millis(), range.to.timestamp_millis(), unit),
            "legend": chart::legend(&lines, unit),
        }));
    }
    let data = merge(
        base,
        json!({
            "charts": charts,
            "picker": params.picker(&range.name),
            "shown": format!("{} to {}", local(range.from), local(range.to)),
        }),
    );
    Ok(page(StatusCode::OK, "host", &data))
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct LogParams {
    q: Option<String>,
    host: Option<String>,
    level: Option<String>,
    file: Option<String>,
    cursor: Option<String>,
    after: Option<String>,
    #[serde(flatten)]
    range: RangeParams,
}

fn nonempty(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn log_json(line: &crate::store::LogLine) -> Value {
    json!({
        "at": local(line.timestamp),
        "ts": line.timestamp.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "host": line.host,
        "level": line.level.clone().unwrap_or_default(),
        "file": line.file,
        "message": line.message,
    })
}

/// The logs page's hit histogram: the search's counts per step.
fn hits(counts: &crate::store::LogCounts, step_ms: i64, range: &Range) -> String {
    let buckets: Vec<(i64, u64)> = counts
        .buckets
        .iter()
        .map(|b| (b.start.timestamp_millis(), b.count))
        .collect();
    chart::bars(
        "Matching lines over time",
        &buckets,
        step_ms,
        range.from.timestamp_millis(),
        range.to.timestamp_millis(),
    )
}

pub(super) async fn logs(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(env): Path<String>,
    Query(params): Query<LogParams>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    let hosts = host_views(&state, &environment.name).await?;
    let level = nonempty(&params.level);
    let host = nonempty(&params.host);
    let filters = json!({
        "q": params.q.clone().unwrap_or_default(),
        "file": params.file.clone().unwrap_or_default(),
        "hosts": hosts.iter().map(|h| json!({ "name": h.host, "selected": Some(&h.host) == host.as_ref() })).collect::<Vec<_>>(),
        "levels": (["ERROR", "WARN", "INFO", "DEBUG"]).iter().map(|l| json!({ "name": l, "selected": level.as_deref() == Some(*l) })).collect::<Vec<_>>(),
    });
    let base = merge(
        signed_in.context(&state.config, &format!("Logs · {env}")),
        json!({ "env": env, "filters": filters }),
    );
    let range = match params.range.resolve("24h") {
        Ok(range) => range,
        Err(message) => {
            let data = merge(
                base,
                json!({ "error": message.to_string(), "picker": params.range.picker("custom") }),
            );
            return Ok(page(StatusCode::BAD_REQUEST, "logs", &data));
        }
    };
    let query = LogQuery {
        environment: env.clone(),
        host: host.clone(),
        text: nonempty(&params.q),
        level: level.clone(),
        file: nonempty(&params.file),
        from: range.from,
        to: range.to,
        limit: logs::DEFAULT_LIMIT,
        cursor: nonempty(&params.cursor),
    };
    let step_ms = logs::histogram_step_ms(&TimeRange {
        from: range.from,
        to: range.to,
    });
    // The histogram and total: no host's count nor newest line is shown.
    let by = CountBy {
        hosts: false,
        buckets: Some(std::time::Duration::from_millis(step_ms.unsigned_abs())),
    };
    let (result, counted) =
        tokio::join!(state.store.logs(&query), state.store.count_logs(&query, by));
    let page_of = match result.and_then(|page_of| Ok((page_of, counted?))) {
        Ok(page_of) => page_of,
        Err(StoreError::BadQuery { query, reason }) => {
            let data = merge(
                base,
                json!({
                    "error": format!("The search {query:?} is not valid: {reason}. Words, \"phrases\", AND, OR, NOT and parentheses work; quote a phrase with special characters."),
                    "picker": params.range.picker(&range.name),
                }),
            );
            return Ok(page(StatusCode::BAD_REQUEST, "logs", &data));
        }
        Err(error) => return Err(store_error(error)),
    };
    let (page_of, counts) = page_of;
    let histogram = hits(&counts, step_ms, &range);
    let keep = |cursor: &str| {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (key, value) in [
            ("q", nonempty(&params.q)),
            ("host", host.clone()),
            ("level", level.clone()),
            ("file", nonempty(&params.file)),
            ("range", Some(range.name.clone())),
            ("from", nonempty(&params.range.from)),
            ("to", nonempty(&params.range.to)),
        ] {
            if let Some(value) = value {
                pairs.push((key.into(), value));
            }
        }
        if !cursor.is_empty() {
            pairs.push(("cursor".into(), cursor.into()));
        }
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", super::urlencode(v)))
            .collect::<Vec<_>>()
            .join("&")
    };
    let data = merge(
        base,
        json!({
            "picker": params.range.picker(&range.name),
            "lines": page_of.lines.iter().map(log_json).collect::<Vec<_>>(),
            "count": page_of.lines.len(),
            "total": counts.total,
            "histogram": histogram,
            "next": page_of.next_cursor.as_deref().map(|c| format!("/env/{env}/logs?{}", keep(c))),
            "first": params.cursor.is_some().then(|| format!("/env/{env}/logs?{}", keep(""))),
            "tail_url": format!("/env/{env}/logs/tail?{}", keep("")),
            "shown": format!("{} to {}", local(range.from), local(range.to)),
        }),
    );
    Ok(page(StatusCode::OK, "logs", &data))
}

/// Lines newer than `after`, for the logs page's live tail (JSON).
pub(super) async fn tail(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(env): Path<String>,
    Query(params): Query<LogParams>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    let now = Utc::now();
    let after = match nonempty(&params.after) {
        Some(text) => {
            parse_time(&text, now).map_err(|e| PageError::BadRequest(format!("after: {e}")))?
        }
        None => now - chrono::Duration::minutes(5),
    };
    let query = LogQuery {
        environment: environment.name.clone(),
        host: nonempty(&params.host),
        text: nonempty(&params.q),
        level: nonempty(&params.level),
        file: nonempty(&params.file),
        from: after + chrono::Duration::milliseconds(1),
        to: now + chrono::Duration::seconds(5),
        limit: 200,
        cursor: None,
    };
    let lines = match state.store.logs(&query).await {
        Ok(page) => page.lines,
        Err(StoreError::BadQuery { reason, .. }) => {
            return Err(PageError::BadRequest(reason));
        }
        Err(error) => return Err(store_error(error)),
    };
    Ok((
        secure_headers(),
        axum::Json(json!({ "lines": lines.iter().map(log_json).collect::<Vec<_>>() })),
    )
        .into_response())
}

fn engine(state: &AppState) -> Result<&std::sync::Arc<crate::alerting::Engine>, PageError> {
    state.alerts.as_ref().ok_or_else(|| {
        PageError::NotFound(
            "Alerting is not configured on this monitor ([alerting] in its config).".into(),
        )
    })
}

async fn alerts_page(
    state: &AppState,
    signed_in: &SignedIn,
    env: &str,
    status: StatusCode,
    form: Value,
) -> Result<Response, PageError> {
    let Some(engine) = state.alerts.as_ref() else {
        // A monitor without [alerting] (the quickstart, say): say so on the page.
        let data = merge(
            signed_in.context(&state.config, &format!("Alerts · {env}")),
            json!({
                "env": env,
                "disabled": true,
            }),
        );
        return Ok(page(StatusCode::OK, "alerts", &data));
    };
    let now = Utc::now();
    let engine = engine.fresh().await;
    let mut current = engine.alerts(env);
    current.sort_by_key(|a| (a.state != crate::alerting::State::Firing, a.since));
    let alert_json = |a: &crate::alerting::Alert| {
        json!({
            "state": format!("{:?}", a.state).to_lowercase(),
            "rule": a.rule,
            "host": a.host,
            "labels": a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
            "severity": a.severity,
            "since": local(a.since),
            "value": chart::format(a.value, Unit::Plain),
            "summary": a.summary,
            "silenced": a.silenced_by.is_some(),
            "inhibited": a.inhibited,
            "flapping": a.flapping,
        })
    };
    let active: Vec<Value> = current
        .iter()
        .filter(|a| {
            matches!(
                a.state,
                crate::alerting::State::Firing | crate::alerting::State::Pending
            )
        })
        .map(alert_json)
        .collect();
    let mut history = engine
        .history(env, now - chrono::Duration::days(7))
        .await
        .map_err(|e| PageError::Unavailable(aerie_common::error_chain(&e)))?;
    history.reverse();
    history.truncate(200);
    let silences: Vec<Value> = engine
        .silences()
        .into_iter()
        .filter(|s| s.matchers.get("environment").map(String::as_str) == Some(env))
        .map(|s| {
            json!({
                "id": s.id,
                "matchers": s.matchers.iter().filter(|(k, _)| *k != "environment").map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
                "author": s.author,
                "comment": s.comment,
                "ends": local(s.ends_at),
                "active": s.active(now),
            })
        })
        .collect();
    let data = merge(
        signed_in.context(&state.config, &format!("Alerts · {env}")),
        json!({
            "env": env,
            "active": active,
            "history": history.iter().map(|h| json!({
                "at": local(h.at), "rule": h.rule, "host": h.host, "event": h.event, "message": h.message,
            })).collect::<Vec<_>>(),
            "silences": silences,
            "rules": engine.rule_names(env),
            "form": form,
        }),
    );
    Ok(page(status, "alerts", &data))
}

pub(super) async fn alerts(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(env): Path<String>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    alerts_page(
        &state,
        &signed_in,
        &environment.name,
        StatusCode::OK,
        json!({ "duration": "2h" }),
    )
    .await
}

#[derive(Debug, Deserialize)]
pub(super) struct SilenceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rule: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    comment: String,
}

pub(super) async fn create_silence(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(env): Path<String>,
    axum::extract::Form(form): axum::extract::Form<SilenceForm>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    signed_in.must_operate()?;
    signed_in.check_csrf(&form.csrf)?;
    let again = |message: String| {
        json!({
            "error": message, "rule": form.rule, "host": form.host,
            "duration": form.duration, "comment": form.comment,
        })
    };
    let mut matchers = BTreeMap::from([("environment".to_owned(), environment.name.clone())]);
    if !form.rule.trim().is_empty() {
        matchers.insert("rule".into(), form.rule.trim().to_owned());
    }
    if !form.host.trim().is_empty() {
        matchers.insert("host".into(), form.host.trim().to_owned());
    }
    let problem = if matchers.len() == 1 {
        Some("Choose a rule or a host to silence (or both).".to_owned())
    } else if form.comment.trim().is_empty() {
        Some("Say why in the comment: the next operator will want to know.".to_owned())
    } else {
        None
    };
    let duration = parse_duration(form.duration.trim())
        .map_err(|e| format!("Duration: {e}"))
        .and_then(|d| chrono::Duration::from_std(d).map_err(|_| "Duration: too long".to_owned()));
    let (problem, duration) = match (problem, duration) {
        (Some(problem), _) | (None, Err(problem)) => (Some(problem), None),
        (None, Ok(duration)) => (None, Some(duration)),
    };
    if let Some(problem) = problem {
        return alerts_page(
            &state,
            &signed_in,
            &environment.name,
            StatusCode::BAD_REQUEST,
            again(problem),
        )
        .await;
    }
    let now = Utc::now();
    let ends_at = now + duration.expect("checked above");
    engine(&state)?
        .silence(
            matchers,
            &signed_in.user.name,
            form.comment.trim(),
            ends_at,
            now,
        )
        .await
        .map_err(|e| PageError::Unavailable(aerie_common::error_chain(&e)))?;
    Ok(Redirect::to(&format!("/env/{}/alerts", environment.name)).into_response())
}

pub(super) async fn expire_silence(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path((env, id)): Path<(String, String)>,
    axum::extract::Form(form): axum::extract::Form<super::CsrfForm>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    signed_in.must_operate()?;
    signed_in.check_csrf(&form.csrf)?;
    let engine = engine(&state)?.fresh().await;
    let belongs = engine
        .silences()
        .iter()
        .any(|s| s.id == id && s.matchers.get("environment") == Some(&environment.name));
    if !belongs {
        return Err(PageError::NotFound(format!(
            "There is no silence {id:?} in {env}."
        )));
    }
    engine
        .expire(&id, chrono::Utc::now())
        .await
        .map_err(|e| PageError::Unavailable(aerie_common::error_chain(&e)))?;
    Ok(Redirect::to(&format!("/env/{}/alerts", environment.name)).into_response())
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct StatsParams {
    period: Option<String>,
    tenant: Option<String>,
    #[serde(flatten)]
    range: RangeParams,
}

pub(super) async fn api_stats(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(env): Path<String>,
    Query(params): Query<StatsParams>,
) -> Result<Response, PageError> {
    let environment = readable(&state.config, &signed_in, &env)?;
    let period_name = nonempty(&params.period).unwrap_or_else(|| "day".into());
    let tenant = nonempty(&params.tenant);
    let base = merge(
        signed_in.context(&state.config, &format!("API statistics · {env}")),
        json!({
            "env": env,
            "tenant": tenant.clone().unwrap_or_default(),
            "periods": (["hour", "day", "month"]).iter().map(|p| json!({ "name": p, "selected": *p == period_name })).collect::<Vec<_>>(),
        }),
    );
    let problem = |message: String| {
        let data = merge(
            base.clone(),
            json!({ "error": message.to_string(), "picker": params.range.picker("custom") }),
        );
        Ok(page(StatusCode::BAD_REQUEST, "apistats", &data))
    };
    let range = match params.range.resolve("24h") {
        Ok(range) => range,
        Err(message) => return problem(message.to_string()),
    };
    let period: crate::jobs::usage::Period = match period_name.parse() {
        Ok(period) => period,
        Err(unknown) => return problem(unknown.to_string()),
    };
    let shown = TimeRange {
        from: range.from,
        to: range.to,
    };
    let rows = crate::query::api_stats(&*state.store, &environment.name, &shown)
        .await
        .map_err(store_error)?;
    if let Err(error) = state.ledger.load(&environment.name).await {
        return Err(PageError::Unavailable(format!(
            "The usage ledger could not be read: {}",
            aerie_common::error_chain(&error)
        )));
    }
    let usage = state
        .ledger
        .rows(&environment.name, tenant.as_deref(), period);
    let data = merge(
        base,
        json!({
            "picker": params.range.picker(&range.name),
            "shown": format!("{} to {}", local(range.from), local(range.to)),
            "stats": rows.iter().map(|r| json!({
                "api": r.api, "tenant": r.tenant, "count": r.count, "faults": r.faults,
                "min_ms": format!("{:.1}", r.min_ms), "avg_ms": format!("{:.1}", r.avg_ms), "max_ms": format!("{:.1}", r.max_ms),
                "bytes": chart::format(r.bytes as f64, Unit::Bytes),
            })).collect::<Vec<_>>(),
            "usage": usage.iter().rev().take(500).map(|u| json!({
                "tenant": u.tenant, "start": local(u.start), "requests": u.usage.requests,
                "faults": u.usage.faults, "bytes": chart::format(u.usage.bytes as f64, Unit::Bytes),
            })).collect::<Vec<_>>(),
        }),
    );
    Ok(page(StatusCode::OK, "apistats", &data))
}
