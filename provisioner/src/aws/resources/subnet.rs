//! Public and private subnets, one of each per availability zone.

use super::Subnet;
use super::prelude::*;
use aws_sdk_ec2::types::ResourceType;

#[async_trait::async_trait]
impl ResourceKind for Subnet {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let request = cloud.ec2.describe_subnets().filters(cloud.env_filter());
        let subnets = send("DescribeSubnets", || request.clone().send());
        let subnets = subnets.await?;
        for (role, subnet) in cloud.ours(subnets.subnets(), |s| s.tags(), "subnet") {
            let id = subnet.subnet_id().unwrap_or_default();
            let mut f = found(Kind::Subnet, role, id, "available");
            f.set("cidr", subnet.cidr_block().unwrap_or_default());
            f.set("zone", subnet.availability_zone().unwrap_or_default());
            f.set("public", role.starts_with("public").to_string());
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let tags = cloud.tags(ResourceType::Subnet, need.role());
        let request = cloud.ec2.create_subnet().vpc_id(need.id_of("vpc"));
        let request = request
            .cidr_block(need.prop("cidr"))
            .tag_specifications(tags);
        let request = request.availability_zone(need.prop("zone"));
        let created = send("CreateSubnet", || request.clone().send()).await?;
        Made::id("CreateSubnet", created.subnet().and_then(|s| s.subnet_id()))
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud.ec2.delete_subnet().subnet_id(gone.id());
        gone.by("DeleteSubnet", || request.clone().send()).await
    }
}
