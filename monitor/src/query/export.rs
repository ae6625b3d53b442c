//! One environment's log events of one UTC day as gzip-compressed NDJSON
//! with ECS field names (`@timestamp`, `host.name`, `log.level`,
//! `message`, ...), newest first: what the daily backup archives, served
//! by `GET /api/v1/logs/export` and read by the monitor's backup job. It
//! reads the store and never changes anything.
//!
//! The export is made a store page at a time ([`DayExport::next`]): a day
//! of a busy environment streams to the client or to a file and never sits
//! in memory whole.

use std::io::Write as _;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use flate2::write::GzEncoder;

use crate::store::{LogLine, LogQuery, Store, StoreError};

/// How many lines one store query reads.
const PAGE: usize = *super::logs::LIMITS.end();

/// A day's export under way: each [`DayExport::next`] reads one page of
/// the store and answers the compressed bytes it made.
#[derive(Debug)]
pub struct DayExport {
    environment: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cursor: Option<String>,
    /// `None` once the gzip stream is finished.
    gzip: Option<GzEncoder<Vec<u8>>>,
}

impl DayExport {
    pub fn new(environment: &str, day: NaiveDate) -> Self {
        let from = day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
        Self {
            environment: environment.to_owned(),
            from,
            // The store's range is inclusive: up to the day's last microsecond.
            to: from + Duration::days(1) - Duration::microseconds(1),
            cursor: None,
            gzip: Some(GzEncoder::new(Vec::new(), flate2::Compression::default())),
        }
    }

    /// The next piece of the gzip stream (possibly empty while the
    /// compressor holds it back); `None` after the last.
    pub async fn next(&mut self, store: &dyn Store) -> Result<Option<Vec<u8>>, StoreError> {
        if self.gzip.is_none() {
            return Ok(None);
        }
        let page = store
            .logs(&LogQuery {
                environment: self.environment.clone(),
                host: None,
                text: None,
                level: None,
                file: None,
                from: self.from,
                to: self.to,
                limit: PAGE,
                cursor: self.cursor.take(),
            })
            .await?;
        let gzip = self.gzip.as_mut().expect("checked above");
        for line in &page.lines {
            serde_json::to_writer(&mut *gzip, &document(line, &self.environment))
                .expect("a JSON value writes to memory");
            gzip.write_all(b"\n")
                .expect("writing to memory does not fail");
        }
        self.cursor = page.next_cursor;
        if self.cursor.is_some() {
            return Ok(Some(std::mem::take(gzip.get_mut())));
        }
        let gzip = self.gzip.take().expect("checked above");
        Ok(Some(
            gzip.finish().expect("writing to memory does not fail"),
        ))
    }
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
            origin: None,
        },
    };
    let (_, mut document) = aerie_wire::ecs::ecs_document(&event, environment, &line.host);
    if let Some(object) = document.as_object_mut() {
        object.remove("aerie");
    }
    document
}
