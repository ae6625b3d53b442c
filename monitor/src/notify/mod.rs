//! Alert notifications: one [`Channel`] trait, two channels (SMTP with AUTH
//! through lettre, and Amazon SES through aws-sdk-ses), one conformance suite
//! run against each with a real receiver (an SMTP server, moto's SES).
//! Emails are rendered from the handlebars templates in `templates/alert/`.

pub mod ses;
pub mod smtp;
pub mod templates;

#[cfg(test)]
pub(crate) mod conformance;

/// One email, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Why a mail was not sent: the channel, and the cause from the mail
/// server or SES as its source.
#[derive(Debug, thiserror::Error)]
#[error("{channel} did not take the mail")]
pub struct SendError {
    pub channel: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
    /// Sending the same mail again will fail the same way until something
    /// changes (a password, a verified sender); it is still retried, at the
    /// slower pace of the backoff.
    pub permanent: bool,
}

/// A way to send mail.
#[async_trait::async_trait]
pub trait Channel: Send + Sync + std::fmt::Debug {
    /// What the channel is, for logs and history (`smtp mail.acme.example:587`).
    fn describe(&self) -> String;
    async fn send(&self, mail: &Mail) -> Result<(), SendError>;
}
