//! A webhook channel: each alert notification POSTed as JSON in the
//! Alertmanager webhook format (version 4) to a URL an environment names, so
//! customers who keep their own monitoring receive our alerts in the shape
//! their tools already read. The body is signed with HMAC-SHA256 over its
//! exact bytes in `X-Aerie-Signature-256: sha256=<hex>`, keyed by the
//! webhook's secret; the receiver recomputes it to know the post is ours.
//!
//! Only the sending lives here: the outbox retries with backoff, and drops a
//! delivery the receiver refuses (a 4xx other than 408 and 429) after
//! recording it. The secret never appears in a log, an error or the body.

use std::collections::BTreeMap;
use std::time::Duration;

use aerie_wire::Secret;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::templates::AlertMail;
use super::{Channel, Mail, SendError};

/// The header carrying the body's signature.
pub const SIGNATURE_HEADER: &str = "X-Aerie-Signature-256";

/// The header carrying the delivery's de-duplication key (`Mail::key`).
pub const DELIVERY_HEADER: &str = "X-Aerie-Delivery";

/// Alertmanager's `endsAt` of an alert that has not ended.
const NOT_ENDED: &str = "0001-01-01T00:00:00Z";

/// What the receiver answered when it did not take the post.
#[derive(Debug, thiserror::Error)]
#[error("the receiver answered HTTP {status}{}", hint(*status))]
pub struct Refused {
    pub status: u16,
}

fn hint(status: u16) -> &'static str {
    match status {
        300..=399 => ": redirects are not followed, configure the URL it points to",
        401 | 403 => ": check the receiver's access rules and the webhook's secret",
        404 | 405 => ": check the webhook's URL",
        _ => "",
    }
}

/// A webhook: where it posts, and the key its bodies are signed with.
#[derive(Debug)]
pub struct WebhookChannel {
    url: reqwest::Url,
    secret: Secret,
    client: reqwest::Client,
}

impl WebhookChannel {
    /// A channel posting to `url`; a post waits at most `timeout`.
    pub fn new(url: reqwest::Url, secret: Secret, timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aerie-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client without custom TLS settings builds");
        Self {
            url,
            secret,
            client,
        }
    }
}

/// `sha256=<hex>`: the HMAC-SHA256 of `body` keyed by `secret`.
pub fn signature(secret: &Secret, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Alertmanager webhook body of a notification.
pub fn body(mail: &Mail) -> Value {
    let alert = &mail.alert;
    let status = if alert.resolved { "resolved" } else { "firing" };
    let group_labels = BTreeMap::from([
        ("alertname", alert.rule.as_str()),
        ("environment", alert.environment.as_str()),
    ]);
    let mut common_labels = group_labels.clone();
    common_labels.insert("severity", &alert.severity);
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{}\", environment=\"{}\"}}", alert.rule, alert.environment),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": format!("aerie-{}", alert.environment),
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": {
            "subject": mail.subject,
            "summary": alert.summary,
            "description": alert.description,
        },
        "externalURL": alert.link,
        "alerts": alerts(alert),
    })
}

fn alerts(alert: &AlertMail) -> Vec<Value> {
    alert
        .alerts
        .iter()
        .map(|item| {
            let mut labels = item.label_set.clone();
            labels.insert("alertname".into(), alert.rule.clone());
            labels.insert("environment".into(), alert.environment.clone());
            labels.insert("severity".into(), alert.severity.clone());
            labels.insert("host".into(), item.host.clone());
            let fingerprint =
                hex(&Sha256::digest(serde_json::to_vec(&labels).unwrap_or_default())[..8]);
            json!({
                "status": item.status.to_lowercase(),
                "labels": labels,
                "annotations": {
                    "summary": item.summary,
                    "value": item.value,
                    "detail": item.detail,
                },
                "startsAt": item.since,
                "endsAt": if item.ended.is_empty() { NOT_ENDED } else { &item.ended },
                "generatorURL": alert.link,
                "fingerprint": fingerprint,
            })
        })
        .collect()
}

/// Whether sending the same post again could succeed: the receiver timed
/// out, is rate limiting, or failed on its side.
fn transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

#[async_trait::async_trait]
impl Channel for WebhookChannel {
    fn describe(&self) -> String {
        let mut shown = self.url.clone();
        shown.set_query(None);
        let _ = shown.set_password(None);
        format!("webhook {shown}")
    }

    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let error = |source: Box<dyn std::error::Error + Send + Sync>, permanent: bool| SendError {
            channel: self.describe(),
            source,
            permanent,
        };
        let body = serde_json::to_vec(&body(mail)).map_err(|e| error(e.into(), true))?;
        let answer = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature(&self.secret, &body))
            .header(DELIVERY_HEADER, &mail.key)
            .body(body)
            .send()
            .await
            .map_err(|e| error(Box::new(e.without_url()), false))?;
        let status = answer.status().as_u16();
        if answer.status().is_success() {
            Ok(())
        } else {
            Err(error(Box::new(Refused { status }), !transient(status)))
        }
    }
}

#[cfg(test)]
mod tests {
    use aerie_testkit::WebhookReceiver;

    use super::*;
    use crate::notify::conformance::Received;
    use crate::notify::templates::{Templates, sample};

    fn channel(receiver: &WebhookReceiver, secret: &str) -> WebhookChannel {
        WebhookChannel::new(
            receiver.url("/hooks/aerie").parse().unwrap(),
            Secret::new(secret),
            Duration::from_secs(5),
        )
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_webhook_passes_the_channel_conformance_suite() {
        let receiver = WebhookReceiver::start().await.unwrap();
        let channel = channel(&receiver, "shared secret");
        crate::notify::conformance::run(&channel, async || {
            receiver
                .deliveries()
                .into_iter()
                .map(|d| Received {
                    to: None,
                    raw: String::from_utf8_lossy(&d.body).into_owned(),
                })
                .collect()
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_post_is_alertmanager_json_signed_over_its_exact_bytes() {
        let receiver = WebhookReceiver::start().await.unwrap();
        let mail = Templates::built_in()
            .render(&sample(), "aerie@ops.example", &[])
            .unwrap();
        channel(&receiver, "shared secret")
            .send(&mail)
            .await
            .unwrap();

        let delivery = &receiver.deliveries()[0];
        assert_eq!(delivery.path, "/hooks/aerie");
        assert_eq!(delivery.header("content-type"), Some("application/json"));
        let expected = signature(&Secret::new("shared secret"), &delivery.body);
        assert_eq!(
            delivery.header("x-aerie-signature-256"),
            Some(expected.as_str())
        );
        assert_ne!(
            signature(&Secret::new("another secret"), &delivery.body),
            expected
        );
        let json = delivery.json();
        assert_eq!(json["version"], "4");
        assert_eq!(json["status"], "firing");
        assert_eq!(json["groupLabels"]["alertname"], "heap-high");
        assert_eq!(json["commonLabels"]["environment"], "acme-prod");
        let alert = &json["alerts"][0];
        assert_eq!(alert["labels"]["host"], "gw-1");
        assert_eq!(alert["labels"]["severity"], "critical");
        assert_eq!(alert["startsAt"], "2026-11-21T10:00:00Z");
        assert_eq!(alert["endsAt"], NOT_ENDED);
        assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
        assert!(!String::from_utf8_lossy(&delivery.body).contains("shared secret"));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_refusal_is_permanent_and_a_server_error_is_not() {
        let receiver = WebhookReceiver::start().await.unwrap();
        let channel = channel(&receiver, "s");
        let mail = Templates::built_in()
            .render(&sample(), "aerie@ops.example", &[])
            .unwrap();
        for (status, permanent) in [(400, true), (404, true), (429, false), (503, false)] {
            receiver.set_status(status);
            let error = channel.send(&mail).await.unwrap_err();
            assert_eq!(error.permanent, permanent, "HTTP {status}");
            let chain = aerie_common::error_chain(&error);
            assert!(chain.contains(&format!("HTTP {status}")), "{chain}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unreachable_receiver_is_worth_retrying() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let channel = WebhookChannel::new(
            format!("http://127.0.0.1:{port}/").parse().unwrap(),
            Secret::new("s"),
            Duration::from_secs(2),
        );
        let mail = Templates::built_in()
            .render(&sample(), "aerie@ops.example", &[])
            .unwrap();
        let error = channel.send(&mail).await.unwrap_err();
        assert!(!error.permanent);
    }
}
