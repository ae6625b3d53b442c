//! The Route53 private zone: found by name and proven ours by its tags;
//! records are rules.
//!
//! Route53 takes no tags on create, so the zone is created with a caller
//! reference of its own (`aerie-<env>-<zone>-<vpc id>`): a zone with that
//! reference and no tags is one a crash left between create and tag, found
//! again, and tagged (never a second zone). The VPC id makes the reference
//! new for a new environment of the same name (Route53 never takes a
//! reference twice).

use super::HostedZone;
use super::prelude::*;
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use crate::repair::Repair;
use aws_sdk_route53::types::{
    Change as RecordChange, ChangeAction, ChangeBatch, HostedZoneConfig, ResourceRecord,
    ResourceRecordSet, RrType, Tag, TagResourceType, Vpc, VpcRegion,
};
use std::collections::BTreeMap;

#[async_trait::async_trait]
impl ResourceKind for HostedZone {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let dns = &seen.spec.dns;
        if dns.mode != crate::spec::DnsMode::Route53 {
            return Ok(());
        }
        let vpc = seen.out.iter().find(|f| f.resource.kind == Kind::Vpc);
        let reference = vpc.map(|vpc| caller_reference(cloud, &dns.zone, &vpc.id));
        let Some((zone, tagged)) = find_zone(cloud, &dns.zone, reference.as_deref()).await? else {
            return Ok(());
        };
        let mut f = found(Kind::HostedZone, "private-zone", &zone, "available");
        if !tagged {
            f.repairs.push(Repair::Tags);
        }
        f.set("name", &dns.zone);
        f.set("vpc", "vpc");
        // A record names its target by role: the one whose address it holds.
        let addresses: BTreeMap<&str, &str> = seen
            .out
            .iter()
            .filter_map(|f| Some((f.address.as_deref()?, f.resource.role.as_str())))
            .collect();
        for set in records(cloud, &zone, Policy::standard()).await? {
            let value = set
                .resource_records()
                .first()
                .map(|r| r.value())
                .unwrap_or_default();
            let target = match addresses.get(value) {
                Some(role) => (*role).to_owned(),
                None => format!("{value} (unknown)"),
            };
            let kind = set.r#type().as_str().to_owned();
            let name = set.name().trim_end_matches('.').to_owned();
            f.resource.rules.insert(Rule::Record { kind, name, target });
        }
        seen.out.push(f);
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let (role, name) = (need.role(), need.prop("name"));
        let reference = caller_reference(cloud, &name, &need.id_of("vpc"));
        let vpc = Vpc::builder()
            .vpc_id(need.id_of("vpc"))
            .vpc_region(VpcRegion::from(cloud.region.as_str()));
        let config = HostedZoneConfig::builder()
            .private_zone(true)
            .comment(format!("aerie:env={}", cloud.environment));
        let request = cloud
            .route53
            .create_hosted_zone()
            .name(&name)
            .caller_reference(&reference)
            .vpc(vpc.build())
            .hosted_zone_config(config.build());
        let created = send("CreateHostedZone", || request.clone().send());
        let made = match created.await {
            Ok(created) => {
                let id = created
                    .hosted_zone()
                    .map(|z| z.id().trim_start_matches("/hostedzone/"));
                Made::id("CreateHostedZone", id)?
            }
            // Made by an earlier run that stopped before tagging it.
            Err(error) if error.is("HostedZoneAlreadyExists") => {
                let zone = find_zone(cloud, &name, Some(&reference)).await?;
                Made::id("CreateHostedZone", zone.as_ref().map(|(id, _)| id.as_str()))?
            }
            Err(error) => return Err(error),
        };
        tag(cloud, &made.id, role).await?;
        Ok(made)
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        if change.repairs.contains(&Repair::Tags) {
            tag(cloud, change.id, "private-zone").await?;
        }
        let mut upserts = Vec::new();
        for rule in change.add {
            let Some((kind, name, value)) =
                crate::model::resolve_record(rule, &change.known.addresses)
            else {
                let message = format!("no address yet for {rule}");
                return Err(AwsError::other("ChangeResourceRecordSets", message));
            };
            let value = ResourceRecord::builder()
                .value(value)
                .build()
                .map_err(invalid)?;
            let set = ResourceRecordSet::builder()
                .name(&name)
                .r#type(RrType::from(kind.as_str()))
                .ttl(300)
                .resource_records(value);
            upserts.push((ChangeAction::Upsert, set.build().map_err(invalid)?));
        }
        apply(cloud, change.id, upserts, Policy::standard()).await
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let policy = Policy::destroying();
        let sets = records(cloud, gone.id(), policy).await?;
        let deletes = sets
            .into_iter()
            .map(|set| (ChangeAction::Delete, set))
            .collect();
        apply(cloud, gone.id(), deletes, policy).await?;
        let request = cloud.route53.delete_hosted_zone().id(gone.id());
        call("DeleteHostedZone", policy, || request.clone().send()).await?;
        Ok(None)
    }
}

/// The record sets of zone `id`, but for the SOA and NS records every zone has.
async fn records(
    cloud: &Cloud,
    id: &str,
    policy: Policy,
) -> Result<Vec<ResourceRecordSet>, AwsError> {
    let request = cloud.route53.list_resource_record_sets().hosted_zone_id(id);
    let answer = call("ListResourceRecordSets", policy, || request.clone().send()).await?;
    let sets = answer.resource_record_sets().iter();
    let sets = sets.filter(|set| !matches!(set.r#type().as_str(), "SOA" | "NS"));
    Ok(sets.cloned().collect())
}

/// Makes the `changes` to zone `id` in one batch (none: no call).
async fn apply(
    cloud: &Cloud,
    id: &str,
    changes: Vec<(ChangeAction, ResourceRecordSet)>,
    policy: Policy,
) -> Result<(), AwsError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut batch = ChangeBatch::builder();
    for (action, set) in changes {
        let change = RecordChange::builder()
            .action(action)
            .resource_record_set(set);
        batch = batch.changes(change.build().map_err(invalid)?);
    }
    let batch = batch.build().map_err(invalid)?;
    let change = cloud
        .route53
        .change_resource_record_sets()
        .hosted_zone_id(id);
    let request = change.change_batch(batch);
    call("ChangeResourceRecordSets", policy, || {
        request.clone().send()
    })
    .await?;
    Ok(())
}

/// A record the Route53 API refused to build.
fn invalid(error: aws_sdk_route53::error::BuildError) -> AwsError {
    AwsError::other("record", error.to_string())
}

/// The caller reference the environment's zone `name` is created with in `vpc`.
fn caller_reference(cloud: &Cloud, name: &str, vpc: &str) -> String {
    format!("aerie-{}-{name}-{vpc}", cloud.environment)
}

/// Tags zone `id` for the environment, as `role`.
async fn tag(cloud: &Cloud, id: &str, role: &str) -> Result<(), AwsError> {
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let request = cloud
        .route53
        .change_tags_for_resource()
        .resource_type(TagResourceType::Hostedzone)
        .resource_id(id)
        .add_tags(tag(ENV_TAG, &cloud.environment))
        .add_tags(tag(ROLE_TAG, role))
        .add_tags(tag("Name", &format!("{}-{role}", cloud.environment)));
    send("ChangeTagsForResource", || request.clone().send()).await?;
    Ok(())
}

/// The id of the private zone `name` that is this environment's, and
/// whether it is tagged: one tagged for it, or one created with
/// `reference` that a crash left untagged.
pub(super) async fn find_zone(
    cloud: &Cloud,
    name: &str,
    reference: Option<&str>,
) -> Result<Option<(String, bool)>, AwsError> {
    let policy = Policy::standard();
    let request = cloud.route53.list_hosted_zones_by_name().dns_name(name);
    let zones = call("ListHostedZonesByName", policy, || request.clone().send()).await?;
    let named = zones
        .hosted_zones()
        .iter()
        .filter(|z| z.name().trim_end_matches('.') == name);
    let mut untagged = None;
    for zone in named {
        let id = zone.id().trim_start_matches("/hostedzone/");
        let list = cloud.route53.list_tags_for_resource().resource_id(id);
        let request = list.resource_type(TagResourceType::Hostedzone);
        let tags = call("ListTagsForResource", policy, || request.clone().send()).await?;
        let set = tags
            .resource_tag_set()
            .map(|s| s.tags())
            .unwrap_or_default();
        if cloud.owns(set.iter().map(|t| (t.key(), t.value()))) {
            return Ok(Some((id.to_owned(), true)));
        }
        let ours = reference.is_some_and(|reference| zone.caller_reference() == reference);
        if ours && set.iter().all(|t| t.key() != Some(ENV_TAG)) {
            untagged = Some((id.to_owned(), false));
        }
    }
    Ok(untagged)
}
