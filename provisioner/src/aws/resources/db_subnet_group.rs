//! The RDS subnet group over the private subnets.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};

/// DbSubnetGroup resources.
#[derive(Debug)]
pub(super) struct DbSubnetGroup;

#[async_trait::async_trait]
impl ResourceKind for DbSubnetGroup {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let group_name = format!("{}-db", cloud.environment);
        if let Ok(groups) = cloud
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&group_name)
            .send()
            .await
        {
            for group in groups.db_subnet_groups() {
                let mut f = found(
                    Kind::DbSubnetGroup,
                    "db-subnets",
                    group.db_subnet_group_name().unwrap_or_default(),
                    "available",
                );
                f.resource.props.insert("name".into(), group_name.clone());
                let mut subnets: Vec<String> = group
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier())
                    .map(|s| seen.roles.get(s).cloned().unwrap_or_else(|| s.to_owned()))
                    .collect();
                subnets.sort();
                f.resource
                    .props
                    .insert("subnets".into(), subnets.join(", "));
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
        let id = {
            let name = prop("name");
            call("CreateDBSubnetGroup", policy, || {
                cloud
                    .rds
                    .create_db_subnet_group()
                    .db_subnet_group_name(&name)
                    .db_subnet_group_description(format!("{} private subnets", cloud.environment))
                    .subnet_ids(known.ids.get("private-a").cloned().unwrap_or_default())
                    .subnet_ids(known.ids.get("private-b").cloned().unwrap_or_default())
                    .tags(cloud.rds_tag(ENV_TAG, &cloud.environment))
                    .tags(cloud.rds_tag(ROLE_TAG, role))
                    .tags(cloud.rds_tag("Name", &format!("{}-{role}", cloud.environment)))
                    .send()
            })
            .await?;
            name
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
        removed("DeleteDBSubnetGroup", policy, || {
            cloud
                .rds
                .delete_db_subnet_group()
                .db_subnet_group_name(id)
                .send()
        })
        .await?;
        Ok(None)
    }
}
