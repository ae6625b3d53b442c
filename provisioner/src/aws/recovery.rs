//! The EC2 calls of a recovery beyond what the planner makes: volumes made
//! from the DR region's copies of the nodes' backup snapshots, attached to
//! the recovered nodes, found again by the execution's tags and removed
//! only when that execution made them; the `aerie:dr-run` claim on a
//! recovered network; the environment's private zone associated with the
//! recovered VPC. It decides nothing: the DR steps do.

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, VolumeType};

use super::Cloud;
use super::restores::{DR_RUN_TAG, DR_STEP_TAG};
use super::retry::{AwsError, Policy, removed, send};
use super::tags::{any_of, tag_of, tag_specification};

/// A volume a recovery made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoredVolume {
    pub id: String,
    /// The node it is of (`aerie:role`).
    pub role: String,
    /// The snapshot it was made from.
    pub snapshot: String,
    /// `creating`, `available`, `in-use`, ...
    pub state: String,
    /// The instance it is attached to, if any.
    pub attached_to: Option<String>,
}

/// A volume to make from a snapshot.
#[derive(Debug, Clone)]
pub struct NewVolume<'a> {
    pub snapshot: &'a str,
    pub zone: &'a str,
    /// Every tag it gets.
    pub tags: Vec<(String, String)>,
}

/// The EC2 filter on tag `key` = `value`.
fn filter(key: &str, value: &str) -> Filter {
    any_of(&format!("tag:{key}"), &[value])
}

impl Cloud {
    /// The volumes execution `run` made (only step `step`'s when given),
    /// not being deleted.
    pub async fn restored_volumes(
        &self,
        run: &str,
        step: Option<&str>,
    ) -> Result<Vec<RestoredVolume>, AwsError> {
        let request = self.ec2.describe_volumes().filters(filter(DR_RUN_TAG, run));
        let request = match step {
            Some(step) => request.filters(filter(DR_STEP_TAG, step)),
            None => request,
        };
        let answer = send("DescribeVolumes", || request.clone().send()).await?;
        let mut out: Vec<RestoredVolume> = answer
            .volumes()
            .iter()
            .filter(|v| tag_of(v.tags(), DR_RUN_TAG) == Some(run))
            .filter_map(restored)
            .collect();
        out.sort_by(|a, b| (&a.role, &a.id).cmp(&(&b.role, &b.id)));
        Ok(out)
    }

    /// Volumes `ids` as they are now, by id (those gone left out).
    pub async fn volumes(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::BTreeMap<String, RestoredVolume>, AwsError> {
        let request = self
            .ec2
            .describe_volumes()
            .set_volume_ids(Some(ids.iter().map(|id| (*id).to_owned()).collect()));
        let answer = send("DescribeVolumes", || request.clone().send()).await?;
        Ok(answer
            .volumes()
            .iter()
            .filter_map(restored)
            .map(|v| (v.id.clone(), v))
            .collect())
    }

    /// Makes a gp3 volume from `volume.snapshot` (encrypted as it is).
    pub async fn volume_from_snapshot(&self, volume: &NewVolume<'_>) -> Result<String, AwsError> {
        let tags = tag_specification(ResourceType::Volume, volume.tags.iter().cloned());
        let request = self
            .ec2
            .create_volume()
            .snapshot_id(volume.snapshot)
            .availability_zone(volume.zone)
            .volume_type(VolumeType::Gp3)
            .tag_specifications(tags);
        let made = send("CreateVolume", || request.clone().send()).await?;
        made.volume_id()
            .map(str::to_owned)
            .ok_or_else(|| AwsError::other("CreateVolume", "AWS answered no volume id"))
    }

    /// Attaches volume `volume` to `instance` as `device`.
    pub async fn attach_volume(
        &self,
        volume: &str,
        instance: &str,
        device: &str,
    ) -> Result<(), AwsError> {
        let request = self
            .ec2
            .attach_volume()
            .volume_id(volume)
            .instance_id(instance)
            .device(device);
        send("AttachVolume", || request.clone().send()).await?;
        Ok(())
    }

    /// Detaches (when attached) and deletes volume `id`; gone is fine.
    pub async fn remove_volume(&self, volume: &RestoredVolume) -> Result<(), AwsError> {
        let policy = Policy::destroying();
        if volume.attached_to.is_some() {
            let request = self.ec2.detach_volume().volume_id(&volume.id).force(true);
            removed("DetachVolume", policy, || request.clone().send()).await?;
        }
        let request = self.ec2.delete_volume().volume_id(&volume.id);
        removed("DeleteVolume", policy, || request.clone().send()).await?;
        Ok(())
    }

    /// The value of tag `key` on VPC `vpc`.
    pub async fn vpc_tag(&self, vpc: &str, key: &str) -> Result<Option<String>, AwsError> {
        let request = self.ec2.describe_vpcs().vpc_ids(vpc);
        let answer = send("DescribeVpcs", || request.clone().send()).await?;
        Ok(answer
            .vpcs()
            .first()
            .and_then(|v| tag_of(v.tags(), key))
            .map(str::to_owned))
    }

    /// Tags VPC `vpc` with `key` = `value`.
    pub async fn tag_vpc(&self, vpc: &str, key: &str, value: &str) -> Result<(), AwsError> {
        let request = self
            .ec2
            .create_tags()
            .resources(vpc)
            .tags(Tag::builder().key(key).value(value).build());
        send("CreateTags", || request.clone().send()).await?;
        Ok(())
    }
}

impl Cloud {
    /// Associates private zone `zone` with VPC `vpc` of this region
    /// (already associated is fine).
    pub async fn associate_zone(&self, zone: &str, vpc: &str) -> Result<(), AwsError> {
        let target = aws_sdk_route53::types::Vpc::builder()
            .vpc_id(vpc)
            .vpc_region(aws_sdk_route53::types::VpcRegion::from(
                self.region.as_str(),
            ))
            .build();
        let request = self
            .route53
            .associate_vpc_with_hosted_zone()
            .hosted_zone_id(zone)
            .vpc(target);
        match send("AssociateVPCWithHostedZone", || request.clone().send()).await {
            Err(error) if error.code == "ConflictingDomainExists" => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

/// A volume as a recovery sees it; `None` when it is going.
fn restored(v: &aws_sdk_ec2::types::Volume) -> Option<RestoredVolume> {
    let state = v.state()?.as_str().to_owned();
    (!matches!(state.as_str(), "deleting" | "deleted")).then(|| RestoredVolume {
        id: v.volume_id().unwrap_or_default().to_owned(),
        role: tag_of(v.tags(), super::ROLE_TAG)
            .unwrap_or_default()
            .to_owned(),
        snapshot: v.snapshot_id().unwrap_or_default().to_owned(),
        state,
        attached_to: v
            .attachments()
            .iter()
            .filter(|a| a.state().is_some_and(|s| s.as_str() != "detached"))
            .find_map(|a| a.instance_id().map(str::to_owned)),
    })
}
