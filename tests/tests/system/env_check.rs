//! `aerie env check` against moto_server: a fresh environment passes every
//! check; each rule broken on purpose behind the tool's back (with the AWS
//! API, not with aerie) fails exactly that check, naming the resource.

use std::path::{Path, PathBuf};

use crate::provisioner::{Account, REGION, env_filter, example, role_filter, s3_of, text};

/// The example as a production environment (its database protected).
fn production(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("production = false", "production = true");
    assert!(
        text.contains("production = true"),
        "the production line moved"
    );
    let path = dir.join("acme.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The findings of `aerie env check --format json`, and its exit code.
fn check(account: &Account, spec: &Path) -> (Vec<serde_json::Value>, Option<i32>) {
    let run = account.aerie(&["env", "check", "--format", "json"], spec);
    let findings: Vec<serde_json::Value> =
        serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&run)));
    (findings, run.status.code())
}

/// The id of the environment's EC2 resource of `role` (`kind`: a filter
/// on what to describe).
async fn instance_of(account: &Account, role: &str) -> aws_sdk_ec2::types::Instance {
    let answer = account
        .ec2()
        .await
        .describe_instances()
        .filters(env_filter("acme-prod"))
        .filters(role_filter(role))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .unwrap();
    answer.reservations()[0].instances()[0].clone()
}

async fn group_of(account: &Account, role: &str) -> String {
    let ec2 = account.ec2().await;
    let answer = ec2
        .describe_security_groups()
        .filters(env_filter("acme-prod"))
        .filters(role_filter(role))
        .send()
        .await
        .unwrap();
    answer.security_groups()[0].group_id().unwrap().to_owned()
}

async fn subnet_of(account: &Account, role: &str) -> String {
    let answer = account
        .ec2()
        .await
        .describe_subnets()
        .filters(env_filter("acme-prod"))
        .filters(role_filter(role))
        .send()
        .await
        .unwrap();
    answer.subnets()[0].subnet_id().unwrap().to_owned()
}

fn ingress(port: i32, cidr: &str) -> aws_sdk_ec2::types::IpPermission {
    aws_sdk_ec2::types::IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(port)
        .to_port(port)
        .ip_ranges(aws_sdk_ec2::types::IpRange::builder().cidr_ip(cidr).build())
        .build()
}

/// Breaks the rule of check `case` with the AWS API; answers the role the
/// failing finding names.
async fn break_rule(account: &Account, case: &str) -> &'static str {
    let config = account.moto.sdk_config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    match case {
        "sg-no-world-ingress" => {
            let group = group_of(account, "rds-sg").await;
            let request = ec2.authorize_security_group_ingress().group_id(group);
            request
                .ip_permissions(ingress(3306, "0.0.0.0/0"))
                .send()
                .await
                .unwrap();
            "rds-sg"
        }
        "vpc-default-sg-closed" => {
            let vpc = instance_of(account, "bastion")
                .await
                .vpc_id()
                .unwrap()
                .to_owned();
            let groups = ec2
                .describe_security_groups()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("vpc-id")
                        .values(vpc)
                        .build(),
                )
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("group-name")
                        .values("default")
                        .build(),
                )
                .send()
                .await
                .unwrap();
            let group = groups.security_groups()[0].group_id().unwrap();
            let request = ec2.authorize_security_group_ingress().group_id(group);
            request
                .ip_permissions(ingress(443, "10.0.0.0/8"))
                .send()
                .await
                .unwrap();
            "default"
        }
        "ec2-public-ip-bastion-only" => {
            let node = instance_of(account, "gateway-1").await;
            let address = ec2
                .allocate_address()
                .domain(aws_sdk_ec2::types::DomainType::Vpc)
                .send()
                .await
                .unwrap();
            ec2.associate_address()
                .allocation_id(address.allocation_id().unwrap())
                .instance_id(node.instance_id().unwrap())
                .send()
                .await
                .unwrap();
            "gateway-1"
        }
        "subnet-private-no-public-ip" => {
            let subnet = subnet_of(account, "private-a").await;
            ec2.modify_subnet_attribute()
                .subnet_id(subnet)
                .map_public_ip_on_launch(
                    aws_sdk_ec2::types::AttributeBooleanValue::builder()
                        .value(true)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            "private-a"
        }
        "sg-ssh-from-bastion-only" => {
            let group = group_of(account, "gateway-sg").await;
            let request = ec2.authorize_security_group_ingress().group_id(group);
            request
                .ip_permissions(ingress(22, "10.0.0.0/8"))
                .send()
                .await
                .unwrap();
            "gateway-sg"
        }
        "ec2-imdsv2-required" => {
            let node = instance_of(account, "traffic-manager-1").await;
            ec2.modify_instance_metadata_options()
                .instance_id(node.instance_id().unwrap())
                .http_tokens(aws_sdk_ec2::types::HttpTokensState::Optional)
                .send()
                .await
                .unwrap();
            "traffic-manager-1"
        }
        "ebs-encrypted" => {
            let node = instance_of(account, "gateway-2").await;
            let zone = node.placement().unwrap().availability_zone().unwrap();
            let volume = ec2
                .create_volume()
                .availability_zone(zone)
                .size(10)
                .encrypted(false)
                .send()
                .await
                .unwrap();
            ec2.attach_volume()
                .volume_id(volume.volume_id().unwrap())
                .instance_id(node.instance_id().unwrap())
                .device("/dev/sdf")
                .send()
                .await
                .unwrap();
            "i-"
        }
        "ec2-no-secret-in-user-data" => {
            use base64::Engine as _;
            let secrets = aws_sdk_secretsmanager::Client::new(&config);
            let password = secrets
                .get_secret_value()
                .secret_id("aerie/acme-prod/product-db")
                .send()
                .await
                .unwrap();
            let node = instance_of(account, "gateway-1").await;
            let user_data = format!(
                "#!/bin/sh\nexport DB_PW='{}'\n",
                password.secret_string().unwrap()
            );
            ec2.modify_instance_attribute()
                .instance_id(node.instance_id().unwrap())
                .user_data(
                    aws_sdk_ec2::types::SecureBlobAttributeValue::builder()
                        // moto takes the value base64-encoded, as the
                        // EC2 API documents it.
                        .value(aws_sdk_ec2::primitives::Blob::new(
                            base64::engine::general_purpose::STANDARD.encode(user_data),
                        ))
                        .build(),
                )
                .send()
                .await
                .unwrap();
            "gateway-1"
        }
        "rds-not-public" | "rds-backups-on" | "rds-deletion-protection" => {
            let modify = rds
                .modify_db_instance()
                .db_instance_identifier("acme-prod-db")
                .apply_immediately(true);
            let modify = match case {
                "rds-not-public" => modify.publicly_accessible(true),
                "rds-backups-on" => modify.backup_retention_period(0),
                _ => modify.deletion_protection(false),
            };
            modify.send().await.unwrap();
            "acme-prod-db"
        }
        "s3-private-encrypted" => {
            s3_of(&config)
                .delete_public_access_block()
                .bucket("aerie-acme-prod-eu-west-1-artifacts")
                .send()
                .await
                .unwrap();
            "aerie-acme-prod-eu-west-1-artifacts"
        }
        "tags-complete" => {
            let subnet = subnet_of(account, "private-b").await;
            ec2.delete_tags()
                .resources(subnet)
                .tags(aws_sdk_ec2::types::Tag::builder().key("Name").build())
                .send()
                .await
                .unwrap();
            "private-b"
        }
        "ses-dkim-enabled" => {
            // moto has no SetIdentityDkimEnabled: the identity goes, which
            // breaks its verification too (see `expected`).
            aws_sdk_ses::Client::new(&config)
                .delete_identity()
                .identity("mail.acme.example")
                .send()
                .await
                .unwrap();
            "mail.acme.example"
        }
        other => panic!("no way to break {other:?}"),
    }
}

const CHECKS: [&str; 15] = [
    "sg-no-world-ingress",
    "vpc-default-sg-closed",
    "ec2-public-ip-bastion-only",
    "subnet-private-no-public-ip",
    "sg-ssh-from-bastion-only",
    "ec2-imdsv2-required",
    "ebs-encrypted",
    "ec2-no-secret-in-user-data",
    "rds-encrypted",
    "rds-not-public",
    "rds-backups-on",
    "rds-deletion-protection",
    "s3-private-encrypted",
    "tags-complete",
    "ses-dkim-enabled",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_environment_passes_every_check() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = production(dir.path());
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let (findings, code) = check(&account, &spec);
    let not_passed: Vec<&serde_json::Value> = findings
        .iter()
        .filter(|f| f["status"] != "PASS" && f["status"] != "PENDING")
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
    assert_eq!(code, Some(0));
    for check in CHECKS.iter().chain(&["ses-domain-verified"]) {
        assert!(
            findings.iter().any(|f| f["check"] == *check),
            "{check} was not run: {findings:#?}"
        );
    }
    // The same findings, as the operator reads them.
    let printed = text(&account.aerie(&["env", "check"], &spec));
    assert!(printed.contains(" 0 failed"), "{printed}");
    // A secret is never shown, even when found.
    let secrets = aws_sdk_secretsmanager::Client::new(&account.moto.sdk_config(REGION).await);
    let password = secrets
        .get_secret_value()
        .secret_id("aerie/acme-prod/rds-master")
        .send()
        .await
        .unwrap();
    assert!(!printed.contains(password.secret_string().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_rule_broken_behind_the_tools_back_fails_exactly_its_check() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = production(dir.path());
    for case in CHECKS.iter().filter(|c| **c != "rds-encrypted") {
        account.moto.reset().await.unwrap();
        let apply = account.aerie(&["env", "apply", "--yes"], &spec);
        assert!(apply.status.success(), "{case}: {}", text(&apply));
        let named = Box::pin(break_rule(&account, case)).await;
        let (findings, code) = check(&account, &spec);
        let failed: Vec<&serde_json::Value> =
            findings.iter().filter(|f| f["status"] == "FAIL").collect();
        let mut checks: Vec<&str> = failed
            .iter()
            .map(|f| f["check"].as_str().unwrap())
            .collect();
        checks.sort_unstable();
        let expected: &[&str] = match *case {
            "ses-dkim-enabled" => &["ses-dkim-enabled", "ses-domain-verified"],
            _ => std::slice::from_ref(case),
        };
        assert_eq!(checks, expected, "{case}: {failed:#?}");
        for finding in failed {
            let resource = finding["resource"].as_str().unwrap();
            assert!(resource.contains(named), "{case}: {resource}");
            assert!(
                finding["detail"].as_str().is_some_and(|d| d.len() > 20),
                "{case}: a FAIL says what is wrong and the fix: {finding:#?}"
            );
        }
        assert_eq!(code, Some(1), "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_production_database_refuses_destroy_until_production_is_turned_off_and_applied() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = production(dir.path());
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let rds = aws_sdk_rds::Client::new(&account.moto.sdk_config(REGION).await);
    let protected = || async {
        let answer = rds
            .describe_db_instances()
            .db_instance_identifier("acme-prod-db")
            .send()
            .await;
        answer
            .ok()
            .and_then(|a| a.db_instances().first().cloned())
            .map(|db| db.deletion_protection())
    };
    assert_eq!(protected().await, Some(Some(true)));
    let destroy = account.aerie(&["env", "destroy", "--yes"], &spec);
    assert!(!destroy.status.success(), "{}", text(&destroy));
    assert!(
        text(&destroy).contains(
            "nothing destroyed: db-instance db (acme-prod-db) has deletion protection on"
        ),
        "{}",
        text(&destroy)
    );
    assert_eq!(protected().await, Some(Some(true)), "the database is kept");
    let plan = text(&account.aerie(&["env", "plan"], &spec));
    assert!(
        plan.starts_with("No changes."),
        "nothing else was removed: {plan}"
    );

    let relaxed = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("production = true", "production = false");
    std::fs::write(&spec, relaxed).unwrap();
    let plan = text(&account.aerie(&["env", "plan"], &spec));
    assert!(plan.contains("    - deletion protection on"), "{plan}");
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    assert_eq!(protected().await, Some(Some(false)));
    let destroy = account.aerie(&["env", "destroy", "--yes"], &spec);
    assert!(destroy.status.success(), "{}", text(&destroy));
}
