//! The VPN gateway, attached to the VPC (an attachment is a rule).

use super::VpnGateway;
use super::attachment::{Gateway, attach, detach};
use super::prelude::*;
use crate::aws::tags::any_of;
use aws_sdk_ec2::types::{GatewayType, ResourceType};

#[async_trait::async_trait]
impl ResourceKind for VpnGateway {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let live = any_of("state", &["pending", "available"]);
        let request = cloud
            .ec2
            .describe_vpn_gateways()
            .filters(live)
            .filters(cloud.env_filter());
        let answer = send("DescribeVpnGateways", || request.clone().send()).await?;
        for (role, vgw) in cloud.ours(answer.vpn_gateways(), |g| g.tags(), "vgw") {
            if vgw
                .state()
                .is_some_and(|s| matches!(s.as_str(), "deleted" | "deleting"))
            {
                continue;
            }
            let id = vgw.vpn_gateway_id().unwrap_or_default();
            let mut f = found(Kind::VpnGateway, role, id, "available");
            for attachment in vgw.vpc_attachments() {
                let state = attachment.state().map(|s| s.as_str());
                if matches!(state, Some("attached" | "attaching"))
                    && let Some(rule) = attachment.vpc_id().and_then(|vpc| seen.attached(vpc))
                {
                    f.resource.rules.insert(rule);
                }
            }
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let tags = cloud.tags(ResourceType::VpnGateway, need.role());
        let create = cloud.ec2.create_vpn_gateway().tag_specifications(tags);
        let request = create.r#type(GatewayType::Ipsec1);
        let created = send("CreateVpnGateway", || request.clone().send());
        let created = created.await?;
        Made::id(
            "CreateVpnGateway",
            created.vpn_gateway().and_then(|g| g.vpn_gateway_id()),
        )
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        attach(cloud, Gateway::Vpn, change).await
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        detach(cloud, Gateway::Vpn, gone).await?;
        let request = cloud.ec2.delete_vpn_gateway().vpn_gateway_id(gone.id());
        gone.by("DeleteVpnGateway", || request.clone().send()).await
    }
}
