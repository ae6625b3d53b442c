//! `aerie dr` against moto_server with both regions on one server, through
//! the fault proxy: the environment applied and backed up by the real
//! binary, then drilled. moto keeps no data behind an RDS instance, so the
//! restored database's endpoint is routed (`--connect-to`) to a real
//! MariaDB server loaded with the product's databases and tables, serving
//! TLS only, with a certificate for the DR region's RDS names from a CA of
//! the test's (given as `--database-ca`), and logged into with the master
//! password from Secrets Manager.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aerie_system_tests::binary;
use aerie_testkit::{HealthServer, MariaDb, PrivateCa, wait_until};
use chrono::Timelike as _;
use serde_json::Value;

use crate::provisioner::{Account, REGION, example, text};

const DR: &str = "eu-central-1";
const ENV: &str = "acme-prod";

/// The product's databases and tables, as `runbooks/drill.toml` checks them.
const TABLES: [(&str, &[&str]); 3] = [
    ("apimgt", &["AM_API", "AM_APPLICATION", "AM_SUBSCRIPTION"]),
    ("usermgt", &["UM_USER", "UM_ROLE"]),
    ("registry", &["REG_RESOURCE", "REG_PATH"]),
];

/// The product distribution the operators put in the artifacts bucket,
/// which a recovery restores from the backup's archive.
const DISTRIBUTION: (&str, &[u8]) = ("dist/wso2am-2.0.0.zip", b"the product distribution");

/// The nodes' services ports (the product's 9443 plus each one's offset):
/// the gateways', the first and the second traffic manager's.
const SERVICES_PORTS: [u16; 3] = [9443, 9444, 9445];

/// An environment applied and backed up, the database server its
/// restored database's endpoint leads to, and the health URLs its
/// recovered nodes' addresses lead to (one per services port).
struct Site {
    account: Account,
    spec: PathBuf,
    database: MariaDb,
    /// The CA that signed the database's certificate (`--database-ca`).
    database_ca: PathBuf,
    health: [HealthServer; 3],
    journal: tempfile::TempDir,
}

impl Site {
    async fn start() -> Self {
        let account = Account::start().await;
        let spec = example();
        let apply = account.aerie(&["env", "apply", "--yes"], &spec);
        assert!(apply.status.success(), "{}", text(&apply));
        account
            .s3(REGION)
            .await
            .put_object()
            .bucket(format!("aerie-{ENV}-{REGION}-artifacts"))
            .key(DISTRIBUTION.0)
            .body(DISTRIBUTION.1.to_vec().into())
            .send()
            .await
            .unwrap();
        let backup = account.aerie(&["backup", "run"], &spec);
        assert!(backup.status.success(), "{}", text(&backup));
        // RDS's own scheme: one wildcard certificate per region's names.
        let ca = PrivateCa::new("test RDS CA").unwrap();
        let names = format!("*.aaaaaaaaaa.{DR}.rds.amazonaws.com");
        let database = MariaDb::start_tls(&ca.server(&[&names]).unwrap())
            .await
            .unwrap();
        let journal = tempfile::tempdir().unwrap();
        let database_ca = journal.path().join("rds-ca.pem");
        std::fs::write(&database_ca, ca.pem()).unwrap();
        let password = account.secret(&format!("aerie/{ENV}/rds-master")).await;
        let mut sql = format!(
            "CREATE USER 'aerieadmin'@'%' IDENTIFIED BY '{}';\nGRANT ALL ON *.* TO 'aerieadmin'@'%';\n",
            password.replace('\\', "\\\\").replace('\'', "''")
        );
        for (db, tables) in TABLES {
            sql.push_str(&format!("CREATE DATABASE {db};\n"));
            for table in tables {
                sql.push_str(&format!(
                    "CREATE TABLE {db}.{table} (id INT PRIMARY KEY);\n"
                ));
            }
        }
        let loaded = database.root(&sql);
        assert!(loaded.status.success(), "{}", text(&loaded));
        let health = [
            HealthServer::start().await.unwrap(),
            HealthServer::start().await.unwrap(),
            HealthServer::start().await.unwrap(),
        ];
        Self {
            account,
            spec,
            database,
            database_ca,
            health,
            journal,
        }
    }

    fn dr_args(&self, command: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = ["dr"]
            .iter()
            .chain(command)
            .map(|s| (*s).to_owned())
            .collect();
        args.extend([
            "--journal".to_owned(),
            self.journal.path().display().to_string(),
        ]);
        if matches!(command.first(), Some(&"drill" | &"restore" | &"resume")) {
            args.extend([
                "--connect-to".to_owned(),
                format!("*:3306=127.0.0.1:{}", self.database.port()),
                "--database-ca".to_owned(),
                self.database_ca.display().to_string(),
            ]);
            for (port, server) in SERVICES_PORTS.iter().zip(&self.health) {
                args.extend([
                    "--connect-to".to_owned(),
                    format!("*:{port}=127.0.0.1:{}", server.port()),
                ]);
            }
        }
        args
    }

    /// `aerie dr COMMAND... --journal ... [--connect-to ...] --spec ...`.
    fn dr(&self, command: &[&str]) -> Output {
        let args = self.dr_args(command);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.account.aerie(&args, &self.spec)
    }

    /// The same, started and left running.
    fn spawn(&self, command: &[&str]) -> std::process::Child {
        let mut process = Command::new(binary("aerie"));
        process
            .args(self.dr_args(command))
            .arg("--spec")
            .arg(&self.spec)
            .envs(self.account.moto.env(REGION))
            .env("AWS_ENDPOINT_URL", self.account.proxy.endpoint())
            .env("AERIE_AWS_ATTEMPTS", "8")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        process.spawn().unwrap()
    }

    fn drill(&self) -> (Output, Value) {
        let out = self.dr(&["drill", "--format", "json"]);
        let result =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        (out, result)
    }

    async fn rds(&self, region: &str) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.account.moto.sdk_config(region).await)
    }

    /// The databases of `region`: identifier and status.
    async fn databases(&self, region: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .rds(region)
            .await
            .describe_db_instances()
            .send()
            .await
            .unwrap()
            .db_instances()
            .iter()
            .map(|db| {
                (
                    db.db_instance_identifier().unwrap().to_owned(),
                    db.db_instance_status().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        out.sort();
        out
    }

    /// Every RDS snapshot of `region`, by identifier.
    async fn snapshots(&self, region: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .rds(region)
            .await
            .describe_db_snapshots()
            .send()
            .await
            .unwrap()
            .db_snapshots()
            .iter()
            .map(|s| s.db_snapshot_identifier().unwrap().to_owned())
            .collect();
        out.sort();
        out
    }

    /// Every execution in the local journal: run and outcome.
    fn journaled_runs(&self) -> Vec<(String, String)> {
        std::fs::read_dir(self.journal.path())
            .unwrap()
            .filter_map(|entry| {
                let path = entry.unwrap().path();
                let run = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".json")?
                    .to_owned();
                let record: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
                Some((run, record["outcome"].as_str()?.to_owned()))
            })
            .collect()
    }

    /// The execution `run` as the DR region's bucket holds it.
    async fn journaled(&self, run: &str) -> Value {
        let object = self
            .account
            .s3(DR)
            .await
            .get_object()
            .bucket(format!("aerie-{ENV}-{DR}-backups"))
            .key(format!("dr-runs/{run}.json"))
            .send()
            .await
            .unwrap_or_else(|e| panic!("dr-runs/{run}.json: {e:?}"));
        serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap()
    }

    /// Nothing a drill made is left in the DR region.
    async fn assert_clean(&self, when: &str) {
        let left: Vec<(String, String)> = self
            .databases(DR)
            .await
            .into_iter()
            .filter(|(id, status)| id.contains("-drill-") && status != "deleted")
            .collect();
        assert!(left.is_empty(), "{when}: left in {DR}: {left:?}");
        let groups: Vec<String> = self
            .rds(DR)
            .await
            .describe_db_subnet_groups()
            .send()
            .await
            .unwrap()
            .db_subnet_groups()
            .iter()
            .filter_map(|g| g.db_subnet_group_name().map(str::to_owned))
            .filter(|name| name.contains("-drill-"))
            .collect();
        assert!(groups.is_empty(), "{when}: left in {DR}: {groups:?}");
        let ec2 = aws_sdk_ec2::Client::new(&self.account.moto.sdk_config(DR).await);
        let drill = aws_sdk_ec2::types::Filter::builder()
            .name("tag-key")
            .values("aerie:env")
            .build();
        let is_drill = |tags: &[aws_sdk_ec2::types::Tag]| {
            tags.iter().any(|t| {
                t.key() == Some("aerie:env") && t.value().unwrap_or("").contains("-drill-")
            })
        };
        let vpcs = ec2
            .describe_vpcs()
            .filters(drill.clone())
            .send()
            .await
            .unwrap();
        let vpcs: Vec<_> = vpcs.vpcs().iter().filter(|v| is_drill(v.tags())).collect();
        assert!(vpcs.is_empty(), "{when}: VPCs left in {DR}: {vpcs:?}");
        let volumes = ec2
            .describe_volumes()
            .filters(drill.clone())
            .send()
            .await
            .unwrap();
        let volumes: Vec<_> = volumes
            .volumes()
            .iter()
            .filter(|v| is_drill(v.tags()))
            .collect();
        assert!(
            volumes.is_empty(),
            "{when}: volumes left in {DR}: {volumes:?}"
        );
        let instances = ec2
            .describe_instances()
            .filters(drill)
            .send()
            .await
            .unwrap();
        let live: Vec<_> = instances
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| is_drill(i.tags()))
            .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) != Some("terminated"))
            .map(|i| i.instance_id().unwrap_or_default())
            .collect();
        assert!(live.is_empty(), "{when}: instances left in {DR}: {live:?}");
        let buckets = self
            .account
            .s3(DR)
            .await
            .list_buckets()
            .send()
            .await
            .unwrap();
        let left: Vec<_> = buckets
            .buckets()
            .iter()
            .filter_map(|b| b.name())
            .filter(|name| name.contains("-drill-"))
            .collect();
        assert!(left.is_empty(), "{when}: buckets left: {left:?}");
        let iam = aws_sdk_iam::Client::new(&self.account.moto.sdk_config(REGION).await);
        let roles = iam.list_roles().send().await.unwrap();
        let left: Vec<_> = roles
            .roles()
            .iter()
            .filter(|r| r.path().contains("-drill-"))
            .map(|r| r.role_name())
            .collect();
        assert!(left.is_empty(), "{when}: IAM roles left: {left:?}");
        let profiles = iam.list_instance_profiles().send().await.unwrap();
        let left: Vec<_> = profiles
            .instance_profiles()
            .iter()
            .filter(|p| p.path().contains("-drill-"))
            .map(|p| p.instance_profile_name())
            .collect();
        assert!(left.is_empty(), "{when}: instance profiles left: {left:?}");
        let route53 = aws_sdk_route53::Client::new(&self.account.moto.sdk_config(REGION).await);
        let zones = route53.list_hosted_zones().send().await.unwrap();
        let named: Vec<_> = zones
            .hosted_zones()
            .iter()
            .filter(|z| z.name().trim_end_matches('.') == "acme.internal")
            .collect();
        assert_eq!(
            named.len(),
            1,
            "{when}: only the environment's zone: {named:?}"
        );
    }
}

fn time(value: &Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {value}"))
        .parse()
        .unwrap()
}

/// The DR-region copy of the database's backup says it was taken `hours`
/// ago.
async fn backdate(site: &Site, hours: i64) -> chrono::DateTime<chrono::Utc> {
    let rds = site.rds(DR).await;
    let snapshot = rds
        .describe_db_snapshots()
        .send()
        .await
        .unwrap()
        .db_snapshots()
        .iter()
        .find(|s| s.tag_list().iter().any(|t| t.key() == Some("aerie:backup")))
        .expect("a DR copy of the database's backup")
        .clone();
    let taken = (chrono::Utc::now() - chrono::Duration::hours(hours))
        .with_nanosecond(0)
        .unwrap();
    rds.add_tags_to_resource()
        .resource_name(snapshot.db_snapshot_arn().unwrap())
        .tags(
            aws_sdk_rds::types::Tag::builder()
                .key("aerie:taken")
                .value(taken.to_rfc3339())
                .build(),
        )
        .send()
        .await
        .unwrap();
    taken
}

/// The steps of the shipped drill (and failover), in order.
const STEPS: [&str; 9] = [
    "point",
    "network",
    "database",
    "verify",
    "volumes",
    "artifacts",
    "nodes",
    "dns",
    "health",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_restores_the_backup_verifies_measures_rpo_and_rto_and_tears_down_leaving_the_primary_as_it_was()
 {
    let mut site = Site::start().await;
    let taken = backdate(&site, 5).await;
    // The real monitor the drill reports to, backing the environment up by
    // this spec (the page's targets come from it).
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("acme.toml");
    std::fs::copy(&site.spec, &spec).unwrap();
    let hash = aerie_system_tests::password_hash("the drill reviewer's passphrase");
    let monitor = aerie_system_tests::Monitor::start_full(
        aerie_system_tests::StoreKind::Embedded,
        "",
        &format!("backup_spec = \"{}\"\n", spec.display()),
        |_| {
            format!(
                "[jobs]\nbackup_every = \"24h\"\n\n[[user]]\nname = \"admin\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n"
            )
        },
        site.account.moto.env(REGION),
    )
    .await;
    let text_of_spec = std::fs::read_to_string(&spec).unwrap().replace(
        "url = \"https://monitor.ops.example:8443\"",
        &format!("url = \"{}\"", monitor.url()),
    );
    assert!(
        text_of_spec.contains(&monitor.url()),
        "the example's monitor line moved"
    );
    std::fs::write(&spec, text_of_spec).unwrap();
    site.spec = spec;
    aws_sdk_secretsmanager::Client::new(&site.account.moto.sdk_config(REGION).await)
        .put_secret_value()
        .secret_id(format!("aerie/{ENV}/ingest-token"))
        .secret_string(aerie_system_tests::INGEST_TOKEN)
        .send()
        .await
        .unwrap();
    let primary = (site.databases(REGION).await, site.snapshots(REGION).await);

    // The dry run shows the steps and calls nothing.
    site.account.proxy.clear();
    let dry = site.dr(&["drill", "--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    let shown = String::from_utf8_lossy(&dry.stdout);
    assert!(
        shown.contains("restore snapshot <point.snapshot> as database acme-prod-drill-"),
        "{shown}"
    );
    assert_eq!(site.account.proxy.calls(), Vec::<String>::new());

    let (out, result) = site.drill();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(result["outcome"], "succeeded", "{result:#}");
    let run = result["run"].as_str().unwrap();
    let started = time(&result["started"]);
    // RPO: the drill's start minus when the restored backup was taken.
    let rpo = result["rpo_seconds"].as_i64().unwrap();
    assert_eq!(time(&result["recovery_point"]), taken);
    assert!(
        (rpo - (started - taken).num_seconds()).abs() <= 1
            && (5 * 3600..5 * 3600 + 600).contains(&rpo),
        "rpo {rpo}"
    );
    // The journal in the DR region: every step, and RTO from its times.
    let journal = site.journaled(run).await;
    let steps: Vec<&str> = journal["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(steps, STEPS);
    assert!(
        journal["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["outcome"] == "done"),
        "{journal:#}"
    );
    let verified = time(&journal["steps"][8]["ended"]);
    assert_eq!(
        result["rto_seconds"].as_i64().unwrap(),
        (verified - time(&journal["started"])).num_seconds()
    );
    assert_eq!(
        journal["steps"][3]["outputs"]["checked"],
        "3 databases, 7 tables"
    );
    let undone: Vec<&str> = journal["undo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    assert_eq!(
        undone,
        [
            "dns",
            "nodes",
            "artifacts",
            "volumes",
            "database",
            "network"
        ],
        "newest first"
    );
    // Every node's health URL was asked, through the routes given.
    assert!(
        site.health.iter().all(|h| h.hits() > 0),
        "a node's health was not checked"
    );
    assert_eq!(journal["steps"][8]["outputs"]["healthy"], "4 nodes");
    assert_eq!(journal["steps"][5]["outputs"]["distributions"], 1);
    let recovered = journal["steps"][6]["outputs"]["addresses"]
        .as_object()
        .unwrap()
        .clone();
    let names: Vec<&String> = recovered.keys().collect();
    assert_eq!(
        names,
        [
            "bastion",
            "gateway-1",
            "gateway-2",
            "traffic-manager-1",
            "traffic-manager-2"
        ],
        "{journal:#}"
    );
    let secret = std::fs::read_to_string(site.journal.path().join(format!("{run}.json"))).unwrap();
    assert!(!secret.contains("password"), "{secret}");

    site.assert_clean("after the drill").await;
    assert_eq!(
        (site.databases(REGION).await, site.snapshots(REGION).await),
        primary,
        "the primary region is as it was"
    );
    // The monitor has the figures, and its DR page shows them.
    let reported = monitor
        .get("/api/v1/metrics?env=acme-prod&name=aerie.dr.rpo.seconds&from=now-1h&step=1s")
        .await
        .expect("the RPO metric");
    assert_eq!(
        reported["series"][0]["points"][0][1].as_f64(),
        Some(rpo as f64),
        "{reported}"
    );
    let (_browser, client, history) = crate::browser::open_signed_in(
        &monitor.url(),
        ("admin", "the drill reviewer's passphrase"),
        &format!("/env/{ENV}/dr"),
        "table#dr-runs",
        "dashboard-dr",
    )
    .await;
    let row = history
        .lines()
        .find(|l| l.contains(run))
        .unwrap_or_else(|| panic!("no row of {run}: {history}"));
    assert!(
        row.contains("met its targets") && row.contains("5h") && row.contains("within"),
        "{row}"
    );
    let targets = crate::browser::element_text(&client, "#dr-targets").await;
    assert!(
        targets.contains("RPO 1day") && targets.contains("RTO 4h"),
        "{targets}"
    );
    let steps_shown = crate::browser::element_text(&client, "table#dr-steps").await;
    for step in STEPS {
        assert!(steps_shown.contains(step), "{steps_shown}");
    }
    client.close().await.unwrap();

    let runs = site.dr(&["runs"]);
    assert!(text(&runs).contains(run), "{}", text(&runs));
    let shown = site.dr(&["show", run]);
    assert!(
        text(&shown).contains("succeeded") && text(&shown).contains("verify-database"),
        "{}",
        text(&shown)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_at_each_step_is_torn_down_to_a_clean_slate_and_the_journal_names_the_step_and_the_error()
 {
    let site = Site::start().await;
    for (step, expected) in [
        ("point", "AccessDenied"),
        ("network", "VpcLimitExceeded"),
        ("database", "InsufficientDBInstanceCapacity"),
        ("volumes", "VolumeLimitExceeded"),
        ("artifacts", "AccessDenied"),
        ("nodes", "InsufficientInstanceCapacity"),
        ("dns", "TooManyHostedZones"),
        ("health", "traffic-manager-2 is not healthy"),
        ("verify", "table registry.REG_PATH"),
    ] {
        match step {
            // Every attempt (retries + 1) fails.
            "point" => site
                .account
                .proxy
                .fail("DescribeDBSnapshots", 3, 400, "AccessDenied"),
            "network" => site
                .account
                .proxy
                .fail("CreateVpc", 3, 400, "VpcLimitExceeded"),
            "database" => site.account.proxy.fail(
                "RestoreDBInstanceFromDBSnapshot",
                2,
                400,
                "InsufficientDBInstanceCapacity",
            ),
            // The nodes launch in parallel: every launch of every attempt.
            "nodes" => {
                site.account
                    .proxy
                    .fail("RunInstances", 100, 400, "InsufficientInstanceCapacity")
            }
            "volumes" => site
                .account
                .proxy
                .fail("CreateVolume", 100, 400, "VolumeLimitExceeded"),
            "dns" => {
                site.account
                    .proxy
                    .fail("route53:POST /hostedzone", 3, 400, "TooManyHostedZones")
            }
            // Every attempt to read the backup's artifacts archive (the
            // drill's first read of an object there), after the site's
            // bucket was made.
            "artifacts" => site.account.proxy.fail(
                &format!("s3:GET /aerie-{ENV}-{DR}-backups/key"),
                3,
                403,
                "AccessDenied",
            ),
            "health" => site.health[2].set_status(503),
            _ => {
                let dropped = site.database.root("DROP TABLE registry.REG_PATH;");
                assert!(dropped.status.success(), "{}", text(&dropped));
            }
        }
        let (out, result) = site.drill();
        assert!(!out.status.success(), "{step}: {}", text(&out));
        assert_eq!(result["outcome"], "failed", "{result:#}");
        let journal = site.journaled(result["run"].as_str().unwrap()).await;
        let last = journal["steps"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["step"], step, "{journal:#}");
        assert_eq!(last["outcome"], "failed");
        assert!(
            last["error"].as_str().unwrap().contains(expected),
            "{step}: {last:#}"
        );
        assert!(text(&out).contains(expected), "{}", text(&out));
        site.assert_clean(&format!("after a failed {step}")).await;
        site.account.proxy.heal();
        site.health[2].set_status(200);
    }
    // The database the verification found wanting was made, then undone.
    let (out, result) = site.drill();
    assert!(!out.status.success());
    assert_eq!(result["undo"][0]["outcome"], "done", "{result:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_killed_at_any_call_is_continued_by_the_next_with_no_duplicate_and_nothing_left() {
    let site = Site::start().await;
    site.account.proxy.clear();
    let (out, _) = site.drill();
    assert!(out.status.success(), "{}", text(&out));
    let calls = site.account.proxy.calls();
    let total = calls.len();
    // The journal is saved before and after every step and undo: a kill
    // at the first call after each save is a kill in every step and every
    // undo, and one halfway to the next save in the long ones (the
    // network's apply and teardown, the nodes').
    let saves: Vec<usize> = calls
        .iter()
        .enumerate()
        .filter(|(_, call)| call.starts_with("s3:PUT") && call.contains("-backups/"))
        .map(|(i, _)| i + 1)
        .collect();
    assert!(saves.len() > 20, "{calls:?}");
    let mut moments: Vec<usize> = saves
        .windows(2)
        .flat_map(|w| [Some(w[0]), (w[1] - w[0] > 20).then_some((w[0] + w[1]) / 2)])
        .flatten()
        .filter(|m| *m < total)
        .collect();
    moments.dedup();

    for moment in moments {
        let before = site.journaled_runs();
        site.account.proxy.clear();
        site.account.proxy.hold_after_calls(moment);
        let mut process = site.spawn(&["drill"]);
        wait_until(
            &format!("the drill to reach call {}", moment + 1),
            Duration::from_secs(60),
            async || (site.account.proxy.held() > 0).then_some(()),
        )
        .await
        .unwrap();
        process.kill().unwrap(); // SIGKILL
        process.wait().unwrap();
        site.account.proxy.heal();
        let (out, result) = site.drill();
        assert!(
            out.status.success(),
            "killed after call {moment} of {total}: {}",
            text(&out)
        );
        assert_eq!(result["outcome"], "succeeded");
        // The killed execution, if it had begun: continued unless it had
        // already finished (killed while its last record went to S3).
        let killed = site
            .journaled_runs()
            .into_iter()
            .find(|(run, _)| !before.iter().any(|(seen, _)| seen == run));
        let drills = match &killed {
            Some((run, outcome)) if outcome != "succeeded" => {
                assert_eq!(result["run"], run.as_str(), "the next drill continues it");
                1
            }
            Some((_, _)) => 2,
            None => 1,
        };
        let made = |name: &str| {
            let calls = site.account.proxy.calls();
            calls.iter().filter(|c| *c == name).count()
        };
        for (call, each) in [
            ("RestoreDBInstanceFromDBSnapshot", 1),
            ("CreateVpc", 1),
            ("RunInstances", 5),
            ("CreateVolume", 5),
            ("CreateRole", 2),
            ("CreateInstanceProfile", 2),
        ] {
            let count = made(call);
            assert!(
                count <= each * drills,
                "killed after call {moment}: {count} {call} for {drills} drill(s)"
            );
        }
        site.assert_clean(&format!("killed after call {moment}"))
            .await;
    }
    // Every execution came to an end.
    let runs = site.dr(&["runs", "--format", "json"]);
    let runs: Vec<Value> = serde_json::from_slice(&runs.stdout).unwrap();
    assert!(
        runs.iter().all(|r| r["outcome"] == "succeeded"),
        "{runs:#?}"
    );
}

/// `runbooks/drill.toml` with every step followed by a second step of the
/// same kind and inputs (`<id>-again`).
fn each_step_twice() -> String {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../runbooks/drill.toml"),
    )
    .unwrap();
    let mut blocks = shipped.split("[[step]]");
    let mut out = blocks.next().unwrap().to_owned();
    for block in blocks {
        let id = block
            .lines()
            .find_map(|l| l.strip_prefix("id = "))
            .unwrap()
            .trim_matches('"');
        out.push_str("[[step]]");
        out.push_str(block);
        out.push_str("\n[[step]]");
        out.push_str(&block.replacen(
            &format!("id = \"{id}\""),
            &format!("id = \"{id}-again\""),
            1,
        ));
        out.push('\n');
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_step_run_a_second_time_finds_its_result_and_changes_nothing() {
    let site = Site::start().await;
    let runbook = site.journal.path().join("twice.toml");
    std::fs::write(&runbook, each_step_twice()).unwrap();
    site.account.proxy.clear();
    let path = runbook.display().to_string();
    let out = site.dr(&["drill", "--runbook", &path, "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let journal = site.journaled(result["run"].as_str().unwrap()).await;
    let steps = journal["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2 * STEPS.len(), "{journal:#}");
    for pair in steps.chunks(2) {
        let (once, again) = (&pair[0], &pair[1]);
        assert_eq!(
            again["step"],
            format!("{}-again", once["step"].as_str().unwrap())
        );
        assert_eq!(again["outcome"], "done", "{again:#}");
        assert_eq!(once["outputs"], again["outputs"], "{}", once["step"]);
    }
    // What one drill makes, made once.
    let calls = site.account.proxy.calls();
    for (call, once) in [
        ("CreateVpc", 1),
        ("CreateSubnet", 4),
        ("RestoreDBInstanceFromDBSnapshot", 1),
        ("CreateVolume", 5),
        ("CreateRole", 2),
        ("CreateInstanceProfile", 2),
        ("RunInstances", 5),
        ("route53:POST /hostedzone", 1),
    ] {
        let made = calls.iter().filter(|c| *c == call).count();
        assert_eq!(made, once, "{call}");
    }
    // CreateBucket of the drill's artifacts bucket (no key, no sub-resource).
    let buckets = calls.iter().filter(|c| {
        c.starts_with(&format!("s3:PUT /aerie-{ENV}-drill-"))
            && !c.contains("/key")
            && !c.contains('?')
    });
    assert_eq!(buckets.count(), 1, "{calls:?}");
    site.assert_clean("after a drill of every step twice").await;
}

#[test]
fn a_runbook_with_an_unknown_kind_is_refused_before_any_call_naming_the_file_step_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let runbook = dir.path().join("bad.toml");
    std::fs::write(
        &runbook,
        "name = \"bad\"\ndescription = \"x\"\n[[step]]\nid = \"first\"\nkind = \"recovery-point\"\n[[step]]\nid = \"second\"\nkind = \"restore-everything\"\n",
    )
    .unwrap();
    let out = Command::new(binary("aerie"))
        .args(["dr", "drill", "--runbook"])
        .arg(&runbook)
        .arg("--spec")
        .arg(example())
        // Nowhere to call: a call would fail, not hang.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(
        said.contains(&runbook.display().to_string())
            && said.contains("step[1] (second).kind")
            && said.contains("restore-database"),
        "{said}"
    );
}

/// The instances of `region` tagged for environment `env` and running:
/// role, id, private IP, VPC.
async fn running(ec2: &aws_sdk_ec2::Client, env: &str) -> Vec<(String, String, String, String)> {
    let answer = ec2.describe_instances().send().await.unwrap();
    let tag = |i: &aws_sdk_ec2::types::Instance, key: &str| {
        i.tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
            .unwrap_or_default()
            .to_owned()
    };
    let mut out: Vec<_> = answer
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| tag(i, "aerie:env") == env)
        .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("running"))
        .map(|i| {
            (
                tag(i, "aerie:role"),
                i.instance_id().unwrap().to_owned(),
                i.private_ip_address().unwrap_or_default().to_owned(),
                i.vpc_id().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_brings_the_environment_up_in_the_dr_region_from_its_backups_and_points_its_names_there()
 {
    let site = Site::start().await;
    let primary_ec2 = aws_sdk_ec2::Client::new(&site.account.moto.sdk_config(REGION).await);
    let primary = running(&primary_ec2, ENV).await;
    assert_eq!(primary.len(), 5, "{primary:?}");

    let refused = site.dr(&["restore"]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    let out = site.dr(&["restore", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);

    // The environment runs in the DR region: the same roles, in a VPC of
    // its own there.
    let ec2 = aws_sdk_ec2::Client::new(&site.account.moto.sdk_config(DR).await);
    let recovered = running(&ec2, ENV).await;
    let roles: Vec<&str> = recovered.iter().map(|r| r.0.as_str()).collect();
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
    let vpc = recovered[0].3.clone();
    assert!(recovered.iter().all(|r| r.3 == vpc), "{recovered:?}");
    // Each node carries a volume made from the DR copy of its backup.
    let copies = ec2
        .describe_snapshots()
        .owner_ids("self")
        .send()
        .await
        .unwrap();
    for (role, instance, _, _) in &recovered {
        let volumes = ec2
            .describe_volumes()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("attachment.instance-id")
                    .values(instance)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let restored = volumes
            .volumes()
            .iter()
            .filter_map(|v| v.snapshot_id())
            .filter_map(|id| {
                copies
                    .snapshots()
                    .iter()
                    .find(|s| s.snapshot_id() == Some(id))
            })
            .find(|s| {
                let tags = s.tags();
                tags.iter().any(|t| t.key() == Some("aerie:copy-of"))
                    && tags
                        .iter()
                        .any(|t| t.key() == Some("aerie:role") && t.value() == Some(role))
            });
        assert!(
            restored.is_some(),
            "{role} has no volume from its backup's DR copy: {volumes:?}"
        );
    }
    // The DR site's own artifacts bucket: the distribution restored from
    // the backup's archive, and each node's bundle rendered for the DR
    // region, where its user-data fetches it from.
    let bucket = format!("aerie-{ENV}-{DR}-artifacts");
    let object = async |key: &str| -> Vec<u8> {
        let answer = site
            .account
            .s3(DR)
            .await
            .get_object()
            .bucket(&bucket)
            .key(key);
        let answer = answer
            .send()
            .await
            .unwrap_or_else(|e| panic!("{key}: {e:?}"));
        answer.body.collect().await.unwrap().into_bytes().to_vec()
    };
    assert_eq!(object(DISTRIBUTION.0).await, DISTRIBUTION.1);
    let bundle = object("bundles/traffic-manager-1.tar.gz").await;
    let configure = crate::provisioner::unpack_text(&bundle)["configure.sh"].clone();
    assert!(
        configure.contains(&format!("AWS_DEFAULT_REGION=\"{DR}\"")),
        "{configure}"
    );
    // Each node's profile is the DR site's, whose role may read the
    // secrets' replicas in the DR region and the site's bucket; the
    // primary's roles still name the primary region.
    let instances = ec2.describe_instances().send().await.unwrap();
    let iam = aws_sdk_iam::Client::new(&site.account.moto.sdk_config(REGION).await);
    for (role, instance, _, _) in recovered.iter().filter(|r| r.0 != "bastion") {
        let kind = role
            .trim_end_matches(char::is_numeric)
            .trim_end_matches('-');
        let described = instances
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .find(|i| i.instance_id() == Some(instance))
            .unwrap();
        let profile = described
            .iam_instance_profile()
            .and_then(|p| p.arn())
            .unwrap_or_else(|| panic!("{role} has no instance profile"));
        let name = format!("aerie-{ENV}-{DR}-{kind}");
        assert!(profile.ends_with(&format!("/{name}")), "{role}: {profile}");
        let data = crate::product_nodes::user_data(&ec2, instance).await;
        assert!(
            data.contains(&bucket) && data.contains(DR),
            "{role}: {data}"
        );
        for (name, region, other) in [
            (name.clone(), DR, REGION),
            (format!("aerie-{ENV}-{kind}"), REGION, DR),
        ] {
            let document = crate::product_nodes::role_policy(&iam, &name).await;
            assert!(
                document.contains(&format!("arn:aws:secretsmanager:{region}:"))
                    && document.contains(&format!("arn:aws:s3:::aerie-{ENV}-{region}-artifacts/"))
                    && !document.contains(other),
                "{name}: {document}"
            );
        }
    }
    // The database is restored there.
    let database = site
        .rds(DR)
        .await
        .describe_db_instances()
        .db_instance_identifier(format!("{ENV}-db"))
        .send()
        .await
        .unwrap();
    let endpoint = database.db_instances()[0]
        .endpoint()
        .and_then(|e| e.address())
        .unwrap()
        .to_owned();

    // The environment's own zone now answers with the DR site's addresses
    // and is associated with the DR VPC.
    let route53 = aws_sdk_route53::Client::new(&site.account.moto.sdk_config(REGION).await);
    let zones = route53.list_hosted_zones().send().await.unwrap();
    let zone = zones
        .hosted_zones()
        .iter()
        .find(|z| z.name().trim_end_matches('.') == "acme.internal")
        .unwrap()
        .id()
        .trim_start_matches("/hostedzone/")
        .to_owned();
    let records = route53
        .list_resource_record_sets()
        .hosted_zone_id(&zone)
        .send()
        .await
        .unwrap();
    let value = |name: &str| {
        records
            .resource_record_sets()
            .iter()
            .find(|r| r.name().trim_end_matches('.') == name)
            .and_then(|r| r.resource_records().first())
            .map(|r| r.value().to_owned())
            .unwrap_or_else(|| panic!("no record {name}: {records:?}"))
    };
    for (role, _, address, _) in &recovered {
        assert_eq!(&value(&format!("{role}.acme.internal")), address, "{role}");
        assert!(
            said.contains(&format!("A {role}.acme.internal -> {address}")),
            "{said}"
        );
    }
    assert_eq!(value("db.acme.internal"), endpoint);
    let associated = route53.get_hosted_zone().id(&zone).send().await.unwrap();
    assert!(
        associated
            .vpcs()
            .iter()
            .any(|v| v.vpc_id() == Some(vpc.as_str())),
        "{associated:?}"
    );
    assert!(
        said.contains("DNS now points at the DR site in eu-central-1"),
        "{said}"
    );
    // The primary region is as it was.
    assert_eq!(running(&primary_ec2, ENV).await, primary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_whose_certificate_the_given_ca_did_not_sign_fails_the_check_and_says_how_to_fix_it()
 {
    let site = Site::start().await;
    std::fs::write(
        &site.database_ca,
        PrivateCa::new("another CA").unwrap().pem(),
    )
    .unwrap();
    let (out, result) = site.drill();
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(result["outcome"], "failed", "{result:#}");
    let journal = site.journaled(result["run"].as_str().unwrap()).await;
    let last = journal["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["step"], "verify", "{journal:#}");
    assert_eq!(
        last["attempts"], 1,
        "no retry mends an untrusted certificate"
    );
    let error = last["error"].as_str().unwrap();
    assert!(
        error.contains("no TLS connection that can be trusted") && error.contains("--database-ca"),
        "{last:#}"
    );
    site.assert_clean("after a database that could not be trusted")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_whose_artifacts_archive_is_damaged_or_missing_fails_at_that_step_saying_so() {
    let site = Site::start().await;
    let s3 = site.account.s3(DR).await;
    let bucket = format!("aerie-{ENV}-{DR}-backups");
    let listed = s3
        .list_objects_v2()
        .bucket(&bucket)
        .prefix("archives/")
        .send()
        .await
        .unwrap();
    let key = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .find(|k| k.contains("/artifacts-"))
        .expect("the backup's artifacts archive in the DR region")
        .to_owned();
    let head = s3.head_object().bucket(&bucket).key(&key).send().await;
    let recorded = head.unwrap().metadata().unwrap()["sha256"].clone();
    let failed_at_artifacts = async |when: &str, says: &[&str]| {
        let (out, result) = site.drill();
        assert!(!out.status.success(), "{when}: {}", text(&out));
        let journal = site.journaled(result["run"].as_str().unwrap()).await;
        let last = journal["steps"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["step"], "artifacts", "{when}: {journal:#}");
        assert_eq!(last["attempts"], 1, "{when}: no retry mends it");
        let error = last["error"].as_str().unwrap();
        for said in says {
            assert!(error.contains(said), "{when}: {said:?} in {error}");
        }
        site.assert_clean(when).await;
    };

    // Damaged: other bytes under the digest the backup recorded.
    s3.put_object()
        .bucket(&bucket)
        .key(&key)
        .metadata("sha256", &recorded)
        .body(b"not the archive".to_vec().into())
        .send()
        .await
        .unwrap();
    failed_at_artifacts("a damaged archive", &[&key, &recorded, "older backup"]).await;

    s3.delete_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    failed_at_artifacts("a missing archive", &[&key, "aerie backup run"]).await;
}
