//! The internet gateway, attached to the VPC (an attachment is a rule).

use super::InternetGateway;
use super::attachment::{Gateway, attach, detach};
use super::prelude::*;
use aws_sdk_ec2::types::ResourceType;

#[async_trait::async_trait]
impl ResourceKind for InternetGateway {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let describe = cloud.ec2.describe_internet_gateways();
        let request = describe.filters(cloud.env_filter());
        let answer = send("DescribeInternetGateways", || request.clone().send()).await?;
        for (role, gateway) in cloud.ours(answer.internet_gateways(), |g| g.tags(), "igw") {
            let id = gateway.internet_gateway_id().unwrap_or_default();
            let mut f = found(Kind::InternetGateway, role, id, "available");
            let vpcs = gateway.attachments().iter().filter_map(|a| a.vpc_id());
            f.resource
                .rules
                .extend(vpcs.filter_map(|vpc| seen.attached(vpc)));
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let tags = cloud.tags(ResourceType::InternetGateway, need.role());
        let request = cloud.ec2.create_internet_gateway().tag_specifications(tags);
        let created = send("CreateInternetGateway", || request.clone().send()).await?;
        let gateway = created.internet_gateway();
        let id = gateway.and_then(|g| g.internet_gateway_id());
        Made::id("CreateInternetGateway", id)
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        attach(cloud, Gateway::Internet, change).await
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        detach(cloud, Gateway::Internet, gone).await?;
        let request = cloud.ec2.delete_internet_gateway();
        let request = request.internet_gateway_id(gone.id());
        gone.by("DeleteInternetGateway", || request.clone().send())
            .await
    }
}
