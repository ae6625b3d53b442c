//! The environment as AWS has it: read by tag (`aerie:env`, `aerie:role`),
//! never from a state file, and changed one resource at a time.
//!
//! [`Cloud`] holds the clients of one region and dispatches to the kind of
//! each resource (`resources/`, one file per kind). It never decides what to
//! change (the plan does) and never prints.

pub mod objects;
mod pages;
pub mod preflight;
pub mod recovery;
mod resources;
pub mod restores;
pub mod retry;
pub mod snapshots;
mod tags;

use std::collections::BTreeMap;

use crate::model::{Found, Resource, Rule};
use resources::{Change, Gone, Need, Seen, TABLE};

pub use resources::Made;
use retry::AwsError;

pub use tags::{ENV_TAG, ROLE_TAG};

/// The AWS clients of one region, for one environment.
#[derive(Debug, Clone)]
pub struct Cloud {
    pub ec2: aws_sdk_ec2::Client,
    pub rds: aws_sdk_rds::Client,
    pub route53: aws_sdk_route53::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ses: aws_sdk_ses::Client,
    pub s3: aws_sdk_s3::Client,
    pub iam: aws_sdk_iam::Client,
    pub environment: String,
    pub region: String,
    /// Whether deleting the database first takes a final snapshot (kept).
    pub final_snapshot: bool,
}

impl Cloud {
    pub async fn connect(environment: &str, region: &str) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .load()
            .await;
        Self {
            ec2: aws_sdk_ec2::Client::new(&sdk),
            rds: aws_sdk_rds::Client::new(&sdk),
            route53: aws_sdk_route53::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            ses: aws_sdk_ses::Client::new(&sdk),
            s3: s3_client(&sdk),
            iam: aws_sdk_iam::Client::new(&sdk),
            environment: environment.to_owned(),
            region: region.to_owned(),
            final_snapshot: true,
        }
    }

    /// Everything tagged for the environment (and, for the resources AWS
    /// cannot tag or find by tag, what the spec names).
    pub async fn observe(&self, spec: &crate::spec::Spec) -> Result<Vec<Found>, AwsError> {
        self.observe_kinds(spec, &[]).await
    }

    /// The same for `kinds` only (all of them when empty), in the order
    /// kinds are observed (a zone after its VPC, ...).
    pub async fn observe_kinds(
        &self,
        spec: &crate::spec::Spec,
        kinds: &[crate::model::Kind],
    ) -> Result<Vec<Found>, AwsError> {
        let mut seen = Seen {
            spec,
            out: Vec::new(),
            roles: BTreeMap::new(),
        };
        for (kind, observer) in TABLE {
            if kinds.is_empty() || kinds.contains(kind) {
                observer.observe(self, &mut seen).await?;
            }
        }
        Ok(seen.out)
    }

    /// Creates `resource`; answers its id (and address, when it has one).
    pub async fn create(
        &self,
        resource: &Resource,
        known: &Known,
        artifacts: &crate::render::Artifacts,
        spec: &crate::spec::Spec,
    ) -> Result<Made, AwsError> {
        // Every id a kind looks up is of a dependency: all must exist.
        if let Some(missing) = resource.deps.iter().find(|d| !known.ids.contains_key(*d)) {
            return Err(AwsError::other(
                "resolve",
                format!(
                    "{} needs {missing}, which does not exist yet",
                    resource.role
                ),
            ));
        }
        let need = Need {
            resource,
            known,
            artifacts,
            spec,
        };
        resources::of(resource.kind).create(self, &need).await
    }

    /// Adds and removes rules of an existing resource, and makes the
    /// repairs observe found it needs.
    pub async fn change_rules(
        &self,
        resource: &Resource,
        id: &str,
        (add, remove): (&[Rule], &[Rule]),
        repairs: &[crate::repair::Repair],
        known: &Known,
    ) -> Result<(), AwsError> {
        let change = Change {
            id,
            add,
            remove,
            rules: &resource.rules,
            repairs,
            known,
        };
        resources::of(resource.kind).change(self, &change).await
    }

    /// Which of the environment's bucket settings bucket `name` has, as
    /// the bucket kind reads them (`check` asks the same question).
    pub async fn bucket_settings(
        &self,
        name: &str,
    ) -> Result<Vec<crate::model::BucketSetting>, AwsError> {
        resources::bucket_settings(self, name).await
    }

    /// Deletes a resource found in AWS; answers what it kept, if anything
    /// (the database's final snapshot).
    pub async fn delete(&self, found: &Found, known: &Known) -> Result<Option<String>, AwsError> {
        let gone = Gone { found, known };
        resources::of(found.resource.kind).delete(self, &gone).await
    }
}

/// The S3 client: path-style addressing when the endpoint is overridden
/// (a local S3 has no per-bucket host names).
fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// What a step needs to know of the others: ids and addresses by role.
#[derive(Debug, Default, Clone)]
pub struct Known {
    pub ids: BTreeMap<String, String>,
    pub addresses: BTreeMap<String, String>,
}

impl Known {
    pub fn id(&self, role: &str) -> Result<String, AwsError> {
        self.ids
            .get(role)
            .cloned()
            .ok_or_else(|| AwsError::other("resolve", format!("{role} does not exist yet")))
    }
}

/// The name of the snapshot taken when database `instance` is deleted at `at`.
pub fn final_snapshot_name(instance: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{instance}-final-{}", at.format("%Y%m%d-%H%M%S"))
}
