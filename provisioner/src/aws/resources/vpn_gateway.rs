//! The VPN gateway, attached to the VPC (an attachment is a rule).

use super::attachment::{attach_each, detach_each};
use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::tags::any_of;
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind, Resource, Rule};
use aws_sdk_ec2::types::{GatewayType, ResourceType};

/// VpnGateway resources.
#[derive(Debug)]
pub(super) struct VpnGateway;

#[async_trait::async_trait]
impl ResourceKind for VpnGateway {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let vgws = call("DescribeVpnGateways", policy, || {
            ec2.describe_vpn_gateways()
                .filters(cloud.env_filter())
                .filters(any_of("state", &["pending", "available"]))
                .send()
        })
        .await?;
        for vgw in vgws.vpn_gateways() {
            let Some(role) = cloud.role_if_ours(vgw.tags(), "vgw") else {
                continue;
            };
            let id = vgw.vpn_gateway_id().unwrap_or_default();
            if vgw
                .state()
                .is_some_and(|s| matches!(s.as_str(), "deleted" | "deleting"))
            {
                continue;
            }
            let mut f = found(Kind::VpnGateway, role, id, "available");
            for attachment in vgw.vpc_attachments() {
                let attached = attachment
                    .state()
                    .is_some_and(|s| matches!(s.as_str(), "attached" | "attaching"));
                if attached && let Some(vpc) = attachment.vpc_id().and_then(|v| seen.roles.get(v)) {
                    f.resource.rules.insert(Rule::Attached { vpc: vpc.clone() });
                }
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
        let id = call("CreateVpnGateway", policy, || {
            ec2.create_vpn_gateway()
                .r#type(GatewayType::Ipsec1)
                .tag_specifications(cloud.tags(ResourceType::VpnGateway, role))
                .send()
        })
        .await?
        .vpn_gateway()
        .and_then(|g| g.vpn_gateway_id())
        .unwrap_or_default()
        .to_owned();
        Ok((id, None))
    }

    async fn change(
        &self,
        cloud: &Cloud,
        _resource: &Resource,
        id: &str,
        add: &[Rule],
        _remove: &[Rule],
        known: &Known,
    ) -> Result<(), AwsError> {
        attach_each(add, known, |vpc| async move {
            call("AttachVpnGateway", Policy::standard(), || {
                let request = cloud.ec2.attach_vpn_gateway();
                request.vpn_gateway_id(id).vpc_id(&vpc).send()
            })
            .await
            .map(drop)
        })
        .await
    }

    async fn delete(
        &self,
        cloud: &Cloud,
        found: &Found,
        known: &Known,
    ) -> Result<Option<String>, AwsError> {
        let (policy, id) = (Policy::destroying(), found.id.as_str());
        detach_each(found, known, |vpc| async move {
            removed("DetachVpnGateway", policy, || {
                let request = cloud.ec2.detach_vpn_gateway();
                request.vpn_gateway_id(id).vpc_id(&vpc).send()
            })
            .await
        })
        .await?;
        removed("DeleteVpnGateway", policy, || {
            cloud.ec2.delete_vpn_gateway().vpn_gateway_id(id).send()
        })
        .await?;
        Ok(None)
    }
}
