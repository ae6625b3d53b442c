//! The SSH key pair: its private key goes to Secrets Manager and nowhere else.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};
use aws_sdk_ec2::types::ResourceType;

/// KeyPair resources.
#[derive(Debug)]
pub(super) struct KeyPair;

#[async_trait::async_trait]
impl ResourceKind for KeyPair {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let keys = call("DescribeKeyPairs", policy, || {
            ec2.describe_key_pairs().filters(cloud.env_filter()).send()
        })
        .await?;
        for key in keys.key_pairs() {
            let Some(role) = cloud.role_if_ours(key.tags(), "key") else {
                continue;
            };
            let mut f = found(
                Kind::KeyPair,
                role,
                key.key_name().unwrap_or_default(),
                "available",
            );
            f.resource.props.insert(
                "secret".into(),
                crate::model::ssh_key_secret_name(&cloud.environment),
            );
            // Instances name their key by its name, the key pair's id.
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
            let name = format!("{}-{role}", cloud.environment);
            let created = call("CreateKeyPair", policy, || {
                ec2.create_key_pair()
                    .key_name(&name)
                    .tag_specifications(cloud.tags(ResourceType::KeyPair, role))
                    .send()
            })
            .await?;
            // The private key goes to Secrets Manager and nowhere else.
            let material = created.key_material().unwrap_or_default().to_owned();
            super::secret::put_secret(cloud, &prop("secret"), &material, role).await?;
            name
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
        removed("DeleteKeyPair", policy, || {
            ec2.delete_key_pair().key_name(id).send()
        })
        .await?;
        let secret = crate::model::ssh_key_secret_name(&cloud.environment);
        removed("DeleteSecret", policy, || {
            cloud
                .secrets
                .delete_secret()
                .secret_id(&secret)
                .force_delete_without_recovery(true)
                .send()
        })
        .await?;
        Ok(None)
    }
}
