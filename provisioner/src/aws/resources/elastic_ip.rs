//! The Elastic IP the NAT gateway sends from.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};
use aws_sdk_ec2::types::{DomainType, ResourceType};

/// ElasticIp resources.
#[derive(Debug)]
pub(super) struct ElasticIp;

#[async_trait::async_trait]
impl ResourceKind for ElasticIp {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let addresses = call("DescribeAddresses", policy, || {
            ec2.describe_addresses().filters(cloud.env_filter()).send()
        })
        .await?;
        for address in addresses.addresses() {
            let Some(role) = cloud.role_if_ours(address.tags(), "eip") else {
                continue;
            };
            let id = address.allocation_id().unwrap_or_default();
            let mut f = found(Kind::ElasticIp, role, id, "allocated");
            f.address = address.public_ip().map(str::to_owned);
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
        let id = call("AllocateAddress", policy, || {
            ec2.allocate_address()
                .domain(DomainType::Vpc)
                .tag_specifications(cloud.tags(ResourceType::ElasticIp, role))
                .send()
        })
        .await?
        .allocation_id()
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
        removed("ReleaseAddress", policy, || {
            ec2.release_address().allocation_id(id).send()
        })
        .await?;
        Ok(None)
    }
}
