//! The SSH key pair: its private key goes to Secrets Manager and nowhere
//! else. The secret is read back on every plan: one scheduled for deletion
//! is restored; one that is gone (a crash between `CreateKeyPair` and the
//! secret, or a deletion) means the private key is lost, and the key pair
//! is made again under the same name with a new secret.

use super::KeyPair;
use super::prelude::*;
use super::secret::{delete_secret, put_secret};
use crate::model::ssh_key_secret_name;
use crate::repair::Repair;
use aws_sdk_ec2::types::ResourceType;

#[async_trait::async_trait]
impl ResourceKind for KeyPair {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let request = cloud.ec2.describe_key_pairs().filters(cloud.env_filter());
        let keys = send("DescribeKeyPairs", || request.clone().send()).await?;
        let ours: Vec<_> = cloud.ours(keys.key_pairs(), |k| k.tags(), "key").collect();
        for (role, key) in ours {
            let name = key.key_name().unwrap_or_default();
            let mut f = found(Kind::KeyPair, role, name, "available");
            let secret = ssh_key_secret_name(&cloud.environment);
            let request = cloud.secrets.describe_secret().secret_id(&secret);
            match send("DescribeSecret", || request.clone().send()).await {
                Ok(found) if found.deleted_date().is_some() => f.repairs.push(Repair::Restore),
                Ok(_) => {}
                Err(error) if error.is("ResourceNotFoundException") => {
                    f.repairs.push(Repair::NewKey);
                }
                Err(error) => return Err(error),
            }
            f.set("secret", secret);
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let name = format!("{}-{}", cloud.environment, need.role());
        new_key(cloud, &name, need.role()).await?;
        Ok(Made::named(&name))
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        if change.repairs.contains(&Repair::NewKey) {
            let request = cloud.ec2.delete_key_pair().key_name(change.id);
            removed("DeleteKeyPair", Policy::standard(), || {
                request.clone().send()
            })
            .await?;
            let role = change.id.strip_prefix(&format!("{}-", cloud.environment));
            new_key(cloud, change.id, role.unwrap_or("bastion-key")).await?;
        }
        if change.repairs.contains(&Repair::Restore) {
            let secret = ssh_key_secret_name(&cloud.environment);
            let request = cloud.secrets.restore_secret().secret_id(&secret);
            send("RestoreSecret", || request.clone().send()).await?;
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        // The secret first: a run stopped between the two leaves a key pair
        // (found by its tag, and removed next time), never an orphan secret.
        delete_secret(cloud, &ssh_key_secret_name(&cloud.environment)).await?;
        let request = cloud.ec2.delete_key_pair().key_name(gone.id());
        gone.by("DeleteKeyPair", || request.clone().send()).await
    }
}

/// Creates key pair `name` for `role`; its private key goes to its secret
/// and nowhere else.
async fn new_key(cloud: &Cloud, name: &str, role: &str) -> Result<(), AwsError> {
    let tags = cloud.tags(ResourceType::KeyPair, role);
    let request = cloud.ec2.create_key_pair().key_name(name);
    let request = request.tag_specifications(tags);
    let created = send("CreateKeyPair", || request.clone().send()).await?;
    let material = created.key_material().unwrap_or_default();
    let secret = ssh_key_secret_name(&cloud.environment);
    put_secret(cloud, &secret, material, role).await?;
    // A secret left from the key pair before holds its private key: this
    // key's replaces it (put_secret keeps an existing value).
    let request = cloud
        .secrets
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(material);
    send("PutSecretValue", || request.clone().send()).await?;
    Ok(())
}
