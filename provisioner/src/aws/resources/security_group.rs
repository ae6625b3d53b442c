//! Security groups: ingress rules change in place; rules naming other
//! groups are revoked before a group is deleted.

use super::SecurityGroup;
use super::prelude::*;
use crate::aws::Known;
use crate::model::Source;
use aws_sdk_ec2::types::{
    IpPermission, IpRange, ResourceType, SecurityGroup as Group, UserIdGroupPair,
};

#[async_trait::async_trait]
impl ResourceKind for SecurityGroup {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let filter = cloud.env_filter();
        let request = cloud.ec2.describe_security_groups().filters(filter);
        let answer = send("DescribeSecurityGroups", || request.clone().send());
        let answer = answer.await?;
        let groups: Vec<(&str, &Group)> = cloud
            .ours(answer.security_groups(), |g| g.tags(), "sg")
            .collect();
        // Rules name groups by id: every group's role first.
        for (role, group) in &groups {
            let id = group.group_id().unwrap_or_default();
            seen.roles.insert(id.to_owned(), (*role).to_owned());
        }
        for (role, group) in groups {
            let id = group.group_id().unwrap_or_default();
            let mut f = found(Kind::SecurityGroup, role, id, "available");
            f.set("description", group.description().unwrap_or_default());
            f.resource
                .rules
                .extend(group.ip_permissions().iter().flat_map(|p| rules(p, seen)));
            seen.out.push(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let role = need.role();
        let request = cloud
            .ec2
            .create_security_group()
            .group_name(format!("{}-{role}", cloud.environment))
            .description(need.prop("description"))
            .vpc_id(need.id_of("vpc"))
            .tag_specifications(cloud.tags(ResourceType::SecurityGroup, role));
        let created = send("CreateSecurityGroup", || request.clone().send());
        Made::id("CreateSecurityGroup", created.await?.group_id())
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        for (add, rule) in change.each() {
            let permission = ingress(rule, change.known)?;
            if add {
                let authorize = cloud.ec2.authorize_security_group_ingress();
                let request = authorize.group_id(change.id).ip_permissions(permission);
                call("AuthorizeSecurityGroupIngress", policy, || {
                    request.clone().send()
                })
                .await?;
            } else {
                let revoke = cloud.ec2.revoke_security_group_ingress();
                let request = revoke.group_id(change.id).ip_permissions(permission);
                call("RevokeSecurityGroupIngress", policy, || {
                    request.clone().send()
                })
                .await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let policy = Policy::destroying();
        // Rules naming other groups must go first, or neither group can.
        let describe = cloud.ec2.describe_security_groups().group_ids(gone.id());
        if let Ok(answer) = call("DescribeSecurityGroups", policy, || describe.clone().send()).await
        {
            let permissions = answer
                .security_groups()
                .iter()
                .flat_map(|g| g.ip_permissions());
            let referencing: Vec<IpPermission> = permissions
                .filter(|p| !p.user_id_group_pairs().is_empty())
                .cloned()
                .collect();
            if !referencing.is_empty() {
                let revoke = cloud
                    .ec2
                    .revoke_security_group_ingress()
                    .group_id(gone.id());
                let request = revoke.set_ip_permissions(Some(referencing));
                removed("RevokeSecurityGroupIngress", policy, || {
                    request.clone().send()
                })
                .await?;
            }
        }
        let request = cloud.ec2.delete_security_group().group_id(gone.id());
        gone.by("DeleteSecurityGroup", || request.clone().send())
            .await
    }
}

/// The rules of one permission as the model has them: a group of the
/// environment by its role, another by its id.
fn rules(permission: &IpPermission, seen: &Seen<'_>) -> Vec<Rule> {
    let protocol = permission.ip_protocol().unwrap_or("-1");
    let ports = permission.from_port().zip(permission.to_port());
    let rule = |from| Rule::Ingress {
        protocol: protocol.to_owned(),
        ports,
        from,
    };
    let ranges = permission.ip_ranges().iter();
    let cidrs = ranges.map(|range| Source::Cidr(range.cidr_ip().unwrap_or_default().to_owned()));
    let groups = permission.user_id_group_pairs().iter().map(|pair| {
        let group = pair.group_id().unwrap_or_default();
        match seen.roles.get(group) {
            Some(role) => Source::Group(role.clone()),
            None => Source::Foreign(group.to_owned()),
        }
    });
    cidrs.chain(groups).map(rule).collect()
}

/// An ingress rule as the EC2 API takes it; a group of the environment by
/// its id.
fn ingress(rule: &Rule, known: &Known) -> Result<IpPermission, AwsError> {
    let Rule::Ingress {
        protocol,
        ports,
        from,
    } = rule
    else {
        let message = format!("{rule} is not an ingress rule");
        return Err(AwsError::other("ingress", message));
    };
    let permission = IpPermission::builder()
        .ip_protocol(protocol)
        .set_from_port(ports.map(|(low, _)| low))
        .set_to_port(ports.map(|(_, high)| high));
    let group = |id: String| UserIdGroupPair::builder().group_id(id).build();
    Ok(match from {
        Source::Cidr(cidr) => permission.ip_ranges(IpRange::builder().cidr_ip(cidr).build()),
        Source::Group(role) => permission.user_id_group_pairs(group(known.id(role)?)),
        Source::Foreign(id) => permission.user_id_group_pairs(group(id.clone())),
    }
    .build())
}
