//! The SSH key pair: its private key goes to Secrets Manager and nowhere else.

use super::prelude::*;
use super::secret::{delete_secret, put_secret};
use crate::model::ssh_key_secret_name;
use aws_sdk_ec2::types::ResourceType;

/// The key pair instances are launched with (its name is its id).
pub(super) struct KeyPair;

#[async_trait::async_trait]
impl ResourceKind for KeyPair {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let request = cloud.ec2.describe_key_pairs().filters(cloud.env_filter());
        let keys = call("DescribeKeyPairs", Policy::standard(), || {
            request.clone().send()
        });
        for (role, key) in cloud.ours(keys.await?.key_pairs(), |k| k.tags(), "key") {
            let name = key.key_name().unwrap_or_default();
            let mut f = found(Kind::KeyPair, role, name, "available");
            f.set("secret", ssh_key_secret_name(&cloud.environment));
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let role = need.role();
        let name = format!("{}-{role}", cloud.environment);
        let tags = cloud.tags(ResourceType::KeyPair, role);
        let request = cloud
            .ec2
            .create_key_pair()
            .key_name(&name)
            .tag_specifications(tags);
        let created = call("CreateKeyPair", Policy::standard(), || {
            request.clone().send()
        })
        .await?;
        // The private key goes to Secrets Manager and nowhere else.
        let material = created.key_material().unwrap_or_default();
        put_secret(cloud, &need.prop("secret"), material, role).await?;
        Ok(Made::named(&name))
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud.ec2.delete_key_pair().key_name(gone.id());
        gone.by("DeleteKeyPair", || request.clone().send()).await?;
        delete_secret(cloud, &ssh_key_secret_name(&cloud.environment)).await?;
        Ok(None)
    }
}
