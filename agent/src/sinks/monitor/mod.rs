//! Delivers batches to the monitor's ingest API (`aerie_wire`): JSON,
//! gzip-compressed, bearer token, over HTTP or HTTPS (rustls, optionally a
//! private CA), optionally through an HTTP proxy.
//!
//! Nothing is ever dropped for a failed delivery: the batch is sent again
//! after a backoff until the monitor answers. Events the monitor rejects one
//! by one (with a reason) are counted and logged, and the rest are stored.

mod compression;
mod config;

use std::sync::Arc;

use aerie_wire::{INGEST_PATH, IngestResponse};

pub use compression::Compression;
use compression::Encoder;
pub use config::{MonitorConfig, RawMonitorConfig};

use super::http::{ClientError, DeliveryError, error_chain};

use super::{ack, backoff, next_batch, pause, worth_logging};
use crate::counters::Counters;
use crate::queue::{Batch, SharedQueue};

/// The monitor sink.
#[derive(Debug)]
pub struct MonitorSink {
    config: MonitorConfig,
    client: reqwest::Client,
    url: String,
    /// " through proxy URL" when a proxy is configured: errors say which
    /// hop may be at fault.
    route: String,
    header: Vec<u8>,
    counters: Counters,
}

impl MonitorSink {
    pub fn new(
        config: MonitorConfig,
        environment: &str,
        host: &str,
        counters: Counters,
    ) -> Result<Self, ClientError> {
        let client = config.client()?;
        let url = format!("{}{INGEST_PATH}", config.url.trim_end_matches('/'));
        let header = format!(
            r#"{{"environment":{},"host":{},"agent":{},"events":["#,
            serde_json::Value::from(environment),
            serde_json::Value::from(host),
            serde_json::Value::from(concat!("aerie-agent/", env!("CARGO_PKG_VERSION"))),
        )
        .into_bytes();
        let route = config
            .proxy
            .as_ref()
            .map(|proxy| format!(" through proxy {proxy}"))
            .unwrap_or_default();
        Ok(Self {
            config,
            client,
            url,
            route,
            header,
            counters,
        })
    }

    /// Delivers from the queue until shutdown.
    pub async fn run(self, queue: Arc<SharedQueue>, shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut limit = self.config.batch_max_events;
        let mut encoder = Encoder::new(self.config.compression);
        while let Some(batch) = next_batch(
            &queue,
            limit,
            self.config.batch_max_bytes.as_u64(),
            &shutdown,
        )
        .await
        {
            let events = batch.len() as u64;
            let body = self.body(&batch, &mut encoder);
            let mut attempt = 0u32;
            loop {
                let started = std::time::Instant::now();
                match self.send(&body).await {
                    Ok(answer) => {
                        self.counters.observe_delivery(started.elapsed());
                        self.account(&answer, events);
                        ack(&queue, &batch).await;
                        limit = self.config.batch_max_events;
                        break;
                    }
                    Err(DeliveryError::Status { status, .. })
                        if status == reqwest::StatusCode::PAYLOAD_TOO_LARGE && batch.len() > 1 =>
                    {
                        limit = (batch.len() / 2).max(1);
                        tracing::warn!(
                            events,
                            limit,
                            "the monitor found the batch too large; sending smaller ones"
                        );
                        break;
                    }
                    Err(error) => {
                        attempt += 1;
                        self.counters.add_retried(events);
                        let wait = backoff(attempt);
                        if worth_logging(attempt) {
                            tracing::warn!(%error, attempt, retry_in = ?wait, "delivery to the monitor failed; will retry");
                        }
                        if !pause(wait, &shutdown).await {
                            return;
                        }
                    }
                }
            }
        }
    }

    fn body(&self, batch: &Batch, encoder: &mut Encoder) -> Vec<u8> {
        let size = self.header.len() + batch.bytes_len() + batch.len() + 2;
        let mut json = Vec::with_capacity(size);
        json.extend_from_slice(&self.header);
        for (index, record) in batch.records().enumerate() {
            if index > 0 {
                json.push(b',');
            }
            json.extend_from_slice(record);
        }
        json.extend_from_slice(b"]}");
        encoder.encode(json)
    }

    async fn send(&self, body: &[u8]) -> Result<IngestResponse, DeliveryError> {
        let mut request = self
            .client
            .post(&self.url)
            .bearer_auth(self.config.token.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(self.config.timeout)
            .body(body.to_vec());
        if let Some(encoding) = self.config.compression.content_encoding() {
            request = request.header(reqwest::header::CONTENT_ENCODING, encoding);
        }
        let response = request
            .send()
            .await
            .map_err(|error| DeliveryError::Unreachable {
                url: self.url.clone(),
                route: self.route.clone(),
                detail: error_chain(&error),
            })?;
        let status = response.status();
        if !status.is_success() {
            let via = response
                .headers()
                .get(reqwest::header::SERVER)
                .and_then(|server| server.to_str().ok())
                .map(|server| format!(" (from server {server:?})"))
                .unwrap_or_default();
            let body = response.text().await.unwrap_or_default();
            return Err(DeliveryError::Status {
                url: self.url.clone(),
                route: self.route.clone(),
                status,
                via,
                body: body.chars().take(300).collect(),
            });
        }
        response
            .json()
            .await
            .map_err(|error| DeliveryError::BadAnswer {
                url: self.url.clone(),
                expected: "an ingest response",
                detail: error_chain(&error),
            })
    }

    fn account(&self, answer: &IngestResponse, events: u64) {
        let rejected = answer.rejected.len() as u64;
        self.counters.add_sent(events - rejected);
        if rejected > 0 {
            self.counters.add_rejected(rejected);
            for item in answer.rejected.iter().take(5) {
                tracing::warn!(index = item.index, id = ?item.id, reason = %item.reason, "the monitor rejected an event");
            }
        }
    }
}
