//! The NAT gateway that lets private subnets reach out; created and deleted
//! only once AWS says it is available or gone.

use std::time::Duration;

use super::NatGateway;
use super::prelude::*;
use crate::aws::tags::any_of;
use aws_sdk_ec2::types::ResourceType;

#[async_trait::async_trait]
impl ResourceKind for NatGateway {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let live = any_of("state", &["pending", "available", "failed"]);
        let request = cloud.ec2.describe_nat_gateways().filter(live);
        let request = request.filter(cloud.env_filter());
        let answer = send("DescribeNatGateways", || request.clone().send()).await?;
        for (role, nat) in cloud.ours(answer.nat_gateways(), |n| n.tags(), "nat") {
            let state = nat.state().map(|s| s.as_str()).unwrap_or_default();
            if state == "failed" {
                continue;
            }
            let mut f = found(
                Kind::NatGateway,
                role,
                nat.nat_gateway_id().unwrap_or_default(),
                state,
            );
            if let Some(subnet) = nat.subnet_id().and_then(|s| seen.roles.get(s)) {
                f.set("subnet", subnet);
            }
            let allocation = nat
                .nat_gateway_addresses()
                .first()
                .and_then(|a| a.allocation_id());
            if let Some(address) = allocation.and_then(|a| seen.roles.get(a)) {
                f.set("address", address);
            }
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let tags = cloud.tags(ResourceType::Natgateway, need.role());
        let request = cloud.ec2.create_nat_gateway().tag_specifications(tags);
        let request = request
            .subnet_id(need.id_of(&need.prop("subnet")))
            .allocation_id(need.id_of(&need.prop("address")));
        let allocation = need.id_of(&need.prop("address"));
        let mut polls = 0;
        let created = loop {
            let created = send("CreateNatGateway", || request.clone().send());
            match created.await {
                // The address still belongs to a NAT gateway deleted behind
                // our back: AWS lets it go once that one is gone.
                Err(error) if error.is("Resource.AlreadyAssociated") && polls < 60 => {
                    polls += 1;
                    let_go_of(cloud, &allocation).await?;
                }
                created => break created?,
            }
        };
        let nat = created.nat_gateway().and_then(|n| n.nat_gateway_id());
        let made = Made::id("CreateNatGateway", nat)?;
        match wait_for(cloud, &made.id, 120, |state| state != Some("pending")).await? {
            Some("available") => Ok(made),
            Some(state) => Err(AwsError::other(
                "CreateNatGateway",
                format!("{} is {state}", made.id),
            )),
            None => Err(AwsError::other(
                "CreateNatGateway",
                format!("{} was not available after 4 minutes", made.id),
            )),
        }
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud.ec2.delete_nat_gateway().nat_gateway_id(gone.id());
        gone.by("DeleteNatGateway", || request.clone().send())
            .await?;
        // Its Elastic IP is released only once it is gone.
        wait_for(cloud, gone.id(), 150, |state| {
            matches!(state, None | Some("deleted"))
        })
        .await?;
        Ok(None)
    }
}

/// Frees Elastic IP `allocation` from a NAT gateway that is deleted or
/// being deleted, or waits two seconds for AWS to do it; an address still
/// held by a live gateway is an error (it is not ours to take).
async fn let_go_of(cloud: &Cloud, allocation: &str) -> Result<(), AwsError> {
    let request = cloud.ec2.describe_addresses().allocation_ids(allocation);
    let answer = send("DescribeAddresses", || request.clone().send()).await?;
    let Some(association) = answer.addresses().first().and_then(|a| a.association_id()) else {
        return Ok(()); // free already
    };
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name("state")
        .values("available")
        .values("pending")
        .build();
    let request = cloud.ec2.describe_nat_gateways().filter(filter);
    let live = send("DescribeNatGateways", || request.clone().send()).await?;
    let held = live.nat_gateways().iter().any(|nat| {
        nat.nat_gateway_addresses()
            .iter()
            .any(|a| a.allocation_id() == Some(allocation))
    });
    if held {
        return Err(AwsError::other(
            "CreateNatGateway",
            format!("{allocation} is held by a live NAT gateway that is not the environment's"),
        ));
    }
    let request = cloud.ec2.disassociate_address().association_id(association);
    // AWS may refuse for a gateway still being deleted: then wait for it.
    if call("DisassociateAddress", Policy::destroying(), || {
        request.clone().send()
    })
    .await
    .is_err()
    {
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

/// Polls NAT gateway `id` every two seconds, at most `polls` times, until
/// `done` says so of its state (`None`: there is none); answers that state,
/// or `None` when it never came.
async fn wait_for(
    cloud: &Cloud,
    id: &str,
    polls: u32,
    done: impl Fn(Option<&str>) -> bool,
) -> Result<Option<&'static str>, AwsError> {
    let request = cloud.ec2.describe_nat_gateways().nat_gateway_ids(id);
    for _ in 0..polls {
        let answer = send("DescribeNatGateways", || request.clone().send());
        let answer = match answer.await {
            Ok(answer) => answer,
            Err(error) if error.code.contains("NotFound") => return Ok(Some("deleted")),
            Err(error) => return Err(error),
        };
        let state = answer.nat_gateways().first().and_then(|n| n.state());
        let state = state.map(|s| s.as_str());
        if done(state) {
            return Ok(Some(state.map_or("deleted", name_of)));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(None)
}

/// The state names as `'static` strings (the answer's are borrowed).
fn name_of(state: &str) -> &'static str {
    ["pending", "failed", "available", "deleting", "deleted"]
        .into_iter()
        .find(|known| *known == state)
        .unwrap_or("unknown")
}
