//! Delivers straight to an Elasticsearch `_bulk` endpoint, as ECS documents
//! in daily indices `<prefix>-<logs|metrics|apistats>-<environment>-YYYY.MM.DD`.
//!
//! Each document is written with `create` and `_id` = the event id, so a
//! document sent twice is refused as a conflict (409) and counted as stored.
//! Of a bulk answer, only the items that failed with 429 or 5xx are sent
//! again; an item refused for any other reason is counted, logged with its
//! reason, and does not hold up the rest.

mod config;

use std::sync::Arc;

use aerie_wire::Event;
use aerie_wire::ecs::write_ecs_document;
use serde_json::{Value, json};

pub use config::{ElasticsearchConfig, RawElasticsearchConfig};

use super::http::{ClientError, DeliveryError, error_chain};
use super::{ack, backoff, next_batch, pause, worth_logging};
use crate::counters::Counters;
use crate::queue::SharedQueue;

#[derive(Debug)]
pub struct ElasticsearchSink {
    config: ElasticsearchConfig,
    client: reqwest::Client,
    environment: String,
    host: String,
    counters: Counters,
}

/// What became of one document in a bulk request.
#[derive(Debug, PartialEq)]
enum Outcome {
    Stored,
    Retry(String),
    Rejected(String),
}

impl ElasticsearchSink {
    pub fn new(
        config: ElasticsearchConfig,
        environment: &str,
        host: &str,
        counters: Counters,
    ) -> Result<Self, ClientError> {
        let client = super::http::http_client(
            config.ca_pem.as_deref(),
            None,
            config.proxy.as_deref(),
            config.timeout,
        )?;
        Ok(Self {
            config,
            client,
            environment: environment.to_owned(),
            host: host.to_owned(),
            counters,
        })
    }

    pub async fn run(self, queue: Arc<SharedQueue>, shutdown: tokio::sync::watch::Receiver<bool>) {
        while let Some(batch) =
            next_batch(&queue, self.config.batch_max_events, u64::MAX, &shutdown).await
        {
            let mut lines: Vec<(String, String)> = Vec::with_capacity(batch.len());
            for record in batch.records() {
                match serde_json::from_slice::<Event>(record) {
                    Ok(event) => lines.push(self.bulk_lines(&event)),
                    Err(error) => {
                        self.counters.add_rejected(1);
                        tracing::error!(%error, "an event in the disk queue does not parse; skipped");
                    }
                }
            }
            let mut attempt = 0u32;
            while !lines.is_empty() {
                match self.send(&lines).await {
                    Ok(outcomes) => {
                        let mut retry = Vec::new();
                        let mut first_retry_reason = None;
                        for (line, outcome) in lines.into_iter().zip(outcomes) {
                            match outcome {
                                Outcome::Stored => self.counters.add_sent(1),
                                Outcome::Rejected(reason) => {
                                    self.counters.add_rejected(1);
                                    tracing::warn!(%reason, "elasticsearch rejected a document");
                                }
                                Outcome::Retry(reason) => {
                                    first_retry_reason.get_or_insert(reason);
                                    retry.push(line);
                                }
                            }
                        }
                        lines = retry;
                        if let Some(reason) = first_retry_reason {
                            attempt += 1;
                            self.counters.add_retried(lines.len() as u64);
                            tracing::warn!(%reason, documents = lines.len(), attempt, "elasticsearch asked to retry documents");
                            if !pause(backoff(attempt), &shutdown).await {
                                return;
                            }
                        }
                    }
                    Err(error) => {
                        attempt += 1;
                        self.counters.add_retried(lines.len() as u64);
                        if worth_logging(attempt) {
                            tracing::warn!(%error, attempt, "bulk request to elasticsearch failed; will retry");
                        }
                        if !pause(backoff(attempt), &shutdown).await {
                            return;
                        }
                    }
                }
            }
            ack(&queue, &batch).await;
        }
    }

    /// The action line and the ECS document of one event.
    fn bulk_lines(&self, event: &Event) -> (String, String) {
        let mut document = Vec::with_capacity(512);
        let kind = write_ecs_document(event, &self.environment, &self.host, &mut document);
        let document = String::from_utf8(document).expect("serde_json writes UTF-8");
        let index = aerie_wire::ecs::index_name(
            &self.config.index_prefix,
            kind,
            &self.environment,
            event.timestamp,
        );
        let action = json!({ "create": { "_index": index, "_id": event.id } });
        (action.to_string(), document)
    }

    async fn send(&self, lines: &[(String, String)]) -> Result<Vec<Outcome>, DeliveryError> {
        let mut body =
            String::with_capacity(lines.iter().map(|(a, d)| a.len() + d.len() + 2).sum());
        for (action, document) in lines {
            body.push_str(action);
            body.push('\n');
            body.push_str(document);
            body.push('\n');
        }
        let url = format!("{}/_bulk", self.config.url.trim_end_matches('/'));
        let mut request = self
            .client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-ndjson")
            .body(body);
        if let Some(username) = &self.config.username {
            request =
                request.basic_auth(username, self.config.password.as_ref().map(|p| p.expose()));
        }
        let response = request
            .send()
            .await
            .map_err(|error| DeliveryError::Unreachable {
                url: url.clone(),
                route: String::new(),
                detail: error_chain(&error),
            })?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(DeliveryError::Status {
                url,
                route: String::new(),
                status,
                via: String::new(),
                body: body.chars().take(300).collect(),
            });
        }
        let bad_answer = |detail: String| DeliveryError::BadAnswer {
            url: url.clone(),
            expected: "a bulk response",
            detail,
        };
        let answer: Value = response
            .json()
            .await
            .map_err(|error| bad_answer(error_chain(&error)))?;
        let items = answer["items"]
            .as_array()
            .filter(|items| items.len() == lines.len())
            .ok_or_else(|| bad_answer("it holds the wrong number of items".to_owned()))?;
        Ok(items.iter().map(outcome).collect())
    }
}

fn outcome(item: &Value) -> Outcome {
    let result = item
        .as_object()
        .and_then(|item| item.values().next())
        .cloned()
        .unwrap_or(Value::Null);
    let status = result["status"].as_u64().unwrap_or(0);
    let reason = || {
        format!(
            "{status} {}: {}",
            result["error"]["type"].as_str().unwrap_or("error"),
            result["error"]["reason"]
                .as_str()
                .unwrap_or("no reason given")
        )
    };
    match status {
        200..=299 | 409 => Outcome::Stored,
        429 | 500..=599 => Outcome::Retry(reason()),
        _ => Outcome::Rejected(reason()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_item_statuses_map_to_outcomes() {
        assert_eq!(
            outcome(&json!({"create": {"status": 201}})),
            Outcome::Stored
        );
        assert_eq!(
            outcome(&json!({"create": {"status": 409}})),
            Outcome::Stored
        );
        assert!(matches!(
            outcome(&json!({"create": {"status": 429}})),
            Outcome::Retry(_)
        ));
        assert!(matches!(
            outcome(&json!({"create": {"status": 503}})),
            Outcome::Retry(_)
        ));
        let rejected = outcome(
            &json!({"create": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "bad date"}}}),
        );
        assert_eq!(
            rejected,
            Outcome::Rejected("400 mapper_parsing_exception: bad date".into())
        );
    }
}
