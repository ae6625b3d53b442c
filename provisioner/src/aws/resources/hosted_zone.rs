//! The Route53 private zone: found by name and proven ours by its tags; records are rules.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call};
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind, Resource, Rule};
use std::collections::BTreeMap;

/// HostedZone resources.
#[derive(Debug)]
pub(super) struct HostedZone;

#[async_trait::async_trait]
impl ResourceKind for HostedZone {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        if seen.spec.dns.mode == crate::spec::DnsMode::Route53 {
            let addresses: BTreeMap<String, String> = seen
                .out
                .iter()
                .filter_map(|f| Some((f.resource.role.clone(), f.address.clone()?)))
                .collect();
            if let Some(zone) = find_zone(cloud, &seen.spec.dns.zone).await? {
                let mut f = found(Kind::HostedZone, "private-zone", &zone, "available");
                f.resource
                    .props
                    .insert("name".into(), seen.spec.dns.zone.clone());
                f.resource.props.insert("vpc".into(), "vpc".into());
                let records = call("ListResourceRecordSets", policy, || {
                    cloud
                        .route53
                        .list_resource_record_sets()
                        .hosted_zone_id(&zone)
                        .send()
                })
                .await?;
                for set in records.resource_record_sets() {
                    let kind = set.r#type().as_str();
                    if kind == "SOA" || kind == "NS" {
                        continue;
                    }
                    let name = set.name().trim_end_matches('.');
                    let value = set
                        .resource_records()
                        .first()
                        .map(|r| r.value())
                        .unwrap_or_default();
                    let target = addresses
                        .iter()
                        .find(|(_, address)| address.as_str() == value)
                        .map(|(role, _)| role.clone())
                        .unwrap_or_else(|| format!("{value} (unknown)"));
                    f.resource.rules.insert(Rule::Record {
                        kind: kind.to_owned(),
                        name: name.to_owned(),
                        target,
                    });
                }
                seen.out.push(f);
            }
        }
        Ok(())
    }

    async fn create(
        &self,
        cloud: &Cloud,
        need: &Need<'_>,
    ) -> Result<(String, Option<String>), AwsError> {
        let policy = Policy::standard();
        let role = need.role();
        let prop = |key: &str| need.prop(key);
        let known = need.known;
        let id = {
            let name = prop("name");
            let zone = call("CreateHostedZone", policy, || {
                cloud
                    .route53
                    .create_hosted_zone()
                    .name(&name)
                    .caller_reference(format!(
                        "aerie-{}-{}",
                        cloud.environment,
                        aerie_common::secret::password(32)
                    ))
                    .vpc(
                        aws_sdk_route53::types::Vpc::builder()
                            .vpc_id(known.ids.get("vpc").cloned().unwrap_or_default())
                            .vpc_region(aws_sdk_route53::types::VpcRegion::from(
                                cloud.region.as_str(),
                            ))
                            .build(),
                    )
                    .hosted_zone_config(
                        aws_sdk_route53::types::HostedZoneConfig::builder()
                            .private_zone(true)
                            .comment(format!("aerie:env={}", cloud.environment))
                            .build(),
                    )
                    .send()
            })
            .await?;
            let id = zone
                .hosted_zone()
                .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
                .unwrap_or_default();
            call("ChangeTagsForResource", policy, || {
                cloud
                    .route53
                    .change_tags_for_resource()
                    .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
                    .resource_id(&id)
                    .add_tags(
                        aws_sdk_route53::types::Tag::builder()
                            .key(ENV_TAG)
                            .value(&cloud.environment)
                            .build(),
                    )
                    .add_tags(
                        aws_sdk_route53::types::Tag::builder()
                            .key(ROLE_TAG)
                            .value(role)
                            .build(),
                    )
                    .add_tags(
                        aws_sdk_route53::types::Tag::builder()
                            .key("Name")
                            .value(format!("{}-{role}", cloud.environment))
                            .build(),
                    )
                    .send()
            })
            .await?;
            id
        };
        Ok((id, None))
    }

    async fn change(
        &self,
        cloud: &Cloud,
        _resource: &Resource,
        id: &str,
        add: &[Rule],
        _remove: &[Rule],
        known: &Known,
    ) -> Result<(), AwsError> {
        let policy = Policy::standard();
        use aws_sdk_route53::types::{
            Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
        };
        let mut changes = Vec::new();
        for rule in add {
            let Some((kind, name, value)) = crate::model::resolve_record(rule, &known.addresses)
            else {
                return Err(AwsError::other(
                    "ChangeResourceRecordSets",
                    format!("no address yet for {rule}"),
                ));
            };
            let set = ResourceRecordSet::builder()
                .name(&name)
                .r#type(RrType::from(kind.as_str()))
                .ttl(300)
                .resource_records(
                    ResourceRecord::builder()
                        .value(value)
                        .build()
                        .map_err(|e| AwsError::other("record", e.to_string()))?,
                )
                .build()
                .map_err(|e| AwsError::other("record", e.to_string()))?;
            changes.push(
                Change::builder()
                    .action(ChangeAction::Upsert)
                    .resource_record_set(set)
                    .build()
                    .map_err(|e| AwsError::other("record", e.to_string()))?,
            );
        }
        if !changes.is_empty() {
            let batch = ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .map_err(|e| AwsError::other("record", e.to_string()))?;
            call("ChangeResourceRecordSets", policy, || {
                cloud
                    .route53
                    .change_resource_record_sets()
                    .hosted_zone_id(id)
                    .change_batch(batch.clone())
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
        let id = found.id.as_str();
        use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch};
        let records = call("ListResourceRecordSets", policy, || {
            cloud
                .route53
                .list_resource_record_sets()
                .hosted_zone_id(id)
                .send()
        })
        .await?;
        let changes: Vec<Change> = records
            .resource_record_sets()
            .iter()
            .filter(|s| !matches!(s.r#type().as_str(), "SOA" | "NS"))
            .filter_map(|s| {
                Change::builder()
                    .action(ChangeAction::Delete)
                    .resource_record_set(s.clone())
                    .build()
                    .ok()
            })
            .collect();
        if !changes.is_empty() {
            let batch = ChangeBatch::builder()
                .set_changes(Some(changes))
                .build()
                .map_err(|e| AwsError::other("record", e.to_string()))?;
            call("ChangeResourceRecordSets", policy, || {
                cloud
                    .route53
                    .change_resource_record_sets()
                    .hosted_zone_id(id)
                    .change_batch(batch.clone())
                    .send()
            })
            .await?;
        }
        call("DeleteHostedZone", policy, || {
            cloud.route53.delete_hosted_zone().id(id).send()
        })
        .await?;
        Ok(None)
    }
}

/// The id of the private zone `name`, when one is tagged for this environment.
pub(super) async fn find_zone(cloud: &Cloud, name: &str) -> Result<Option<String>, AwsError> {
    let policy = Policy::standard();
    let zones = call("ListHostedZonesByName", policy, || {
        cloud
            .route53
            .list_hosted_zones_by_name()
            .dns_name(name)
            .send()
    })
    .await?;
    for zone in zones.hosted_zones() {
        if zone.name().trim_end_matches('.') != name {
            continue;
        }
        let id = zone.id().trim_start_matches("/hostedzone/").to_owned();
        let tags = call("ListTagsForResource", policy, || {
            cloud
                .route53
                .list_tags_for_resource()
                .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
                .resource_id(&id)
                .send()
        })
        .await?;
        let ours = tags.resource_tag_set().is_some_and(|set| {
            set.tags()
                .iter()
                .any(|t| t.key() == Some(ENV_TAG) && t.value() == Some(cloud.environment.as_str()))
        });
        if ours {
            return Ok(Some(id));
        }
    }
    Ok(None)
}
