//! `subnet-group`: the DB subnet group a restored database goes into in the
//! DR region, of the given subnets or, by default, of the region's default
//! VPC (a drill's database, apart from everything else). Named by the
//! runbook and tagged with the execution, so running it again finds it, a
//! group of anything else under that name is refused, and the undo
//! removes only its own.

use std::time::Duration;

use serde_json::Value;

use super::{Input, StepKind, Values, text};
use crate::aws::restores::{DR_RUN_TAG, DR_STEP_TAG};
use crate::dr::{Context, DrError};

pub(super) struct SubnetGroup;

const INPUTS: &[Input] = &[
    Input {
        name: "name",
        required: true,
        doc: "the group's name (a drill's carries `${run.site}`)",
    },
    Input {
        name: "subnets",
        required: false,
        doc: "the subnet ids, in at least two zones (default: the DR region's default VPC's)",
    },
];

#[async_trait::async_trait]
impl StepKind for SubnetGroup {
    fn inputs(&self) -> &'static [Input] {
        INPUTS
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["name"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }

    fn retries(&self) -> u32 {
        2
    }

    fn mutating(&self) -> bool {
        true
    }

    fn describe(&self, inputs: &Values) -> String {
        format!(
            "make DB subnet group {} of {}",
            inputs.get("name").and_then(Value::as_str).unwrap_or("?"),
            match inputs.get("subnets") {
                Some(subnets) => format!("subnets {subnets}"),
                None => "the DR region's default VPC's subnets".to_owned(),
            }
        )
    }

    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError> {
        let name = text(inputs, step, "name")?;
        match context.dr.dr_subnet_group(name).await? {
            Some(run) if run.as_deref() == Some(context.run.as_str()) => {}
            Some(run) => {
                return Err(DrError::Taken {
                    what: format!("DB subnet group {name}"),
                    region: context.dr.region.clone(),
                    by: run.unwrap_or_else(|| "no DR execution".to_owned()),
                });
            }
            None => {
                let subnets = match inputs.get("subnets") {
                    Some(Value::Array(ids)) => ids
                        .iter()
                        .filter_map(|id| id.as_str().map(str::to_owned))
                        .collect(),
                    Some(_) => {
                        return Err(DrError::Input {
                            step: step.to_owned(),
                            input: "subnets".to_owned(),
                            problem: "should be a list of subnet ids".to_owned(),
                        });
                    }
                    None => context.dr.default_subnets().await?,
                };
                if subnets.is_empty() {
                    return Err(DrError::Input {
                        step: step.to_owned(),
                        input: "subnets".to_owned(),
                        problem: format!(
                            "is not given and {} has no default VPC: name the subnets",
                            context.dr.region
                        ),
                    });
                }
                let tags = [
                    (DR_RUN_TAG.to_owned(), context.run.clone()),
                    (DR_STEP_TAG.to_owned(), step.to_owned()),
                ];
                context
                    .dr
                    .create_dr_subnet_group(name, &subnets, &tags)
                    .await?;
            }
        }
        Ok(Values::from([("name".to_owned(), Value::from(name))]))
    }

    async fn undo(&self, context: &Context, step: &str, inputs: &Values) -> Result<(), DrError> {
        let name = text(inputs, step, "name")?;
        match context.dr.dr_subnet_group(name).await? {
            Some(Some(run)) if run == context.run => {
                Ok(context.dr.remove_dr_subnet_group(name).await?)
            }
            _ => Ok(()),
        }
    }
}
