//! `GET /api/v1/logs/export?env=E&day=YYYY-MM-DD`: one environment's log
//! events of one UTC day (`query::export`), for the callers that may read
//! that environment. It never changes anything.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use chrono::NaiveDate;
use serde::Deserialize;

use super::query::Params;
use super::{ApiError, AppState, auth};

#[derive(Debug, Deserialize)]
pub(super) struct ExportParams {
    env: String,
    day: NaiveDate,
}

pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<ExportParams>,
) -> Result<impl IntoResponse, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let body = crate::query::export::day(&*state.store, &environment.name, params.day).await?;
    let name = format!(
        "attachment; filename=\"{}-logs-{}.ndjson.gz\"",
        environment.name, params.day
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        body,
    ))
}
