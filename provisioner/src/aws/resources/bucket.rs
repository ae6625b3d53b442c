//! The environment's artifacts bucket: versioned, encrypted at rest,
//! public access blocked, tagged. Found by its name (S3 names are global),
//! and the environment's only when tagged for it, or when untagged and
//! empty (the crash between `CreateBucket` and its tagging: it holds
//! nothing that could be someone else's). Deleting it removes every
//! version of every object first.

use super::Bucket;
use super::prelude::*;
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use crate::model::BucketSetting;
use crate::repair::Repair;
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Delete,
    ObjectIdentifier, PublicAccessBlockConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    Tag, Tagging, VersioningConfiguration,
};

/// Whose a bucket of the environment's name is.
enum Owner {
    Nobody,
    Us { tagged: bool },
    Someone,
}

#[async_trait::async_trait]
impl ResourceKind for Bucket {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let name = crate::model::artifacts_bucket(seen.spec);
        let tagged = match owner(cloud, &name).await? {
            Owner::Us { tagged } => tagged,
            Owner::Nobody | Owner::Someone => return Ok(()),
        };
        let mut f = found(Kind::Bucket, "artifacts", &name, "available");
        f.set("name", &name);
        if !tagged {
            f.repairs.push(Repair::Tags);
        }
        for setting in settings(cloud, &name).await? {
            f.resource.rules.insert(Rule::Bucket(setting));
        }
        seen.add(f);
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let name = need.prop("name");
        secure(cloud, &name, need.role()).await?;
        Ok(Made::named(&name))
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        if change.repairs.contains(&Repair::Tags) {
            tag(cloud, change.id, "artifacts").await?;
        }
        for rule in change.add {
            if let Rule::Bucket(setting) = rule {
                set(cloud, change.id, *setting).await?;
            }
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        empty(cloud, gone.id()).await?;
        let request = cloud.s3.delete_bucket().bucket(gone.id());
        gone.by("DeleteBucket", || request.clone().send()).await
    }
}

/// Makes bucket `name` the environment's `role` bucket: created when
/// missing (or taken back from an interrupted run), tagged, every setting
/// on; a bucket of that name that is someone else's is refused. What is
/// already right is only read, so running it again changes nothing.
pub(in crate::aws) async fn secure(cloud: &Cloud, name: &str, role: &str) -> Result<(), AwsError> {
    let tagged = match owner(cloud, name).await? {
        Owner::Someone => return Err(refused(cloud, name)),
        Owner::Us { tagged } => tagged,
        Owner::Nobody => {
            create(cloud, name).await?;
            false
        }
    };
    if !tagged {
        tag(cloud, name, role).await?;
    }
    let have = settings(cloud, name).await?;
    for setting in BucketSetting::ALL {
        if !have.contains(&setting) {
            set(cloud, name, setting).await?;
        }
    }
    Ok(())
}

/// `CreateBucket` in the cloud's region; one left by an interrupted run
/// is taken back unless it is tagged for someone else.
async fn create(cloud: &Cloud, name: &str) -> Result<(), AwsError> {
    let mut request = cloud.s3.create_bucket().bucket(name);
    if cloud.region != "us-east-1" {
        let location = BucketLocationConstraint::from(cloud.region.as_str());
        let configuration = CreateBucketConfiguration::builder().location_constraint(location);
        request = request.create_bucket_configuration(configuration.build());
    }
    match send("CreateBucket", || request.clone().send()).await {
        Ok(_) => Ok(()),
        Err(error) if error.is("BucketAlreadyOwnedByYou") => match owner(cloud, name).await? {
            Owner::Someone => Err(refused(cloud, name)),
            _ => Ok(()),
        },
        Err(error) if error.is("BucketAlreadyExists") => Err(refused(cloud, name)),
        Err(error) => Err(error),
    }
}

/// A bucket of that name that is not the environment's.
fn refused(cloud: &Cloud, name: &str) -> AwsError {
    AwsError::other(
        "CreateBucket",
        format!(
            "a bucket named {name} exists and is not tagged {ENV_TAG}={}: remove it, Aerie will not take it over",
            cloud.environment
        ),
    )
}

/// Whose bucket `name` is: nobody's, the environment's (tagged for it, or
/// untagged and empty), or someone else's.
async fn owner(cloud: &Cloud, name: &str) -> Result<Owner, AwsError> {
    let request = cloud.s3.get_bucket_tagging().bucket(name);
    match send("GetBucketTagging", || request.clone().send()).await {
        Ok(tagging) => {
            let tags = tagging.tag_set().iter();
            let ours = cloud.owns(tags.map(|t| (Some(t.key()), Some(t.value()))));
            Ok(if ours {
                Owner::Us { tagged: true }
            } else {
                Owner::Someone
            })
        }
        Err(error) if error.is("NoSuchBucket") => Ok(Owner::Nobody),
        Err(error) if error.is("NoSuchTagSet") => {
            let request = cloud.s3.list_object_versions().bucket(name).max_keys(1);
            let listed = send("ListObjectVersions", || request.clone().send()).await?;
            let empty = listed.versions().is_empty() && listed.delete_markers().is_empty();
            Ok(if empty {
                Owner::Us { tagged: false }
            } else {
                Owner::Someone
            })
        }
        // Another account's: S3 says so with AccessDenied.
        Err(error) if error.is("AccessDenied") => Ok(Owner::Someone),
        Err(error) => Err(error),
    }
}

/// Which of the settings bucket `name` has.
pub(in crate::aws) async fn settings(
    cloud: &Cloud,
    name: &str,
) -> Result<Vec<BucketSetting>, AwsError> {
    let mut out = Vec::new();
    let request = cloud.s3.get_bucket_versioning().bucket(name);
    match send("GetBucketVersioning", || request.clone().send()).await {
        Ok(versioning) if versioning.status() == Some(&BucketVersioningStatus::Enabled) => {
            out.push(BucketSetting::Versioning);
        }
        Ok(_) => {}
        Err(error) => return Err(error),
    }
    let request = cloud.s3.get_bucket_encryption().bucket(name);
    match send("GetBucketEncryption", || request.clone().send()).await {
        Ok(encryption) => {
            let rules = encryption
                .server_side_encryption_configuration()
                .map(|c| c.rules())
                .unwrap_or_default();
            if rules
                .iter()
                .any(|r| r.apply_server_side_encryption_by_default().is_some())
            {
                out.push(BucketSetting::Encryption);
            }
        }
        Err(error) if error.is("ServerSideEncryptionConfigurationNotFoundError") => {}
        Err(error) => return Err(error),
    }
    let request = cloud.s3.get_public_access_block().bucket(name);
    match send("GetPublicAccessBlock", || request.clone().send()).await {
        Ok(answer) => {
            let all = answer.public_access_block_configuration().is_some_and(|c| {
                c.block_public_acls() == Some(true)
                    && c.ignore_public_acls() == Some(true)
                    && c.block_public_policy() == Some(true)
                    && c.restrict_public_buckets() == Some(true)
            });
            if all {
                out.push(BucketSetting::PublicAccessBlocked);
            }
        }
        Err(error) if error.is("NoSuchPublicAccessBlockConfiguration") => {}
        Err(error) => return Err(error),
    }
    Ok(out)
}

/// Tags bucket `name` for the environment.
async fn tag(cloud: &Cloud, name: &str, role: &str) -> Result<(), AwsError> {
    let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
    let tags = [
        tag(ENV_TAG, &cloud.environment),
        tag(ROLE_TAG, role),
        tag("Name", &format!("{}-{role}", cloud.environment)),
    ];
    let tagging = Tagging::builder()
        .set_tag_set(Some(
            tags.into_iter()
                .collect::<Result<_, _>>()
                .map_err(|e| AwsError::other("PutBucketTagging", e.to_string()))?,
        ))
        .build()
        .map_err(|e| AwsError::other("PutBucketTagging", e.to_string()))?;
    let request = cloud.s3.put_bucket_tagging().bucket(name).tagging(tagging);
    send("PutBucketTagging", || request.clone().send()).await?;
    Ok(())
}

/// Turns `setting` on for bucket `name`.
async fn set(cloud: &Cloud, name: &str, setting: BucketSetting) -> Result<(), AwsError> {
    let invalid =
        |e: aws_sdk_s3::error::BuildError| AwsError::other("PutBucketEncryption", e.to_string());
    match setting {
        BucketSetting::Versioning => {
            let versioning =
                VersioningConfiguration::builder().status(BucketVersioningStatus::Enabled);
            let request = cloud.s3.put_bucket_versioning().bucket(name);
            let request = request.versioning_configuration(versioning.build());
            send("PutBucketVersioning", || request.clone().send()).await?;
        }
        BucketSetting::Encryption => {
            let default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::Aes256)
                .build()
                .map_err(invalid)?;
            let rule = ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(default)
                .build();
            let configuration = ServerSideEncryptionConfiguration::builder()
                .rules(rule)
                .build()
                .map_err(invalid)?;
            let request = cloud.s3.put_bucket_encryption().bucket(name);
            let request = request.server_side_encryption_configuration(configuration);
            send("PutBucketEncryption", || request.clone().send()).await?;
        }
        BucketSetting::PublicAccessBlocked => {
            let block = PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true);
            let request = cloud.s3.put_public_access_block().bucket(name);
            let request = request.public_access_block_configuration(block.build());
            send("PutPublicAccessBlock", || request.clone().send()).await?;
        }
    }
    Ok(())
}

/// Deletes every version and delete marker in bucket `name`.
async fn empty(cloud: &Cloud, name: &str) -> Result<(), AwsError> {
    loop {
        let request = cloud.s3.list_object_versions().bucket(name);
        let listed = match send("ListObjectVersions", || request.clone().send()).await {
            Ok(listed) => listed,
            Err(error) if error.is("NoSuchBucket") => return Ok(()),
            Err(error) => return Err(error),
        };
        let versions = listed.versions().iter().map(|v| (v.key(), v.version_id()));
        let markers = listed
            .delete_markers()
            .iter()
            .map(|m| (m.key(), m.version_id()));
        let objects: Vec<ObjectIdentifier> = versions
            .chain(markers)
            .filter_map(|(key, version)| {
                ObjectIdentifier::builder()
                    .key(key?)
                    .set_version_id(version.map(str::to_owned))
                    .build()
                    .ok()
            })
            .collect();
        if objects.is_empty() {
            return Ok(());
        }
        let delete = Delete::builder()
            .set_objects(Some(objects))
            .quiet(true)
            .build()
            .map_err(|e| AwsError::other("DeleteObjects", e.to_string()))?;
        let request = cloud.s3.delete_objects().bucket(name).delete(delete);
        call("DeleteObjects", Policy::destroying(), || {
            request.clone().send()
        })
        .await?;
    }
}
