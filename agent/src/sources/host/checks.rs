//! Product health: HTTP health URLs and process liveness.

use std::time::{Duration, Instant};

use aerie_wire::Event;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use crate::sources::metric;
use aerie_common::toml_file::FieldError;

/// A `[[health]]` section: an HTTP URL that answers 2xx when the product is well.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheckConfig {
    pub name: String,
    pub url: String,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timeout() -> Duration {
    super::HEALTH_TIMEOUT
}

/// A `[[process]]` section: a process whose command line contains `pattern`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessCheckConfig {
    pub name: String,
    pub pattern: String,
}

impl HealthCheckConfig {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        crate::sinks::http::check_url(&format!("{field}.url"), &self.url)
    }

    /// `aerie.health.up` (1 or 0), `aerie.health.status` and
    /// `aerie.health.latency.ms`, labelled with the check's name.
    pub async fn run(&self, client: &reqwest::Client, host: &str) -> Vec<Event> {
        let started = Instant::now();
        let answer = client.get(&self.url).timeout(self.timeout).send().await;
        let latency = started.elapsed().as_secs_f64() * 1000.0;
        let now = Utc::now();
        let labels = [("check", self.name.as_str())];
        let (up, status) = match &answer {
            Ok(response) => (
                response.status().is_success(),
                f64::from(response.status().as_u16()),
            ),
            Err(_) => (false, 0.0),
        };
        vec![
            metric(
                host,
                now,
                "aerie.health.up",
                f64::from(u8::from(up)),
                &labels,
            ),
            metric(host, now, "aerie.health.status", status, &labels),
            metric(host, now, "aerie.health.latency.ms", latency, &labels),
        ]
    }
}

impl ProcessCheckConfig {
    pub fn validate(&self, field: &str) -> Result<(), FieldError> {
        if self.pattern.trim().is_empty() {
            return Err(FieldError::new(
                format!("{field}.pattern"),
                "is empty: give a part of the command line, e.g. \"org.wso2.carbon.bootstrap.Bootstrap\"",
            ));
        }
        Ok(())
    }
}
