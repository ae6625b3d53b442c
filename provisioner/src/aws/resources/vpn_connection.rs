//! The IPsec VPN connection; static routes are rules.

use super::VpnConnection;
use super::prelude::*;
use crate::aws::tags::any_of;
use aws_sdk_ec2::types::{ResourceType, VpnConnectionOptionsSpecification};

#[async_trait::async_trait]
impl ResourceKind for VpnConnection {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let live = any_of("state", &["pending", "available"]);
        let describe = cloud.ec2.describe_vpn_connections().filters(live);
        let request = describe.filters(cloud.env_filter());
        let answer = send("DescribeVpnConnections", || request.clone().send());
        let answer = answer.await?;
        for (role, connection) in cloud.ours(answer.vpn_connections(), |c| c.tags(), "vpn") {
            let state = connection.state().map(|s| s.as_str());
            if matches!(state, Some("deleted" | "deleting")) {
                continue;
            }
            let id = connection.vpn_connection_id().unwrap_or_default();
            let mut f = found(Kind::VpnConnection, role, id, "available");
            let cidrs = connection
                .routes()
                .iter()
                .filter_map(|r| r.destination_cidr_block());
            let routes = cidrs.map(|cidr| Rule::VpnRoute {
                cidr: cidr.to_owned(),
            });
            f.resource.rules.extend(routes);
            seen.out.push(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let options = VpnConnectionOptionsSpecification::builder()
            .static_routes_only(need.prop("static_routes_only") == "true")
            .build();
        let tags = cloud.tags(ResourceType::VpnConnection, need.role());
        let request = cloud
            .ec2
            .create_vpn_connection()
            .customer_gateway_id(need.id_of("cgw"))
            .vpn_gateway_id(need.id_of("vgw"))
            .r#type("ipsec.1")
            .options(options)
            .tag_specifications(tags);
        let created = send("CreateVpnConnection", || request.clone().send()).await?;
        let connection = created.vpn_connection();
        Made::id(
            "CreateVpnConnection",
            connection.and_then(|c| c.vpn_connection_id()),
        )
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        for (add, rule) in change.each() {
            let Rule::VpnRoute { cidr } = rule else {
                continue;
            };
            let (ec2, policy) = (&cloud.ec2, Policy::standard());
            if add {
                let create = ec2
                    .create_vpn_connection_route()
                    .vpn_connection_id(change.id);
                let request = create.destination_cidr_block(cidr);
                call("CreateVpnConnectionRoute", policy, || {
                    request.clone().send()
                })
                .await?;
            } else {
                let delete = ec2
                    .delete_vpn_connection_route()
                    .destination_cidr_block(cidr);
                let request = delete.vpn_connection_id(change.id);
                call("DeleteVpnConnectionRoute", policy, || {
                    request.clone().send()
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud
            .ec2
            .delete_vpn_connection()
            .vpn_connection_id(gone.id());
        gone.by("DeleteVpnConnection", || request.clone().send())
            .await
    }
}
