//! Mail through the customer's SMTP server, with AUTH, over STARTTLS or
//! implicit TLS (a private CA may be given). Plain connections are refused
//! unless the configuration says so, since AUTH would cross the wire in clear.

use std::time::Duration;

use aerie_wire::Secret;
use lettre::message::MultiPart;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{Channel, Mail, SendError};

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    /// STARTTLS, required (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption: only for a relay on the same host.
    None,
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// PEM certificates to trust besides the system's (a private CA).
    pub ca_pem: Option<Vec<u8>>,
    /// The name the server's certificate is checked against (default: host).
    pub tls_name: Option<String>,
    pub timeout: Duration,
}

#[derive(Debug)]
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    server: String,
}

impl SmtpChannel {
    pub fn new(settings: &SmtpSettings) -> Result<Self, SmtpSetupError> {
        let server = format!("{}:{}", settings.host, settings.port);
        let tls_name = settings
            .tls_name
            .clone()
            .unwrap_or_else(|| settings.host.clone());
        let parameters = || -> Result<TlsParameters, SmtpSetupError> {
            let mut builder = TlsParameters::builder(tls_name.clone());
            if let Some(pem) = &settings.ca_pem {
                let ca = Certificate::from_pem(pem).map_err(|source| SmtpSetupError::Ca {
                    server: server.clone(),
                    source,
                })?;
                builder = builder.add_root_certificate(ca);
            }
            builder
                .build_rustls()
                .map_err(|source| SmtpSetupError::Tls {
                    server: server.clone(),
                    source,
                })
        };
        let tls = match settings.security {
            Security::Starttls => Tls::Required(parameters()?),
            Security::Tls => Tls::Wrapper(parameters()?),
            Security::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(username) = &settings.username {
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            server,
        })
    }
}

/// Why the SMTP channel could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SmtpSetupError {
    #[error("the CA for {server} is not usable")]
    Ca {
        server: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
    #[error("TLS for {server} cannot be set up")]
    Tls {
        server: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}

/// Why a mail is not a message lettre can send.
#[derive(Debug, thiserror::Error)]
enum MessageError {
    #[error("the {role} address {address:?} is not a mailbox")]
    Address {
        role: &'static str,
        address: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("the message cannot be built")]
    Build(#[source] lettre::error::Error),
}

/// The Message-ID of the mail of outbox entry `key`, in the sender's
/// domain: the same on every attempt, from every replica.
fn message_id(key: &str, from: &str) -> String {
    let domain = from
        .rsplit_once('@')
        .map_or("aerie.invalid", |(_, domain)| {
            domain.trim_end_matches('>').trim()
        });
    format!("<aerie.{key}@{domain}>")
}

/// A lettre message with text and HTML alternatives.
fn message(mail: &Mail) -> Result<Message, MessageError> {
    let mailbox = |role, address: &str| {
        address.parse().map_err(|source| MessageError::Address {
            role,
            address: address.to_owned(),
            source,
        })
    };
    let mut builder = Message::builder()
        .from(mailbox("sender", &mail.from)?)
        .subject(&mail.subject);
    if !mail.key.is_empty() {
        builder = builder.message_id(Some(message_id(&mail.key, &mail.from)));
    }
    for to in &mail.to {
        builder = builder.to(mailbox("recipient", to)?);
    }
    builder
        .multipart(MultiPart::alternative_plain_html(
            mail.text.clone(),
            mail.html.clone(),
        ))
        .map_err(MessageError::Build)
}

#[async_trait::async_trait]
impl Channel for SmtpChannel {
    fn describe(&self) -> String {
        format!("smtp {}", self.server)
    }

    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let error = |source: Box<dyn std::error::Error + Send + Sync>, permanent: bool| SendError {
            channel: self.describe(),
            source,
            permanent,
        };
        let message = message(mail).map_err(|e| error(e.into(), true))?;
        self.transport.send(message).await.map(drop).map_err(|e| {
            let permanent = e.is_permanent();
            error(Box::new(e), permanent)
        })
    }
}

#[cfg(test)]
mod tests {
    use aerie_testkit::SmtpServer;

    use super::*;

    fn settings(smtp: &SmtpServer, password: &str) -> SmtpSettings {
        SmtpSettings {
            host: smtp.host().to_owned(),
            port: smtp.port(),
            security: Security::Starttls,
            username: Some(smtp.user().to_owned()),
            password: Some(Secret::new(password)),
            ca_pem: Some(smtp.certificate_pem().as_bytes().to_vec()),
            tls_name: Some("localhost".into()),
            timeout: Duration::from_secs(10),
        }
    }

    #[test]
    fn an_outbox_entry_s_mail_carries_its_key_as_the_message_id_in_the_sender_s_domain() {
        let mut mail = crate::notify::templates::Templates::built_in()
            .render(
                &crate::notify::templates::sample(),
                "Aerie <alerts@ops.example>",
                &["oncall@acme.example".to_owned()],
            )
            .unwrap();
        mail.key = "acme-prod.7".into();
        let raw = String::from_utf8(message(&mail).unwrap().formatted()).unwrap();
        assert!(
            raw.contains("Message-ID: <aerie.acme-prod.7@ops.example>"),
            "{raw}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn smtp_passes_the_channel_conformance_suite() {
        let smtp = SmtpServer::start("alerts@acme.example", "the right password")
            .await
            .unwrap();
        let channel = SmtpChannel::new(&settings(&smtp, smtp.password())).unwrap();
        crate::notify::conformance::run(&channel, async || {
            smtp.messages()
                .unwrap()
                .into_iter()
                .map(|m| crate::notify::conformance::Received {
                    to: Some(m.rcpt_tos),
                    raw: m.data,
                })
                .collect()
        })
        .await;
        assert!(
            smtp.messages()
                .unwrap()
                .iter()
                .all(|m| m.authenticated && m.tls)
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_wrong_password_is_a_clear_permanent_error() {
        let smtp = SmtpServer::start("alerts@acme.example", "the right password")
            .await
            .unwrap();
        let channel = SmtpChannel::new(&settings(&smtp, "wrong")).unwrap();
        let mail = crate::notify::templates::Templates::built_in()
            .render(
                &crate::notify::templates::sample(),
                "aerie@ops.example",
                &["oncall@acme.example".into()],
            )
            .unwrap();
        let error = channel.send(&mail).await.unwrap_err();
        // What the history and the log show: the error with its cause.
        let text = aerie_common::error_chain(&error);
        assert!(error.permanent, "{text}");
        assert!(
            text.starts_with(&format!("smtp 127.0.0.1:{}", smtp.port())),
            "{text}"
        );
        assert!(text.contains("535"), "{text}");
        assert!(smtp.messages().unwrap().is_empty());
    }
}
