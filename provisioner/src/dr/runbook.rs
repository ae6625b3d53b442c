//! A runbook as written in `runbooks/*.toml`, checked before anything
//! runs: every step's kind is known, every input its kind needs is given,
//! no input is unknown to the kind, and every `${step.output}` reference
//! names an output of a step that comes earlier (or `${spec.*}` /
//! `${run.*}`). What is wrong names the file, the step and the field.
//!
//! It only reads and checks; running is the engine's (`super::engine`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use aerie_common::toml_file::{FieldError, TomlFile, Validate};
use serde::{Deserialize, Serialize};

use super::steps;

/// What a failed step does to the rest of the runbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnFailure {
    /// Stop here; what was made stays (resume or undo it later).
    Stop,
    /// Go on with the next step.
    Continue,
    /// Remove what the runbook made so far, newest first, then stop.
    Undo,
}

/// A checked runbook.
#[derive(Debug, Clone)]
pub struct Runbook {
    pub name: String,
    pub description: String,
    /// Every resource gets names and tags of its own execution, apart from
    /// the environment's (a drill).
    pub isolated: bool,
    /// Undo everything at the end, also after a failed step (a drill).
    pub teardown: bool,
    pub steps: Vec<Step>,
}

/// One checked step.
#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub kind: String,
    /// Its inputs as written (references resolved when it runs).
    pub with: BTreeMap<String, toml::Value>,
    pub timeout: Duration,
    pub retries: u32,
    pub on_failure: OnFailure,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRunbook {
    name: String,
    description: String,
    #[serde(default)]
    isolated: bool,
    #[serde(default)]
    teardown: bool,
    #[serde(default)]
    step: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    kind: String,
    #[serde(default)]
    with: BTreeMap<String, toml::Value>,
    #[serde(default, with = "humantime_serde")]
    timeout: Option<Duration>,
    retries: Option<u32>,
    #[serde(default)]
    on_failure: Option<OnFailure>,
}

/// The `${run.*}` values every execution has.
pub const RUN_VALUES: [&str; 2] = ["id", "site"];

impl TomlFile for Runbook {
    type Raw = RawRunbook;
}

impl Validate for RawRunbook {
    type Valid = Runbook;

    fn validate(self, _base: &Path) -> Result<Runbook, FieldError> {
        if self.step.is_empty() {
            return Err(FieldError::new(
                "step",
                "a runbook needs at least one [[step]]",
            ));
        }
        let mut outputs: BTreeMap<String, &'static [&'static str]> = BTreeMap::new();
        let mut steps = Vec::new();
        for (i, raw) in self.step.into_iter().enumerate() {
            let field = |name: &str| format!("step[{i}] ({}).{name}", raw.id);
            if raw.id.is_empty()
                || !raw
                    .id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(FieldError::new(
                    format!("step[{i}].id"),
                    format!(
                        "{:?} is not a step id: use lowercase letters, digits and '-'",
                        raw.id
                    ),
                ));
            }
            if outputs.contains_key(&raw.id) {
                return Err(FieldError::new(
                    field("id"),
                    "an earlier step has this id; give each step its own",
                ));
            }
            let Some(kind) = steps::kind(&raw.kind) else {
                return Err(FieldError::new(
                    field("kind"),
                    format!(
                        "{:?} is not a step kind; the kinds are {} (runbooks/README.md describes each)",
                        raw.kind,
                        steps::names().join(", ")
                    ),
                ));
            };
            for input in kind.inputs() {
                if input.required && !raw.with.contains_key(input.name) {
                    return Err(FieldError::new(
                        field(&format!("with.{}", input.name)),
                        format!("{} needs this input: {}", raw.kind, input.doc),
                    ));
                }
            }
            for (name, value) in &raw.with {
                if !kind.inputs().iter().any(|input| input.name == name) {
                    return Err(FieldError::new(
                        field(&format!("with.{name}")),
                        format!(
                            "{} takes no input {name:?}; its inputs are {}",
                            raw.kind,
                            kind.inputs()
                                .iter()
                                .map(|i| i.name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                check_references(value, &outputs).map_err(|bad| {
                    FieldError::new(field(&format!("with.{name}")), bad.to_string())
                })?;
            }
            outputs.insert(raw.id.clone(), kind.outputs());
            steps.push(Step {
                timeout: raw.timeout.unwrap_or(kind.timeout()),
                retries: raw.retries.unwrap_or(kind.retries()),
                on_failure: raw.on_failure.unwrap_or(OnFailure::Stop),
                id: raw.id,
                kind: raw.kind,
                with: raw.with,
            });
        }
        Ok(Runbook {
            name: self.name,
            description: self.description,
            isolated: self.isolated,
            teardown: self.teardown,
            steps,
        })
    }
}

/// Why a `${...}` reference of a step's input is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReference {
    #[error("{text:?}: a ${{ is not closed with }}")]
    Unclosed { text: String },
    #[error(
        "${{{inner}}} is not a reference: write ${{step.output}}, ${{spec.value}} or ${{run.value}}"
    )]
    NotAReference { inner: String },
    #[error(
        "${{{step}.{name}}} refers to step {step:?}, which does not come earlier; a step can use only the outputs of the steps before it"
    )]
    NotEarlier { step: String, name: String },
    #[error("${{{scope}.{name}}}: {scope} has no value {name:?}; {known}")]
    Unknown {
        scope: String,
        name: String,
        /// What it does have.
        known: String,
    },
}

/// Every `${a.b}` in `value` names something that exists by then.
fn check_references(
    value: &toml::Value,
    outputs: &BTreeMap<String, &'static [&'static str]>,
) -> Result<(), BadReference> {
    match value {
        toml::Value::String(text) => {
            for (scope, name) in references(text)? {
                let known = match scope {
                    "spec" => super::scope::SPEC_VALUES.contains(&name),
                    "run" => RUN_VALUES.contains(&name),
                    step => match outputs.get(step) {
                        Some(outputs) => outputs.contains(&name),
                        None => {
                            return Err(BadReference::NotEarlier {
                                step: step.to_owned(),
                                name: name.to_owned(),
                            });
                        }
                    },
                };
                if !known {
                    return Err(BadReference::Unknown {
                        scope: scope.to_owned(),
                        name: name.to_owned(),
                        known: match scope {
                            "spec" => format!(
                                "the spec's values are {}",
                                super::scope::SPEC_VALUES.join(", ")
                            ),
                            "run" => format!("the run's values are {}", RUN_VALUES.join(", ")),
                            step => {
                                format!("step {step}'s outputs are {}", outputs[step].join(", "))
                            }
                        },
                    });
                }
            }
            Ok(())
        }
        toml::Value::Array(values) => values.iter().try_for_each(|v| check_references(v, outputs)),
        toml::Value::Table(table) => table
            .values()
            .try_for_each(|v| check_references(v, outputs)),
        _ => Ok(()),
    }
}

/// The `${scope.name}` references in `text`, in order.
pub fn references(text: &str) -> Result<Vec<(&str, &str)>, BadReference> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(BadReference::Unclosed {
                text: text.to_owned(),
            });
        };
        let inner = &after[..end];
        let Some((scope, name)) = inner.split_once('.') else {
            return Err(BadReference::NotAReference {
                inner: inner.to_owned(),
            });
        };
        out.push((scope, name));
        rest = &after[end + 1..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Runbook, aerie_common::toml_file::FileError> {
        Runbook::parse(Path::new("runbooks/test.toml"), text)
    }

    const GOOD: &str = r#"
name = "restore"
description = "the database"

[[step]]
id = "point"
kind = "recovery-point"

[[step]]
id = "database"
kind = "restore-database"
on_failure = "undo"
with = { snapshot = "${point.snapshot}", identifier = "${run.site}-db" }
"#;

    #[test]
    fn a_runbook_whose_steps_use_earlier_outputs_is_accepted_with_each_kinds_defaults() {
        let runbook = parse(GOOD).unwrap();
        assert_eq!(runbook.steps.len(), 2);
        assert_eq!(runbook.steps[1].on_failure, OnFailure::Undo);
        assert_eq!(runbook.steps[0].on_failure, OnFailure::Stop);
        assert!(runbook.steps[1].timeout >= Duration::from_secs(600));
    }

    #[test]
    fn an_unknown_step_kind_is_refused_naming_the_file_the_step_and_the_kinds() {
        let error =
            parse(&GOOD.replace("kind = \"recovery-point\"", "kind = \"restore-everything\""))
                .unwrap_err()
                .to_string();
        assert!(error.contains("runbooks/test.toml"), "{error}");
        assert!(error.contains("step[0] (point).kind"), "{error}");
        assert!(error.contains("restore-database"), "{error}");
    }

    #[test]
    fn a_missing_input_is_refused_naming_the_step_and_the_field() {
        let error = parse(&GOOD.replace("snapshot = \"${point.snapshot}\", ", ""))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("step[1] (database).with.snapshot"),
            "{error}"
        );
    }

    #[test]
    fn a_reference_to_a_step_that_comes_later_or_not_at_all_is_refused() {
        let later = GOOD.replace("${point.snapshot}", "${database.endpoint}");
        let error = parse(&later).unwrap_err().to_string();
        assert!(error.contains("does not come earlier"), "{error}");
        let output = GOOD.replace("${point.snapshot}", "${point.endpoint}");
        let error = parse(&output).unwrap_err().to_string();
        assert!(error.contains("step point's outputs are"), "{error}");
        let spec = GOOD.replace("${run.site}", "${spec.password}");
        let error = parse(&spec).unwrap_err().to_string();
        assert!(error.contains("the spec's values are"), "{error}");
    }

    #[test]
    fn an_input_the_kind_does_not_take_is_refused() {
        let error = parse(&GOOD.replace("with = {", "with = { colour = \"red\","))
            .unwrap_err()
            .to_string();
        assert!(error.contains("with.colour"), "{error}");
    }
}
