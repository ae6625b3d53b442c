//! The database master password, generated into Secrets Manager and never printed.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};

/// Secret resources.
#[derive(Debug)]
pub(super) struct Secret;

#[async_trait::async_trait]
impl ResourceKind for Secret {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        // Secrets Manager, RDS, Route53 and SES: looked up by the names the
        // spec gives, and Aerie's only when tagged for this environment.
        let secret_name = crate::model::rds_secret_name(&cloud.environment);
        match cloud
            .secrets
            .describe_secret()
            .secret_id(&secret_name)
            .send()
            .await
        {
            Ok(secret) if secret.deleted_date().is_none() => {
                let ours = secret.tags().iter().any(|t| {
                    t.key() == Some(ENV_TAG) && t.value() == Some(cloud.environment.as_str())
                });
                if ours {
                    let mut f = found(
                        Kind::Secret,
                        "rds-master-password",
                        secret.arn().unwrap_or_default(),
                        "available",
                    );
                    f.resource.props.insert("name".into(), secret_name.clone());
                    seen.out.push(f);
                }
            }
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(error) => {
                return Err(AwsError::other(
                    "DescribeSecret",
                    aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
                ));
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        cloud: &Cloud,
        need: &Need<'_>,
    ) -> Result<(String, Option<String>), AwsError> {
        let role = need.role();
        let prop = |key: &str| need.prop(key);
        let id = {
            let name = prop("name");
            super::secret::put_secret(cloud, &name, &aerie_common::secret::password(32), role)
                .await?
        };
        Ok((id, None))
    }

    async fn delete(
        &self,
        cloud: &Cloud,
        found: &Found,
        _known: &Known,
    ) -> Result<Option<String>, AwsError> {
        let policy = Policy::destroying();
        let id = found.id.as_str();
        removed("DeleteSecret", policy, || {
            cloud
                .secrets
                .delete_secret()
                .secret_id(id)
                .force_delete_without_recovery(true)
                .send()
        })
        .await?;
        Ok(None)
    }
}

/// Creates secret `name` tagged for the environment; one left by an
/// interrupted run is kept (its value may be in use).
pub(super) async fn put_secret(
    cloud: &Cloud,
    name: &str,
    value: &str,
    role: &str,
) -> Result<String, AwsError> {
    let policy = Policy::standard();
    let created = call("CreateSecret", policy, || {
        cloud
            .secrets
            .create_secret()
            .name(name)
            .secret_string(value)
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(ENV_TAG)
                    .value(&cloud.environment)
                    .build(),
            )
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key(ROLE_TAG)
                    .value(role)
                    .build(),
            )
            .tags(
                aws_sdk_secretsmanager::types::Tag::builder()
                    .key("Name")
                    .value(format!("{}-{role}", cloud.environment))
                    .build(),
            )
            .send()
    })
    .await;
    match created {
        Ok(created) => Ok(created.arn().unwrap_or_default().to_owned()),
        // Left by an interrupted run: keep it (its value may be in use).
        Err(error) if error.is("ResourceExistsException") => Ok(name.to_owned()),
        Err(error) => Err(error),
    }
}
