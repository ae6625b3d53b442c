//! The RDS MySQL instance: encrypted, private; deleting it keeps a final snapshot unless the spec says otherwise.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};

/// DbInstance resources.
#[derive(Debug)]
pub(super) struct DbInstance;

#[async_trait::async_trait]
impl ResourceKind for DbInstance {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let identifier = format!("{}-db", cloud.environment);
        if let Ok(instances) = cloud
            .rds
            .describe_db_instances()
            .db_instance_identifier(&identifier)
            .send()
            .await
        {
            for db in instances.db_instances() {
                let ours = db.tag_list().iter().any(|t| {
                    t.key() == Some(ENV_TAG) && t.value() == Some(cloud.environment.as_str())
                });
                let status = db.db_instance_status().unwrap_or_default();
                if !ours || status == "deleting" {
                    continue;
                }
                let mut f = found(Kind::DbInstance, "db", &identifier, status);
                let props = &mut f.resource.props;
                props.insert("identifier".into(), identifier.clone());
                props.insert(
                    "engine".into(),
                    format!(
                        "{} {}",
                        db.engine().unwrap_or_default(),
                        db.engine_version()
                            .unwrap_or_default()
                            .split('.')
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(".")
                    ),
                );
                props.insert(
                    "class".into(),
                    db.db_instance_class().unwrap_or_default().into(),
                );
                props.insert(
                    "storage".into(),
                    format!(
                        "{} GiB {}",
                        db.allocated_storage().unwrap_or_default(),
                        if db.storage_encrypted() == Some(true) {
                            "encrypted"
                        } else {
                            "NOT encrypted"
                        }
                    ),
                );
                props.insert(
                    "multi_az".into(),
                    db.multi_az().unwrap_or_default().to_string(),
                );
                props.insert(
                    "public".into(),
                    db.publicly_accessible().unwrap_or_default().to_string(),
                );
                f.address = db.endpoint().and_then(|e| e.address()).map(str::to_owned);
                seen.out.push(f);
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        cloud: &Cloud,
        need: &Need<'_>,
    ) -> Result<(String, Option<String>), AwsError> {
        let policy = Policy::standard();
        let role = need.role();
        let prop = |key: &str| need.prop(key);
        let known = need.known;
        let spec = need.spec;
        let identifier = prop("identifier");
        let password = call("GetSecretValue", policy, || {
            cloud
                .secrets
                .get_secret_value()
                .secret_id(crate::model::rds_secret_name(&cloud.environment))
                .send()
        })
        .await?
        .secret_string()
        .unwrap_or_default()
        .to_owned();
        let created = call("CreateDBInstance", policy, || {
            cloud
                .rds
                .create_db_instance()
                .db_instance_identifier(&identifier)
                .engine("mysql")
                .engine_version(&spec.database.engine_version)
                .db_instance_class(&spec.database.instance_class)
                .allocated_storage(spec.database.allocated_storage_gb)
                .master_username("aerieadmin")
                .master_user_password(&password)
                .db_subnet_group_name(format!("{}-db", cloud.environment))
                .vpc_security_group_ids(known.ids.get("rds-sg").cloned().unwrap_or_default())
                .storage_encrypted(true)
                .publicly_accessible(false)
                .multi_az(spec.database.multi_az)
                .backup_retention_period(7)
                .tags(cloud.rds_tag(ENV_TAG, &cloud.environment))
                .tags(cloud.rds_tag(ROLE_TAG, role))
                .tags(cloud.rds_tag("Name", &format!("{}-{role}", cloud.environment)))
                .send()
        })
        .await?;
        let address = created
            .db_instance()
            .and_then(|d| d.endpoint())
            .and_then(|e| e.address())
            .map(str::to_owned);
        return Ok((identifier, address));
    }

    async fn delete(
        &self,
        cloud: &Cloud,
        found: &Found,
        _known: &Known,
    ) -> Result<Option<String>, AwsError> {
        let policy = Policy::destroying();
        let id = found.id.as_str();
        // The snapshot outlives the environment: it is how its data
        // comes back (`aerie:env` tags are copied onto it).
        let snapshot = cloud
            .final_snapshot
            .then(|| crate::aws::final_snapshot_name(id, chrono::Utc::now()));
        let kept = snapshot
            .as_ref()
            .map(|name| format!("final snapshot {name}"));
        removed("DeleteDBInstance", policy, || {
            cloud
                .rds
                .delete_db_instance()
                .db_instance_identifier(id)
                .skip_final_snapshot(snapshot.is_none())
                .set_final_db_snapshot_identifier(snapshot.clone())
                .delete_automated_backups(false)
                .send()
        })
        .await?;
        Ok(kept)
    }
}
