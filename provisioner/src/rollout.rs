//! Health-gated rolling replacement of the product nodes: when a plan
//! replaces nodes (a new product version, a changed template), they go one
//! at a time (at most `max_unavailable` gateways, never both traffic
//! managers), traffic managers first, each new node reporting healthy
//! through the monitor (its agent's product health check,
//! `aerie.health.up`) before the next is touched. A node that does not
//! become healthy in time stops the rollout: the nodes not yet replaced are
//! left untouched and serving, and a later apply resumes from there (the
//! replaced ones already match the spec).
//!
//! This module decides the order and asks the monitor; it never calls AWS.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::plan::{Plan, Step};

/// What the monitor says of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Healthy,
    /// Its health check reports it down (the check's last HTTP status).
    Down(String),
    /// No health report since the node was replaced.
    Silent,
}

/// Asks whether a node is healthy; the monitor in production, anything in
/// unit tests.
#[async_trait::async_trait]
pub trait Health: Send + Sync {
    /// The verdict on `role` from reports made after `since`.
    async fn verdict(&self, role: &str, since: DateTime<Utc>) -> Result<Verdict, HealthError>;
}

/// The monitor could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("the monitor at {url} cannot be asked about {role}")]
pub struct HealthError {
    pub url: String,
    pub role: String,
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// How a rollout waits.
#[derive(Clone, Copy)]
pub struct Gate<'a> {
    pub health: &'a dyn Health,
    /// How long a new node has to report healthy.
    pub timeout: Duration,
    /// How often the monitor is asked.
    pub every: Duration,
    /// How many gateways may be down at once (the traffic managers: one).
    pub max_unavailable: usize,
}

impl std::fmt::Debug for Gate<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate")
            .field("timeout", &self.timeout)
            .field("max_unavailable", &self.max_unavailable)
            .finish_non_exhaustive()
    }
}

/// A node that did not become healthy.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error(
        "{role} did not report healthy within {}s after its replacement: {reason}; the nodes not yet replaced are untouched; fix it and run apply again to go on",
        timeout.as_secs()
    )]
    Unhealthy {
        role: String,
        reason: String,
        timeout: Duration,
    },
    #[error(transparent)]
    Monitor(#[from] HealthError),
}

/// Whether `role` is a product node (what a rollout replaces in turn).
pub fn is_node(role: &str) -> bool {
    role.starts_with("gateway-") || role.starts_with("traffic-manager-")
}

/// The node replacements of `plan`, in the order they happen: the traffic
/// managers, then the gateways, each by number.
pub fn order(plan: &Plan) -> Vec<String> {
    let mut roles: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|step| match step {
            Step::Replace { desired, .. }
                if desired.kind == crate::model::Kind::Instance && is_node(&desired.role) =>
            {
                Some(desired.role.clone())
            }
            _ => None,
        })
        .collect();
    roles.sort_by_key(|role| rank(role));
    roles
}

/// Sorts traffic managers before gateways, then by number.
pub(crate) fn rank(role: &str) -> (u8, u32) {
    let group = u8::from(role.starts_with("gateway-"));
    let number = role
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    (group, number)
}

/// Waits until `role`, replaced at `since`, reports healthy.
pub async fn wait_healthy(
    gate: &Gate<'_>,
    role: &str,
    since: DateTime<Utc>,
) -> Result<(), RolloutError> {
    let deadline = tokio::time::Instant::now() + gate.timeout;
    loop {
        let verdict = gate.health.verdict(role, since).await?;
        if verdict == Verdict::Healthy {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            let reason = match verdict {
                Verdict::Down(why) => format!("its product health check reports it down ({why})"),
                _ => {
                    "its agent sent no health report (is it running, and can it reach the monitor?)"
                        .to_owned()
                }
            };
            return Err(RolloutError::Unhealthy {
                role: role.to_owned(),
                reason,
                timeout: gate.timeout,
            });
        }
        tokio::time::sleep(gate.every).await;
    }
}

/// The monitor's view of a node's health, through its query API.
#[derive(Debug, Clone)]
pub struct Monitor {
    pub url: String,
    pub environment: String,
    /// An operator's or viewer's API token (never logged).
    pub token: String,
    pub http: reqwest::Client,
}

impl Monitor {
    async fn series(
        &self,
        role: &str,
        name: &str,
        since: DateTime<Utc>,
    ) -> Result<Option<f64>, HealthError> {
        let failed = |source: Box<dyn std::error::Error + Send + Sync>| HealthError {
            url: self.url.clone(),
            role: role.to_owned(),
            source,
        };
        let from = since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let answer = self
            .http
            .get(format!("{}/api/v1/metrics", self.url.trim_end_matches('/')))
            .query(&[
                ("env", self.environment.as_str()),
                ("host", role),
                ("name", name),
                ("from", from.as_str()),
                ("step", "1s"),
                ("agg", "min"),
            ])
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| failed(Box::new(e)))?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            // No such metric yet: nothing was reported.
            return Ok(None);
        }
        let answer = answer.error_for_status().map_err(|e| failed(Box::new(e)))?;
        let body: serde_json::Value = answer.json().await.map_err(|e| failed(Box::new(e)))?;
        // The newest point of any of the node's series.
        let newest = body["series"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|series| series["points"].as_array()?.last().cloned())
            .filter_map(|point| Some((point[0].as_i64()?, point[1].as_f64()?)))
            .max_by_key(|(at, _)| *at);
        Ok(newest.map(|(_, value)| value))
    }
}

#[async_trait::async_trait]
impl Health for Monitor {
    async fn verdict(&self, role: &str, since: DateTime<Utc>) -> Result<Verdict, HealthError> {
        match self.series(role, "aerie.health.up", since).await? {
            None => Ok(Verdict::Silent),
            Some(up) if up >= 1.0 => Ok(Verdict::Healthy),
            Some(_) => {
                let status = self.series(role, "aerie.health.status", since).await?;
                Ok(Verdict::Down(match status {
                    Some(status) if status > 0.0 => format!("HTTP {status:.0}"),
                    _ => "no answer".to_owned(),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers verdicts from a script, one per question.
    struct Scripted(Mutex<Vec<Verdict>>);

    #[async_trait::async_trait]
    impl Health for Scripted {
        async fn verdict(&self, _: &str, _: DateTime<Utc>) -> Result<Verdict, HealthError> {
            let mut script = self.0.lock().unwrap();
            Ok(if script.len() > 1 {
                script.remove(0)
            } else {
                script[0].clone()
            })
        }
    }

    fn gate(health: &dyn Health) -> Gate<'_> {
        Gate {
            health,
            timeout: Duration::from_secs(30),
            every: Duration::from_secs(2),
            max_unavailable: 1,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_that_turns_healthy_in_time_passes_the_gate() {
        let health = Scripted(Mutex::new(vec![
            Verdict::Silent,
            Verdict::Down("HTTP 503".into()),
            Verdict::Healthy,
        ]));
        wait_healthy(&gate(&health), "gateway-1", Utc::now())
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_node_down_past_the_timeout_stops_the_rollout_saying_why() {
        let health = Scripted(Mutex::new(vec![Verdict::Down("HTTP 500".into())]));
        let error = wait_healthy(&gate(&health), "gateway-2", Utc::now())
            .await
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("gateway-2 did not report healthy within 30s"),
            "{message}"
        );
        assert!(message.contains("HTTP 500"), "{message}");
    }

    #[test]
    fn traffic_managers_go_before_gateways_each_by_number() {
        let mut roles = vec![
            "gateway-10",
            "gateway-2",
            "traffic-manager-2",
            "gateway-1",
            "traffic-manager-1",
        ];
        roles.sort_by_key(|r| rank(r));
        assert_eq!(
            roles,
            [
                "traffic-manager-1",
                "traffic-manager-2",
                "gateway-1",
                "gateway-2",
                "gateway-10"
            ]
        );
    }
}
