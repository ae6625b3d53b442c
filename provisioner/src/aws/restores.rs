//! Databases restored from a snapshot by a DR runbook, and the DB subnet
//! groups they go into: made, found again by name and tags, removed. The tags say which execution and step
//! made one (`aerie:dr-run`, `aerie:dr-step`), so a step run again finds
//! its database instead of making a second, and an undo removes only what
//! its execution made.
//!
//! This file makes the calls; which database, under which name, and when
//! to undo is the runbook engine's to decide (`crate::dr`).

use super::Cloud;
use super::retry::{AwsError, Policy, lookup, removed, send};

/// The execution that made a resource.
pub const DR_RUN_TAG: &str = "aerie:dr-run";
/// The step of that execution.
pub const DR_STEP_TAG: &str = "aerie:dr-step";

/// A restored database as AWS has it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub identifier: String,
    /// `creating`, `available`, `deleting`, ...
    pub status: String,
    /// `host:port`, once AWS has given it one.
    pub endpoint: Option<String>,
    /// The `aerie:dr-run` tag: the execution that made it.
    pub run: Option<String>,
}

impl Restored {
    pub fn available(&self) -> bool {
        self.status == "available"
    }
}

/// What a restore asks for.
#[derive(Debug, Clone)]
pub struct Restore<'a> {
    pub identifier: &'a str,
    pub snapshot: &'a str,
    pub instance_class: &'a str,
    /// The DB subnet group in this region; AWS's default when `None`.
    pub subnet_group: Option<&'a str>,
    /// Its VPC security group; the VPC's default when `None`.
    pub security_group: Option<&'a str>,
    /// Every tag the database gets.
    pub tags: Vec<(String, String)>,
}

impl Cloud {
    /// Database `identifier` of this region as AWS describes it, if
    /// there is one.
    pub(crate) async fn describe_database(
        &self,
        identifier: &str,
    ) -> Result<Option<aws_sdk_rds::types::DbInstance>, AwsError> {
        let request = self
            .rds
            .describe_db_instances()
            .db_instance_identifier(identifier);
        let answer = lookup("DescribeDBInstances", || request.clone().send()).await?;
        Ok(answer.and_then(|a| a.db_instances().first().cloned()))
    }

    /// The database `identifier` in this region, if there is one.
    pub async fn restored_database(&self, identifier: &str) -> Result<Option<Restored>, AwsError> {
        Ok(self
            .describe_database(identifier)
            .await?
            .map(|db| Restored {
                identifier: identifier.to_owned(),
                status: db.db_instance_status().unwrap_or("unknown").to_owned(),
                endpoint: db
                    .endpoint()
                    .and_then(|e| Some(format!("{}:{}", e.address()?, e.port().unwrap_or(3306)))),
                run: db
                    .tag_list()
                    .iter()
                    .find(|t| t.key() == Some(DR_RUN_TAG))
                    .and_then(|t| t.value())
                    .map(str::to_owned),
            }))
    }

    /// Restores `restore.snapshot` (a snapshot of this region) as a new
    /// database, never public.
    pub async fn restore_database(&self, restore: &Restore<'_>) -> Result<Restored, AwsError> {
        let tags = restore
            .tags
            .iter()
            .map(|(key, value)| self.rds_tag(key, value))
            .collect();
        let request = self
            .rds
            .restore_db_instance_from_db_snapshot()
            .db_instance_identifier(restore.identifier)
            .db_snapshot_identifier(restore.snapshot)
            .db_instance_class(restore.instance_class)
            .set_db_subnet_group_name(restore.subnet_group.map(str::to_owned))
            .set_vpc_security_group_ids(restore.security_group.map(|g| vec![g.to_owned()]))
            .publicly_accessible(false)
            .set_tags(Some(tags));
        let made = send("RestoreDBInstanceFromDBSnapshot", || request.clone().send()).await?;
        let db = made.db_instance().ok_or_else(|| {
            AwsError::other(
                "RestoreDBInstanceFromDBSnapshot",
                "AWS answered no database",
            )
        })?;
        Ok(Restored {
            identifier: restore.identifier.to_owned(),
            status: db.db_instance_status().unwrap_or("creating").to_owned(),
            endpoint: None,
            run: None,
        })
    }

    /// Removes database `identifier` with no final snapshot (it is a
    /// copy of a backup that stays); gone already is fine.
    pub async fn remove_restored_database(&self, identifier: &str) -> Result<(), AwsError> {
        let request = self
            .rds
            .delete_db_instance()
            .db_instance_identifier(identifier)
            .skip_final_snapshot(true)
            .delete_automated_backups(true);
        removed("DeleteDBInstance", Policy::destroying(), || {
            request.clone().send()
        })
        .await
    }

    /// The `aerie:dr-run` tag of DB subnet group `name`, or `None` when
    /// there is no such group (`Some(None)`: it exists, made by no run).
    pub async fn dr_subnet_group(&self, name: &str) -> Result<Option<Option<String>>, AwsError> {
        let request = self
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(name);
        let Some(answer) = lookup("DescribeDBSubnetGroups", || request.clone().send()).await?
        else {
            return Ok(None);
        };
        let Some(arn) = answer
            .db_subnet_groups()
            .first()
            .and_then(|g| g.db_subnet_group_arn())
        else {
            return Ok(None);
        };
        let request = self.rds.list_tags_for_resource().resource_name(arn);
        let tags = send("ListTagsForResource", || request.clone().send()).await?;
        Ok(Some(
            tags.tag_list()
                .iter()
                .find(|t| t.key() == Some(DR_RUN_TAG))
                .and_then(|t| t.value())
                .map(str::to_owned),
        ))
    }

    /// The subnets of this region's default VPC (none when it has none).
    pub async fn default_subnets(&self) -> Result<Vec<String>, AwsError> {
        let request = self.ec2.describe_vpcs().filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("is-default")
                .values("true")
                .build(),
        );
        let vpcs = send("DescribeVpcs", || request.clone().send()).await?;
        let Some(vpc) = vpcs.vpcs().first().and_then(|v| v.vpc_id()) else {
            return Ok(Vec::new());
        };
        let request = self.ec2.describe_subnets().filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(vpc)
                .build(),
        );
        let subnets = send("DescribeSubnets", || request.clone().send()).await?;
        let mut out: Vec<String> = subnets
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Makes DB subnet group `name` of `subnets`, tagged `tags`.
    pub async fn create_dr_subnet_group(
        &self,
        name: &str,
        subnets: &[String],
        tags: &[(String, String)],
    ) -> Result<(), AwsError> {
        let request = self
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(name)
            .db_subnet_group_description(format!("{name}: a DR restore's database"))
            .set_subnet_ids(Some(subnets.to_vec()))
            .set_tags(Some(tags.iter().map(|(k, v)| self.rds_tag(k, v)).collect()));
        send("CreateDBSubnetGroup", || request.clone().send()).await?;
        Ok(())
    }

    /// Removes DB subnet group `name`; gone already is fine.
    pub async fn remove_dr_subnet_group(&self, name: &str) -> Result<(), AwsError> {
        let request = self.rds.delete_db_subnet_group().db_subnet_group_name(name);
        removed("DeleteDBSubnetGroup", Policy::destroying(), || {
            request.clone().send()
        })
        .await
    }
}
