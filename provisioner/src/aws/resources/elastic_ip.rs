//! The Elastic IP the NAT gateway sends from.

use super::ElasticIp;
use super::prelude::*;
use aws_sdk_ec2::types::{DomainType, ResourceType};

#[async_trait::async_trait]
impl ResourceKind for ElasticIp {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let filter = cloud.env_filter();
        let request = cloud.ec2.describe_addresses().filters(filter);
        let answer = send("DescribeAddresses", || request.clone().send()).await?;
        for (role, address) in cloud.ours(answer.addresses(), |a| a.tags(), "eip") {
            let allocation = address.allocation_id().unwrap_or_default();
            let mut f = found(Kind::ElasticIp, role, allocation, "allocated");
            f.address = address.public_ip().map(str::to_owned);
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let tags = cloud.tags(ResourceType::ElasticIp, need.role());
        let allocate = cloud.ec2.allocate_address().domain(DomainType::Vpc);
        let request = allocate.tag_specifications(tags);
        let allocated = send("AllocateAddress", || request.clone().send());
        Made::id("AllocateAddress", allocated.await?.allocation_id())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud.ec2.release_address().allocation_id(gone.id());
        gone.by("ReleaseAddress", || request.clone().send()).await
    }
}
