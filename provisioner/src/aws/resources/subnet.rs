//! Public and private subnets, one of each per availability zone.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};
use aws_sdk_ec2::types::ResourceType;

/// Subnet resources.
#[derive(Debug)]
pub(super) struct Subnet;

#[async_trait::async_trait]
impl ResourceKind for Subnet {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let subnets = call("DescribeSubnets", policy, || {
            ec2.describe_subnets().filters(cloud.env_filter()).send()
        })
        .await?;
        for subnet in subnets.subnets() {
            let Some(role) = cloud.role_if_ours(subnet.tags(), "subnet") else {
                continue;
            };
            let id = subnet.subnet_id().unwrap_or_default();
            let mut f = found(Kind::Subnet, role, id, "available");
            f.resource.props.insert(
                "cidr".into(),
                subnet.cidr_block().unwrap_or_default().into(),
            );
            f.resource.props.insert(
                "zone".into(),
                subnet.availability_zone().unwrap_or_default().into(),
            );
            f.resource
                .props
                .insert("public".into(), role.starts_with("public").to_string());
            seen.add(f);
        }
        Ok(())
    }

    async fn create(
        &self,
        cloud: &Cloud,
        need: &Need<'_>,
    ) -> Result<(String, Option<String>), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let role = need.role();
        let prop = |key: &str| need.prop(key);
        let known = need.known;
        let id = call("CreateSubnet", policy, || {
            ec2.create_subnet()
                .vpc_id(known.ids.get("vpc").cloned().unwrap_or_default())
                .cidr_block(prop("cidr"))
                .availability_zone(prop("zone"))
                .tag_specifications(cloud.tags(ResourceType::Subnet, role))
                .send()
        })
        .await?
        .subnet()
        .and_then(|s| s.subnet_id())
        .unwrap_or_default()
        .to_owned();
        Ok((id, None))
    }

    async fn delete(
        &self,
        cloud: &Cloud,
        found: &Found,
        _known: &Known,
    ) -> Result<Option<String>, AwsError> {
        let policy = Policy::destroying();
        let ec2 = &cloud.ec2;
        let id = found.id.as_str();
        removed("DeleteSubnet", policy, || {
            ec2.delete_subnet().subnet_id(id).send()
        })
        .await?;
        Ok(None)
    }
}
