//! The internet gateway, attached to the VPC (an attachment is a rule).

use super::attachment::{attach_each, detach_each};
use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind, Resource, Rule};
use aws_sdk_ec2::types::ResourceType;

/// InternetGateway resources.
#[derive(Debug)]
pub(super) struct InternetGateway;

#[async_trait::async_trait]
impl ResourceKind for InternetGateway {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let gateways = call("DescribeInternetGateways", policy, || {
            ec2.describe_internet_gateways()
                .filters(cloud.env_filter())
                .send()
        })
        .await?;
        for gateway in gateways.internet_gateways() {
            let Some(role) = cloud.role_if_ours(gateway.tags(), "igw") else {
                continue;
            };
            let id = gateway.internet_gateway_id().unwrap_or_default();
            let mut f = found(Kind::InternetGateway, role, id, "available");
            for attachment in gateway.attachments() {
                if let Some(vpc) = attachment.vpc_id().and_then(|v| seen.roles.get(v)) {
                    f.resource.rules.insert(Rule::Attached { vpc: vpc.clone() });
                }
            }
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
        let id = call("CreateInternetGateway", policy, || {
            ec2.create_internet_gateway()
                .tag_specifications(cloud.tags(ResourceType::InternetGateway, role))
                .send()
        })
        .await?
        .internet_gateway()
        .and_then(|g| g.internet_gateway_id())
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
        _remove: &[Rule],
        known: &Known,
    ) -> Result<(), AwsError> {
        attach_each(add, known, |vpc| async move {
            call("AttachInternetGateway", Policy::standard(), || {
                let request = cloud.ec2.attach_internet_gateway();
                request.internet_gateway_id(id).vpc_id(&vpc).send()
            })
            .await
            .map(drop)
        })
        .await
    }

    async fn delete(
        &self,
        cloud: &Cloud,
        found: &Found,
        known: &Known,
    ) -> Result<Option<String>, AwsError> {
        let (policy, id) = (Policy::destroying(), found.id.as_str());
        detach_each(found, known, |vpc| async move {
            removed("DetachInternetGateway", policy, || {
                let request = cloud.ec2.detach_internet_gateway();
                request.internet_gateway_id(id).vpc_id(&vpc).send()
            })
            .await
        })
        .await?;
        removed("DeleteInternetGateway", policy, || {
            cloud
                .ec2
                .delete_internet_gateway()
                .internet_gateway_id(id)
                .send()
        })
        .await?;
        Ok(None)
    }
}
