//! Security groups: ingress rules change in place; rules naming other groups are revoked before a group is deleted.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind, Resource};
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
                    (Some(from), Some(to)) if from == to => from.to_string(),
                    (Some(from), Some(to)) => format!("{from}-{to}"),
                    _ => "all".to_owned(),
                };
                for range in permission.ip_ranges() {
                    f.resource.rules.insert(format!(
                        "{protocol} {ports} from {}",
                        range.cidr_ip().unwrap_or_default()
                    ));
                }
                for pair in permission.user_id_group_pairs() {
                    let source = pair.group_id().unwrap_or_default();
                    let source = seen
                        .roles
                        .get(source)
                        .cloned()
                        .unwrap_or_else(|| source.to_owned());
                    f.resource
                        .rules
                        .insert(format!("{protocol} {ports} from {source}"));
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
        add: &[String],
        remove: &[String],
        known: &Known,
    ) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        {
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
        let outcome = {
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
            .await
        };
        outcome.map(|()| None)
    }
}

/// An ingress rule as the EC2 API takes it: "tcp 2222 from 203.0.113.0/24"
/// or "tcp 22 from bastion-sg".
fn ingress(rule: &str, known: &Known) -> Result<IpPermission, AwsError> {
    // "tcp 2222 from 203.0.113.0/24" or "tcp 22 from bastion-sg"
    let parts: Vec<&str> = rule.split(' ').collect();
    let [protocol, port, "from", source] = parts[..] else {
        return Err(AwsError::other(
            "ingress",
            format!("cannot read rule {rule:?}"),
        ));
    };
    let port: i32 = port
        .parse()
        .map_err(|_| AwsError::other("ingress", format!("cannot read port in {rule:?}")))?;
    let permission = IpPermission::builder()
        .ip_protocol(protocol)
        .from_port(port)
        .to_port(port);
    Ok(if source.contains('/') {
        permission
            .ip_ranges(IpRange::builder().cidr_ip(source).build())
            .build()
    } else {
        let group = known
            .ids
            .get(source)
            .cloned()
            .unwrap_or_else(|| source.to_owned());
        permission
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
            .build()
    })
}
