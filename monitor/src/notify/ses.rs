//! Mail through Amazon SES (aws-sdk-ses), for customers without an SMTP
//! server of their own. Region, endpoint and credentials come from the
//! standard SDK configuration; the sender's domain must be verified in SES
//! (the provisioner sets up the identity and DKIM).

use aws_sdk_ses::error::DisplayErrorContext;
use aws_sdk_ses::types::{Body, Content, Destination, Message};

use super::{Channel, Mail, SendError};

#[derive(Debug)]
pub struct SesChannel {
    client: aws_sdk_ses::Client,
    region: String,
}

impl SesChannel {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let region = config
            .region()
            .map(ToString::to_string)
            .unwrap_or_else(|| "(no region)".into());
        Self {
            client: aws_sdk_ses::Client::new(config),
            region,
        }
    }
}

fn content(text: &str) -> Result<Content, aws_sdk_ses::error::BuildError> {
    Content::builder().data(text).charset("UTF-8").build()
}

#[async_trait::async_trait]
impl Channel for SesChannel {
    fn describe(&self) -> String {
        format!("ses {}", self.region)
    }

    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let error = |source: Box<dyn std::error::Error + Send + Sync>, permanent: bool| SendError {
            channel: self.describe(),
            source,
            permanent,
        };
        let message = Message::builder()
            .subject(content(&mail.subject).map_err(|e| error(e.into(), true))?)
            .body(
                Body::builder()
                    .text(content(&mail.text).map_err(|e| error(e.into(), true))?)
                    .html(content(&mail.html).map_err(|e| error(e.into(), true))?)
                    .build(),
            )
            .build();
        self.client
            .send_email()
            .source(&mail.from)
            .destination(
                Destination::builder()
                    .set_to_addresses(Some(mail.to.clone()))
                    .build(),
            )
            .message(message)
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                let permanent = e.as_service_error().is_some_and(|service| {
                    service.is_message_rejected()
                        || service.is_mail_from_domain_not_verified_exception()
                });
                error(DisplayErrorContext(&e).to_string().into(), permanent)
            })
    }
}

#[cfg(test)]
mod tests {
    use aerie_testkit::MotoServer;

    use super::*;

    /// Sent mail as moto keeps it (`GET /moto-api/data.json`, `ses.Message`).
    async fn sent(moto: &MotoServer) -> Vec<crate::notify::conformance::Received> {
        let data = moto.data().await.unwrap();
        let messages = data["ses"]["Message"].clone();
        let mut found = Vec::new();
        let mut collect = |message: &serde_json::Value| {
            let to = message["destinations"]["ToAddresses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            found.push(crate::notify::conformance::Received {
                to: Some(
                    to.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect(),
                ),
                raw: format!(
                    "Subject: {}\n\n{}\n{}",
                    message["subject"].as_str().unwrap_or_default(),
                    message["body"].as_str().unwrap_or_default(),
                    message
                ),
            });
        };
        match &messages {
            serde_json::Value::Array(list) => list.iter().for_each(&mut collect),
            serde_json::Value::Object(map) => map.values().for_each(&mut collect),
            _ => {}
        }
        found
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn ses_passes_the_channel_conformance_suite_on_moto() {
        let moto = MotoServer::start().await.unwrap();
        let config = moto.sdk_config("eu-west-1").await;
        aws_sdk_ses::Client::new(&config)
            .verify_domain_identity()
            .domain("ops.example")
            .send()
            .await
            .unwrap();
        let channel = SesChannel::new(&config);
        crate::notify::conformance::run(&channel, async || sent(&moto).await).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_unverified_sender_is_a_clear_permanent_error() {
        let moto = MotoServer::start().await.unwrap();
        let channel = SesChannel::new(&moto.sdk_config("eu-west-1").await);
        let mail = crate::notify::templates::Templates::built_in()
            .render(
                &crate::notify::templates::sample(),
                "aerie@unverified.example",
                &["oncall@acme.example".into()],
            )
            .unwrap();
        let error = channel.send(&mail).await.unwrap_err();
        // What the history and the log show: the error with its cause.
        let text = aerie_common::error_chain(&error);
        assert!(error.permanent, "{text}");
        assert!(text.starts_with("ses eu-west-1"), "{text}");
        assert!(
            text.contains("MessageRejected") || text.contains("not verified"),
            "{text}"
        );
        assert!(sent(&moto).await.is_empty());
    }
}
