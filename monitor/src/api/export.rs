//! `GET /api/v1/logs/export?env=E&day=YYYY-MM-DD`: one environment's log
//! events of one UTC day (`query::export`), for the callers that may read
//! that environment. It never changes anything. The body streams a store
//! page at a time; a store failure after the first page breaks the body
//! off, so the client sees an incomplete download, never a short archive.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use chrono::NaiveDate;
use futures_util::StreamExt as _;
use serde::Deserialize;

use crate::query::export::DayExport;
use crate::store::StoreError;

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
    let mut export = DayExport::new(&environment.name, params.day);
    // The first page before the answer: a store that cannot be read gives
    // an error status, not a 200 that breaks off.
    let first = export.next(&*state.store).await?.unwrap_or_default();
    let rest = futures_util::stream::try_unfold(
        (export, Arc::clone(&state.store)),
        |(mut export, store)| async move {
            let next = export.next(&*store).await?;
            Ok::<_, StoreError>(next.map(|bytes| (Bytes::from(bytes), (export, store))))
        },
    );
    let body = futures_util::stream::once(async { Ok(Bytes::from(first)) }).chain(rest);
    let name = format!(
        "attachment; filename=\"{}-logs-{}.ndjson.gz\"",
        environment.name, params.day
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from_stream(body),
    ))
}
