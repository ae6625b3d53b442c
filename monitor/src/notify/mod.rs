//! Alert notifications: one [`Channel`] trait, three channels (SMTP with
//! AUTH through lettre, Amazon SES through aws-sdk-ses, and a signed webhook
//! in the Alertmanager format), one conformance suite run against each with a
//! real receiver (an SMTP server, moto's SES, a local HTTP server).
//! Emails are rendered from the handlebars templates in `templates/alert/`;
//! the webhook sends the same alert as JSON.

pub mod ses;
pub mod smtp;
pub mod templates;
pub mod webhook;

#[cfg(test)]
pub(crate) mod conformance;

/// One notification, ready to send: the rendered email, and the alert it
/// tells about for channels that post structure instead (the webhook).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    /// The recipients; for a webhook, its URL.
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub alert: templates::AlertMail,
    /// The same for every attempt to send one outbox entry, from any
    /// monitor replica (`<environment>.<outbox id>`; empty for a mail that
    /// is not an outbox entry's): the SMTP channel sends it as the
    /// Message-ID and a webhook as `X-Aerie-Delivery`, so a mail sent again
    /// after a leader died between sending and recording it can be told
    /// for the same one.
    pub key: String,
}

/// Why a mail was not sent: the channel, and the cause from the mail
/// server, SES or the webhook's receiver as its source.
#[derive(Debug, thiserror::Error)]
#[error("{channel} did not take the mail")]
pub struct SendError {
    pub channel: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
    /// Sending the same mail again will fail the same way until something
    /// changes (a password, a verified sender); mail is still retried, at
    /// the slower pace of the backoff, a webhook delivery is dropped.
    pub permanent: bool,
}

/// A way to send alert notifications.
#[async_trait::async_trait]
pub trait Channel: Send + Sync + std::fmt::Debug {
    /// What the channel is, for logs and history (`smtp mail.acme.example:587`).
    fn describe(&self) -> String;
    async fn send(&self, mail: &Mail) -> Result<(), SendError>;
}
