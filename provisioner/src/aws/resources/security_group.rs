//! Security groups: ingress rules change in place; rules naming other groups are revoked before a group is deleted.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind, Resource, Rule, Source};
use aws_sdk_ec2::types::ResourceType;
use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};

/// SecurityGroup resources.
#[derive(Debug)]
pub(super) struct SecurityGroup;

#[async_trait::async_trait]
impl ResourceKind for SecurityGroup {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let groups = call("DescribeSecurityGroups", policy, || {
            ec2.describe_security_groups()
                .filters(cloud.env_filter())
                .send()
        })
        .await?;
        for group in groups.security_groups() {
            let Some(role) = cloud.role_if_ours(group.tags(), "sg") else {
                continue;
            };
            seen.roles
                .insert(group.group_id().unwrap_or_default().into(), role.into());
        }
        for group in groups.security_groups() {
            let Some(role) = cloud.role_if_ours(group.tags(), "sg") else {
                continue;
            };
            let id = group.group_id().unwrap_or_default();
            let mut f = found(Kind::SecurityGroup, role, id, "available");
            f.resource.props.insert(
                "description".into(),
                group.description().unwrap_or_default().into(),
            );
            for permission in group.ip_permissions() {
                let protocol = permission.ip_protocol().unwrap_or("-1");
                let ports = match (permission.from_port(), permission.to_port()) {
                    (Some(from), Some(to)) => Some((from, to)),
                    _ => None,
                };
                let rule = |from| Rule::Ingress {
                    protocol: protocol.to_owned(),
                    ports,
                    from,
                };
                for range in permission.ip_ranges() {
                    let cidr = range.cidr_ip().unwrap_or_default().to_owned();
                    f.resource.rules.insert(rule(Source::Cidr(cidr)));
                }
                for pair in permission.user_id_group_pairs() {
                    let group = pair.group_id().unwrap_or_default();
                    let source = match seen.roles.get(group) {
                        Some(role) => Source::Group(role.clone()),
                        None => Source::Foreign(group.to_owned()),
                    };
                    f.resource.rules.insert(rule(source));
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
        let id = call("CreateSecurityGroup", policy, || {
            ec2.create_security_group()
                .group_name(format!("{}-{role}", cloud.environment))
                .description(prop("description"))
                .vpc_id(known.ids.get("vpc").cloned().unwrap_or_default())
                .tag_specifications(cloud.tags(ResourceType::SecurityGroup, role))
                .send()
        })
        .await?
        .group_id()
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
        known: &Known,
    ) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        for rule in remove {
            let permission = ingress(rule, known)?;
            call("RevokeSecurityGroupIngress", policy, || {
                ec2.revoke_security_group_ingress()
                    .group_id(id)
                    .ip_permissions(permission.clone())
                    .send()
            })
            .await?;
        }
        for rule in add {
            let permission = ingress(rule, known)?;
            call("AuthorizeSecurityGroupIngress", policy, || {
                ec2.authorize_security_group_ingress()
                    .group_id(id)
                    .ip_permissions(permission.clone())
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
        // Rules naming other groups must go first, or neither group can.
        let groups = call("DescribeSecurityGroups", policy, || {
            ec2.describe_security_groups().group_ids(id).send()
        })
        .await;
        if let Ok(groups) = groups {
            let referencing: Vec<IpPermission> = groups
                .security_groups()
                .iter()
                .flat_map(|g| g.ip_permissions())
                .filter(|p| !p.user_id_group_pairs().is_empty())
                .cloned()
                .collect();
            if !referencing.is_empty() {
                removed("RevokeSecurityGroupIngress", policy, || {
                    ec2.revoke_security_group_ingress()
                        .group_id(id)
                        .set_ip_permissions(Some(referencing.clone()))
                        .send()
                })
                .await?;
            }
        }
        removed("DeleteSecurityGroup", policy, || {
            ec2.delete_security_group().group_id(id).send()
        })
        .await?;
        Ok(None)
    }
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
        return Err(AwsError::other(
            "ingress",
            format!("{rule} is not an ingress rule"),
        ));
    };
    let permission = IpPermission::builder()
        .ip_protocol(protocol)
        .set_from_port(ports.map(|(low, _)| low))
        .set_to_port(ports.map(|(_, high)| high));
    Ok(match from {
        Source::Cidr(cidr) => permission
            .ip_ranges(IpRange::builder().cidr_ip(cidr).build())
            .build(),
        Source::Group(role) => permission
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(known.id(role)?).build())
            .build(),
        Source::Foreign(id) => permission
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(id).build())
            .build(),
    })
}
