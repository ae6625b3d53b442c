//! What the checks look at, read from AWS once: the environment's VPC and
//! everything in it, the volumes of its instances and their user-data, its
//! secrets' values (to search for), its database, its mail identity and
//! its buckets.

use std::collections::BTreeMap;

use aws_sdk_ec2::types::{Filter, Instance, SecurityGroup, Subnet, Volume};
use aws_sdk_rds::types::DbInstance;

use crate::aws::Cloud;
use crate::aws::retry::{AwsError, send};
use crate::model::BucketSetting;
use crate::spec::Spec;

/// One bucket of the environment as S3 has it.
#[derive(Debug, Clone)]
pub struct BucketFacts {
    pub name: String,
    pub public_access_blocked: bool,
    pub encrypted: bool,
    pub tags: Vec<(String, String)>,
}

/// The environment's mail domain as SES has it.
#[derive(Debug, Clone)]
pub struct MailFacts {
    pub domain: String,
    /// `Success`, `Pending`, `Failed`, ... (`None`: no identity).
    pub verification: Option<String>,
    pub verification_token: Option<String>,
    pub dkim_enabled: bool,
    pub dkim_verification: Option<String>,
    pub dkim_tokens: Vec<String>,
}

/// Everything the checks read.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub environment: String,
    pub vpc: Option<String>,
    pub groups: Vec<SecurityGroup>,
    pub subnets: Vec<Subnet>,
    /// Live instances in the VPC (pending, running, stopping, stopped).
    pub instances: Vec<Instance>,
    pub volumes: Vec<Volume>,
    /// Each instance's user-data, decoded, by instance id.
    pub user_data: BTreeMap<String, String>,
    /// The environment's secrets, (name, value): searched for, never shown.
    pub secrets: Vec<(String, String)>,
    pub database: Option<DbInstance>,
    pub mail: Option<MailFacts>,
    pub buckets: Vec<BucketFacts>,
}

fn filter(name: &str, value: &str) -> Filter {
    Filter::builder().name(name).values(value).build()
}

impl Facts {
    pub async fn gather(cloud: &Cloud, spec: &Spec) -> Result<Self, AwsError> {
        let mut facts = Self {
            environment: spec.name.clone(),
            ..Self::default()
        };
        let request = cloud
            .ec2
            .describe_vpcs()
            .filters(filter("tag:aerie:env", &spec.name));
        let vpcs = send("DescribeVpcs", || request.clone().send()).await?;
        facts.vpc = vpcs
            .vpcs()
            .first()
            .and_then(|v| v.vpc_id())
            .map(str::to_owned);
        if let Some(vpc) = facts.vpc.clone() {
            facts.in_vpc(cloud, &vpc).await?;
        }
        facts.secrets = secrets(cloud, &spec.name).await?;
        facts.database = database(cloud, &spec.name).await?;
        facts.mail = Some(mail(cloud, &spec.email.domain).await?);
        if spec.nodes.is_some() {
            let name = crate::model::artifacts_bucket(spec);
            if let Some(bucket) = bucket(cloud, &name).await? {
                facts.buckets.push(bucket);
            }
        }
        Ok(facts)
    }

    /// The groups, subnets, instances, volumes and user-data of `vpc`.
    async fn in_vpc(&mut self, cloud: &Cloud, vpc: &str) -> Result<(), AwsError> {
        let request = cloud
            .ec2
            .describe_security_groups()
            .filters(filter("vpc-id", vpc));
        let groups = send("DescribeSecurityGroups", || request.clone().send()).await?;
        self.groups = groups.security_groups().to_vec();
        let request = cloud.ec2.describe_subnets().filters(filter("vpc-id", vpc));
        let subnets = send("DescribeSubnets", || request.clone().send()).await?;
        self.subnets = subnets.subnets().to_vec();
        let live = Filter::builder()
            .name("instance-state-name")
            .values("pending")
            .values("running")
            .values("stopping")
            .values("stopped")
            .build();
        let request = cloud
            .ec2
            .describe_instances()
            .filters(filter("vpc-id", vpc))
            .filters(live);
        let answer = send("DescribeInstances", || request.clone().send()).await?;
        self.instances = answer
            .reservations()
            .iter()
            .flat_map(|r| r.instances().iter().cloned())
            .collect();
        for instance in &self.instances {
            let id = instance.instance_id().unwrap_or_default();
            let request = cloud
                .ec2
                .describe_volumes()
                .filters(filter("attachment.instance-id", id));
            let volumes = send("DescribeVolumes", || request.clone().send()).await?;
            self.volumes.extend(volumes.volumes().iter().cloned());
            let request = cloud
                .ec2
                .describe_instance_attribute()
                .instance_id(id)
                .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData);
            let answer = send("DescribeInstanceAttribute", || request.clone().send()).await?;
            let encoded = answer
                .user_data()
                .and_then(|v| v.value())
                .unwrap_or_default();
            use base64::Engine as _;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .unwrap_or_default();
            self.user_data.insert(
                id.to_owned(),
                String::from_utf8_lossy(&decoded).into_owned(),
            );
        }
        Ok(())
    }
}

/// Every secret named `aerie/<environment>/...` and tagged for it, with its value.
async fn secrets(cloud: &Cloud, environment: &str) -> Result<Vec<(String, String)>, AwsError> {
    let prefix = format!("aerie/{environment}/");
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let request = cloud.secrets.list_secrets().set_next_token(token.clone());
        let listed = send("ListSecrets", || request.clone().send()).await?;
        for secret in listed.secret_list() {
            let Some(name) = secret.name().filter(|n| n.starts_with(&prefix)) else {
                continue;
            };
            let request = cloud.secrets.get_secret_value().secret_id(name);
            match send("GetSecretValue", || request.clone().send()).await {
                Ok(value) => {
                    if let Some(text) = value.secret_string() {
                        out.push((name.to_owned(), text.to_owned()));
                    }
                }
                // Scheduled for deletion: nothing to read.
                Err(error) if error.is("InvalidRequestException") => {}
                Err(error) => return Err(error),
            }
        }
        token = listed.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(out);
        }
    }
}

async fn database(cloud: &Cloud, environment: &str) -> Result<Option<DbInstance>, AwsError> {
    cloud.describe_database(&format!("{environment}-db")).await
}

async fn mail(cloud: &Cloud, domain: &str) -> Result<MailFacts, AwsError> {
    let request = cloud
        .ses
        .get_identity_verification_attributes()
        .identities(domain);
    let verification = send("GetIdentityVerificationAttributes", || {
        request.clone().send()
    })
    .await?;
    let verification = verification.verification_attributes().get(domain);
    let request = cloud.ses.get_identity_dkim_attributes().identities(domain);
    let dkim = send("GetIdentityDkimAttributes", || request.clone().send()).await?;
    let dkim = dkim.dkim_attributes().get(domain);
    Ok(MailFacts {
        domain: domain.to_owned(),
        verification: verification.map(|v| v.verification_status().as_str().to_owned()),
        verification_token: verification
            .and_then(|v| v.verification_token())
            .map(str::to_owned),
        dkim_enabled: dkim.is_some_and(|d| d.dkim_enabled()),
        dkim_verification: dkim.map(|d| d.dkim_verification_status().as_str().to_owned()),
        dkim_tokens: dkim.map(|d| d.dkim_tokens().to_vec()).unwrap_or_default(),
    })
}

async fn bucket(cloud: &Cloud, name: &str) -> Result<Option<BucketFacts>, AwsError> {
    let request = cloud.s3.get_bucket_tagging().bucket(name);
    let tags = match send("GetBucketTagging", || request.clone().send()).await {
        Ok(tagging) => tagging
            .tag_set()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect(),
        Err(error) if error.is("NoSuchBucket") => return Ok(None),
        Err(error) if error.is("NoSuchTagSet") => Vec::new(),
        Err(error) => return Err(error),
    };
    let settings = cloud.bucket_settings(name).await?;
    let public_access_blocked = settings.contains(&BucketSetting::PublicAccessBlocked);
    let encrypted = settings.contains(&BucketSetting::Encryption);
    Ok(Some(BucketFacts {
        name: name.to_owned(),
        public_access_blocked,
        encrypted,
        tags,
    }))
}
