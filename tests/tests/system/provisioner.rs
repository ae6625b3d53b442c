//! `aerie env` against moto_server, through our fault-injecting proxy: the
//! real binary, the example spec, and the AWS SDK to look at what it did.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aerie_system_tests::binary;
use aerie_testkit::{FaultProxy, MotoServer, workspace_root};

pub(crate) const REGION: &str = "eu-west-1";

pub(crate) struct Account {
    pub(crate) moto: MotoServer,
    pub(crate) proxy: FaultProxy,
}

impl Account {
    pub(crate) async fn start() -> Self {
        let moto = MotoServer::start().await.unwrap();
        let proxy = FaultProxy::start(moto.endpoint()).await.unwrap();
        Self { moto, proxy }
    }

    pub(crate) fn aerie(&self, args: &[&str], spec: &Path) -> Output {
        self.aerie_with_env(args, spec, &[])
    }

    /// The same, with `env` set for the process.
    pub(crate) fn aerie_with_env(
        &self,
        args: &[&str],
        spec: &Path,
        env: &[(&str, &str)],
    ) -> Output {
        let mut command = Command::new(binary("aerie"));
        command.envs(env.iter().copied());
        command.args(args).arg("--spec").arg(spec);
        for (key, value) in self.moto.env(REGION) {
            command.env(key, value);
        }
        command
            .env("AWS_ENDPOINT_URL", self.proxy.endpoint())
            .env("AERIE_AWS_ATTEMPTS", "8");
        command.output().unwrap()
    }

    /// The value of secret `name` in the primary region.
    pub(crate) async fn secret(&self, name: &str) -> String {
        self.secret_in(REGION, name)
            .await
            .unwrap_or_else(|| panic!("no secret {name} in {REGION}"))
    }

    /// Stops keeping secret `name` in the DR region, as someone deleting
    /// it by hand must first (AWS refuses to delete a replicated secret);
    /// one with no replica is left as it is.
    pub(crate) async fn unreplicate(&self, name: &str) {
        let secrets = aws_sdk_secretsmanager::Client::new(&self.moto.sdk_config(REGION).await);
        let described = secrets.describe_secret().secret_id(name).send().await;
        let Ok(described) = described else { return };
        let regions: Vec<String> = described
            .replication_status()
            .iter()
            .filter_map(|r| r.region().map(str::to_owned))
            .collect();
        if !regions.is_empty() {
            secrets
                .remove_regions_from_replication()
                .secret_id(name)
                .set_remove_replica_regions(Some(regions))
                .send()
                .await
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }

    /// The value of secret `name` in `region`, if it is there.
    pub(crate) async fn secret_in(&self, region: &str, name: &str) -> Option<String> {
        let answer = aws_sdk_secretsmanager::Client::new(&self.moto.sdk_config(region).await)
            .get_secret_value()
            .secret_id(name)
            .send()
            .await;
        match answer {
            Ok(value) => value.secret_string().map(str::to_owned),
            Err(e) if format!("{e:?}").contains("ResourceNotFound") => None,
            Err(e) => panic!("{name} in {region}: {e:?}"),
        }
    }

    pub(crate) async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.moto.sdk_config(REGION).await)
    }

    /// Creates bucket `name` in the primary region, as someone might by hand.
    pub(crate) async fn create_bucket(&self, name: &str) {
        self.s3(REGION)
            .await
            .create_bucket()
            .bucket(name)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }

    /// S3 of `region`, through the proxy (which mends moto's
    /// `GetBucketVersioning` answer for the SDK).
    pub(crate) async fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let config = self.moto.sdk_config(region).await;
        let config = aws_sdk_s3::config::Builder::from(&config)
            .endpoint_url(self.proxy.endpoint())
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }
}

pub(crate) fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// An image moto has in every region (the example's is a real one, which
/// moto does not know, and `plan` checks that the image exists).
const MOTO_AMI: &str = "ami-03cf127a";

/// The example spec, with an image moto has: a copy in a folder of the
/// test process's own.
pub(crate) fn example() -> PathBuf {
    static COPY: std::sync::LazyLock<(tempfile::TempDir, PathBuf)> =
        std::sync::LazyLock::new(|| {
            let dir = tempfile::tempdir().unwrap();
            let text = std::fs::read_to_string(workspace_root().join("examples/acme.toml"))
                .unwrap()
                .replace(
                    "ami = \"ami-0c1bc246476a5572b\"",
                    &format!("ami = \"{MOTO_AMI}\""),
                );
            assert!(text.contains(MOTO_AMI), "the example's image line moved");
            let path = dir.path().join("acme.toml");
            std::fs::write(&path, text).unwrap();
            (dir, path)
        });
    COPY.1.clone()
}

/// The example spec with another name, CIDR and mail domain: a second
/// customer in the same account and region.
fn second_spec(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("name = \"acme-prod\"", "name = \"globex-prod\"")
        .replace("10.20.", "10.30.")
        .replace("mail.acme.example", "mail.globex.example")
        .replace("acme.internal", "globex.internal")
        .replace("[vpn]", "[vpn-removed]")
        .replace("customer_gateway_ip", "# customer_gateway_ip")
        .replace("bgp_asn = 65010", "# bgp_asn")
        .replace("static_routes = []", "# static_routes")
        .replace("[vpn-removed]", "");
    let path = dir.join("globex.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The EC2 filter for resources of `role`.
pub(crate) fn role_filter(role: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:aerie:role")
        .values(role)
        .build()
}

pub(crate) fn env_filter(environment: &str) -> aws_sdk_ec2::types::Filter {
    aws_sdk_ec2::types::Filter::builder()
        .name("tag:aerie:env")
        .values(environment)
        .build()
}

async fn count_tagged(ec2: &aws_sdk_ec2::Client, environment: &str) -> (usize, usize, usize) {
    let vpcs = ec2
        .describe_vpcs()
        .filters(env_filter(environment))
        .send()
        .await
        .unwrap();
    let nats = ec2
        .describe_nat_gateways()
        .filter(env_filter(environment))
        .filter(
            aws_sdk_ec2::types::Filter::builder()
                .name("state")
                .values("available")
                .values("pending")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let instances = ec2
        .describe_instances()
        .filters(env_filter(environment))
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
    // moto does not filter NAT gateways by tag: look at the tags.
    let ours = |tags: &[aws_sdk_ec2::types::Tag]| {
        tags.iter()
            .any(|t| t.key() == Some("aerie:env") && t.value() == Some(environment))
    };
    (
        vpcs.vpcs().len(),
        nats.nat_gateways()
            .iter()
            .filter(|n| ours(n.tags()))
            .count(),
        instances
            .reservations()
            .iter()
            .map(|r| r.instances().len())
            .sum(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_applies_reapplies_with_no_changes_and_destroys_to_nothing() {
    let account = Account::start().await;
    let spec = example();

    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(plan.status.success(), "{}", text(&plan));
    // The plan itself is checked against its golden without AWS
    // (provisioner/tests/golden.rs); here, that the CLI prints it whole.
    let golden = workspace_root().join("provisioner/tests/output/acme-plan.txt");
    // The copy differs from the example in its image only.
    let printed = String::from_utf8(plan.stdout.clone())
        .unwrap()
        .replace(MOTO_AMI, "ami-0c1bc246476a5572b");
    assert!(
        printed.starts_with(&std::fs::read_to_string(&golden).unwrap()),
        "the CLI's plan of an empty account is not {}:\n{printed}",
        golden.display()
    );
    assert!(
        printed.contains("\nPlan: 40 to add, 0 to change, 0 to destroy.\n"),
        "{printed}"
    );

    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let out = text(&apply);
    assert!(
        out.contains("Apply complete: 40 added, 0 changed, 0 destroyed."),
        "{out}"
    );
    // The SES records the customer must add: a TXT and three DKIM CNAMEs.
    assert_eq!(
        out.matches("TXT   _amazonses.mail.acme.example").count(),
        1,
        "{out}"
    );
    assert_eq!(
        out.matches("._domainkey.mail.acme.example").count(),
        3,
        "{out}"
    );

    let ec2 = account.ec2().await;
    // The bastion and the four product nodes.
    assert_eq!(count_tagged(&ec2, "acme-prod").await, (1, 1, 5));
    // The bastion: IMDSv2, a public IP, the user-data of the golden file,
    // and no secret in it.
    let instances = ec2
        .describe_instances()
        .filters(env_filter("acme-prod"))
        .filters(role_filter("bastion"))
        .send()
        .await
        .unwrap();
    let bastion = &instances.reservations()[0].instances()[0];
    assert_eq!(
        bastion
            .metadata_options()
            .unwrap()
            .http_tokens()
            .unwrap()
            .as_str(),
        "required"
    );
    assert!(bastion.public_ip_address().is_some());
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(bastion.instance_id().unwrap())
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    use base64::Engine;
    let user_data = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(user_data.user_data().unwrap().value().unwrap())
            .unwrap(),
    )
    .unwrap();
    let golden = workspace_root().join("provisioner/tests/output/acme-bastion-user-data.yaml");
    assert_eq!(user_data, std::fs::read_to_string(&golden).unwrap());
    // The RDS master password lives in Secrets Manager only.
    let password = account.secret("aerie/acme-prod/rds-master").await;
    assert!(password.len() >= 24);
    assert!(!out.contains(&password) && !user_data.contains(&password));
    let rds = aws_sdk_rds::Client::new(&account.moto.sdk_config(REGION).await);
    let db = rds
        .describe_db_instances()
        .db_instance_identifier("acme-prod-db")
        .send()
        .await
        .unwrap();
    let db = &db.db_instances()[0];
    let tag = |key: &str| {
        db.tag_list()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
            .map(str::to_owned)
    };
    assert_eq!(
        (tag("aerie:env"), tag("aerie:role"), tag("Name")),
        (
            Some("acme-prod".into()),
            Some("db".into()),
            Some("acme-prod-db".into())
        )
    );
    let vpcs = ec2
        .describe_vpcs()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    let vpc_tags: Vec<(String, String)> = vpcs.vpcs()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect();
    for wanted in [
        ("aerie:env", "acme-prod"),
        ("aerie:role", "vpc"),
        ("Name", "acme-prod-vpc"),
    ] {
        assert!(
            vpc_tags.contains(&(wanted.0.to_owned(), wanted.1.to_owned())),
            "{vpc_tags:?}"
        );
    }
    assert_eq!(
        (db.storage_encrypted(), db.publicly_accessible()),
        (Some(true), Some(false))
    );

    account.proxy.clear();
    let again = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).starts_with("No changes."), "{}", text(&again));
    assert_eq!(
        account.proxy.mutating_calls(),
        Vec::<String>::new(),
        "a second apply changes nothing"
    );

    let status = account.aerie(&["env", "status"], &spec);
    let status_text = text(&status);
    assert!(!status_text.contains("missing"), "{status_text}");
    assert!(
        status_text.contains("db-instance") && status_text.contains("acme-prod-db"),
        "{status_text}"
    );

    let destroy = account.aerie(&["env", "destroy", "--yes"], &spec);
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert!(
        text(&destroy).contains("Destroy complete: 40 removed."),
        "{}",
        text(&destroy)
    );
    assert_eq!(count_tagged(&ec2, "acme-prod").await, (0, 0, 0));
    // The database's data is kept: destroy took a final snapshot first.
    let snapshots = rds
        .describe_db_snapshots()
        .db_instance_identifier("acme-prod-db")
        .send()
        .await
        .unwrap();
    let finals: Vec<&str> = snapshots
        .db_snapshots()
        .iter()
        .filter_map(|s| s.db_snapshot_identifier())
        .filter(|id| id.starts_with("acme-prod-db-final-"))
        .collect();
    assert_eq!(finals.len(), 1, "one final snapshot: {finals:?}");
    assert!(
        text(&destroy).contains(finals[0]),
        "destroy names the snapshot it kept: {}",
        text(&destroy)
    );
    let after = account.aerie(&["env", "plan"], &spec);
    assert!(
        text(&after).contains("Plan: 40 to add, 0 to change, 0 to destroy."),
        "nothing tagged is left: {}",
        text(&after)
    );
    let sgs = ec2
        .describe_security_groups()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    assert!(sgs.security_groups().is_empty());
    assert!(
        rds.describe_db_instances()
            .db_instance_identifier("acme-prod-db")
            .send()
            .await
            .is_err()
            || rds
                .describe_db_instances()
                .db_instance_identifier("acme-prod-db")
                .send()
                .await
                .unwrap()
                .db_instances()
                .iter()
                .all(|d| d.db_instance_status() == Some("deleting")
                    || d.db_instance_status() == Some("deleted"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_shows_in_the_plan_and_apply_repairs_it() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let ec2 = account.ec2().await;

    // Someone deletes the NAT route and opens SSH to the world.
    let tables = ec2
        .describe_route_tables()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    let private = tables
        .route_tables()
        .iter()
        .find(|t| {
            t.tags()
                .iter()
                .any(|tag| tag.value() == Some("private-routes"))
        })
        .unwrap();
    ec2.delete_route()
        .route_table_id(private.route_table_id().unwrap())
        .destination_cidr_block("0.0.0.0/0")
        .send()
        .await
        .unwrap();
    let groups = ec2
        .describe_security_groups()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    let bastion = groups
        .security_groups()
        .iter()
        .find(|g| g.tags().iter().any(|tag| tag.value() == Some("bastion-sg")))
        .unwrap();
    ec2.authorize_security_group_ingress()
        .group_id(bastion.group_id().unwrap())
        .ip_protocol("tcp")
        .from_port(22)
        .to_port(22)
        .cidr_ip("0.0.0.0/0")
        .send()
        .await
        .unwrap();

    let plan = account.aerie(&["env", "plan"], &spec);
    let printed = text(&plan);
    assert!(
        printed.contains(&format!(
            "~ route-table private-routes ({})\n    + route 0.0.0.0/0 via nat",
            private.route_table_id().unwrap()
        )),
        "{printed}"
    );
    assert!(
        printed.contains(&format!(
            "~ security-group bastion-sg ({})\n    - tcp 22 from 0.0.0.0/0",
            bastion.group_id().unwrap()
        )),
        "{printed}"
    );
    assert!(
        printed.contains("Plan: 0 to add, 2 to change, 0 to destroy."),
        "{printed}"
    );

    let repair = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(repair.status.success(), "{}", text(&repair));
    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_eventual_consistency_are_retried() {
    let account = Account::start().await;
    account
        .proxy
        .fail("CreateVpc", 3, 503, "RequestLimitExceeded");
    account
        .proxy
        .fail("CreateSubnet", 2, 400, "InvalidVpcID.NotFound");
    account
        .proxy
        .fail("AuthorizeSecurityGroupIngress", 2, 400, "Throttling");
    account
        .proxy
        .fail("secretsmanager.CreateSecret", 2, 400, "ThrottlingException");
    account
        .proxy
        .fail("CreateDBSubnetGroup", 1, 500, "InternalFailure");
    let apply = account.aerie(&["env", "apply", "--yes"], &example());
    assert!(apply.status.success(), "{}", text(&apply));
    let injected = account.proxy.injected();
    for (call, times) in [
        ("CreateVpc", 3),
        ("CreateSubnet", 2),
        ("AuthorizeSecurityGroupIngress", 2),
        ("secretsmanager.CreateSecret", 2),
        ("CreateDBSubnetGroup", 1),
    ] {
        assert_eq!(
            injected.iter().filter(|c| *c == call).count(),
            times,
            "{call}: {injected:?}"
        );
    }
    assert_eq!(
        count_tagged(&account.ec2().await, "acme-prod").await,
        (1, 1, 5)
    );
    let calls = account.proxy.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "CreateVpc").count(),
        4,
        "three failures, then one VPC"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_apply_converges_with_no_duplicates() {
    let account = Account::start().await;
    let spec = example();
    // A fatal error part way: the run stops and says so.
    account
        .proxy
        .fail("CreateDBInstance", 1, 400, "InvalidParameterCombination");
    let failed = account.aerie(&["env", "apply", "--yes"], &spec);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert!(
        text(&failed).contains("CreateDBInstance: InvalidParameterCombination")
            && text(&failed).contains("run it again"),
        "{}",
        text(&failed)
    );

    // Then the process is killed part way through another run.
    let mut child = Command::new(binary("aerie"));
    child.args(["env", "destroy", "--yes", "--spec"]).arg(&spec);
    for (key, value) in account.moto.env(REGION) {
        child.env(key, value);
    }
    child.env("AWS_ENDPOINT_URL", account.proxy.endpoint());
    assert!(child.status().unwrap().success());
    let mut command = Command::new(binary("aerie"));
    command.args(["env", "apply", "--yes", "--spec"]).arg(&spec);
    for (key, value) in account.moto.env(REGION) {
        command.env(key, value);
    }
    command.env("AWS_ENDPOINT_URL", account.proxy.endpoint());
    // Slow one call down by failing it a few times, and kill the run then.
    account
        .proxy
        .fail("CreateNatGateway", 4, 503, "RequestLimitExceeded");
    account.proxy.clear();
    let mut running = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    aerie_testkit::wait_until(
        "the run to reach the NAT gateway",
        std::time::Duration::from_secs(30),
        async || {
            account
                .proxy
                .injected()
                .iter()
                .any(|c| c == "CreateNatGateway")
                .then_some(())
        },
    )
    .await
    .unwrap();
    running.kill().unwrap();
    running.wait().unwrap();
    let ec2 = account.ec2().await;
    let (vpcs, _, _) = count_tagged(&ec2, "acme-prod").await;
    assert_eq!(vpcs, 1, "the killed run had made the VPC");

    let resumed = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(resumed.status.success(), "{}", text(&resumed));
    assert_eq!(count_tagged(&ec2, "acme-prod").await, (1, 1, 5));
    let rds = aws_sdk_rds::Client::new(&account.moto.sdk_config(REGION).await);
    let dbs = rds.describe_db_instances().send().await.unwrap();
    assert_eq!(dbs.db_instances().len(), 1);
    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_environments_never_touch_each_other_or_untagged_resources() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let globex = second_spec(dir.path());
    let ec2 = account.ec2().await;
    let untagged = ec2
        .create_vpc()
        .cidr_block("172.16.0.0/16")
        .send()
        .await
        .unwrap();
    let untagged = untagged.vpc().unwrap().vpc_id().unwrap().to_owned();
    for spec in [example(), globex.clone()] {
        let apply = account.aerie(&["env", "apply", "--yes"], &spec);
        assert!(apply.status.success(), "{}", text(&apply));
    }
    let destroy = account.aerie(&["env", "destroy", "--yes"], &example());
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert_eq!(count_tagged(&ec2, "acme-prod").await, (0, 0, 0));
    assert_eq!(count_tagged(&ec2, "globex-prod").await, (1, 1, 5));
    let plan = account.aerie(&["env", "plan"], &globex);
    assert!(
        text(&plan).starts_with("No changes."),
        "globex is whole: {}",
        text(&plan)
    );
    let vpcs = ec2.describe_vpcs().vpc_ids(&untagged).send().await.unwrap();
    assert_eq!(vpcs.vpcs().len(), 1, "the untagged VPC is left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_spec_fails_before_any_aws_call_with_exit_code_two() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(example())
            .unwrap()
            .replace("ssh_port = 2222", "ssh_port = 22"),
    )
    .unwrap();
    let output = account.aerie(&["env", "apply", "--yes"], &bad);
    assert_eq!(output.status.code(), Some(2));
    let message = text(&output);
    assert!(
        message.contains(&format!(
            "{}: access.ssh_port: 22 is the port every scanner tries",
            bad.display()
        )),
        "{message}"
    );
    assert_eq!(
        account.proxy.calls(),
        Vec::<String>::new(),
        "no AWS call was made"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_type_or_image_the_region_lacks_is_refused_before_anything_is_created() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("lacking.toml");
    std::fs::write(
        &spec,
        std::fs::read_to_string(example())
            .unwrap()
            .replace("eu-west-1b", "eu-west-1d")
            .replace(
                "instance_type = \"t3.micro\"",
                "instance_type = \"t3.colossal\"",
            )
            .replace(MOTO_AMI, "ami-0123456789abcdef0"),
    )
    .unwrap();
    for command in [&["env", "plan"][..], &["env", "apply", "--yes"]] {
        let output = account.aerie(command, &spec);
        assert_eq!(output.status.code(), Some(2), "{}", text(&output));
        let message = text(&output);
        for expected in [
            "network.availability_zones[1]: eu-west-1d is not an available zone of eu-west-1",
            "bastion.instance_type: t3.colossal is not offered in eu-west-1a",
            "bastion.ami: ami-0123456789abcdef0 does not exist in eu-west-1",
        ] {
            assert!(
                message.contains(&format!("{}: {expected}", spec.display())),
                "expected {expected:?} in {message}"
            );
        }
    }
    assert_eq!(
        account.proxy.mutating_calls(),
        Vec::<String>::new(),
        "only read-only calls were made"
    );
    let (vpcs, _, _) = count_tagged(&account.ec2().await, "acme-prod").await;
    assert_eq!(vpcs, 0, "nothing was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_customer_runs_dns_the_mappings_go_to_a_file() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("acme.toml");
    std::fs::write(
        &spec,
        std::fs::read_to_string(example())
            .unwrap()
            .replace("mode = \"route53\"", "mode = \"customer\"")
            .replace(
                "# mappings_file = \"acme-dns.txt\"",
                "mappings_file = \"acme-dns.txt\"",
            ),
    )
    .unwrap();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    assert!(!text(&apply).contains("hosted-zone"), "{}", text(&apply));
    let mappings = std::fs::read_to_string(dir.path().join("acme-dns.txt")).unwrap();
    let bastion = mappings
        .lines()
        .find(|l| l.starts_with("bastion.acme.internal\t10.20.0."))
        .unwrap_or_else(|| panic!("{mappings}"));
    assert!(bastion.split('\t').nth(1).is_some());
    assert!(
        mappings
            .lines()
            .any(|l| l.starts_with("db.acme.internal\t")),
        "{mappings}"
    );
    // Each product node by its private address, as EC2 has it.
    let ec2 = account.ec2().await;
    let nodes = ec2
        .describe_instances()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    for node in nodes.reservations().iter().flat_map(|r| r.instances()) {
        let role = node
            .tags()
            .iter()
            .find(|t| t.key() == Some("aerie:role"))
            .and_then(|t| t.value())
            .unwrap();
        let line = format!(
            "{role}.acme.internal\t{}",
            node.private_ip_address().unwrap()
        );
        assert!(mappings.lines().any(|l| l == line), "{line} in {mappings}");
    }
    let route53 = aws_sdk_route53::Client::new(&account.moto.sdk_config(REGION).await);
    let zones = route53.list_hosted_zones().send().await.unwrap();
    assert!(zones.hosted_zones().is_empty(), "no zone is made");
}

/// The domains SES has as identities, read from SES.
async fn ses_identities(account: &Account) -> Vec<String> {
    let ses = aws_sdk_ses::Client::new(&account.moto.sdk_config(REGION).await);
    let answer = ses.list_identities().send().await.unwrap();
    answer.identities().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environments_sharing_a_mail_domain_keep_its_identity_until_the_last_one_leaves() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let acme = example();
    // A second customer environment sending from the same domain.
    let globex = dir.path().join("globex-shared.toml");
    let text_of = std::fs::read_to_string(second_spec(dir.path()))
        .unwrap()
        .replace("mail.globex.example", "mail.acme.example");
    std::fs::write(&globex, text_of).unwrap();
    for spec in [&acme, &globex] {
        let apply = account.aerie(&["env", "apply", "--yes"], spec);
        assert!(apply.status.success(), "{}", text(&apply));
    }
    assert_eq!(ses_identities(&account).await, ["mail.acme.example"]);
    for spec in [&acme, &globex] {
        let plan = account.aerie(&["env", "plan"], spec);
        assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));
    }

    let destroy = account.aerie(&["env", "destroy", "--yes"], &acme);
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert_eq!(
        ses_identities(&account).await,
        ["mail.acme.example"],
        "globex still sends from it"
    );
    let plan = account.aerie(&["env", "plan"], &globex);
    assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));
    let destroy = account.aerie(&["env", "destroy", "--yes"], &globex);
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert!(
        ses_identities(&account).await.is_empty(),
        "the last environment that used it took it along"
    );

    // An identity the customer made outside Aerie is used, never deleted
    // (a third environment: moto keeps the deleted databases' names).
    let ses = aws_sdk_ses::Client::new(&account.moto.sdk_config(REGION).await);
    ses.verify_domain_identity()
        .domain("mail.acme.example")
        .send()
        .await
        .unwrap();
    let initech = dir.path().join("initech.toml");
    let text_of = std::fs::read_to_string(&globex)
        .unwrap()
        .replace("name = \"globex-prod\"", "name = \"initech-prod\"")
        .replace("10.30.", "10.40.")
        .replace("globex.internal", "initech.internal");
    std::fs::write(&initech, text_of).unwrap();
    let apply = account.aerie(&["env", "apply", "--yes"], &initech);
    assert!(apply.status.success(), "{}", text(&apply));
    let destroy = account.aerie(&["env", "destroy", "--yes"], &initech);
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert!(
        text(&destroy).contains("made outside Aerie, left as it was"),
        "{}",
        text(&destroy)
    );
    assert_eq!(ses_identities(&account).await, ["mail.acme.example"]);
}

/// The environment's VPC and bastion, as AWS has them.
async fn vpc_and_bastion(ec2: &aws_sdk_ec2::Client) -> (String, aws_sdk_ec2::types::Instance) {
    let vpcs = ec2
        .describe_vpcs()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    let vpc = vpcs.vpcs()[0].vpc_id().unwrap().to_owned();
    // Not one terminated before (AWS lists those for an hour).
    let live = aws_sdk_ec2::types::Filter::builder()
        .name("instance-state-name")
        .values("pending")
        .values("running")
        .values("stopping")
        .values("stopped")
        .build();
    let reservations = ec2
        .describe_instances()
        .filters(env_filter("acme-prod"))
        .filters(live)
        .send()
        .await
        .unwrap();
    let bastion = reservations
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find(|i| i.tags().iter().any(|t| t.value() == Some("bastion")))
        .unwrap()
        .clone();
    (vpc, bastion)
}

async fn dns_hostnames_on(ec2: &aws_sdk_ec2::Client, vpc: &str) -> bool {
    let answer = ec2
        .describe_vpc_attribute()
        .vpc_id(vpc)
        .attribute(aws_sdk_ec2::types::VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .unwrap();
    answer.enable_dns_hostnames().and_then(|v| v.value()) == Some(true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_left_half_done_is_shown_and_repaired_in_place() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let ec2 = account.ec2().await;
    let secrets = aws_sdk_secretsmanager::Client::new(&account.moto.sdk_config(REGION).await);
    let (vpc, bastion) = vpc_and_bastion(&ec2).await;

    // DNS hostnames off (as a crash right after CreateVpc leaves them), the
    // bastion stopped, the database secret scheduled for deletion.
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc)
        .enable_dns_hostnames(
            aws_sdk_ec2::types::AttributeBooleanValue::builder()
                .value(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    ec2.stop_instances()
        .instance_ids(bastion.instance_id().unwrap())
        .send()
        .await
        .unwrap();
    account.unreplicate("aerie/acme-prod/rds-master").await;
    secrets
        .delete_secret()
        .secret_id("aerie/acme-prod/rds-master")
        .recovery_window_in_days(7)
        .send()
        .await
        .unwrap();

    let plan = account.aerie(&["env", "plan"], &spec);
    let printed = text(&plan);
    for expected in [
        "! DNS hostnames are off: turn them on",
        "! stopped: start it",
        "! scheduled for deletion: restore it",
    ] {
        assert!(
            printed.contains(expected),
            "expected {expected:?} in:\n{printed}"
        );
    }
    assert!(
        !printed.contains("public_ip"),
        "a stopped bastion is not drift:\n{printed}"
    );
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));

    assert!(
        dns_hostnames_on(&ec2, &vpc).await,
        "DNS hostnames are on again"
    );
    let (_, bastion) = vpc_and_bastion(&ec2).await;
    assert_eq!(
        bastion.state().and_then(|s| s.name()).map(|s| s.as_str()),
        Some("running"),
        "the same bastion runs again"
    );
    let secret = secrets
        .describe_secret()
        .secret_id("aerie/acme-prod/rds-master")
        .send()
        .await
        .unwrap();
    assert!(secret.deleted_date().is_none(), "the secret was restored");
    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zone_created_but_not_tagged_before_a_crash_is_found_again_and_tagged() {
    let account = Account::start().await;
    let spec = example();
    let ec2 = account.ec2().await;
    let route53 = aws_sdk_route53::Client::new(&account.moto.sdk_config(REGION).await);
    // The apply is stopped right after CreateHostedZone: the proxy fails
    // every call after it, so its tagging never happens.
    account.proxy.stop_after("route53:POST /hostedzone");
    let crashed = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(!crashed.status.success(), "{}", text(&crashed));
    account.proxy.heal();
    let zones = |route53: aws_sdk_route53::Client| async move {
        let answer = route53
            .list_hosted_zones_by_name()
            .dns_name("acme.internal")
            .send()
            .await
            .unwrap();
        answer
            .hosted_zones()
            .iter()
            .filter(|z| z.name().trim_end_matches('.') == "acme.internal")
            .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        zones(route53.clone()).await.len(),
        1,
        "the crash left one zone"
    );

    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let ids = zones(route53.clone()).await;
    assert_eq!(ids.len(), 1, "no second zone: {ids:?}");
    let tags = route53
        .list_tags_for_resource()
        .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
        .resource_id(&ids[0])
        .send()
        .await
        .unwrap();
    let tagged = tags
        .resource_tag_set()
        .map(|s| s.tags())
        .unwrap_or_default()
        .iter()
        .any(|t| t.key() == Some("aerie:env") && t.value() == Some("acme-prod"));
    assert!(tagged, "the zone is tagged now");
    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));
    drop(ec2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_secret_is_never_papered_over() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let secrets = aws_sdk_secretsmanager::Client::new(&account.moto.sdk_config(REGION).await);
    for name in [
        "aerie/acme-prod/rds-master",
        "aerie/acme-prod/bastion-ssh-key",
    ] {
        account.unreplicate(name).await;
        secrets
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
    }
    // The SSH key's private half is gone with its secret: shown, never
    // "No changes", and made again.
    let plan = account.aerie(&["env", "plan"], &spec);
    let printed = text(&plan);
    assert!(
        printed.contains("bastion-key") && printed.contains("its private key is lost"),
        "{printed}"
    );
    // The database password is made again and set on the database itself.
    account.proxy.clear();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let calls = account.proxy.mutating_calls();
    assert!(
        calls.iter().any(|c| c == "secretsmanager.CreateSecret"),
        "{calls:?}"
    );
    assert!(calls.iter().any(|c| c == "ModifyDBInstance"), "{calls:?}");
    let secret = secrets
        .get_secret_value()
        .secret_id("aerie/acme-prod/rds-master")
        .send()
        .await
        .unwrap();
    assert_eq!(secret.secret_string().map(str::len), Some(32));
    let key = secrets
        .get_secret_value()
        .secret_id("aerie/acme-prod/bastion-ssh-key")
        .send()
        .await
        .unwrap();
    assert!(
        key.secret_string()
            .is_some_and(|k| k.contains("PRIVATE KEY")),
        "a new private key is in the key's secret"
    );
    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));
}

/// S3 of `config`, path-style (a local S3 has no per-bucket host names).
pub(crate) fn s3_of(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build(),
    )
}

/// What the account holds of the example environment, read from AWS: the
/// counts a converged apply leaves (one VPC, one NAT gateway, five
/// instances, one zone, one database, six secrets, two roles and profiles,
/// one bucket with four bundles, no untagged VPC).
async fn holdings(account: &Account) -> Vec<(&'static str, usize)> {
    let config = account.moto.sdk_config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let (vpcs, nats, instances) = count_tagged(&ec2, "acme-prod").await;
    let all_vpcs = ec2.describe_vpcs().send().await.unwrap();
    let untagged = all_vpcs
        .vpcs()
        .iter()
        .filter(|v| v.is_default() != Some(true))
        .filter(|v| !v.tags().iter().any(|t| t.key() == Some("aerie:env")))
        .count();
    let subnets = ec2
        .describe_subnets()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    let groups = ec2
        .describe_security_groups()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    let keys = ec2.describe_key_pairs().send().await.unwrap();
    let route53 = aws_sdk_route53::Client::new(&config);
    let zones = route53.list_hosted_zones().send().await.unwrap();
    let zones = zones
        .hosted_zones()
        .iter()
        .filter(|z| z.name().trim_end_matches('.') == "acme.internal")
        .count();
    let rds = aws_sdk_rds::Client::new(&config);
    let databases = rds.describe_db_instances().send().await.unwrap();
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let listed = secrets.list_secrets().send().await.unwrap();
    let secrets = listed
        .secret_list()
        .iter()
        .filter(|s| s.name().is_some_and(|n| n.starts_with("aerie/acme-prod/")))
        .count();
    let ses = aws_sdk_ses::Client::new(&config);
    let identities = ses
        .list_identities()
        .send()
        .await
        .unwrap()
        .identities()
        .len();
    let iam = aws_sdk_iam::Client::new(&config);
    let roles = iam.list_roles().send().await.unwrap();
    let roles = roles
        .roles()
        .iter()
        .filter(|r| r.path() == "/aerie/acme-prod/")
        .count();
    let profiles = iam.list_instance_profiles().send().await.unwrap();
    let profiles = profiles
        .instance_profiles()
        .iter()
        .filter(|p| p.path() == "/aerie/acme-prod/")
        .count();
    let s3 = s3_of(&config);
    let buckets = s3.list_buckets().send().await.unwrap().buckets().len();
    let bundles = match s3
        .list_objects_v2()
        .bucket("aerie-acme-prod-eu-west-1-artifacts")
        .send()
        .await
    {
        Ok(listed) => listed.contents().len(),
        Err(_) => 0,
    };
    vec![
        ("iam roles", roles),
        ("instance profiles", profiles),
        ("buckets", buckets),
        ("bundles", bundles),
        ("vpcs", vpcs),
        ("untagged vpcs", untagged),
        ("subnets", subnets.subnets().len()),
        ("security groups", groups.security_groups().len()),
        ("key pairs", keys.key_pairs().len()),
        ("nat gateways", nats),
        ("instances", instances),
        ("zones", zones),
        ("databases", databases.db_instances().len()),
        ("secrets", secrets),
        ("ses identities", identities),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_any_mutating_call_the_next_apply_converges_with_no_orphan() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let calls = account.proxy.mutating_calls();
    let expected = holdings(&account).await;
    assert!(calls.len() > 20, "{calls:?}");
    eprintln!(
        "killing the apply after each of its {} mutating calls",
        calls.len()
    );
    for n in 1..=calls.len() {
        account.moto.reset().await.unwrap();
        account.proxy.heal();
        account.proxy.clear();
        account.proxy.stop_after_mutating(n);
        let killed = account.aerie(&["env", "apply", "--yes"], &spec);
        // Calls in flight when the n-th is answered are answered too: a
        // run may finish only when those were all its remaining calls.
        if n < calls.len() && killed.status.success() {
            assert_eq!(
                account.proxy.mutating_calls().len(),
                calls.len(),
                "the run went on after call {n}: {}",
                text(&killed)
            );
        }
        account.proxy.heal();
        let apply = account.aerie(&["env", "apply", "--yes"], &spec);
        let after = &calls[n - 1];
        assert!(
            apply.status.success(),
            "killed after call {n} ({after}), the next apply failed:\n{}",
            text(&apply)
        );
        assert_eq!(
            holdings(&account).await,
            expected,
            "killed after call {n} ({after}): the account holds other than one clean apply leaves"
        );
        let plan = account.aerie(&["env", "plan"], &spec);
        assert!(
            text(&plan).starts_with("No changes."),
            "killed after call {n} ({after}):\n{}",
            text(&plan)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nat_gateway_deleted_behind_our_back_is_made_again_with_its_address() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let ec2 = account.ec2().await;
    let nats = ec2.describe_nat_gateways().send().await.unwrap();
    let nat = nats.nat_gateways()[0].nat_gateway_id().unwrap().to_owned();
    let address = |nat: &aws_sdk_ec2::types::NatGateway| {
        nat.nat_gateway_addresses()[0]
            .allocation_id()
            .unwrap()
            .to_owned()
    };
    let allocation = address(&nats.nat_gateways()[0]);
    ec2.delete_nat_gateway()
        .nat_gateway_id(&nat)
        .send()
        .await
        .unwrap();

    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(text(&plan).contains("+ nat-gateway"), "{}", text(&plan));
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let (_, nats, _) = count_tagged(&ec2, "acme-prod").await;
    assert_eq!(nats, 1, "a NAT gateway serves the private subnets again");
    let all = ec2.describe_nat_gateways().send().await.unwrap();
    let new = all
        .nat_gateways()
        .iter()
        .find(|n| n.state().map(|s| s.as_str()) == Some("available"))
        .unwrap();
    assert_ne!(new.nat_gateway_id(), Some(nat.as_str()));
    assert_eq!(
        address(new),
        allocation,
        "with the same address the customer knows"
    );
    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));
}

/// The running bastion (its id, type, private IP and user-data) and what
/// the private zone's A record for it holds, read from AWS.
async fn bastion_as_aws_has_it(account: &Account) -> (String, String, String, String, String) {
    let config = account.moto.sdk_config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let reservations = ec2
        .describe_instances()
        .filters(env_filter("acme-prod"))
        .filters(role_filter("bastion"))
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
    let running: Vec<_> = reservations
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .collect();
    assert_eq!(running.len(), 1, "one bastion runs");
    let bastion = running[0];
    let id = bastion.instance_id().unwrap().to_owned();
    let user_data = ec2
        .describe_instance_attribute()
        .instance_id(&id)
        .attribute(aws_sdk_ec2::types::InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    use base64::Engine;
    let user_data = base64::engine::general_purpose::STANDARD
        .decode(
            user_data
                .user_data()
                .and_then(|v| v.value())
                .unwrap_or_default(),
        )
        .unwrap();
    let route53 = aws_sdk_route53::Client::new(&config);
    let zones = route53
        .list_hosted_zones_by_name()
        .dns_name("acme.internal")
        .send()
        .await
        .unwrap();
    let zone = zones.hosted_zones()[0].id().to_owned();
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(zone.trim_start_matches("/hostedzone/"))
        .send()
        .await
        .unwrap();
    let record = records
        .resource_record_sets()
        .iter()
        .find(|set| set.name().starts_with("bastion.acme.internal"))
        .and_then(|set| set.resource_records().first())
        .map(|r| r.value().to_owned())
        .unwrap_or_default();
    (
        id,
        bastion.instance_type().unwrap().as_str().to_owned(),
        bastion.private_ip_address().unwrap_or_default().to_owned(),
        String::from_utf8(user_data).unwrap(),
        record,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_cannot_change_in_place_is_replaced_and_keeps_its_dns_name() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("acme.toml");
    let original = std::fs::read_to_string(example()).unwrap();
    std::fs::write(&spec, &original).unwrap();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let (old, _, _, _, _) = bastion_as_aws_has_it(&account).await;

    // A bigger bastion: replaced, the plan says so and why.
    let bigger = original.replace(
        "instance_type = \"t3.micro\"",
        "instance_type = \"t3.small\"",
    );
    std::fs::write(&spec, &bigger).unwrap();
    let plan = account.aerie(&["env", "plan"], &spec);
    let printed = text(&plan);
    assert!(
        printed.contains(&format!("-/+ instance bastion ({old}): replaced, because"))
            && printed.contains("type is t3.micro in AWS, t3.small in the spec"),
        "{printed}"
    );
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let (new, kind, address, _, record) = bastion_as_aws_has_it(&account).await;
    assert_ne!(new, old);
    assert_eq!(kind, "t3.small");
    assert_eq!(
        record, address,
        "bastion.acme.internal follows the new bastion"
    );

    // Another SSH port reaches sshd: the bastion boots with it.
    let moved = bigger.replace("ssh_port = 2222", "ssh_port = 2200");
    std::fs::write(&spec, &moved).unwrap();
    let plan = account.aerie(&["env", "plan"], &spec);
    let printed = text(&plan);
    assert!(
        printed.contains("+ tcp 2200 from") && printed.contains("user_data is"),
        "{printed}"
    );
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let (_, _, address, user_data, record) = bastion_as_aws_has_it(&account).await;
    assert!(user_data.contains("Port 2200"), "{user_data}");
    assert_eq!(record, address);
    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(text(&plan).starts_with("No changes."), "{}", text(&plan));

    // The database is never replaced: plan and apply refuse and say how.
    let database = moved.replace(
        "instance_class = \"db.t3.medium\"",
        "instance_class = \"db.t3.large\"",
    );
    assert_ne!(database, moved, "the example's database class moved");
    std::fs::write(&spec, &database).unwrap();
    account.proxy.clear();
    for command in [&["env", "plan"][..], &["env", "apply", "--yes"]] {
        let output = account.aerie(command, &spec);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output));
        assert!(
            text(&output).contains("Aerie never replaces a database: take a snapshot"),
            "{}",
            text(&output)
        );
    }
    assert_eq!(account.proxy.mutating_calls(), Vec::<String>::new());
}

/// Changes one thing of the applied example behind Aerie's back, with the
/// AWS API, as an operator or a script might.
async fn tamper(account: &Account, case: &str) {
    let config = account.moto.sdk_config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let (vpc, bastion) = vpc_and_bastion(&ec2).await;
    let bastion_id = bastion.instance_id().unwrap().to_owned();
    let off = aws_sdk_ec2::types::AttributeBooleanValue::builder()
        .value(false)
        .build();
    match case {
        "security group opened to the world" => {
            let groups = ec2
                .describe_security_groups()
                .filters(role_filter("rds-sg"))
                .send()
                .await
                .unwrap();
            ec2.authorize_security_group_ingress()
                .group_id(groups.security_groups()[0].group_id().unwrap())
                .ip_protocol("tcp")
                .from_port(3306)
                .to_port(3306)
                .cidr_ip("0.0.0.0/0")
                .send()
                .await
                .unwrap();
        }
        "default route removed" => {
            let tables = ec2
                .describe_route_tables()
                .filters(role_filter("public-routes"))
                .send()
                .await
                .unwrap();
            ec2.delete_route()
                .route_table_id(tables.route_tables()[0].route_table_id().unwrap())
                .destination_cidr_block("0.0.0.0/0")
                .send()
                .await
                .unwrap();
        }
        "subnet disassociated" => {
            let tables = ec2
                .describe_route_tables()
                .filters(role_filter("private-routes"))
                .send()
                .await
                .unwrap();
            let association = tables.route_tables()[0]
                .associations()
                .iter()
                .find(|a| a.main() != Some(true))
                .unwrap();
            ec2.disassociate_route_table()
                .association_id(association.route_table_association_id().unwrap())
                .send()
                .await
                .unwrap();
        }
        "internet gateway detached" => {
            let gateways = ec2
                .describe_internet_gateways()
                .filters(role_filter("igw"))
                .send()
                .await
                .unwrap();
            ec2.detach_internet_gateway()
                .internet_gateway_id(
                    gateways.internet_gateways()[0]
                        .internet_gateway_id()
                        .unwrap(),
                )
                .vpc_id(&vpc)
                .send()
                .await
                .unwrap();
        }
        "vpn gateway detached" => {
            let gateways = ec2
                .describe_vpn_gateways()
                .filters(role_filter("vgw"))
                .send()
                .await
                .unwrap();
            ec2.detach_vpn_gateway()
                .vpn_gateway_id(gateways.vpn_gateways()[0].vpn_gateway_id().unwrap())
                .vpc_id(&vpc)
                .send()
                .await
                .unwrap();
        }
        "bastion resized" => {
            ec2.stop_instances()
                .instance_ids(&bastion_id)
                .send()
                .await
                .unwrap();
            ec2.modify_instance_attribute()
                .instance_id(&bastion_id)
                .instance_type(
                    aws_sdk_ec2::types::AttributeValue::builder()
                        .value("t3.large")
                        .build(),
                )
                .send()
                .await
                .unwrap();
            ec2.start_instances()
                .instance_ids(&bastion_id)
                .send()
                .await
                .unwrap();
        }
        "DNS support off" => {
            ec2.modify_vpc_attribute()
                .vpc_id(&vpc)
                .enable_dns_support(off)
                .send()
                .await
                .unwrap();
        }
        "bastion stopped" => {
            ec2.stop_instances()
                .instance_ids(&bastion_id)
                .send()
                .await
                .unwrap();
        }
        "bastion terminated" => {
            ec2.terminate_instances()
                .instance_ids(&bastion_id)
                .send()
                .await
                .unwrap();
        }
        "key pair deleted" => {
            ec2.delete_key_pair()
                .key_name("acme-prod-bastion-key")
                .send()
                .await
                .unwrap();
        }
        "dns record deleted" => {
            let route53 = aws_sdk_route53::Client::new(&config);
            let zones = route53
                .list_hosted_zones_by_name()
                .dns_name("acme.internal")
                .send()
                .await
                .unwrap();
            let zone = zones.hosted_zones()[0]
                .id()
                .trim_start_matches("/hostedzone/")
                .to_owned();
            let records = route53
                .list_resource_record_sets()
                .hosted_zone_id(&zone)
                .send()
                .await
                .unwrap();
            let set = records
                .resource_record_sets()
                .iter()
                .find(|s| s.name().starts_with("db."))
                .unwrap()
                .clone();
            let change = aws_sdk_route53::types::Change::builder()
                .action(aws_sdk_route53::types::ChangeAction::Delete)
                .resource_record_set(set)
                .build()
                .unwrap();
            route53
                .change_resource_record_sets()
                .hosted_zone_id(&zone)
                .change_batch(
                    aws_sdk_route53::types::ChangeBatch::builder()
                        .changes(change)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
        }
        "ses identity deleted" => {
            let ses = aws_sdk_ses::Client::new(&config);
            ses.delete_identity()
                .identity("mail.acme.example")
                .send()
                .await
                .unwrap();
        }
        "database secret scheduled for deletion" => {
            account.unreplicate("aerie/acme-prod/rds-master").await;
            let secrets = aws_sdk_secretsmanager::Client::new(&config);
            secrets
                .delete_secret()
                .secret_id("aerie/acme-prod/rds-master")
                .send()
                .await
                .unwrap();
        }
        "default security group opened" => {
            let groups = ec2
                .describe_security_groups()
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("vpc-id")
                        .values(&vpc)
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
            ec2.authorize_security_group_ingress()
                .group_id(groups.security_groups()[0].group_id().unwrap())
                .ip_protocol("tcp")
                .from_port(443)
                .to_port(443)
                .cidr_ip("10.0.0.0/8")
                .send()
                .await
                .unwrap();
        }
        "node role given a wider policy" => {
            let iam = aws_sdk_iam::Client::new(&config);
            iam.put_role_policy()
                .role_name("aerie-acme-prod-gateway")
                .policy_name("wider")
                .policy_document(
                    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#,
                )
                .send()
                .await
                .unwrap();
        }
        "instance profile emptied" => {
            let iam = aws_sdk_iam::Client::new(&config);
            iam.remove_role_from_instance_profile()
                .instance_profile_name("aerie-acme-prod-traffic-manager")
                .role_name("aerie-acme-prod-traffic-manager")
                .send()
                .await
                .unwrap();
        }
        "artifacts bucket opened to the public" => {
            let s3 = s3_of(&config);
            s3.delete_public_access_block()
                .bucket("aerie-acme-prod-eu-west-1-artifacts")
                .send()
                .await
                .unwrap();
        }
        "bundle overwritten" => {
            let s3 = s3_of(&config);
            s3.put_object()
                .bucket("aerie-acme-prod-eu-west-1-artifacts")
                .key("bundles/gateway-2.tar.gz")
                .body(aws_sdk_s3::primitives::ByteStream::from_static(
                    b"not a bundle",
                ))
                .send()
                .await
                .unwrap();
        }
        other => panic!("no tampering named {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatever_is_changed_behind_our_back_is_shown_and_repaired() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let expected = holdings(&account).await;
    for case in [
        "security group opened to the world",
        "default route removed",
        "subnet disassociated",
        "internet gateway detached",
        "vpn gateway detached",
        "bastion resized",
        "DNS support off",
        "bastion stopped",
        "bastion terminated",
        "key pair deleted",
        "dns record deleted",
        "ses identity deleted",
        "database secret scheduled for deletion",
        "default security group opened",
        "node role given a wider policy",
        "instance profile emptied",
        "artifacts bucket opened to the public",
        "bundle overwritten",
    ] {
        tamper(&account, case).await;
        let plan = account.aerie(&["env", "plan"], &spec);
        assert!(
            plan.status.success() && !text(&plan).starts_with("No changes."),
            "{case}: the plan does not show it:\n{}",
            text(&plan)
        );
        // Some repairs replace nodes (a lost key pair): no monitor here.
        let apply = account.aerie(&["env", "apply", "--yes", "--no-health-gate"], &spec);
        assert!(
            apply.status.success(),
            "{case}: apply failed:\n{}",
            text(&apply)
        );
        let plan = account.aerie(&["env", "plan"], &spec);
        assert!(
            text(&plan).starts_with("No changes."),
            "{case}: not repaired:\n{}",
            text(&plan)
        );
        assert_eq!(
            holdings(&account).await,
            expected,
            "{case}: the account holds other than it should"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_found_by_name_but_not_tagged_ours_is_never_taken_or_deleted() {
    let account = Account::start().await;
    let config = account.moto.sdk_config(REGION).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let rds = aws_sdk_rds::Client::new(&config);
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    // Someone else's subnet group and secret, with the names Aerie would
    // give the environment's.
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.99.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc = vpc.vpc().unwrap().vpc_id().unwrap().to_owned();
    let mut subnets = Vec::new();
    for (cidr, zone) in [
        ("10.99.1.0/24", "eu-west-1a"),
        ("10.99.2.0/24", "eu-west-1b"),
    ] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(cidr)
            .availability_zone(zone)
            .send()
            .await
            .unwrap();
        subnets.push(subnet.subnet().unwrap().subnet_id().unwrap().to_owned());
    }
    rds.create_db_subnet_group()
        .db_subnet_group_name("acme-prod-db")
        .db_subnet_group_description("not Aerie's")
        .set_subnet_ids(Some(subnets))
        .send()
        .await
        .unwrap();
    secrets
        .create_secret()
        .name("aerie/acme-prod/bastion-ssh-key")
        .secret_string("someone else's")
        .send()
        .await
        .unwrap();

    // Destroy finds nothing of the environment's, and so removes nothing.
    let destroy = account.aerie(&["env", "destroy", "--yes"], &example());
    assert!(destroy.status.success(), "{}", text(&destroy));
    assert!(
        text(&destroy).contains("Nothing is tagged for acme-prod"),
        "{}",
        text(&destroy)
    );
    // Apply does not take the secret over: it says whose name is taken.
    let apply = account.aerie(&["env", "apply", "--yes"], &example());
    assert!(!apply.status.success(), "{}", text(&apply));
    assert!(
        text(&apply).contains(
            "aerie/acme-prod/bastion-ssh-key exists and is not tagged aerie:env=acme-prod"
        ),
        "{}",
        text(&apply)
    );
    let kept = secrets
        .get_secret_value()
        .secret_id("aerie/acme-prod/bastion-ssh-key")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.secret_string(), Some("someone else's"));
    let groups = rds
        .describe_db_subnet_groups()
        .db_subnet_group_name("acme-prod-db")
        .send()
        .await
        .unwrap();
    assert_eq!(
        groups.db_subnet_groups()[0].db_subnet_group_description(),
        Some("not Aerie's")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_part_way_through_destroy_the_next_destroy_removes_everything() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    account.proxy.clear();
    let destroy = account.aerie(&["env", "destroy", "--yes"], &spec);
    assert!(destroy.status.success(), "{}", text(&destroy));
    let calls = account.proxy.mutating_calls();
    let empty = holdings(&account).await;
    assert!(calls.len() > 10, "{calls:?}");
    eprintln!(
        "killing the destroy after each of its {} mutating calls",
        calls.len()
    );
    for n in 1..calls.len() {
        account.moto.reset().await.unwrap();
        account.proxy.heal();
        let apply = account.aerie(&["env", "apply", "--yes"], &spec);
        assert!(apply.status.success(), "{}", text(&apply));
        account.proxy.clear();
        account.proxy.stop_after_mutating(n);
        // Killed after call n (a run whose later calls were only reads
        // may still end well).
        let _killed = account.aerie(&["env", "destroy", "--yes"], &spec);
        account.proxy.heal();
        let destroy = account.aerie(&["env", "destroy", "--yes"], &spec);
        let after = &calls[n - 1];
        assert!(
            destroy.status.success(),
            "killed after call {n} ({after}), the next destroy failed:\n{}",
            text(&destroy)
        );
        assert_eq!(
            holdings(&account).await,
            empty,
            "killed after call {n} ({after}): something is left"
        );
    }
}

/// Every file of a `.tar.gz`, by path.
pub(crate) fn unpack(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    use std::io::Read as _;
    let gzip = flate2::read::GzDecoder::new(bytes);
    let mut out = std::collections::BTreeMap::new();
    for entry in tar::Archive::new(gzip).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let mut body = Vec::new();
        entry.read_to_end(&mut body).unwrap();
        out.insert(path, body);
    }
    out
}

/// The same, each file as text.
pub(crate) fn unpack_text(bytes: &[u8]) -> std::collections::BTreeMap<String, String> {
    unpack(bytes)
        .into_iter()
        .map(|(path, body)| (path, String::from_utf8(body).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_secret_is_kept_in_the_dr_region_with_its_value_and_goes_with_the_environment() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let names = [
        "aerie/acme-prod/rds-master",
        "aerie/acme-prod/product-db",
        "aerie/acme-prod/product-admin",
        "aerie/acme-prod/ingest-token",
    ];
    for name in names {
        let value = account.secret(name).await;
        assert_eq!(
            account.secret_in("eu-central-1", name).await.as_deref(),
            Some(value.as_str()),
            "{name} in the DR region"
        );
    }
    let plan = account.aerie(&["env", "plan"], &spec);
    assert!(
        text(&plan).contains("No changes"),
        "the replicas are seen: {}",
        text(&plan)
    );
    let destroy = account.aerie(&["env", "destroy", "--yes"], &spec);
    assert!(destroy.status.success(), "{}", text(&destroy));
    for name in names {
        assert_eq!(
            account.secret_in("eu-central-1", name).await,
            None,
            "{name}"
        );
        assert_eq!(account.secret_in(REGION, name).await, None, "{name}");
    }
}
