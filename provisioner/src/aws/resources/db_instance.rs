//! The RDS MySQL instance: encrypted, private; deleting it keeps a final
//! snapshot unless the spec says otherwise.

use super::DbInstance;
use super::prelude::*;
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use aws_sdk_rds::types::DbInstance as Database;

#[async_trait::async_trait]
impl ResourceKind for DbInstance {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let identifier = format!("{}-db", cloud.environment);
        if let Some(db) = cloud.describe_database(&identifier).await? {
            let ours = cloud.owns(db.tag_list().iter().map(|t| (t.key(), t.value())));
            let status = db.db_instance_status().unwrap_or_default();
            if ours && status != "deleting" {
                seen.out.push(described(&identifier, status, &db));
            }
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let (role, identifier, database) =
            (need.role(), need.prop("identifier"), &need.spec.database);
        let secret = crate::model::rds_secret_name(&cloud.environment);
        let get = cloud.secrets.get_secret_value().secret_id(secret);
        let password = send("GetSecretValue", || get.clone().send()).await?;
        let tag = |key: &str, value: &str| cloud.rds_tag(key, value);
        let request = cloud
            .rds
            .create_db_instance()
            .db_instance_identifier(&identifier)
            .engine("mysql")
            .engine_version(&database.engine_version)
            .db_instance_class(&database.instance_class)
            .allocated_storage(database.allocated_storage_gb)
            .master_username(crate::topology::MASTER_USER)
            .set_master_user_password(password.secret_string().map(str::to_owned))
            .db_subnet_group_name(format!("{}-db", cloud.environment))
            .vpc_security_group_ids(need.id_of("rds-sg"))
            .storage_encrypted(true)
            .publicly_accessible(false)
            .multi_az(database.multi_az)
            .backup_retention_period(7)
            .deletion_protection(need.resource.rules.contains(&Rule::DeletionProtection))
            .tags(tag(ENV_TAG, &cloud.environment))
            .tags(tag(ROLE_TAG, role))
            .tags(tag("Name", &format!("{}-{role}", cloud.environment)));
        let created = send("CreateDBInstance", || request.clone().send()).await?;
        let endpoint = created.db_instance().and_then(|d| d.endpoint());
        let mut made = Made::named(&identifier);
        made.address = endpoint.and_then(|e| e.address()).map(str::to_owned);
        Ok(made)
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        for (on, rule) in change.each() {
            if *rule != Rule::DeletionProtection {
                continue;
            }
            let request = cloud
                .rds
                .modify_db_instance()
                .db_instance_identifier(change.id)
                .deletion_protection(on)
                .apply_immediately(true);
            send("ModifyDBInstance", || request.clone().send()).await?;
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        // The snapshot outlives the environment: it is how its data comes
        // back (`aerie:env` tags are copied onto it).
        if gone
            .found
            .resource
            .rules
            .contains(&Rule::DeletionProtection)
        {
            return Err(AwsError::other(
                "DeleteDBInstance",
                format!(
                    "{} has deletion protection on (a production environment): set production = false in the spec and apply, then destroy",
                    gone.id()
                ),
            ));
        }
        let at = chrono::Utc::now();
        let snapshot = cloud
            .final_snapshot
            .then(|| crate::aws::final_snapshot_name(gone.id(), at));
        let request = cloud
            .rds
            .delete_db_instance()
            .db_instance_identifier(gone.id())
            .skip_final_snapshot(snapshot.is_none())
            .set_final_db_snapshot_identifier(snapshot.clone())
            .delete_automated_backups(false);
        gone.by("DeleteDBInstance", || request.clone().send())
            .await?;
        Ok(snapshot.map(|name| format!("final snapshot {name}")))
    }
}

/// The database as the model has it.
fn described(identifier: &str, status: &str, db: &Database) -> crate::model::Found {
    let mut f = found(Kind::DbInstance, "db", identifier, status);
    if db.deletion_protection() == Some(true) {
        f.resource.rules.insert(Rule::DeletionProtection);
    }
    f.set("identifier", identifier);
    let version = db.engine_version().unwrap_or_default().split('.').take(2);
    let version = version.collect::<Vec<_>>().join(".");
    f.set(
        "engine",
        format!("{} {version}", db.engine().unwrap_or_default()),
    );
    f.set("class", db.db_instance_class().unwrap_or_default());
    let encrypted = match db.storage_encrypted() {
        Some(true) => "encrypted",
        _ => "NOT encrypted",
    };
    let storage = db.allocated_storage().unwrap_or_default();
    f.set("storage", format!("{storage} GiB {encrypted}"));
    f.set("multi_az", db.multi_az().unwrap_or_default().to_string());
    f.set(
        "public",
        db.publicly_accessible().unwrap_or_default().to_string(),
    );
    f.address = db.endpoint().and_then(|e| e.address()).map(str::to_owned);
    f
}
