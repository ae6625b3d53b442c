//! The product nodes `aerie env apply` deploys, read back from the EC2,
//! IAM, S3, Route53 and Secrets Manager APIs of moto_server (through the
//! fault proxy): private, encrypted, IMDSv2, in their role's group, with a
//! profile that reads exactly their role's secrets and bundles; each
//! bundle in a versioned, encrypted, private bucket; no secret in any
//! user-data, bundle or output.

use std::collections::BTreeMap;

use sha2::Digest as _;

use crate::provisioner::{Account, REGION, env_filter, example, text, unpack_text as unpack};

/// The environment's instances by `aerie:role`.
async fn instances(account: &Account) -> BTreeMap<String, aws_sdk_ec2::types::Instance> {
    let ec2 = account.ec2().await;
    let answer = ec2
        .describe_instances()
        .filters(env_filter("acme-prod"))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .values("pending")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for instance in answer.reservations().iter().flat_map(|r| r.instances()) {
        let role = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some("aerie:role"))
            .and_then(|t| t.value())
            .unwrap()
            .to_owned();
        assert!(
            out.insert(role.clone(), instance.clone()).is_none(),
            "two instances of {role}"
        );
    }
    out
}

/// The `aerie:role` of EC2 resource `id` (a subnet, a group).
async fn role_of(ec2: &aws_sdk_ec2::Client, id: &str) -> String {
    let tags = ec2
        .describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    tags.tags()
        .iter()
        .find(|t| t.key() == Some("aerie:role"))
        .and_then(|t| t.value())
        .unwrap_or("untagged")
        .to_owned()
}

/// The one inline policy (`aerie`) of IAM role `name`, as a JSON text.
pub(crate) async fn role_policy(iam: &aws_sdk_iam::Client, name: &str) -> String {
    let policy = iam
        .get_role_policy()
        .role_name(name)
        .policy_name("aerie")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    // IAM answers the document URL-encoded.
    percent_encoding::percent_decode_str(policy.policy_document())
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) async fn user_data(ec2: &aws_sdk_ec2::Client, id: &str) -> String {
    use base64::Engine as _;
    let answer = ec2
        .describe_instance_attribute()
        .instance_id(id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    let encoded = answer
        .user_data()
        .and_then(|v| v.value())
        .unwrap_or_default();
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

/// S3 through the proxy (path-style, as a local S3 needs).
async fn s3(account: &Account) -> aws_sdk_s3::Client {
    account.s3(REGION).await
}

const BUCKET: &str = "aerie-acme-prod-eu-west-1-artifacts";

/// Every value the environment keeps in Secrets Manager.
async fn secret_values(account: &Account) -> Vec<(String, String)> {
    let secrets = aws_sdk_secretsmanager::Client::new(&account.moto.sdk_config(REGION).await);
    let listed = secrets.list_secrets().send().await.unwrap();
    let mut out = Vec::new();
    for name in listed.secret_list().iter().filter_map(|s| s.name()) {
        if !name.starts_with("aerie/acme-prod/") {
            continue;
        }
        let value = secrets
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .unwrap();
        out.push((name.to_owned(), value.secret_string().unwrap().to_owned()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_is_private_encrypted_in_its_group_and_named_in_the_zone() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let ec2 = account.ec2().await;
    let nodes = instances(&account).await;
    let roles: Vec<&str> = nodes.keys().map(String::as_str).collect();
    assert_eq!(
        roles,
        [
            "bastion",
            "gateway-1",
            "gateway-2",
            "traffic-manager-1",
            "traffic-manager-2"
        ]
    );
    let mut zones = Vec::new();
    for (role, node) in nodes.iter().filter(|(role, _)| *role != "bastion") {
        let kind = if role.starts_with("gateway") {
            "gateway"
        } else {
            "traffic-manager"
        };
        assert_eq!(node.public_ip_address(), None, "{role} has a public IP");
        let subnet = role_of(&ec2, node.subnet_id().unwrap()).await;
        assert!(subnet.starts_with("private-"), "{role} is in {subnet}");
        let tokens = node.metadata_options().and_then(|m| m.http_tokens());
        assert_eq!(tokens.map(|t| t.as_str()), Some("required"), "{role}");
        // Given at launch on the node's interface.
        let mut groups = Vec::new();
        let interfaces = node.network_interfaces().iter().flat_map(|i| i.groups());
        for group in interfaces.chain(node.security_groups()) {
            let role = role_of(&ec2, group.group_id().unwrap()).await;
            if !groups.contains(&role) {
                groups.push(role);
            }
        }
        assert_eq!(groups, [format!("{kind}-sg")], "{role}");
        let name = node.tags().iter().find(|t| t.key() == Some("Name"));
        assert_eq!(
            name.and_then(|t| t.value()),
            Some(format!("acme-prod-{role}").as_str())
        );
        let profile = node.iam_instance_profile().and_then(|p| p.arn()).unwrap();
        assert!(
            profile.ends_with(&format!("/aerie-acme-prod-{kind}")),
            "{role}: {profile}"
        );
        for mapping in node.block_device_mappings() {
            let volume = mapping.ebs().and_then(|e| e.volume_id()).unwrap();
            let volumes = ec2
                .describe_volumes()
                .volume_ids(volume)
                .send()
                .await
                .unwrap();
            assert_eq!(
                volumes.volumes()[0].encrypted(),
                Some(true),
                "{role}'s volume {volume}"
            );
        }
        if kind == "traffic-manager" {
            zones.push(
                node.placement()
                    .unwrap()
                    .availability_zone()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
    zones.dedup();
    assert_eq!(zones.len(), 2, "the pair shares a zone: {zones:?}");

    // Each node's name in the private zone holds its private address.
    let route53 = aws_sdk_route53::Client::new(&account.moto.sdk_config(REGION).await);
    let zones = route53.list_hosted_zones().send().await.unwrap();
    let zone = zones
        .hosted_zones()
        .iter()
        .find(|z| z.name().trim_end_matches('.') == "acme.internal")
        .unwrap();
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(zone.id())
        .send()
        .await
        .unwrap();
    for (role, node) in &nodes {
        let name = format!("{role}.acme.internal.");
        let record = records
            .resource_record_sets()
            .iter()
            .find(|r| r.name() == name)
            .unwrap_or_else(|| panic!("no record {name}"));
        let values: Vec<&str> = record
            .resource_records()
            .iter()
            .map(|r| r.value())
            .collect();
        assert_eq!(values, [node.private_ip_address().unwrap()], "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_node_role_reads_exactly_its_secrets_and_bundles() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let iam = aws_sdk_iam::Client::new(&account.moto.sdk_config(REGION).await);
    let secrets = aws_sdk_secretsmanager::Client::new(&account.moto.sdk_config(REGION).await);
    let arn = |name: &str| {
        let secrets = secrets.clone();
        let name = name.to_owned();
        async move {
            let answer = secrets
                .describe_secret()
                .secret_id(name)
                .send()
                .await
                .unwrap();
            answer.arn().unwrap().to_owned()
        }
    };
    let (product, admin, token, master) = (
        arn("aerie/acme-prod/product-db").await,
        arn("aerie/acme-prod/product-admin").await,
        arn("aerie/acme-prod/ingest-token").await,
        arn("aerie/acme-prod/rds-master").await,
    );
    for (kind, mut secrets) in [
        (
            "gateway",
            vec![product.clone(), admin.clone(), token.clone()],
        ),
        (
            "traffic-manager",
            vec![
                product.clone(),
                admin.clone(),
                token.clone(),
                master.clone(),
            ],
        ),
    ] {
        let name = format!("aerie-acme-prod-{kind}");
        let profile = iam
            .get_instance_profile()
            .instance_profile_name(&name)
            .send()
            .await
            .unwrap();
        let carried: Vec<&str> = profile
            .instance_profile()
            .unwrap()
            .roles()
            .iter()
            .map(|r| r.role_name())
            .collect();
        assert_eq!(carried, [name.as_str()]);
        let role = iam.get_role().role_name(&name).send().await.unwrap();
        let trust = role.role().unwrap().assume_role_policy_document().unwrap();
        let trust = percent_encoding::percent_decode_str(trust).decode_utf8_lossy();
        assert!(trust.contains("ec2.amazonaws.com"), "{trust}");
        let policies = iam
            .list_role_policies()
            .role_name(&name)
            .send()
            .await
            .unwrap();
        assert_eq!(policies.policy_names(), ["aerie"]);
        let attached = iam
            .list_attached_role_policies()
            .role_name(&name)
            .send()
            .await
            .unwrap();
        assert!(attached.attached_policies().is_empty());
        let document = role_policy(&iam, &name).await;
        let document: serde_json::Value = serde_json::from_str(&document).unwrap();
        let mut allowed: Vec<(String, String)> = document["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s["Effect"], "Allow");
                (
                    s["Action"].as_str().unwrap().to_owned(),
                    s["Resource"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        allowed.sort();
        let mut wanted: Vec<(String, String)> = vec![
            (
                "s3:GetObject".into(),
                format!("arn:aws:s3:::{BUCKET}/bundles/{kind}-*"),
            ),
            (
                "s3:GetObject".into(),
                format!("arn:aws:s3:::{BUCKET}/dist/*"),
            ),
        ];
        secrets.sort();
        wanted.extend(
            secrets
                .into_iter()
                .map(|arn| ("secretsmanager:GetSecretValue".to_owned(), arn)),
        );
        wanted.sort();
        assert_eq!(allowed, wanted, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_are_kept_versioned_and_private_and_no_secret_is_in_any_user_data_bundle_or_output()
{
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let s3 = s3(&account).await;
    let versioning = s3
        .get_bucket_versioning()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    assert_eq!(
        versioning.status(),
        Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled)
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let rules = encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules();
    assert!(rules[0].apply_server_side_encryption_by_default().is_some());
    let block = s3
        .get_public_access_block()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap();
    let block = block.public_access_block_configuration().unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.ignore_public_acls(),
            block.block_public_policy(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let tags = s3.get_bucket_tagging().bucket(BUCKET).send().await.unwrap();
    assert!(
        tags.tag_set()
            .iter()
            .any(|t| t.key() == "aerie:env" && t.value() == "acme-prod")
    );

    let secrets = secret_values(&account).await;
    assert_eq!(
        secrets.len(),
        5,
        "{:?}",
        secrets.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    let output = text(&apply);
    let ec2 = account.ec2().await;
    let mut searched = vec![("the apply's output".to_owned(), output)];
    for (role, node) in instances(&account).await {
        let user_data = user_data(&ec2, node.instance_id().unwrap()).await;
        assert!(
            user_data.len() < 16 * 1024,
            "{role}: {} bytes",
            user_data.len()
        );
        if role == "bastion" {
            searched.push((format!("{role}'s user-data"), user_data));
            continue;
        }
        let key = format!("bundles/{role}.tar.gz");
        let object = s3
            .get_object()
            .bucket(BUCKET)
            .key(&key)
            .send()
            .await
            .unwrap();
        let digest = object.metadata().unwrap()["aerie-sha256"].clone();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        let actual: String = sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(actual, digest, "{key}'s digest");
        assert!(
            user_data.contains(&digest),
            "{role}'s user-data does not name its bundle's digest"
        );
        let files = unpack(&bytes);
        assert!(
            files.contains_key("configure.sh"),
            "{role}: {:?}",
            files.keys()
        );
        assert!(
            files.values().any(|text| text.contains("__SECRET(")),
            "{role}'s bundle names its secrets by reference"
        );
        searched.push((format!("{role}'s user-data"), user_data));
        for (path, text) in files {
            searched.push((format!("{role}'s bundle file {path}"), text));
        }
    }
    for (name, value) in &secrets {
        for (place, text) in &searched {
            assert!(
                !text.contains(value.as_str()),
                "secret {name} is in {place}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_product_version_replaces_the_nodes_and_keeps_the_old_bundles_as_versions() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("acme.toml");
    let original = std::fs::read_to_string(example()).unwrap();
    std::fs::write(&spec, &original).unwrap();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let before = instances(&account).await;

    // A third gateway: only it, its bundle and its record are new.
    let three = original.replace(
        "private subnets.\ncount = 2\n",
        "private subnets.\ncount = 3\n",
    );
    assert_ne!(three, original, "the gateways' count line moved");
    std::fs::write(&spec, &three).unwrap();
    let plan = text(&account.aerie(&["env", "plan"], &spec));
    for line in [
        "+ instance gateway-3",
        "+ object bundle-gateway-3",
        "+ A gateway-3.acme.internal -> gateway-3",
        "Plan: 2 to add, 1 to change, 0 to destroy.",
    ] {
        assert!(plan.contains(line), "{line} missing from:\n{plan}");
    }

    // A new product version: every node and bundle is replaced.
    let upgraded = original.replace("product_version = \"2.0.0\"", "product_version = \"2.1.0\"");
    assert_ne!(upgraded, original, "the product version line moved");
    std::fs::write(&spec, &upgraded).unwrap();
    let plan = text(&account.aerie(&["env", "plan"], &spec));
    for role in [
        "gateway-1",
        "gateway-2",
        "traffic-manager-1",
        "traffic-manager-2",
    ] {
        let id = before[role].instance_id().unwrap();
        assert!(
            plan.contains(&format!("-/+ instance {role} ({id}): replaced, because")),
            "{role} is not replaced:\n{plan}"
        );
        assert!(
            plan.contains(&format!("-/+ object bundle-{role} (")),
            "{plan}"
        );
    }
    assert!(!plan.contains("instance bastion"), "{plan}");
    let apply = account.aerie(&["env", "apply", "--yes", "--no-health-gate"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let after = instances(&account).await;
    for role in ["gateway-1", "traffic-manager-2"] {
        assert_ne!(
            after[role].instance_id(),
            before[role].instance_id(),
            "{role}"
        );
    }
    assert_eq!(
        after["bastion"].instance_id(),
        before["bastion"].instance_id()
    );
    let s3 = s3(&account).await;
    let versions = s3
        .list_object_versions()
        .bucket(BUCKET)
        .prefix("bundles/gateway-1.tar.gz")
        .send()
        .await
        .unwrap();
    assert_eq!(
        versions.versions().len(),
        2,
        "one version of the bundle for each apply that changed it"
    );
    let plan = text(&account.aerie(&["env", "plan"], &spec));
    assert!(plan.starts_with("No changes."), "{plan}");

    let destroy = account.aerie(&["env", "destroy", "--yes"], &spec);
    assert!(destroy.status.success(), "{}", text(&destroy));
    let iam = aws_sdk_iam::Client::new(&account.moto.sdk_config(REGION).await);
    let roles = iam.list_roles().send().await.unwrap();
    assert!(
        !roles
            .roles()
            .iter()
            .any(|r| r.role_name().starts_with("aerie-acme-prod")),
        "a role is left"
    );
    let profiles = iam.list_instance_profiles().send().await.unwrap();
    assert!(profiles.instance_profiles().is_empty(), "a profile is left");
    let head = s3.head_bucket().bucket(BUCKET).send().await;
    assert!(head.is_err(), "the bucket is left");
    assert!(instances(&account).await.is_empty(), "an instance is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_of_the_environment_s_name_that_is_someone_else_s_is_refused_and_left_alone() {
    let account = Account::start().await;
    let spec = example();
    let s3 = s3(&account).await;
    account.create_bucket(BUCKET).await;
    s3.put_bucket_tagging()
        .bucket(BUCKET)
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("aerie:env")
                        .value("someone-else")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.put_object()
        .bucket(BUCKET)
        .key("theirs.txt")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(b"theirs"))
        .send()
        .await
        .unwrap();

    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(!apply.status.success(), "{}", text(&apply));
    assert!(
        text(&apply).contains(&format!(
            "a bucket named {BUCKET} exists and is not tagged aerie:env=acme-prod"
        )),
        "{}",
        text(&apply)
    );
    let destroy = account.aerie(&["env", "destroy", "--yes"], &spec);
    assert!(destroy.status.success(), "{}", text(&destroy));
    let kept = s3
        .get_object()
        .bucket(BUCKET)
        .key("theirs.txt")
        .send()
        .await;
    assert!(kept.is_ok(), "their object is gone");
    let tags = s3.get_bucket_tagging().bucket(BUCKET).send().await.unwrap();
    assert_eq!(tags.tag_set()[0].value(), "someone-else");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_iam_role_of_a_node_role_s_name_that_is_someone_else_s_is_refused_and_left_alone() {
    let account = Account::start().await;
    let iam = aws_sdk_iam::Client::new(&account.moto.sdk_config(REGION).await);
    iam.create_role()
        .role_name("aerie-acme-prod-gateway")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    let apply = account.aerie(&["env", "apply", "--yes"], &example());
    assert!(!apply.status.success(), "{}", text(&apply));
    assert!(
        text(&apply).contains(
            "an IAM role named aerie-acme-prod-gateway exists and is not tagged aerie:env=acme-prod"
        ),
        "{}",
        text(&apply)
    );
    let destroy = account.aerie(&["env", "destroy", "--yes"], &example());
    assert!(destroy.status.success(), "{}", text(&destroy));
    let role = iam
        .get_role()
        .role_name("aerie-acme-prod-gateway")
        .send()
        .await;
    assert!(role.is_ok(), "their role is gone");
}
