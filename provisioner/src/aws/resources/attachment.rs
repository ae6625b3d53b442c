//! What the internet gateway and the VPN gateway share: each is attached to
//! the VPC, an attachment being an `Attached` rule. The loops and the
//! attach and detach calls of both live here.

use super::prelude::*;

/// A gateway attached to the VPC.
#[derive(Debug, Clone, Copy)]
pub(super) enum Gateway {
    Internet,
    Vpn,
}

/// Attaches gateway `change.id` to the VPC of each `Attached` rule added
/// (the VPC is a dependency: it exists).
pub(super) async fn attach(
    cloud: &Cloud,
    gateway: Gateway,
    change: &Change<'_>,
) -> Result<(), AwsError> {
    for vpc in attached(change.add) {
        let (id, vpc) = (change.id, change.known.id(vpc)?);
        match gateway {
            Gateway::Internet => {
                let request = cloud.ec2.attach_internet_gateway().internet_gateway_id(id);
                let request = request.vpc_id(vpc);
                send("AttachInternetGateway", || request.clone().send()).await?;
            }
            Gateway::Vpn => {
                let request = cloud.ec2.attach_vpn_gateway().vpn_gateway_id(id);
                let request = request.vpc_id(vpc);
                send("AttachVpnGateway", || request.clone().send()).await?;
            }
        }
    }
    Ok(())
}

/// Detaches the gateway from each VPC it is attached to (one already gone
/// is skipped).
pub(super) async fn detach(
    cloud: &Cloud,
    gateway: Gateway,
    gone: &Gone<'_>,
) -> Result<(), AwsError> {
    let policy = Policy::destroying();
    for vpc in attached(&gone.found.resource.rules) {
        let Some(vpc) = gone.known.ids.get(vpc) else {
            continue;
        };
        if let Gateway::Internet = gateway {
            let request = cloud.ec2.detach_internet_gateway().vpc_id(vpc);
            let request = request.internet_gateway_id(gone.id());
            removed("DetachInternetGateway", policy, || request.clone().send()).await?;
        } else {
            let request = cloud.ec2.detach_vpn_gateway().vpn_gateway_id(gone.id());
            removed("DetachVpnGateway", policy, || {
                request.clone().vpc_id(vpc).send()
            })
            .await?;
        }
    }
    Ok(())
}

/// The VPCs (by role) of the `Attached` rules among `rules`.
fn attached<'r>(rules: impl IntoIterator<Item = &'r Rule>) -> impl Iterator<Item = &'r String> {
    rules.into_iter().filter_map(|rule| match rule {
        Rule::Attached { vpc } => Some(vpc),
        _ => None,
    })
}
