//! The NAT gateway that lets private subnets reach out; created and deleted only once AWS says it is available or gone.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::tags::any_of;
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};
use aws_sdk_ec2::types::ResourceType;

/// NatGateway resources.
#[derive(Debug)]
pub(super) struct NatGateway;

#[async_trait::async_trait]
impl ResourceKind for NatGateway {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let nats = call("DescribeNatGateways", policy, || {
            ec2.describe_nat_gateways()
                .filter(cloud.env_filter())
                .filter(any_of("state", &["pending", "available", "failed"]))
                .send()
        })
        .await?;
        for nat in nats.nat_gateways() {
            let Some(role) = cloud.role_if_ours(nat.tags(), "nat") else {
                continue;
            };
            let id = nat.nat_gateway_id().unwrap_or_default();
            let state = nat
                .state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            if state == "failed" {
                continue;
            }
            let mut f = found(Kind::NatGateway, role, id, &state);
            if let Some(subnet) = nat.subnet_id().and_then(|s| seen.roles.get(s)) {
                f.resource.props.insert("subnet".into(), subnet.clone());
            }
            if let Some(address) = nat
                .nat_gateway_addresses()
                .first()
                .and_then(|a| a.allocation_id())
                .and_then(|a| seen.roles.get(a))
            {
                f.resource.props.insert("address".into(), address.clone());
            }
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
        let id = {
            let id = call("CreateNatGateway", policy, || {
                ec2.create_nat_gateway()
                    .subnet_id(known.ids.get(&prop("subnet")).cloned().unwrap_or_default())
                    .allocation_id(known.ids.get(&prop("address")).cloned().unwrap_or_default())
                    .tag_specifications(cloud.tags(ResourceType::Natgateway, role))
                    .send()
            })
            .await?
            .nat_gateway()
            .and_then(|n| n.nat_gateway_id())
            .unwrap_or_default()
            .to_owned();
            wait_available(cloud, &id).await?;
            id
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
        let ec2 = &cloud.ec2;
        let id = found.id.as_str();
        removed("DeleteNatGateway", policy, || {
            ec2.delete_nat_gateway().nat_gateway_id(id).send()
        })
        .await?;
        for _ in 0..150 {
            let nats = call("DescribeNatGateways", Policy::standard(), || {
                ec2.describe_nat_gateways().nat_gateway_ids(id).send()
            })
            .await;
            match nats {
                Ok(nats)
                    if nats
                        .nat_gateways()
                        .first()
                        .and_then(|n| n.state())
                        .is_some_and(|s| s.as_str() != "deleted") =>
                {
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                }
                _ => return Ok(None),
            }
        }
        Ok(())?;
        Ok(None)
    }
}

/// Waits until NAT gateway `id` is available (or failed).
async fn wait_available(cloud: &Cloud, id: &str) -> Result<(), AwsError> {
    for _ in 0..120 {
        let nats = call("DescribeNatGateways", Policy::standard(), || {
            cloud.ec2.describe_nat_gateways().nat_gateway_ids(id).send()
        })
        .await?;
        match nats
            .nat_gateways()
            .first()
            .and_then(|n| n.state())
            .map(|s| s.as_str())
        {
            Some("available") => return Ok(()),
            Some("failed") => {
                return Err(AwsError::other("CreateNatGateway", format!("{id} failed")));
            }
            _ => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
        }
    }
    Err(AwsError::other(
        "CreateNatGateway",
        format!("{id} was not available after 4 minutes"),
    ))
}
