//! The step kinds a runbook can use, behind one small trait: what a kind
//! takes and gives, its default timeout and retries, how it runs (first
//! looking for its own result by identifier and tags, so a second run
//! changes nothing) and how it undoes what it made. Adding a kind is one
//! file under `steps/` and one entry in [`KINDS`]; `runbooks/README.md`
//! describes each for the people who write runbooks.

mod artifacts;
mod dns;
mod network;
mod nodes;
mod recovery_point;
mod restore_database;
mod subnet_group;
mod verify_database;
mod verify_health;
mod volumes;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Context, DrError};

/// One input of a kind.
#[derive(Debug, Clone, Copy)]
pub struct Input {
    pub name: &'static str,
    pub required: bool,
    pub doc: &'static str,
}

/// A step's resolved inputs, or its outputs.
pub type Values = BTreeMap<String, Value>;

/// What a step of one kind does.
#[async_trait::async_trait]
pub trait StepKind: Send + Sync {
    fn inputs(&self) -> &'static [Input];
    fn outputs(&self) -> &'static [&'static str];
    fn timeout(&self) -> Duration;
    fn retries(&self) -> u32;
    /// Whether it changes anything in AWS (a dry run never runs those).
    fn mutating(&self) -> bool;
    /// What it would do, in a line (the dry run's).
    fn describe(&self, inputs: &Values) -> String;
    /// Does it, or finds it done, and answers its outputs.
    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError>;
    /// Removes what it made (found by name and tags; gone is fine).
    async fn undo(&self, context: &Context, step: &str, inputs: &Values) -> Result<(), DrError>;
}

/// Every kind, by the name runbooks use.
pub const KINDS: [(&str, &dyn StepKind); 10] = [
    ("recovery-point", &recovery_point::RecoveryPoint),
    ("network", &network::Network),
    ("subnet-group", &subnet_group::SubnetGroup),
    ("restore-database", &restore_database::RestoreDatabase),
    ("verify-database", &verify_database::VerifyDatabase),
    ("volumes", &volumes::Volumes),
    ("artifacts", &artifacts::Artifacts),
    ("nodes", &nodes::Nodes),
    ("dns", &dns::Dns),
    ("verify-health", &verify_health::VerifyHealth),
];

/// The kind called `name`.
pub fn kind(name: &str) -> Option<&'static dyn StepKind> {
    KINDS.iter().find(|(n, _)| *n == name).map(|(_, k)| *k)
}

/// Every kind's name.
pub fn names() -> Vec<&'static str> {
    KINDS.iter().map(|(n, _)| *n).collect()
}

/// Input `name` as text.
fn text<'a>(inputs: &'a Values, step: &str, name: &str) -> Result<&'a str, DrError> {
    match inputs.get(name) {
        Some(Value::String(text)) if !text.is_empty() => Ok(text),
        Some(Value::String(_)) | None => Err(DrError::Input {
            step: step.to_owned(),
            input: name.to_owned(),
            problem: "is empty".to_owned(),
        }),
        Some(other) => Err(DrError::Input {
            step: step.to_owned(),
            input: name.to_owned(),
            problem: format!("should be text, not {other}"),
        }),
    }
}

/// Input `name` as an object: given as one, or as the JSON text an
/// earlier step's object output becomes in a reference.
fn object(
    inputs: &Values,
    step: &str,
    name: &str,
) -> Result<serde_json::Map<String, Value>, DrError> {
    let problem = |problem: String| DrError::Input {
        step: step.to_owned(),
        input: name.to_owned(),
        problem,
    };
    match inputs.get(name) {
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(Value::String(text)) => match serde_json::from_str(text) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(problem(format!("should be a table, not {text:?}"))),
        },
        Some(other) => Err(problem(format!("should be a table, not {other}"))),
        None => Err(problem("is missing".to_owned())),
    }
}
