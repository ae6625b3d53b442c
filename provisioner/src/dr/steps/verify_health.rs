//! `verify-health`: every product node of the DR site answers its
//! product health URL (the services port's `/services/Version`, as the
//! agent checks it) with a 2xx. The URL is the runbook's, with
//! `{address}` and `{port}` filled per node; `--connect-to` routes it
//! when the node is private (an SSH port forward through the bastion). The
//! product serves its own self-signed certificate, so the check proves
//! the node answers, not who it is. It only reads; a node that does not
//! answer well fails the step, named with its URL and why.

use std::time::Duration;

use serde_json::Value;

use super::{Input, StepKind, Values, object, text};
use crate::dr::{Context, DrError};
use crate::topology::Topology;

pub(super) struct VerifyHealth;

const INPUTS: &[Input] = &[
    Input {
        name: "addresses",
        required: true,
        doc: "each node's address (`${nodes.addresses}`)",
    },
    Input {
        name: "url",
        required: true,
        doc: "the health URL, with {address} and {port} (the node's services port)",
    },
];

/// How long one node has to answer.
const ANSWER: Duration = Duration::from_secs(10);

#[async_trait::async_trait]
impl StepKind for VerifyHealth {
    fn inputs(&self) -> &'static [Input] {
        INPUTS
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["healthy"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(10 * 60)
    }

    fn retries(&self) -> u32 {
        3
    }

    fn mutating(&self) -> bool {
        false
    }

    fn describe(&self, inputs: &Values) -> String {
        format!(
            "check that every node answers {} with a 2xx",
            inputs.get("url").and_then(Value::as_str).unwrap_or("?")
        )
    }

    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError> {
        let addresses = object(inputs, step, "addresses")?;
        let template = text(inputs, step, "url")?;
        let site = context.site_spec()?;
        let Some(topology) = Topology::of(&site) else {
            return Ok(Values::from([(
                "healthy".to_owned(),
                Value::from("no nodes"),
            )]));
        };
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(ANSWER)
            .build()
            .map_err(|source| DrError::Health {
                node: "any".to_owned(),
                url: template.to_owned(),
                problem: source.to_string(),
            })?;
        let mut checked = 0;
        for node in topology.nodes() {
            let address = addresses
                .get(&node.role)
                .and_then(Value::as_str)
                .ok_or_else(|| DrError::Input {
                    step: step.to_owned(),
                    input: "addresses".to_owned(),
                    problem: format!("has no address of {}", node.role),
                })?;
            let port = node.ports().services;
            let (host, port) = context.connect_to.route(&format!("{address}:{port}"));
            let url = template
                .replace("{address}", &host)
                .replace("{port}", &port.to_string());
            let problem = match client.get(&url).send().await {
                Ok(answer) if answer.status().is_success() => None,
                Ok(answer) => Some(format!("it answered {}", answer.status())),
                Err(error) => Some(aerie_common::error_chain(&error)),
            };
            if let Some(problem) = problem {
                return Err(DrError::Health {
                    node: node.role.clone(),
                    url,
                    problem,
                });
            }
            checked += 1;
        }
        Ok(Values::from([(
            "healthy".to_owned(),
            Value::from(format!("{checked} nodes")),
        )]))
    }

    async fn undo(&self, _context: &Context, _step: &str, _inputs: &Values) -> Result<(), DrError> {
        Ok(())
    }
}
