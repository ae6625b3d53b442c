//! The VPC: found by tag, created with DNS support and hostnames on.

use super::prelude::*;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};

/// The environment's VPC.
pub(super) struct Vpc;

#[async_trait::async_trait]
impl ResourceKind for Vpc {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let request = cloud.ec2.describe_vpcs().filters(cloud.env_filter());
        let vpcs = call("DescribeVpcs", Policy::standard(), || {
            request.clone().send()
        })
        .await?;
        for (role, vpc) in cloud.ours(vpcs.vpcs(), |v| v.tags(), "vpc") {
            let state = vpc.state().map_or("unknown", |s| s.as_str());
            let mut f = found(Kind::Vpc, role, vpc.vpc_id().unwrap_or_default(), state);
            f.set("cidr", vpc.cidr_block().unwrap_or_default());
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let request = cloud
            .ec2
            .create_vpc()
            .cidr_block(need.prop("cidr"))
            .tag_specifications(cloud.tags(ResourceType::Vpc, need.role()));
        let created = call("CreateVpc", Policy::standard(), || request.clone().send()).await?;
        let made = Made::id("CreateVpc", created.vpc().and_then(|v| v.vpc_id()))?;
        let on = || AttributeBooleanValue::builder().value(true).build();
        let modify = cloud.ec2.modify_vpc_attribute().vpc_id(&made.id);
        let support = modify.clone().enable_dns_support(on());
        call("ModifyVpcAttribute", Policy::standard(), || {
            support.clone().send()
        })
        .await?;
        let hostnames = modify.enable_dns_hostnames(on());
        call("ModifyVpcAttribute", Policy::standard(), || {
            hostnames.clone().send()
        })
        .await?;
        Ok(made)
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud.ec2.delete_vpc().vpc_id(gone.id());
        gone.by("DeleteVpc", || request.clone().send()).await
    }
}
