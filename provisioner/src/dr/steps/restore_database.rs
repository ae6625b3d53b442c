//! `restore-database`: a snapshot of the DR region restored as a new
//! database there, waited for until it is available; its endpoint is the
//! output. The database is named by the runbook (`identifier`) and tagged
//! with the execution and step, so running the step again finds it, a
//! database of another execution under that name is refused rather than
//! taken over, and the undo removes only its own.

use std::time::Duration;

use serde_json::Value;

use super::{Input, StepKind, Values, text};
use crate::aws::restores::{DR_RUN_TAG, DR_STEP_TAG, Restore, Restored};
use crate::aws::{ENV_TAG, ROLE_TAG};
use crate::dr::{Context, DrError};

pub(super) struct RestoreDatabase;

const INPUTS: &[Input] = &[
    Input {
        name: "snapshot",
        required: true,
        doc: "the RDS snapshot of the DR region to restore (a recovery-point's `snapshot`)",
    },
    Input {
        name: "identifier",
        required: true,
        doc: "the new database's identifier (a drill's carries `${run.site}`)",
    },
    Input {
        name: "instance_class",
        required: false,
        doc: "its instance class (default: the spec's `[database] instance_class`)",
    },
    Input {
        name: "subnet_group",
        required: false,
        doc: "the DB subnet group in the DR region (default: the region's default)",
    },
    Input {
        name: "security_group",
        required: false,
        doc: "its VPC security group (default: the VPC's default)",
    },
];

#[async_trait::async_trait]
impl StepKind for RestoreDatabase {
    fn inputs(&self) -> &'static [Input] {
        INPUTS
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["instance", "endpoint"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(2 * 3600)
    }

    fn retries(&self) -> u32 {
        1
    }

    fn mutating(&self) -> bool {
        true
    }

    fn describe(&self, inputs: &Values) -> String {
        let get = |name: &str| inputs.get(name).and_then(Value::as_str).unwrap_or("?");
        format!(
            "restore snapshot {} as database {} ({}) and wait until it is available",
            get("snapshot"),
            get("identifier"),
            inputs
                .get("instance_class")
                .and_then(Value::as_str)
                .unwrap_or("the spec's instance class"),
        )
    }

    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError> {
        let identifier = text(inputs, step, "identifier")?;
        let found = context.dr.restored_database(identifier).await?;
        match found {
            Some(db) if db.run.as_deref() != Some(context.run.as_str()) => {
                return Err(DrError::Taken {
                    what: format!("database {identifier}"),
                    region: context.dr.region.clone(),
                    by: db.run.unwrap_or_else(|| "no DR execution".to_owned()),
                });
            }
            Some(_) => {}
            None => {
                let class = match inputs.get("instance_class") {
                    Some(_) => text(inputs, step, "instance_class")?,
                    None => context.spec.database.instance_class.as_str(),
                };
                let subnet_group = match inputs.get("subnet_group") {
                    Some(_) => Some(text(inputs, step, "subnet_group")?),
                    None => None,
                };
                let mut tags = vec![
                    (DR_RUN_TAG.to_owned(), context.run.clone()),
                    (DR_STEP_TAG.to_owned(), step.to_owned()),
                    ("Name".to_owned(), identifier.to_owned()),
                ];
                tags.push((ENV_TAG.to_owned(), context.site()));
                tags.push((ROLE_TAG.to_owned(), "database".to_owned()));
                let security_group = match inputs.get("security_group") {
                    Some(_) => Some(text(inputs, step, "security_group")?),
                    None => None,
                };
                context
                    .dr
                    .restore_database(&Restore {
                        identifier,
                        snapshot: text(inputs, step, "snapshot")?,
                        instance_class: class,
                        subnet_group,
                        security_group,
                        tags,
                    })
                    .await?;
            }
        }
        let db = available(context, identifier).await?;
        Ok(Values::from([
            ("instance".to_owned(), Value::from(db.identifier)),
            (
                "endpoint".to_owned(),
                Value::from(db.endpoint.unwrap_or_default()),
            ),
        ]))
    }

    async fn undo(&self, context: &Context, step: &str, inputs: &Values) -> Result<(), DrError> {
        let identifier = text(inputs, step, "identifier")?;
        match context.dr.restored_database(identifier).await? {
            Some(db) if db.run.as_deref() == Some(context.run.as_str()) => {
                Ok(context.dr.remove_restored_database(identifier).await?)
            }
            _ => Ok(()),
        }
    }
}

/// Waits until database `identifier` is available (the step's timeout
/// bounds the wait).
async fn available(context: &Context, identifier: &str) -> Result<Restored, DrError> {
    loop {
        let Some(db) = context.dr.restored_database(identifier).await? else {
            return Err(DrError::Vanished {
                what: format!("database {identifier}"),
                region: context.dr.region.clone(),
            });
        };
        if db.available() && db.endpoint.is_some() {
            return Ok(db);
        }
        if matches!(
            db.status.as_str(),
            "failed" | "incompatible-restore" | "incompatible-parameters" | "deleting"
        ) {
            return Err(DrError::Failed {
                what: format!("database {identifier}"),
                region: context.dr.region.clone(),
                state: db.status,
            });
        }
        context.clock.sleep(context.poll).await;
    }
}
