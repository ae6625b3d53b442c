//! The VPN customer gateway (the customer's public IP and BGP ASN).

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::tags::any_of;
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};
use aws_sdk_ec2::types::{GatewayType, ResourceType};

/// CustomerGateway resources.
#[derive(Debug)]
pub(super) struct CustomerGateway;

#[async_trait::async_trait]
impl ResourceKind for CustomerGateway {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let cgws = call("DescribeCustomerGateways", policy, || {
            ec2.describe_customer_gateways()
                .filters(cloud.env_filter())
                .filters(any_of("state", &["pending", "available"]))
                .send()
        })
        .await?;
        for cgw in cgws.customer_gateways() {
            let Some(role) = cloud.role_if_ours(cgw.tags(), "cgw") else {
                continue;
            };
            let id = cgw.customer_gateway_id().unwrap_or_default();
            if cgw
                .state()
                .is_some_and(|s| matches!(s, "deleted" | "deleting"))
            {
                continue;
            }
            let mut f = found(Kind::CustomerGateway, role, id, "available");
            f.resource
                .props
                .insert("ip".into(), cgw.ip_address().unwrap_or_default().into());
            f.resource
                .props
                .insert("bgp_asn".into(), cgw.bgp_asn().unwrap_or_default().into());
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
        let id = call("CreateCustomerGateway", policy, || {
            ec2.create_customer_gateway()
                .bgp_asn(prop("bgp_asn").parse().unwrap_or(65000))
                .ip_address(prop("ip"))
                .r#type(GatewayType::Ipsec1)
                .tag_specifications(cloud.tags(ResourceType::CustomerGateway, role))
                .send()
        })
        .await?
        .customer_gateway()
        .and_then(|g| g.customer_gateway_id())
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
        removed("DeleteCustomerGateway", policy, || {
            ec2.delete_customer_gateway().customer_gateway_id(id).send()
        })
        .await?;
        Ok(None)
    }
}
