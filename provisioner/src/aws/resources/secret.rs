//! The environment's secrets (the database master password, the product's
//! database and administrator passwords, the agents' ingest token),
//! generated into Secrets Manager and never printed; and how any secret of
//! the environment is written and removed.
//!
//! A secret is observed like any resource: one scheduled for deletion is
//! restored (`RestoreSecret`), and a master password deleted for good is
//! made again with a new value that is then set on the database too
//! (`ModifyDBInstance`), so that the secret always opens the database.
//! Its replicas (`replicated to <region>`, the DR region) are rules: added
//! with `ReplicateSecretToRegions`, removed (and removed before the secret
//! is deleted) with `RemoveRegionsFromReplication`.

use super::Secret;
use super::prelude::*;
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use crate::repair::Repair;
use aws_sdk_secretsmanager::types::Tag;

#[async_trait::async_trait]
impl ResourceKind for Secret {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        // Found by the names the environment gives them, Aerie's only when
        // tagged for the environment they are of (on a DR site, the
        // recovered one's replicas).
        let owner = seen.spec.secrets_of();
        for (role, name) in crate::model::secrets(seen.spec) {
            let request = cloud.secrets.describe_secret().secret_id(&name);
            let Some(secret) = lookup("DescribeSecret", || request.clone().send()).await? else {
                continue;
            };
            let mut tags = secret.tags().iter();
            if tags.any(|t| t.key() == Some(ENV_TAG) && t.value() == Some(owner)) {
                let arn = secret.arn().unwrap_or_default();
                let mut f = found(Kind::Secret, role, arn, "available");
                f.set("name", name);
                for replica in secret.replication_status() {
                    if let Some(region) = replica.region() {
                        f.resource.rules.insert(Rule::Replica {
                            region: region.to_owned(),
                        });
                    }
                }
                if secret.deleted_date().is_some() {
                    f.state = "scheduled for deletion".into();
                    f.repairs.push(Repair::Restore);
                }
                seen.add(f);
            }
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let replicas = regions(need.resource.rules.iter());
        let put = |value: String| async move {
            let arn = put_secret(cloud, &need.prop("name"), &value, need.role()).await?;
            replicate(cloud, &arn, &replicas).await?;
            Ok::<_, AwsError>(arn)
        };
        if need.role() == "ingest-token" {
            let arn = put(aerie_common::secret::token()).await?;
            return Ok(Made::named(&arn));
        }
        let password = aerie_common::secret::password(32);
        let arn = put(password.clone()).await?;
        if need.role() != "rds-master-password" {
            // The product's passwords are set by the nodes from the secret
            // (the database bootstrap sets the user's on every run).
            return Ok(Made::named(&arn));
        }
        // A database that outlived its secret gets the new password: the
        // old one is lost with the secret.
        let identifier = format!("{}-db", cloud.environment);
        if cloud.describe_database(&identifier).await?.is_some() {
            let modify = cloud
                .rds
                .modify_db_instance()
                .db_instance_identifier(&identifier);
            let request = modify
                .master_user_password(&password)
                .apply_immediately(true);
            send("ModifyDBInstance", || request.clone().send()).await?;
        }
        Ok(Made::named(&arn))
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        if change.repairs.contains(&Repair::Restore) {
            let request = cloud.secrets.restore_secret().secret_id(change.id);
            send("RestoreSecret", || request.clone().send()).await?;
        }
        replicate(cloud, change.id, &regions(change.add.iter())).await?;
        unreplicate(cloud, change.id, &regions(change.remove.iter())).await
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let replicas = regions(gone.found.resource.rules.iter());
        unreplicate(cloud, gone.id(), &replicas).await?;
        delete_secret(cloud, gone.id()).await?;
        Ok(None)
    }
}

/// The regions of the `replicated to` rules among `rules`.
fn regions<'a>(rules: impl Iterator<Item = &'a Rule>) -> Vec<String> {
    rules
        .filter_map(|rule| match rule {
            Rule::Replica { region } => Some(region.clone()),
            _ => None,
        })
        .collect()
}

/// Keeps secret `id` in `regions` too (already there is fine).
async fn replicate(cloud: &Cloud, id: &str, regions: &[String]) -> Result<(), AwsError> {
    if regions.is_empty() {
        return Ok(());
    }
    let replicas = regions.iter().map(|region| {
        aws_sdk_secretsmanager::types::ReplicaRegionType::builder()
            .region(region)
            .build()
    });
    let request = cloud
        .secrets
        .replicate_secret_to_regions()
        .secret_id(id)
        .set_add_replica_regions(Some(replicas.collect()))
        .force_overwrite_replica_secret(false);
    send("ReplicateSecretToRegions", || request.clone().send()).await?;
    Ok(())
}

/// Stops keeping secret `id` in `regions`.
async fn unreplicate(cloud: &Cloud, id: &str, regions: &[String]) -> Result<(), AwsError> {
    if regions.is_empty() {
        return Ok(());
    }
    let request = cloud
        .secrets
        .remove_regions_from_replication()
        .secret_id(id)
        .set_remove_replica_regions(Some(regions.to_vec()));
    send("RemoveRegionsFromReplication", || request.clone().send()).await?;
    Ok(())
}

/// Creates secret `name` tagged for the environment; one left by an
/// interrupted run is kept (its value may be in use).
pub(super) async fn put_secret(
    cloud: &Cloud,
    name: &str,
    value: &str,
    role: &str,
) -> Result<String, AwsError> {
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let request = cloud
        .secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .tags(tag(ENV_TAG, &cloud.environment))
        .tags(tag(ROLE_TAG, role))
        .tags(tag("Name", &format!("{}-{role}", cloud.environment)));
    match send("CreateSecret", || request.clone().send()).await {
        Ok(created) => Ok(created.arn().unwrap_or_default().to_owned()),
        // Left by an interrupted run: keep it (its value may be in use);
        // one of that name that is not the environment's is not taken.
        Err(error) if error.is("ResourceExistsException") => {
            if let Some(arn) = owned(cloud, name).await? {
                Ok(arn)
            } else {
                Err(AwsError::other(
                    "CreateSecret",
                    format!(
                        "a secret named {name} exists and is not tagged aerie:env={}: rename or remove it, Aerie will not take it over",
                        cloud.environment
                    ),
                ))
            }
        }
        Err(error) => Err(error),
    }
}

/// The ARN of secret `id` when it exists and is tagged for this environment.
async fn owned(cloud: &Cloud, id: &str) -> Result<Option<String>, AwsError> {
    let request = cloud.secrets.describe_secret().secret_id(id);
    let secret = lookup("DescribeSecret", || request.clone().send()).await?;
    Ok(secret.and_then(|secret| {
        let tags = secret.tags().iter().map(|t| (t.key(), t.value()));
        cloud
            .owns(tags)
            .then(|| secret.arn().unwrap_or(id).to_owned())
    }))
}

/// Deletes secret `id` (a name or an ARN) at once, without a recovery
/// window; one that is not tagged for the environment is left alone.
pub(super) async fn delete_secret(cloud: &Cloud, id: &str) -> Result<(), AwsError> {
    if owned(cloud, id).await?.is_none() {
        return Ok(());
    }
    let delete = cloud.secrets.delete_secret().secret_id(id);
    let request = delete.force_delete_without_recovery(true);
    removed("DeleteSecret", Policy::destroying(), || {
        request.clone().send()
    })
    .await
}
