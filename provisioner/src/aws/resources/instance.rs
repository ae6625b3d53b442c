//! EC2 instances, each described by what it needs (subnet, security
//! groups, key, public IP or not, root volume, rendered user-data), not by
//! what it is for: the bastion, the gateways and the traffic managers are
//! all made here. IMDSv2 is always required and the root volume always
//! encrypted.

use super::Instance;
use super::prelude::*;
use crate::aws::tags::any_of;
use crate::repair::Repair;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    Instance as Ec2Instance, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, InstanceType, ResourceType, VolumeType,
};
use base64::Engine;

#[async_trait::async_trait]
impl ResourceKind for Instance {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let live = ["pending", "running", "stopping", "stopped"];
        let describe = cloud.ec2.describe_instances().filters(cloud.env_filter());
        let request = describe.filters(any_of("instance-state-name", &live));
        let answer = send("DescribeInstances", || request.clone().send());
        let answer = answer.await?;
        let instances: Vec<Ec2Instance> = answer
            .reservations()
            .iter()
            .flat_map(|r| r.instances().iter().cloned())
            .collect();
        for (role, instance) in cloud.ours(&instances, |i| i.tags(), "instance") {
            let mut f = described(role, instance, seen);
            f.set("user_data", user_data_print(cloud, &f.id).await?);
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        // "20 GiB encrypted": the size is the first word.
        let root_volume = need.prop("root_volume");
        let size = root_volume.split_whitespace().next();
        let root_gb: i32 = size.and_then(|size| size.parse().ok()).unwrap_or(8);
        let groups: Vec<String> = need
            .prop("security_groups")
            .split(", ")
            .filter(|g| !g.is_empty())
            .map(|role| need.id_of(role))
            .collect();
        let user_data = need.artifacts.user_data.get(need.role()).ok_or_else(|| {
            AwsError::other("RunInstances", format!("{} has no user-data", need.role()))
        })?;
        let imdsv2 = InstanceMetadataOptionsRequest::builder()
            .http_tokens(HttpTokensState::Required)
            .http_endpoint(InstanceMetadataEndpointState::Enabled);
        let root = EbsBlockDevice::builder()
            .volume_size(root_gb)
            .volume_type(VolumeType::Gp3)
            .encrypted(true)
            .delete_on_termination(true);
        let disk = BlockDeviceMapping::builder()
            .device_name("/dev/xvda")
            .ebs(root.build());
        let interface = InstanceNetworkInterfaceSpecification::builder()
            .device_index(0)
            .subnet_id(need.id_of(&need.prop("subnet")))
            .set_groups(Some(groups))
            .associate_public_ip_address(need.prop("public_ip") == "true");
        let request = cloud
            .ec2
            .run_instances()
            .image_id(need.prop("ami"))
            .instance_type(InstanceType::from(need.prop("type").as_str()))
            .min_count(1)
            .max_count(1)
            .key_name(need.id_of(&need.prop("key")))
            .user_data(base64::engine::general_purpose::STANDARD.encode(user_data))
            .metadata_options(imdsv2.build())
            .block_device_mappings(disk.build())
            .network_interfaces(interface.build())
            .tag_specifications(cloud.tags(ResourceType::Instance, need.role()))
            .tag_specifications(cloud.tags(ResourceType::Volume, need.role()));
        let profile = need.prop("profile");
        let request = if profile.is_empty() {
            request
        } else {
            let name = need.id_of(&profile);
            let profile = IamInstanceProfileSpecification::builder().name(name);
            request.iam_instance_profile(profile.build())
        };
        let ran = send("RunInstances", || request.clone().send()).await?;
        let instance = ran.instances().first();
        let mut made = Made::id("RunInstances", instance.and_then(|i| i.instance_id()))?;
        made.address = instance
            .and_then(|i| i.private_ip_address())
            .map(str::to_owned);
        Ok(made)
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        if change.repairs.contains(&Repair::Start) {
            let request = cloud.ec2.start_instances().instance_ids(change.id);
            send("StartInstances", || request.clone().send()).await?;
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud.ec2.terminate_instances().instance_ids(gone.id());
        gone.by("TerminateInstances", || request.clone().send())
            .await
    }
}

/// The print of instance `id`'s user-data (`model::user_data_print`).
async fn user_data_print(cloud: &Cloud, id: &str) -> Result<String, AwsError> {
    let describe = cloud.ec2.describe_instance_attribute().instance_id(id);
    let request = describe.attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData);
    let answer = send("DescribeInstanceAttribute", || request.clone().send());
    let encoded = answer
        .await?
        .user_data()
        .and_then(|v| v.value())
        .unwrap_or_default()
        .to_owned();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .unwrap_or_default();
    Ok(crate::model::user_data_print(&String::from_utf8_lossy(
        &decoded,
    )))
}

/// An instance as the model has it: what it runs, where, and with what.
fn described(role: &str, instance: &Ec2Instance, seen: &Seen<'_>) -> crate::model::Found {
    let state = instance.state().and_then(|s| s.name()).map(|s| s.as_str());
    let id = instance.instance_id().unwrap_or_default();
    let mut f = found(Kind::Instance, role, id, state.unwrap_or_default());
    let kind = instance.instance_type().map(|t| t.as_str());
    f.set("type", kind.unwrap_or_default());
    f.set("ami", instance.image_id().unwrap_or_default());
    if let Some(subnet) = instance.subnet_id().and_then(|s| seen.roles.get(s)) {
        f.set("subnet", subnet);
    }
    // A stopped instance has no public IP: that is its state, not drift.
    if matches!(state, Some("stopped" | "stopping")) {
        f.repairs.push(Repair::Start);
    } else {
        f.set(
            "public_ip",
            instance.public_ip_address().is_some().to_string(),
        );
    }
    let tokens = instance.metadata_options().and_then(|m| m.http_tokens());
    f.set("imdsv2", tokens.map(|t| t.as_str()).unwrap_or_default());
    // A key that is not the environment's any more (deleted, made again)
    // shows by its name: the instance no longer has the key the spec names.
    if let Some(key) = instance.key_name() {
        f.set("key", seen.role_of(key));
    }
    // The groups of its interfaces (where they were given at launch), and
    // of the instance itself.
    let interfaces = instance
        .network_interfaces()
        .iter()
        .flat_map(|i| i.groups());
    let groups = interfaces.chain(instance.security_groups());
    let mut groups: Vec<String> = groups
        .filter_map(|g| g.group_id())
        .map(|g| seen.role_of(g))
        .collect();
    groups.sort();
    groups.dedup();
    f.set("security_groups", groups.join(", "));
    // The profile by its ARN's last part, the name Aerie gave it.
    if let Some(arn) = instance.iam_instance_profile().and_then(|p| p.arn()) {
        f.set(
            "profile",
            seen.role_of(arn.rsplit('/').next().unwrap_or(arn)),
        );
    }
    f.address = instance.private_ip_address().map(str::to_owned);
    f
}
