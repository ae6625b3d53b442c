//! The IPsec VPN connection; static routes are rules.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::tags::any_of;
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind, Resource, Rule};
use aws_sdk_ec2::types::{ResourceType, VpnConnectionOptionsSpecification};

/// VpnConnection resources.
#[derive(Debug)]
pub(super) struct VpnConnection;

#[async_trait::async_trait]
impl ResourceKind for VpnConnection {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let connections = call("DescribeVpnConnections", policy, || {
            ec2.describe_vpn_connections()
                .filters(cloud.env_filter())
                .filters(any_of("state", &["pending", "available"]))
                .send()
        })
        .await?;
        for connection in connections.vpn_connections() {
            let Some(role) = cloud.role_if_ours(connection.tags(), "vpn") else {
                continue;
            };
            let id = connection.vpn_connection_id().unwrap_or_default();
            if connection
                .state()
                .is_some_and(|s| matches!(s.as_str(), "deleted" | "deleting"))
            {
                continue;
            }
            let mut f = found(Kind::VpnConnection, role, id, "available");
            for route in connection.routes() {
                if let Some(cidr) = route.destination_cidr_block() {
                    f.resource.rules.insert(Rule::VpnRoute {
                        cidr: cidr.to_owned(),
                    });
                }
            }
            seen.out.push(f);
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
        let id = call("CreateVpnConnection", policy, || {
            ec2.create_vpn_connection()
                .customer_gateway_id(known.ids.get("cgw").cloned().unwrap_or_default())
                .vpn_gateway_id(known.ids.get("vgw").cloned().unwrap_or_default())
                .r#type("ipsec.1")
                .options(
                    VpnConnectionOptionsSpecification::builder()
                        .static_routes_only(prop("static_routes_only") == "true")
                        .build(),
                )
                .tag_specifications(cloud.tags(ResourceType::VpnConnection, role))
                .send()
        })
        .await?
        .vpn_connection()
        .and_then(|c| c.vpn_connection_id())
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
        remove: &[Rule],
        _known: &Known,
    ) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        for rule in remove {
            let Rule::VpnRoute { cidr } = rule else {
                continue;
            };
            call("DeleteVpnConnectionRoute", policy, || {
                ec2.delete_vpn_connection_route()
                    .vpn_connection_id(id)
                    .destination_cidr_block(cidr)
                    .send()
            })
            .await?;
        }
        for rule in add {
            let Rule::VpnRoute { cidr } = rule else {
                continue;
            };
            call("CreateVpnConnectionRoute", policy, || {
                ec2.create_vpn_connection_route()
                    .vpn_connection_id(id)
                    .destination_cidr_block(cidr)
                    .send()
            })
            .await?;
        }
        Ok(())
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
        removed("DeleteVpnConnection", policy, || {
            ec2.delete_vpn_connection().vpn_connection_id(id).send()
        })
        .await?;
        Ok(None)
    }
}
