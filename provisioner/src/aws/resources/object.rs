//! The nodes' configuration bundles in the artifacts bucket, one object
//! per node (`bundles/<role>.tar.gz`), its SHA-256 in the object's
//! metadata. The bucket is versioned: a bundle that changes is replaced
//! (a delete marker, then the new version) and every earlier one is kept
//! as an older version of its key.

use super::Object;
use super::prelude::*;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

/// The metadata key holding the bundle's digest.
const DIGEST: &str = "aerie-sha256";

#[async_trait::async_trait]
impl ResourceKind for Object {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let bucket = seen.out.iter().find(|f| f.resource.kind == Kind::Bucket);
        let Some(bucket) = bucket.map(|f| f.id.clone()) else {
            return Ok(());
        };
        let request = cloud
            .s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix("bundles/");
        let listed = send("ListObjectsV2", || request.clone().send()).await?;
        for key in listed.contents().iter().filter_map(|o| o.key()) {
            let Some(node) = key
                .strip_prefix("bundles/")
                .and_then(|k| k.strip_suffix(".tar.gz"))
            else {
                continue;
            };
            let head = cloud.s3.head_object().bucket(&bucket).key(key);
            let head = send("HeadObject", || head.clone().send()).await?;
            let id = format!("{bucket}/{key}");
            let mut f = found(Kind::Object, &format!("bundle-{node}"), &id, "available");
            f.set("bucket", "artifacts");
            f.set("key", key);
            let digest = head.metadata().and_then(|m| m.get(DIGEST));
            f.set("sha256", digest.map_or("none", String::as_str));
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let node = need.role().trim_start_matches("bundle-");
        let archive = need.artifacts.bundles.get(node).ok_or_else(|| {
            AwsError::other("PutObject", format!("{} has no bundle", need.role()))
        })?;
        let bucket = need.id_of(&need.prop("bucket"));
        let key = need.prop("key");
        send("PutObject", || {
            cloud
                .s3
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .content_type("application/gzip")
                .server_side_encryption(ServerSideEncryption::Aes256)
                .metadata(DIGEST, &archive.sha256)
                .body(ByteStream::from(archive.bytes.clone()))
                .send()
        })
        .await?;
        Ok(Made::named(&format!("{bucket}/{key}")))
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let Some((bucket, key)) = gone.id().split_once('/') else {
            return Ok(None);
        };
        let request = cloud.s3.delete_object().bucket(bucket).key(key);
        gone.by("DeleteObject", || request.clone().send()).await
    }
}
