//! S3 objects and buckets as the backups use them: a backup bucket made
//! like the artifacts bucket (tagged, versioned, encrypted, private) plus
//! a lifecycle (archives to Glacier, then expiry), objects put with their
//! SHA-256, listed with their storage class, copied between regions, and
//! brought back from Glacier.
//!
//! One call at a time, each through `retry`; what to store where is
//! `backup`'s to decide.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, ExpirationStatus, GlacierJobParameters, LifecycleExpiration,
    LifecycleRule, LifecycleRuleFilter, RestoreRequest, Tier, Transition, TransitionStorageClass,
};
use chrono::{DateTime, Utc};

use super::Cloud;
use super::pages::all_pages;
use super::retry::{AwsError, Policy, removed, send};

/// The object metadata key holding an object's SHA-256 (hex).
pub const SHA256_METADATA: &str = "sha256";

/// What a bucket's lifecycle does with the objects under a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lifecycle {
    /// The rule's id.
    pub id: String,
    pub prefix: String,
    pub expire_after_days: i32,
    /// Days after which objects move to Glacier (`None`: never).
    pub glacier_after_days: Option<i32>,
}

/// One object, as a listing or `HeadObject` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: String,
    pub size: i64,
    /// `STANDARD`, `GLACIER`, `DEEP_ARCHIVE`, ...
    pub storage_class: String,
    pub modified: Option<DateTime<Utc>>,
    /// From the object's metadata (`HeadObject` only).
    pub sha256: Option<String>,
    /// `HeadObject`'s `x-amz-restore`: a restore asked for (`ongoing`
    /// true or false), or `None` when none was.
    pub restore: Option<Restore>,
}

/// A Glacier restore's progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restore {
    Ongoing,
    Done,
}

impl Stored {
    /// As a listing or `HeadObject` gives it (a missing class is
    /// `STANDARD`, as S3 leaves it out for that one), with no checksum or
    /// restore known yet.
    fn new(
        key: &str,
        size: Option<i64>,
        storage_class: Option<&str>,
        modified: Option<&aws_sdk_s3::primitives::DateTime>,
    ) -> Self {
        Self {
            key: key.to_owned(),
            size: size.unwrap_or(0),
            storage_class: storage_class.unwrap_or("STANDARD").to_owned(),
            modified: modified.and_then(|t| DateTime::from_timestamp(t.secs(), 0)),
            sha256: None,
            restore: None,
        }
    }

    /// In an archive storage class: readable only after a restore.
    pub fn archived(&self) -> bool {
        matches!(self.storage_class.as_str(), "GLACIER" | "DEEP_ARCHIVE")
    }
}

impl Cloud {
    /// Makes `name` a bucket of the environment (see the bucket kind) with
    /// `rules` as its whole lifecycle; only reads when all is in place.
    pub async fn secure_bucket(
        &self,
        name: &str,
        role: &str,
        rules: &[Lifecycle],
    ) -> Result<(), AwsError> {
        super::resources::secure_bucket(self, name, role).await?;
        if self.lifecycle(name).await? != rules {
            self.set_lifecycle(name, rules).await?;
        }
        Ok(())
    }

    /// Whether bucket `name` exists (and may be read).
    pub async fn bucket_exists(&self, name: &str) -> Result<bool, AwsError> {
        let request = self.s3.head_bucket().bucket(name);
        match send("HeadBucket", || request.clone().send()).await {
            Ok(_) => Ok(true),
            Err(error)
                if error.is("NotFound") || error.is("NoSuchBucket") || error.code == "HTTP 404" =>
            {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    /// The lifecycle rules of bucket `name` (none: empty), in their order.
    pub async fn lifecycle(&self, name: &str) -> Result<Vec<Lifecycle>, AwsError> {
        let request = self.s3.get_bucket_lifecycle_configuration().bucket(name);
        let answer = match send("GetBucketLifecycleConfiguration", || request.clone().send()).await
        {
            Ok(answer) => answer,
            Err(error) if error.is("NoSuchLifecycleConfiguration") => return Ok(Vec::new()),
            Err(error) => return Err(error),
        };
        Ok(answer
            .rules()
            .iter()
            .filter(|r| r.status() == &ExpirationStatus::Enabled)
            .map(|rule| Lifecycle {
                id: rule.id().unwrap_or_default().to_owned(),
                prefix: rule
                    .filter()
                    .and_then(|f| f.prefix())
                    .unwrap_or_default()
                    .to_owned(),
                glacier_after_days: rule
                    .transitions()
                    .iter()
                    .find(|t| t.storage_class() == Some(&TransitionStorageClass::Glacier))
                    .and_then(|t| t.days()),
                expire_after_days: rule.expiration().and_then(|e| e.days()).unwrap_or(0),
            })
            .collect())
    }

    async fn set_lifecycle(&self, name: &str, rules: &[Lifecycle]) -> Result<(), AwsError> {
        let invalid = |e: aws_sdk_s3::error::BuildError| {
            AwsError::other("PutBucketLifecycleConfiguration", e.to_string())
        };
        let mut built = Vec::new();
        for rule in rules {
            let mut made = LifecycleRule::builder()
                .id(&rule.id)
                .status(ExpirationStatus::Enabled)
                .filter(LifecycleRuleFilter::builder().prefix(&rule.prefix).build())
                .expiration(
                    LifecycleExpiration::builder()
                        .days(rule.expire_after_days)
                        .build(),
                );
            if let Some(days) = rule.glacier_after_days {
                made = made.transitions(
                    Transition::builder()
                        .days(days)
                        .storage_class(TransitionStorageClass::Glacier)
                        .build(),
                );
            }
            built.push(made.build().map_err(invalid)?);
        }
        let configuration = BucketLifecycleConfiguration::builder()
            .set_rules(Some(built))
            .build()
            .map_err(invalid)?;
        let request = self
            .s3
            .put_bucket_lifecycle_configuration()
            .bucket(name)
            .lifecycle_configuration(configuration);
        send("PutBucketLifecycleConfiguration", || request.clone().send()).await?;
        Ok(())
    }

    /// Puts `body` at `key`, with its SHA-256 in the metadata.
    pub async fn put_object(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        sha256: &str,
    ) -> Result<(), AwsError> {
        send("PutObject", || {
            self.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .metadata(SHA256_METADATA, sha256)
                .body(ByteStream::from(body.clone()))
                .send()
        })
        .await?;
        Ok(())
    }

    /// Puts the file at `path` at `key`, read from disk as it goes (never
    /// whole in memory), with its SHA-256 in the metadata.
    pub async fn put_file(
        &self,
        bucket: &str,
        key: &str,
        path: &std::path::Path,
        sha256: &str,
    ) -> Result<(), AwsError> {
        send("PutObject", || async {
            let body = ByteStream::from_path(path)
                .await
                .map_err(aws_sdk_s3::error::SdkError::construction_failure)?;
            self.s3
                .put_object()
                .bucket(bucket)
                .key(key)
                .metadata(SHA256_METADATA, sha256)
                .body(body)
                .send()
                .await
        })
        .await?;
        Ok(())
    }

    /// Streams the body of the object at `key` into the file `to` (made or
    /// replaced, synced), never holding it whole in memory; answers its size.
    pub async fn download(
        &self,
        bucket: &str,
        key: &str,
        to: &std::path::Path,
    ) -> Result<u64, AwsError> {
        use tokio::io::AsyncWriteExt as _;
        let failed = |error: &dyn std::fmt::Display| {
            AwsError::other(
                "GetObject",
                format!("{bucket}/{key} to {}: {error}", to.display()),
            )
        };
        let request = self.s3.get_object().bucket(bucket).key(key);
        let mut answer = send("GetObject", || request.clone().send()).await?;
        let mut file = tokio::fs::File::create(to).await.map_err(|e| failed(&e))?;
        let mut size = 0;
        while let Some(chunk) = answer.body.try_next().await.map_err(|e| failed(&e))? {
            file.write_all(&chunk).await.map_err(|e| failed(&e))?;
            size += chunk.len() as u64;
        }
        file.sync_all().await.map_err(|e| failed(&e))?;
        Ok(size)
    }

    /// The object at `key`, or `None` when there is none.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<Option<Stored>, AwsError> {
        let request = self.s3.head_object().bucket(bucket).key(key);
        let head = match send("HeadObject", || request.clone().send()).await {
            Ok(head) => head,
            Err(error) if error.is("NotFound") || error.is("NoSuchKey") => return Ok(None),
            Err(error) if error.code == "HTTP 404" => return Ok(None),
            Err(error) => return Err(error),
        };
        let restore = head.restore().map(|header| {
            if header.contains("ongoing-request=\"true\"") {
                Restore::Ongoing
            } else {
                Restore::Done
            }
        });
        let class = head.storage_class().map(|c| c.as_str());
        let stored = Stored::new(key, head.content_length(), class, head.last_modified());
        Ok(Some(Stored {
            sha256: head
                .metadata()
                .and_then(|m| m.get(SHA256_METADATA))
                .cloned(),
            restore,
            ..stored
        }))
    }

    /// Every object under `prefix`, with its size and storage class.
    pub async fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<Stored>, AwsError> {
        all_pages(|token| async move {
            let request = self.s3.list_objects_v2().bucket(bucket).prefix(prefix);
            let request = request.set_continuation_token(token);
            let answer = match send("ListObjectsV2", || request.clone().send()).await {
                Ok(answer) => answer,
                Err(error) if error.is("NoSuchBucket") => return Ok((Vec::new(), None)),
                Err(error) => return Err(error),
            };
            let found = answer.contents().iter().filter_map(|o| {
                let class = o.storage_class().map(|c| c.as_str());
                Some(Stored::new(o.key()?, o.size(), class, o.last_modified()))
            });
            let next = answer.next_continuation_token().map(str::to_owned);
            let more = answer.is_truncated() == Some(true);
            Ok((found.collect(), next.filter(|_| more)))
        })
        .await
    }

    /// The whole body of the object at `key`.
    pub async fn get_object(&self, bucket: &str, key: &str) -> Result<Vec<u8>, AwsError> {
        let request = self.s3.get_object().bucket(bucket).key(key);
        let answer = send("GetObject", || request.clone().send()).await?;
        let body = answer
            .body
            .collect()
            .await
            .map_err(|e| AwsError::other("GetObject", format!("{bucket}/{key}: {e}")))?;
        Ok(body.into_bytes().to_vec())
    }

    /// Copies `key` of `source` (a bucket of any region) to the same key
    /// of `bucket` in this region, metadata and all.
    pub async fn copy_object(&self, source: &str, bucket: &str, key: &str) -> Result<(), AwsError> {
        let from = format!(
            "{source}/{}",
            percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2F", "/")
        );
        let request = self
            .s3
            .copy_object()
            .copy_source(from)
            .bucket(bucket)
            .key(key);
        send("CopyObject", || request.clone().send()).await?;
        Ok(())
    }

    /// Removes the object at `key` (gone already is fine).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<(), AwsError> {
        let request = self.s3.delete_object().bucket(bucket).key(key);
        removed("DeleteObject", Policy::standard(), || {
            request.clone().send()
        })
        .await
    }

    /// Asks S3 to bring an archived object back for `days` (standard tier);
    /// one already asked for is fine.
    pub async fn restore_object(&self, bucket: &str, key: &str, days: i32) -> Result<(), AwsError> {
        let job = GlacierJobParameters::builder()
            .tier(Tier::Standard)
            .build()
            .map_err(|e| AwsError::other("RestoreObject", e.to_string()))?;
        let request = self
            .s3
            .restore_object()
            .bucket(bucket)
            .key(key)
            .restore_request(
                RestoreRequest::builder()
                    .days(days)
                    .glacier_job_parameters(job)
                    .build(),
            );
        match send("RestoreObject", || request.clone().send()).await {
            Ok(_) => Ok(()),
            Err(error) if error.is("RestoreAlreadyInProgress") => Ok(()),
            Err(error) => Err(error),
        }
    }
}
