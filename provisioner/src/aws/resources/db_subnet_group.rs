//! The RDS subnet group over the private subnets. Found by its name, and
//! the environment's only when tagged for it: one of that name made by
//! someone else is never changed or deleted.

use super::DbSubnetGroup;
use super::prelude::*;
use crate::aws::tags::{ENV_TAG, ROLE_TAG};

#[async_trait::async_trait]
impl ResourceKind for DbSubnetGroup {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let name = format!("{}-db", cloud.environment);
        let describe = cloud.rds.describe_db_subnet_groups();
        let request = describe.db_subnet_group_name(&name);
        let Some(groups) = lookup("DescribeDBSubnetGroups", || request.clone().send()).await?
        else {
            return Ok(());
        };
        for group in groups.db_subnet_groups() {
            // Found by name: ours only when tagged for the environment.
            let arn = group.db_subnet_group_arn().unwrap_or_default();
            let list = cloud.rds.list_tags_for_resource().resource_name(arn);
            let tags = send("ListTagsForResource", || list.clone().send()).await?;
            if !cloud.owns(tags.tag_list().iter().map(|t| (t.key(), t.value()))) {
                continue;
            }
            let id = group.db_subnet_group_name().unwrap_or_default();
            let mut f = found(Kind::DbSubnetGroup, "db-subnets", id, "available");
            f.set("name", &name);
            let subnets = group.subnets().iter().filter_map(|s| s.subnet_identifier());
            let mut subnets: Vec<String> = subnets.map(|s| seen.role_of(s)).collect();
            subnets.sort();
            f.set("subnets", subnets.join(", "));
            seen.out.push(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let (role, name) = (need.role(), need.prop("name"));
        // Observe saw none of ours: one of that name is someone else's, and
        // creating it again would take it over where the API allows that.
        let describe = cloud
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&name);
        match send("DescribeDBSubnetGroups", || describe.clone().send()).await {
            Ok(found) if !found.db_subnet_groups().is_empty() => {
                return Err(AwsError::other(
                    "CreateDBSubnetGroup",
                    format!(
                        "a DB subnet group named {name} exists and is not tagged aerie:env={}: rename or remove it, Aerie will not take it over",
                        cloud.environment
                    ),
                ));
            }
            Err(error) if !error.code.contains("NotFound") => return Err(error),
            _ => {}
        }
        let tag = |key: &str, value: &str| cloud.rds_tag(key, value);
        let request = cloud
            .rds
            .create_db_subnet_group()
            .db_subnet_group_name(&name)
            .db_subnet_group_description(format!("{} private subnets", cloud.environment))
            .subnet_ids(need.id_of("private-a"))
            .subnet_ids(need.id_of("private-b"))
            .tags(tag(ENV_TAG, &cloud.environment))
            .tags(tag(ROLE_TAG, role))
            .tags(tag("Name", &format!("{}-{role}", cloud.environment)));
        send("CreateDBSubnetGroup", || request.clone().send()).await?;
        Ok(Made::named(&name))
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let delete = cloud.rds.delete_db_subnet_group();
        let request = delete.db_subnet_group_name(gone.id());
        gone.by("DeleteDBSubnetGroup", || request.clone().send())
            .await
    }
}
