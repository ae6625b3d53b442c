//! One environment's log events of one UTC day as gzip-compressed NDJSON
//! with ECS field names (`@timestamp`, `host.name`, `log.level`,
//! `message`, ...), newest first: what the daily backup archives, served
//! by `GET /api/v1/logs/export` and read by the monitor's backup job. It
//! reads the store and never changes anything.

use std::io::Write as _;

use chrono::{Duration, NaiveDate};

use crate::store::{LogLine, LogQuery, Store, StoreError};

/// How many lines one store query reads.
const PAGE: usize = *super::logs::LIMITS.end();

/// Every log event of `environment` on `day`, as gzip NDJSON.
pub async fn day(
    store: &dyn Store,
    environment: &str,
    day: NaiveDate,
) -> Result<Vec<u8>, StoreError> {
    let from = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    // The store's range is inclusive: up to the day's last microsecond.
    let to = from + Duration::days(1) - Duration::microseconds(1);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut cursor = None;
    loop {
        let page = store
            .logs(&LogQuery {
                environment: environment.to_owned(),
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
            serde_json::to_writer(&mut gzip, &document(line, environment))
                .expect("a JSON value writes to memory");
            gzip.write_all(b"\n")
                .expect("writing to memory does not fail");
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(gzip.finish().expect("writing to memory does not fail"))
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
