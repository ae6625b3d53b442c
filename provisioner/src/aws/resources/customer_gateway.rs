//! The VPN customer gateway (the customer's public IP and BGP ASN).

use super::CustomerGateway;
use super::prelude::*;
use crate::aws::tags::any_of;
use aws_sdk_ec2::types::{GatewayType, ResourceType};

#[async_trait::async_trait]
impl ResourceKind for CustomerGateway {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let live = any_of("state", &["pending", "available"]);
        let describe = cloud.ec2.describe_customer_gateways();
        let request = describe.filters(cloud.env_filter()).filters(live);
        let answer = send("DescribeCustomerGateways", || request.clone().send());
        let answer = answer.await?;
        let ours = cloud.ours(answer.customer_gateways(), |g| g.tags(), "cgw");
        for (role, cgw) in ours.filter(|(_, g)| !matches!(g.state(), Some("deleted" | "deleting")))
        {
            let id = cgw.customer_gateway_id().unwrap_or_default();
            let mut f = found(Kind::CustomerGateway, role, id, "available");
            f.set("ip", cgw.ip_address().unwrap_or_default());
            f.set("bgp_asn", cgw.bgp_asn().unwrap_or_default());
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let asn = need.prop("bgp_asn").parse().unwrap_or(65000);
        let tags = cloud.tags(ResourceType::CustomerGateway, need.role());
        let create = cloud.ec2.create_customer_gateway().tag_specifications(tags);
        let request = create
            .bgp_asn(asn)
            .ip_address(need.prop("ip"))
            .r#type(GatewayType::Ipsec1);
        let created = send("CreateCustomerGateway", || request.clone().send()).await?;
        let gateway = created.customer_gateway();
        Made::id(
            "CreateCustomerGateway",
            gateway.and_then(|g| g.customer_gateway_id()),
        )
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let delete = cloud.ec2.delete_customer_gateway();
        let request = delete.customer_gateway_id(gone.id());
        gone.by("DeleteCustomerGateway", || request.clone().send())
            .await
    }
}
