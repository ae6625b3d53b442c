//! The network checks: no ingress from the whole internet, a closed
//! default group, public addresses on the bastion only, and SSH to the
//! nodes from the bastion only.

use aws_sdk_ec2::types::{IpPermission, SecurityGroup, Tag};

use super::Finding;
use super::facts::Facts;
use crate::spec::Spec;

/// The `aerie:role` of a resource, or what it is when it has none.
pub(super) fn role_of(tags: &[Tag]) -> String {
    tags.iter()
        .find(|t| t.key() == Some(crate::aws::ROLE_TAG))
        .and_then(|t| t.value())
        .unwrap_or("untagged")
        .to_owned()
}

pub(super) fn group_name(group: &SecurityGroup) -> String {
    let role = if group.group_name() == Some("default") {
        "default".to_owned()
    } else {
        role_of(group.tags())
    };
    format!(
        "security-group {role} ({})",
        group.group_id().unwrap_or_default()
    )
}

/// What a permission reads as: `tcp 22-22`.
fn ports(permission: &IpPermission) -> String {
    let protocol = permission.ip_protocol().unwrap_or("-1");
    match (permission.from_port(), permission.to_port()) {
        _ if protocol == "-1" => "all traffic".to_owned(),
        (Some(from), Some(to)) if from == to => format!("{protocol} {from}"),
        (Some(from), Some(to)) => format!("{protocol} {from}-{to}"),
        _ => format!("{protocol} all ports"),
    }
}

fn covers(permission: &IpPermission, port: i32) -> bool {
    let protocol = permission.ip_protocol().unwrap_or("-1");
    protocol == "-1"
        || (protocol == "tcp"
            && permission.from_port().unwrap_or(0) <= port
            && port <= permission.to_port().unwrap_or(65535))
}

pub(super) fn findings(facts: &Facts, spec: &Spec) -> Vec<Finding> {
    let mut out = group_findings(facts, spec);
    out.extend(address_findings(facts));
    out
}

/// Each security group: closed when it is the default one, else no
/// ingress from the whole internet and SSH from the bastion only.
fn group_findings(facts: &Facts, spec: &Spec) -> Vec<Finding> {
    let mut out = Vec::new();
    let bastion_group = facts
        .groups
        .iter()
        .find(|g| role_of(g.tags()) == "bastion-sg")
        .and_then(|g| g.group_id())
        .map(str::to_owned);
    for group in &facts.groups {
        let name = group_name(group);
        if group.group_name() == Some("default") {
            let mut problems = Vec::new();
            if !group.ip_permissions().is_empty() {
                problems.push("it admits inbound traffic".to_owned());
            }
            if !group.ip_permissions_egress().is_empty() {
                problems.push("it allows outbound traffic".to_owned());
            }
            if !problems.is_empty() {
                problems.push(
                    "remove every rule of the VPC's default group (aerie env apply does); nothing uses it (CIS 5.4)"
                        .to_owned(),
                );
            }
            out.push(Finding::of("vpc-default-sg-closed", name, &problems));
            continue;
        }
        let is_bastion = bastion_group.as_deref() == group.group_id();
        let mut open = Vec::new();
        let mut ssh = Vec::new();
        for permission in group.ip_permissions() {
            // The bastion's SSH port may be open to the operators' networks,
            // the whole internet only if the spec says so.
            let operators = |cidr: &str| {
                is_bastion
                    && permission.from_port() == Some(i32::from(spec.access.ssh_port))
                    && spec
                        .access
                        .operator_cidrs
                        .iter()
                        .any(|c| c.to_string() == cidr)
            };
            let world = permission
                .ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip())
                .filter(|c| *c == "0.0.0.0/0" && !operators(c))
                .chain(
                    permission
                        .ipv6_ranges()
                        .iter()
                        .filter_map(|r| r.cidr_ipv6())
                        .filter(|c| *c == "::/0"),
                );
            for cidr in world {
                open.push(format!(
                    "{} open to {cidr}: revoke it (aerie env apply does)",
                    ports(permission)
                ));
            }
            if is_bastion || !covers(permission, 22) {
                continue;
            }
            let from_bastion = |pair: &aws_sdk_ec2::types::UserIdGroupPair| {
                pair.group_id().is_some() && pair.group_id() == bastion_group.as_deref()
            };
            let others = permission
                .ip_ranges()
                .iter()
                .filter_map(|r| r.cidr_ip().map(str::to_owned))
                .chain(
                    permission
                        .ipv6_ranges()
                        .iter()
                        .filter_map(|r| r.cidr_ipv6().map(str::to_owned)),
                )
                .chain(
                    permission
                        .user_id_group_pairs()
                        .iter()
                        .filter(|p| !from_bastion(p))
                        .filter_map(|p| p.group_id().map(str::to_owned)),
                );
            for source in others {
                ssh.push(format!(
                    "{} admits SSH from {source}: SSH to a node comes from the bastion's group only; revoke it",
                    ports(permission)
                ));
            }
        }
        out.push(Finding::of("sg-no-world-ingress", name.clone(), &open));
        if !is_bastion {
            out.push(Finding::of("sg-ssh-from-bastion-only", name, &ssh));
        }
    }
    out
}

/// Public addresses: on the bastion only, never given by a private subnet.
fn address_findings(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for instance in &facts.instances {
        let role = role_of(instance.tags());
        let name = format!(
            "instance {role} ({})",
            instance.instance_id().unwrap_or_default()
        );
        let public = instance.public_ip_address();
        let problems: Vec<String> = match public {
            Some(ip) if role != "bastion" => vec![format!(
                "it has the public address {ip}: only the bastion may; replace it in a private subnet without one (aerie env apply does)"
            )],
            _ => Vec::new(),
        };
        out.push(Finding::of("ec2-public-ip-bastion-only", name, &problems));
    }
    for subnet in &facts.subnets {
        let role = role_of(subnet.tags());
        if !role.starts_with("private") {
            continue;
        }
        let name = format!("subnet {role} ({})", subnet.subnet_id().unwrap_or_default());
        let problems: Vec<String> = if subnet.map_public_ip_on_launch() == Some(true) {
            vec![
                "it gives instances a public address at launch: turn MapPublicIpOnLaunch off"
                    .to_owned(),
            ]
        } else {
            Vec::new()
        };
        out.push(Finding::of("subnet-private-no-public-ip", name, &problems));
    }
    out
}
