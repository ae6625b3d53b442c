//! EC2 instances, each described by what it needs (subnet, security
//! groups, key, public IP or not, root volume, rendered user-data), not by
//! what it is for: the bastion, the gateways and the traffic managers are
//! all made here. IMDSv2 is always required and the root volume always
//! encrypted.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::tags::any_of;
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceNetworkInterfaceSpecification, ResourceType,
    VolumeType,
};

/// Instance resources.
#[derive(Debug)]
pub(super) struct Instance;

#[async_trait::async_trait]
impl ResourceKind for Instance {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let reservations = call("DescribeInstances", policy, || {
            ec2.describe_instances()
                .filters(cloud.env_filter())
                .filters(any_of(
                    "instance-state-name",
                    &["pending", "running", "stopping", "stopped"],
                ))
                .send()
        })
        .await?;
        for instance in reservations
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
        {
            let Some(role) = cloud.role_if_ours(instance.tags(), "instance") else {
                continue;
            };
            let id = instance.instance_id().unwrap_or_default();
            let state = instance
                .state()
                .and_then(|s| s.name())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let mut f = found(Kind::Instance, role, id, &state);
            let props = &mut f.resource.props;
            props.insert(
                "type".into(),
                instance
                    .instance_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
            );
            props.insert("ami".into(), instance.image_id().unwrap_or_default().into());
            if let Some(subnet) = instance.subnet_id().and_then(|s| seen.roles.get(s)) {
                props.insert("subnet".into(), subnet.clone());
            }
            props.insert(
                "public_ip".into(),
                instance.public_ip_address().is_some().to_string(),
            );
            props.insert(
                "imdsv2".into(),
                instance
                    .metadata_options()
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
            );
            if let Some(key) = instance.key_name().and_then(|k| seen.roles.get(k)) {
                props.insert("key".into(), key.clone());
            }
            // The groups of its interfaces (where they were given at launch),
            // and of the instance itself.
            let mut groups: Vec<String> = instance
                .network_interfaces()
                .iter()
                .flat_map(|i| i.groups())
                .chain(instance.security_groups())
                .filter_map(|g| g.group_id())
                .map(|g| seen.roles.get(g).cloned().unwrap_or_else(|| g.to_owned()))
                .collect();
            groups.sort();
            groups.dedup();
            props.insert("security_groups".into(), groups.join(", "));
            f.address = instance.private_ip_address().map(str::to_owned);
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
        let prop = |key: &str| need.prop(key);
        let _known = need.known;
        let user_data = need.user_data;
        let id_of = |role: &str| need.id_of(role);
        // "20 GiB encrypted": the size is the first word.
        let root_gb: i32 = prop("root_volume")
            .split_whitespace()
            .next()
            .and_then(|size| size.parse().ok())
            .unwrap_or(8);
        let groups: Vec<String> = prop("security_groups")
            .split(", ")
            .filter(|g| !g.is_empty())
            .map(id_of)
            .collect();
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_data);
        let created = call("RunInstances", policy, || {
            ec2.run_instances()
                .image_id(prop("ami"))
                .instance_type(aws_sdk_ec2::types::InstanceType::from(
                    prop("type").as_str(),
                ))
                .min_count(1)
                .max_count(1)
                .key_name(id_of(&prop("key")))
                .user_data(&encoded)
                .metadata_options(
                    InstanceMetadataOptionsRequest::builder()
                        .http_tokens(HttpTokensState::Required)
                        .http_endpoint(InstanceMetadataEndpointState::Enabled)
                        .build(),
                )
                .block_device_mappings(
                    BlockDeviceMapping::builder()
                        .device_name("/dev/xvda")
                        .ebs(
                            EbsBlockDevice::builder()
                                .volume_size(root_gb)
                                .volume_type(VolumeType::Gp3)
                                .encrypted(true)
                                .delete_on_termination(true)
                                .build(),
                        )
                        .build(),
                )
                .network_interfaces(
                    InstanceNetworkInterfaceSpecification::builder()
                        .device_index(0)
                        .subnet_id(id_of(&prop("subnet")))
                        .set_groups(Some(groups.clone()))
                        .associate_public_ip_address(prop("public_ip") == "true")
                        .build(),
                )
                .tag_specifications(cloud.tags(ResourceType::Instance, role))
                .send()
        })
        .await?;
        let instance = created.instances().first();
        let id = instance
            .and_then(|i| i.instance_id())
            .unwrap_or_default()
            .to_owned();
        let address = instance
            .and_then(|i| i.private_ip_address())
            .map(str::to_owned);
        return Ok((id, address));
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
        removed("TerminateInstances", policy, || {
            ec2.terminate_instances().instance_ids(id).send()
        })
        .await?;
        Ok(None)
    }
}
