//! The VPC: found by tag, created with DNS support and hostnames on and its
//! default security group emptied (nothing uses it; CIS 5.4); all three are
//! read back on every plan (a crash right after `CreateVpc` leaves them
//! undone) and done again when undone.

use super::Vpc;
use super::prelude::*;
use crate::repair::Repair;
use aws_sdk_ec2::types::{
    AttributeBooleanValue, Filter, ResourceType, SecurityGroup, VpcAttributeName,
};

#[async_trait::async_trait]
impl ResourceKind for Vpc {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let request = cloud.ec2.describe_vpcs().filters(cloud.env_filter());
        let vpcs = send("DescribeVpcs", || request.clone().send()).await?;
        for (role, vpc) in cloud.ours(vpcs.vpcs(), |v| v.tags(), "vpc") {
            let state = vpc.state().map_or("unknown", |s| s.as_str());
            let mut f = found(Kind::Vpc, role, vpc.vpc_id().unwrap_or_default(), state);
            f.set("cidr", vpc.cidr_block().unwrap_or_default());
            for (attribute, repair) in [
                (VpcAttributeName::EnableDnsSupport, Repair::DnsSupport),
                (VpcAttributeName::EnableDnsHostnames, Repair::DnsHostnames),
            ] {
                if !dns_on(cloud, &f.id, attribute).await? {
                    f.repairs.push(repair);
                }
            }
            if default_group(cloud, &f.id)
                .await?
                .is_some_and(|g| is_open(&g))
            {
                f.repairs.push(Repair::DefaultGroupOpen);
            }
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let request = cloud
            .ec2
            .create_vpc()
            .cidr_block(need.prop("cidr"))
            .tag_specifications(cloud.tags(ResourceType::Vpc, need.role()));
        let created = send("CreateVpc", || request.clone().send()).await?;
        let made = Made::id("CreateVpc", created.vpc().and_then(|v| v.vpc_id()))?;
        turn_on(cloud, &made.id, &[Repair::DnsSupport, Repair::DnsHostnames]).await?;
        close_default_group(cloud, &made.id).await?;
        Ok(made)
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        turn_on(cloud, change.id, change.repairs).await?;
        if change.repairs.contains(&Repair::DefaultGroupOpen) {
            close_default_group(cloud, change.id).await?;
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud.ec2.delete_vpc().vpc_id(gone.id());
        gone.by("DeleteVpc", || request.clone().send()).await
    }
}

/// Whether the VPC's DNS `attribute` is on.
async fn dns_on(cloud: &Cloud, vpc: &str, attribute: VpcAttributeName) -> Result<bool, AwsError> {
    let describe = cloud.ec2.describe_vpc_attribute().vpc_id(vpc);
    let request = describe.attribute(attribute.clone());
    let answer = send("DescribeVpcAttribute", || request.clone().send());
    let answer = answer.await?;
    let value = match attribute {
        VpcAttributeName::EnableDnsSupport => answer.enable_dns_support(),
        _ => answer.enable_dns_hostnames(),
    };
    Ok(value.and_then(|v| v.value()).unwrap_or(false))
}

/// Turns on the DNS attributes `repairs` names (support before hostnames:
/// AWS refuses hostnames without support).
async fn turn_on(cloud: &Cloud, vpc: &str, repairs: &[Repair]) -> Result<(), AwsError> {
    let on = || AttributeBooleanValue::builder().value(true).build();
    let modify = cloud.ec2.modify_vpc_attribute().vpc_id(vpc);
    if repairs.contains(&Repair::DnsSupport) {
        let support = modify.clone().enable_dns_support(on());
        send("ModifyVpcAttribute", || support.clone().send()).await?;
    }
    if repairs.contains(&Repair::DnsHostnames) {
        let hostnames = modify.enable_dns_hostnames(on());
        send("ModifyVpcAttribute", || hostnames.clone().send()).await?;
    }
    Ok(())
}

/// The default security group of `vpc`.
async fn default_group(cloud: &Cloud, vpc: &str) -> Result<Option<SecurityGroup>, AwsError> {
    let filter = |name: &str, value: &str| Filter::builder().name(name).values(value).build();
    let request = cloud
        .ec2
        .describe_security_groups()
        .filters(filter("vpc-id", vpc))
        .filters(filter("group-name", "default"));
    let answer = send("DescribeSecurityGroups", || request.clone().send()).await?;
    Ok(answer.security_groups().first().cloned())
}

fn is_open(group: &SecurityGroup) -> bool {
    !group.ip_permissions().is_empty() || !group.ip_permissions_egress().is_empty()
}

/// Removes every rule of `vpc`'s default security group.
async fn close_default_group(cloud: &Cloud, vpc: &str) -> Result<(), AwsError> {
    let Some(group) = default_group(cloud, vpc).await? else {
        return Ok(());
    };
    let id = group.group_id().unwrap_or_default();
    let (ingress, egress) = (group.ip_permissions(), group.ip_permissions_egress());
    if !ingress.is_empty() {
        let request = cloud.ec2.revoke_security_group_ingress().group_id(id);
        let request = request.set_ip_permissions(Some(ingress.to_vec()));
        send("RevokeSecurityGroupIngress", || request.clone().send()).await?;
    }
    if !egress.is_empty() {
        let request = cloud.ec2.revoke_security_group_egress().group_id(id);
        let request = request.set_ip_permissions(Some(egress.to_vec()));
        send("RevokeSecurityGroupEgress", || request.clone().send()).await?;
    }
    Ok(())
}
