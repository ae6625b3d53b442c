//! The VPC: found by tag, created with DNS support and hostnames on.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType};

/// Vpc resources.
#[derive(Debug)]
pub(super) struct Vpc;

#[async_trait::async_trait]
impl ResourceKind for Vpc {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let vpcs = call("DescribeVpcs", policy, || {
            ec2.describe_vpcs().filters(cloud.env_filter()).send()
        })
        .await?;
        for vpc in vpcs.vpcs() {
            let Some(role) = cloud.role_if_ours(vpc.tags(), "vpc") else {
                continue;
            };
            let id = vpc.vpc_id().unwrap_or_default();
            let mut f = found(
                Kind::Vpc,
                role,
                id,
                vpc.state().map_or("unknown", |s| s.as_str()),
            );
            f.resource
                .props
                .insert("cidr".into(), vpc.cidr_block().unwrap_or_default().into());
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
        let id = {
            let created = call("CreateVpc", policy, || {
                ec2.create_vpc()
                    .cidr_block(prop("cidr"))
                    .tag_specifications(cloud.tags(ResourceType::Vpc, role))
                    .send()
            })
            .await?;
            let id = created
                .vpc()
                .and_then(|v| v.vpc_id())
                .unwrap_or_default()
                .to_owned();
            for (name, hostnames) in [("support", false), ("hostnames", true)] {
                call("ModifyVpcAttribute", policy, || {
                    let request = ec2.modify_vpc_attribute().vpc_id(&id);
                    let on = AttributeBooleanValue::builder().value(true).build();
                    if hostnames {
                        request.enable_dns_hostnames(on).send()
                    } else {
                        request.enable_dns_support(on).send()
                    }
                })
                .await
                .map_err(|e| AwsError {
                    message: format!("DNS {name}: {}", e.message),
                    ..e
                })?;
            }
            id
        };
        Ok((id, None))
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
        removed("DeleteVpc", policy, || ec2.delete_vpc().vpc_id(id).send()).await?;
        Ok(None)
    }
}
