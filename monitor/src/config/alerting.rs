//! `[alerting]`: the rules file, the timings of grouping and repeats, and
//! the mail channels (the customer's SMTP server, Amazon SES, or both with
//! one as the fallback).

use std::path::{Path, PathBuf};
use std::time::Duration;

use aerie_wire::Secret;
use serde::{Deserialize, Serialize};

use super::{FieldError, invalid};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlerting {
    rules_file: PathBuf,
    #[serde(default = "seconds_15", with = "humantime_serde")]
    evaluate_every: Duration,
    #[serde(default = "hours_4", with = "humantime_serde")]
    repeat_interval: Duration,
    #[serde(default = "minutes_10", with = "humantime_serde")]
    flap_window: Duration,
    #[serde(default = "four")]
    flap_threshold: usize,
    #[serde(default = "seconds_10", with = "humantime_serde")]
    group_wait: Duration,
    #[serde(default = "minutes_1", with = "humantime_serde")]
    group_interval: Duration,
    /// `smtp` or `ses`: which of the two sends alert mail when both are set.
    channel: Option<String>,
    #[serde(default = "minutes_10", with = "humantime_serde")]
    channel_failing_after: Duration,
    from: String,
    dashboard_url: String,
    smtp: Option<RawSmtp>,
    ses: Option<RawSes>,
}

fn seconds_15() -> Duration {
    Duration::from_secs(15)
}
fn seconds_10() -> Duration {
    Duration::from_secs(10)
}
fn minutes_1() -> Duration {
    Duration::from_secs(60)
}
fn hours_4() -> Duration {
    Duration::from_secs(4 * 3600)
}
fn minutes_10() -> Duration {
    Duration::from_secs(600)
}
fn four() -> usize {
    4
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmtp {
    host: String,
    port: u16,
    #[serde(default = "starttls")]
    security: crate::notify::smtp::Security,
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    tls_name: Option<String>,
}

fn starttls() -> crate::notify::smtp::Security {
    crate::notify::smtp::Security::Starttls
}

/// Amazon SES: region, endpoint and credentials come from the standard SDK
/// configuration (environment, profile, instance role).
#[derive(Debug, Deserialize, Serialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct RawSes {}

/// Where alert mail goes out.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ChannelConfig {
    Smtp {
        host: String,
        port: u16,
        security: crate::notify::smtp::Security,
        username: Option<String>,
        password: Option<Secret>,
        ca_file: Option<PathBuf>,
        tls_name: Option<String>,
    },
    Ses,
}

/// Alert rules and notifications.
#[derive(Debug, Clone, Serialize)]
pub struct AlertingConfig {
    pub rules_file: PathBuf,
    #[serde(with = "humantime_serde")]
    pub evaluate_every: Duration,
    #[serde(with = "humantime_serde")]
    pub repeat_interval: Duration,
    /// More than `flap_threshold` changes between firing and resolved within
    /// `flap_window` mark an alert flapping and hold its mail back.
    #[serde(with = "humantime_serde")]
    pub flap_window: Duration,
    pub flap_threshold: usize,
    /// A group (an environment's alerts of one rule) waits `group_wait`
    /// after its first alert fires, so alerts firing together go in one mail.
    #[serde(with = "humantime_serde")]
    pub group_wait: Duration,
    /// Once a group has mailed, changes to it (a host more firing, one
    /// resolved) wait this long after its last mail.
    #[serde(with = "humantime_serde")]
    pub group_interval: Duration,
    pub from: String,
    pub dashboard_url: String,
    /// Sends alert mail.
    pub channel: ChannelConfig,
    /// The other channel, when both are configured: it carries the alert
    /// that `channel` has failed for longer than `channel_failing_after`.
    pub fallback: Option<ChannelConfig>,
    #[serde(with = "humantime_serde")]
    pub channel_failing_after: Duration,
}

impl RawAlerting {
    pub(super) fn validate(self, base: &Path) -> Result<AlertingConfig, FieldError> {
        let raw = self;
        let smtp = match raw.smtp {
            Some(smtp) => Some(ChannelConfig::Smtp {
                password: Secret::from_inline_or_file(
                    "alerting.smtp.password",
                    smtp.password,
                    smtp.password_file,
                    base,
                )?,
                host: smtp.host,
                port: smtp.port,
                security: smtp.security,
                username: smtp.username,
                ca_file: smtp.ca_file.map(|path| base.join(path)),
                tls_name: smtp.tls_name,
            }),
            None => None,
        };
        let ses = raw.ses.map(|_| ChannelConfig::Ses);
        let (channel, fallback) = match (smtp, ses, raw.channel.as_deref()) {
            (Some(smtp), None, None | Some("smtp")) => (smtp, None),
            (None, Some(ses), None | Some("ses")) => (ses, None),
            (Some(smtp), Some(ses), Some("smtp")) => (smtp, Some(ses)),
            (Some(smtp), Some(ses), Some("ses")) => (ses, Some(smtp)),
            (None, None, _) => {
                return Err(invalid(
                    "alerting",
                    "no channel: add [alerting.smtp] (the customer's server) or [alerting.ses]",
                ));
            }
            (Some(_), Some(_), None) => {
                return Err(invalid(
                    "alerting.channel",
                    "both [alerting.smtp] and [alerting.ses] are set: say which one sends alert mail with channel = \"smtp\" or \"ses\" (the other carries the alert that it is failing)",
                ));
            }
            (_, _, Some(other)) => {
                return Err(invalid(
                    "alerting.channel",
                    format!(
                        "{other:?} is not a configured channel: use \"smtp\" with [alerting.smtp] or \"ses\" with [alerting.ses]"
                    ),
                ));
            }
        };
        if !raw.from.contains('@') {
            return Err(invalid(
                "alerting.from",
                format!("{:?} is not an email address", raw.from),
            ));
        }
        if !(raw.dashboard_url.starts_with("http://") || raw.dashboard_url.starts_with("https://"))
        {
            return Err(invalid(
                "alerting.dashboard_url",
                format!("{:?} is not an http or https URL", raw.dashboard_url),
            ));
        }
        // The file itself is read and checked by the alert engine's
        // own loader (`alerting::rules`), at start and at each reload.
        let rules_file = base.join(raw.rules_file);
        Ok(AlertingConfig {
            rules_file,
            evaluate_every: raw.evaluate_every,
            repeat_interval: raw.repeat_interval,
            flap_window: raw.flap_window,
            flap_threshold: raw.flap_threshold,
            group_wait: raw.group_wait,
            group_interval: raw.group_interval,
            from: raw.from,
            dashboard_url: raw.dashboard_url,
            channel,
            fallback,
            channel_failing_after: raw.channel_failing_after,
        })
    }
}
