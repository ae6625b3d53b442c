//! `GET /api/v1/logs/export?env=E&day=YYYY-MM-DD`: every log event of one
//! environment on one UTC day, as gzip-compressed NDJSON with ECS field
//! names (`@timestamp`, `host.name`, `log.level`, `message`, ...), newest
//! first. The backup run archives it; it reads the store and never
//! changes anything, and it answers only the environments the caller
//! may read.

use std::io::Write as _;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use chrono::{Duration, NaiveDate};
use serde::Deserialize;

use super::query::Params;
use super::{ApiError, AppState, auth};
use crate::store::{LogLine, LogQuery};

#[derive(Debug, Deserialize)]
pub(super) struct ExportParams {
    env: String,
    day: NaiveDate,
}

/// How many lines one store query reads.
const PAGE: usize = *crate::query::logs::LIMITS.end();

pub(super) async fn export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Params(params): Params<ExportParams>,
) -> Result<impl IntoResponse, ApiError> {
    let user = auth::user(&state.config, &headers)?;
    let environment = auth::readable(&state.config, user, &params.env)?;
    let from = params
        .day
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    // The store's range is inclusive: up to the day's last microsecond.
    let to = from + Duration::days(1) - Duration::microseconds(1);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut cursor = None;
    loop {
        let page = state
            .store
            .logs(&LogQuery {
                environment: environment.name.clone(),
                host: None,
                text: None,
                level: None,
                file: None,
                from,
                to,
                limit: PAGE,
                cursor,
            })
            .await?;
        for line in &page.lines {
            serde_json::to_writer(&mut gzip, &document(line, &environment.name))
                .expect("a JSON value writes to memory");
            gzip.write_all(b"\n")
                .expect("writing to memory does not fail");
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    let body = gzip.finish().expect("writing to memory does not fail");
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

/// One stored line as its ECS document (the `_bulk` format's, without
/// the store's own sort field).
fn document(line: &LogLine, environment: &str) -> serde_json::Value {
    let event = aerie_wire::Event {
        id: line.id.clone(),
        timestamp: line.timestamp,
        body: aerie_wire::EventBody::Log {
            file: line.file.clone(),
            level: line.level.clone(),
            logger: line.logger.clone(),
            message: line.message.clone(),
            parsed: true,
        },
    };
    let (_, mut document) = aerie_wire::ecs::ecs_document(&event, environment, &line.host);
    if let Some(object) = document.as_object_mut() {
        object.remove("aerie");
    }
    document
}
