//! `aerie backup` against moto_server (the primary and the DR region on
//! one server), through the fault proxy: what a run makes, read back from
//! the RDS, EC2 and S3 APIs of both regions; runs stopped part way and run
//! again; retention over backdated snapshots; a day's archive fetched back
//! from Glacier.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read as _;
use std::path::Path;

use sha2::Digest as _;

use crate::provisioner::{Account, REGION, env_filter, example, text, unpack};

const DR: &str = "eu-central-1";
const ENV: &str = "acme-prod";

fn bucket(region: &str) -> String {
    format!("aerie-{ENV}-{region}-backups")
}

/// The value of tag `key` among (key, value) pairs.
fn tag<'a>(
    tags: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
    key: &str,
) -> String {
    tags.into_iter()
        .find(|(k, _)| *k == Some(key))
        .and_then(|(_, v)| v)
        .unwrap_or_default()
        .to_owned()
}

/// A backup snapshot as the AWS API describes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Seen {
    region: String,
    kind: &'static str,
    id: String,
    run: String,
    of: String,
    copy_of: String,
}

/// Every snapshot tagged as a backup of the environment, in both regions.
async fn snapshots(account: &Account) -> Vec<Seen> {
    let mut out = Vec::new();
    for region in [REGION, DR] {
        let config = account.moto.sdk_config(region).await;
        let rds = aws_sdk_rds::Client::new(&config);
        let answer = rds.describe_db_snapshots().send().await.unwrap();
        for s in answer.db_snapshots() {
            let tags = || s.tag_list().iter().map(|t| (t.key(), t.value()));
            if tag(tags(), "aerie:env") == ENV && !tag(tags(), "aerie:backup").is_empty() {
                out.push(Seen {
                    region: region.to_owned(),
                    kind: "rds",
                    id: s.db_snapshot_identifier().unwrap().to_owned(),
                    run: tag(tags(), "aerie:backup"),
                    of: tag(tags(), "aerie:of"),
                    copy_of: tag(tags(), "aerie:copy-of"),
                });
            }
        }
        let ec2 = aws_sdk_ec2::Client::new(&config);
        let answer = ec2
            .describe_snapshots()
            .owner_ids("self")
            .filters(env_filter(ENV))
            .send()
            .await
            .unwrap();
        for s in answer.snapshots() {
            let tags = || s.tags().iter().map(|t| (t.key(), t.value()));
            if !tag(tags(), "aerie:backup").is_empty() {
                out.push(Seen {
                    region: region.to_owned(),
                    kind: "ebs",
                    id: s.snapshot_id().unwrap().to_owned(),
                    run: tag(tags(), "aerie:backup"),
                    of: tag(tags(), "aerie:of"),
                    copy_of: tag(tags(), "aerie:copy-of"),
                });
            }
        }
    }
    out.sort();
    out
}

/// The root volumes of the environment's instances.
async fn volumes(account: &Account) -> BTreeSet<String> {
    let answer = account
        .ec2()
        .await
        .describe_instances()
        .filters(env_filter(ENV))
        .send()
        .await
        .unwrap();
    answer
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter(|i| i.state().and_then(|s| s.name()).map(|n| n.as_str()) == Some("running"))
        .flat_map(|i| i.block_device_mappings())
        .filter_map(|m| Some(m.ebs()?.volume_id()?.to_owned()))
        .collect()
}

/// Every key in `bucket` under `prefix`.
async fn keys(account: &Account, region: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let s3 = account.s3(region).await;
    let answer = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .unwrap();
    answer
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

async fn object(account: &Account, region: &str, bucket: &str, key: &str) -> Vec<u8> {
    let s3 = account.s3(region).await;
    let answer = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    answer.body.collect().await.unwrap().into_bytes().to_vec()
}

/// The environment applied, ready to be backed up.
async fn applied() -> (Account, std::path::PathBuf) {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    (account, spec)
}

fn backup(account: &Account, command: &str, spec: &Path, more: &[&str]) -> std::process::Output {
    let mut args = vec!["backup", command];
    args.extend_from_slice(more);
    account.aerie(&args, spec)
}

/// How many snapshots there are of each (kind, resource).
type Counts = BTreeMap<(&'static str, String), usize>;

/// Per run and region: what each snapshot is of (kind and resource), and
/// how many there are of each.
fn per_run(seen: &[Seen]) -> BTreeMap<(String, String), Counts> {
    let mut out: BTreeMap<_, BTreeMap<_, usize>> = BTreeMap::new();
    for s in seen {
        *out.entry((s.run.clone(), s.region.clone()))
            .or_default()
            .entry((s.kind, s.of.clone()))
            .or_default() += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_snapshots_the_database_and_every_volume_archives_the_artifacts_and_copies_all_to_the_dr_region()
 {
    let (account, spec) = applied().await;
    let run = backup(&account, "run", &spec, &[]);
    assert!(run.status.success(), "{}", text(&run));

    let seen = snapshots(&account).await;
    let runs: BTreeSet<&str> = seen.iter().map(|s| s.run.as_str()).collect();
    assert_eq!(runs.len(), 1, "one run: {seen:#?}");
    let run_id = runs.into_iter().next().unwrap().to_owned();
    let volumes = volumes(&account).await;
    assert_eq!(
        volumes.len(),
        5,
        "the bastion, two gateways, two traffic managers"
    );
    let mut wanted: Counts = volumes.iter().map(|v| (("ebs", v.clone()), 1)).collect();
    wanted.insert(("rds", format!("{ENV}-db")), 1);
    for region in [REGION, DR] {
        assert_eq!(
            per_run(&seen)[&(run_id.clone(), region.to_owned())],
            wanted,
            "one snapshot of each resource in {region}"
        );
    }
    // Every DR copy names a source that exists in the primary region.
    let sources: BTreeSet<&str> = seen
        .iter()
        .filter(|s| s.region == REGION)
        .map(|s| s.id.as_str())
        .collect();
    for copy in seen.iter().filter(|s| s.region == DR) {
        assert!(sources.contains(copy.copy_of.as_str()), "{copy:?}");
    }
    // The database's copy is encrypted with the DR region's key.
    let rds_dr = aws_sdk_rds::Client::new(&account.moto.sdk_config(DR).await);
    let copy = rds_dr.describe_db_snapshots().send().await.unwrap();
    let copy = copy
        .db_snapshots()
        .iter()
        .find(|s| {
            s.db_snapshot_identifier()
                .is_some_and(|id| id.contains(&run_id))
        })
        .unwrap();
    assert!(
        copy.kms_key_id()
            .is_some_and(|k| k.contains(&format!(":kms:{DR}:"))),
        "{copy:?}"
    );

    // Both buckets: private, versioned, encrypted, with the lifecycle.
    for region in [REGION, DR] {
        let s3 = account.s3(region).await;
        let name = bucket(region);
        let versioning = s3
            .get_bucket_versioning()
            .bucket(&name)
            .send()
            .await
            .unwrap();
        assert_eq!(
            versioning.status(),
            Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled)
        );
        s3.get_bucket_encryption()
            .bucket(&name)
            .send()
            .await
            .unwrap();
        let block = s3
            .get_public_access_block()
            .bucket(&name)
            .send()
            .await
            .unwrap();
        let block = block.public_access_block_configuration().unwrap();
        assert_eq!(block.block_public_acls(), Some(true));
        assert_eq!(block.restrict_public_buckets(), Some(true));
        let lifecycle = s3
            .get_bucket_lifecycle_configuration()
            .bucket(&name)
            .send()
            .await
            .unwrap();
        let archives = lifecycle
            .rules()
            .iter()
            .find(|r| r.filter().and_then(|f| f.prefix()) == Some("archives/"))
            .expect("a lifecycle rule for the archives");
        assert_eq!(archives.transitions()[0].days(), Some(30));
        assert_eq!(
            archives.transitions()[0].storage_class(),
            Some(&aws_sdk_s3::types::TransitionStorageClass::Glacier)
        );
        assert_eq!(archives.expiration().and_then(|e| e.days()), Some(90));

        // The artifacts archive: every bundle, checked against its digest.
        let archived = keys(&account, region, &name, "archives/").await;
        let artifacts: Vec<&String> = archived
            .iter()
            .filter(|k| k.contains("/artifacts-") && k.contains(&run_id))
            .collect();
        assert_eq!(artifacts.len(), 1, "{archived:?}");
        let body = object(&account, region, &name, artifacts[0]).await;
        let head = s3
            .head_object()
            .bucket(&name)
            .key(artifacts[0])
            .send()
            .await
            .unwrap();
        let digest: String = sha2::Sha256::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(head.metadata().unwrap()["sha256"], digest);
        let files = unpack(&body);
        let live = object(
            &account,
            REGION,
            &format!("aerie-{ENV}-{REGION}-artifacts"),
            "bundles/gateway-1.tar.gz",
        )
        .await;
        assert_eq!(files["bundles/gateway-1.tar.gz"], live);
        assert!(
            files.contains_key("bundles/traffic-manager-2.tar.gz"),
            "{:?}",
            files.keys()
        );

        // The manifest lists what was made.
        let manifest = object(&account, region, &name, &format!("runs/{run_id}.json")).await;
        let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let items = manifest["items"].as_array().unwrap();
        for s in seen.iter() {
            assert!(
                items.iter().any(|i| i["id"] == s.id.as_str()),
                "{} missing from the manifest in {region}",
                s.id
            );
        }
        assert!(
            keys(&account, region, &name, "in-progress/")
                .await
                .is_empty()
        );
    }

    // `list` shows each of them, with where it is.
    let list = backup(&account, "list", &spec, &["--format", "json"]);
    assert!(list.status.success(), "{}", text(&list));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).unwrap();
    for s in &seen {
        let row = rows
            .iter()
            .find(|r| r["id"] == s.id.as_str() && r["region"] == s.region.as_str())
            .unwrap_or_else(|| panic!("{s:?} not listed"));
        assert_eq!(row["state"], "good");
        assert_eq!(row["dr_copy"], s.region == DR);
    }
    assert_eq!(
        rows.iter().filter(|r| r["location"] == "S3").count(),
        2,
        "the artifacts archive in both regions (no monitor, no logs): {rows:#?}"
    );
}

/// Every completed run (a manifest in the primary bucket).
async fn manifests(account: &Account, region: &str) -> BTreeSet<String> {
    keys(account, region, &bucket(region), "runs/")
        .await
        .into_iter()
        .filter_map(|k| Some(k.strip_prefix("runs/")?.strip_suffix(".json")?.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_at_any_of_five_moments_is_finished_by_the_next_with_one_snapshot_of_each_resource_and_no_orphan()
 {
    let (account, spec) = applied().await;
    // The first run also makes the buckets; count a later one's calls.
    let first = backup(&account, "run", &spec, &[]);
    assert!(first.status.success(), "{}", text(&first));
    account.proxy.clear();
    let second = backup(&account, "run", &spec, &[]);
    assert!(second.status.success(), "{}", text(&second));
    let total = account.proxy.mutating_calls().len();
    assert!(total > 10, "{:?}", account.proxy.mutating_calls());

    for moment in [1, total / 4, total / 2, 3 * total / 4, total - 1] {
        account.proxy.stop_after_mutating(moment);
        let stopped = backup(&account, "run", &spec, &[]);
        assert!(
            !stopped.status.success(),
            "stopped after {moment} of {total} changes: {}",
            text(&stopped)
        );
        account.proxy.heal();
        let again = backup(&account, "run", &spec, &[]);
        assert!(again.status.success(), "{}", text(&again));
        assert!(
            text(&again).contains("interrupted"),
            "the next run finishes the stopped one: {}",
            text(&again)
        );
    }

    let seen = snapshots(&account).await;
    let volumes = volumes(&account).await;
    let mut wanted: Counts = volumes.iter().map(|v| (("ebs", v.clone()), 1)).collect();
    wanted.insert(("rds", format!("{ENV}-db")), 1);
    let runs = per_run(&seen);
    let finished = manifests(&account, REGION).await;
    assert_eq!(finished.len(), 7, "two runs and five finished ones");
    assert_eq!(finished, manifests(&account, DR).await);
    for ((run, region), made) in &runs {
        assert!(
            finished.contains(run),
            "run {run} has no manifest: an orphan"
        );
        assert_eq!(made, &wanted, "run {run} in {region}");
    }
    assert_eq!(runs.len(), 7 * 2, "every run in both regions");
    let sources: BTreeSet<&str> = seen
        .iter()
        .filter(|s| s.region == REGION)
        .map(|s| s.id.as_str())
        .collect();
    for copy in seen.iter().filter(|s| s.region == DR) {
        assert!(
            sources.contains(copy.copy_of.as_str()),
            "a copy without its source: {copy:?}"
        );
    }
    assert!(
        keys(&account, REGION, &bucket(REGION), "in-progress/")
            .await
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_or_failing_aws_is_retried_and_a_snapshot_quota_stops_the_run_with_a_clear_message()
 {
    let (account, spec) = applied().await;
    for call in [
        "CreateDBSnapshot",
        "CreateSnapshot",
        "CopyDBSnapshot",
        "CopySnapshot",
    ] {
        account.proxy.fail(call, 2, 400, "Throttling");
    }
    account
        .proxy
        .fail("DescribeDBSnapshots", 2, 503, "ServiceUnavailable");
    let run = backup(&account, "run", &spec, &[]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        account.proxy.injected().len() >= 10,
        "{:?}",
        account.proxy.injected()
    );

    account
        .proxy
        .fail("CreateDBSnapshot", 1, 400, "SnapshotQuotaExceeded");
    let refused = backup(&account, "run", &spec, &[]);
    assert!(!refused.status.success());
    let said = text(&refused);
    assert!(
        said.contains("CreateDBSnapshot") && said.contains("SnapshotQuotaExceeded"),
        "{said}"
    );
}

/// Tags of a backdated backup snapshot: of `of`, from a run `days` ago.
fn backdated(of: &str, days: i64) -> Vec<(String, String)> {
    let taken = chrono::Utc::now() - chrono::Duration::days(days);
    let run = taken.format("%Y%m%d-%H%M%S").to_string();
    vec![
        ("aerie:env".into(), ENV.into()),
        ("aerie:role".into(), "gateway-1".into()),
        ("aerie:backup".into(), run),
        ("aerie:of".into(), of.into()),
        (
            "aerie:taken".into(),
            taken.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        ),
    ]
}

/// An EBS snapshot of `volume` in `region`, from a run `days` ago.
async fn old_volume_snapshot(account: &Account, region: &str, volume: &str, days: i64) -> String {
    tagged_volume_snapshot(account, region, volume, backdated(volume, days)).await
}

/// An EBS snapshot of `volume` in `region` with `tags`.
async fn tagged_volume_snapshot(
    account: &Account,
    region: &str,
    volume: &str,
    tags: Vec<(String, String)>,
) -> String {
    let ec2 = aws_sdk_ec2::Client::new(&account.moto.sdk_config(region).await);
    let tags = tags.into_iter().fold(
        aws_sdk_ec2::types::TagSpecification::builder()
            .resource_type(aws_sdk_ec2::types::ResourceType::Snapshot),
        |spec, (k, v)| spec.tags(aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()),
    );
    let made = ec2
        .create_snapshot()
        .volume_id(volume)
        .tag_specifications(tags.build())
        .send()
        .await
        .unwrap();
    made.snapshot_id().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_what_the_policy_says_never_the_newest_and_nothing_of_a_run_in_progress() {
    let account = Account::start().await;
    let spec = example();
    let mut volume_of = BTreeMap::new();
    for region in [REGION, DR] {
        let ec2 = aws_sdk_ec2::Client::new(&account.moto.sdk_config(region).await);
        for name in ["a", "b"] {
            let made = ec2
                .create_volume()
                .availability_zone(format!("{region}a"))
                .size(8)
                .send()
                .await
                .unwrap();
            volume_of.insert((region, name), made.volume_id().unwrap().to_owned());
        }
    }
    // Keep 7 days in the primary region, 14 in the DR region (defaults).
    let mut expect_removed = BTreeSet::new();
    let mut expect_kept = BTreeSet::new();
    for (region, volume, days, removed) in [
        (REGION, "a", 1, false),
        (REGION, "a", 5, false),
        (REGION, "a", 8, true),
        (REGION, "a", 20, true),
        (REGION, "b", 30, false), // the newest of b, however old
        (REGION, "b", 40, true),
        (DR, "a", 10, false),
        (DR, "a", 15, true),
        (DR, "b", 60, false),
    ] {
        let id = old_volume_snapshot(&account, region, &volume_of[&(region, volume)], days).await;
        if removed {
            expect_removed.insert(id);
        } else {
            expect_kept.insert(id);
        }
    }
    // A run in progress, 25 days old (its marker is in the bucket).
    let volume = &volume_of[&(REGION, "a")];
    let tags = backdated(volume, 25);
    let stuck_run = tags[2].1.clone();
    let stuck = tagged_volume_snapshot(&account, REGION, volume, tags).await;
    expect_kept.insert(stuck.clone());
    let s3 = account.s3(REGION).await;
    account.create_bucket(&bucket(REGION)).await;
    s3.put_object()
        .bucket(bucket(REGION))
        .key(format!("in-progress/{stuck_run}"))
        .body(Vec::new().into())
        .send()
        .await
        .unwrap();

    let prune = backup(&account, "prune", &spec, &[]);
    assert!(prune.status.success(), "{}", text(&prune));
    let left: BTreeSet<String> = snapshots(&account)
        .await
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(left, expect_kept, "removed should be {expect_removed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_brings_a_days_archive_back_from_glacier_through_a_restore_and_checks_its_digest() {
    let (account, spec) = applied().await;
    let run = backup(&account, "run", &spec, &[]);
    assert!(run.status.success(), "{}", text(&run));
    let name = bucket(REGION);
    let key = keys(&account, REGION, &name, "archives/")
        .await
        .into_iter()
        .find(|k| k.contains("/artifacts-"))
        .unwrap();
    let original = object(&account, REGION, &name, &key).await;
    let s3 = account.s3(REGION).await;
    // What the lifecycle does after 30 days (moto never moves objects).
    s3.copy_object()
        .bucket(&name)
        .key(&key)
        .copy_source(format!("{name}/{key}"))
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Copy)
        .send()
        .await
        .unwrap();
    let head = s3
        .head_object()
        .bucket(&name)
        .key(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.storage_class(),
        Some(&aws_sdk_s3::types::StorageClass::Glacier)
    );
    // The restore stays in progress for three reads.
    account.moto.hold_status("s3::keyrestore", 3).await.unwrap();

    let day = key.split('/').nth(1).unwrap();
    let out = tempfile::tempdir().unwrap();
    let folder = out.path().to_str().unwrap();
    let fetch = backup(
        &account,
        "fetch",
        &spec,
        &[
            "--day",
            day,
            "--what",
            "artifacts",
            "--out",
            folder,
            "--poll",
            "100ms",
        ],
    );
    assert!(fetch.status.success(), "{}", text(&fetch));
    assert!(
        text(&fetch).contains("restore asked for"),
        "{}",
        text(&fetch)
    );
    assert!(
        account
            .proxy
            .calls()
            .iter()
            .any(|c| c.starts_with("s3:POST") && c.contains("?restore")),
        "{:?}",
        account.proxy.calls()
    );
    let written = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect::<Vec<_>>();
    assert_eq!(written.len(), 1);
    assert_eq!(std::fs::read(&written[0]).unwrap(), original);

    let missing = backup(
        &account,
        "fetch",
        &spec,
        &["--day", "2020-01-01", "--what", "logs", "--out", folder],
    );
    assert!(!missing.status.success());
    assert!(
        text(&missing).contains("no logs archive of 2020-01-01"),
        "{}",
        text(&missing)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_archives_yesterdays_logs_from_the_monitor_reports_its_success_and_a_failed_run_mails_the_backup_alert()
 {
    use aerie_system_tests::{INGEST_TOKEN, Monitor, OPERATOR_TOKEN, StoreKind};
    use aerie_testkit::{SmtpServer, wait_until};
    use std::time::Duration;

    let account = Account::start().await;
    // The alert goes by SMTP: moto 5.2's /moto-api/data.json, where its
    // SES mail is read, fails once an RDS instance exists.
    let smtp = SmtpServer::start("alerts@acme.example", "right")
        .await
        .unwrap();
    let monitor = Monitor::start_configured(
        StoreKind::Embedded,
        |dir| {
            std::fs::write(
                dir.join("rules.toml"),
                "[[rule]]\nname = \"backup-failed\"\nkind = \"log\"\nseverity = \"critical\"\nquery = \"log.level:ERROR AND logger:aerie.backup\"\nwindow = \"1m\"\nsummary = \"A backup of {{environment}} failed\"\n",
            )
            .unwrap();
            std::fs::write(dir.join("smtp-ca.pem"), smtp.certificate_pem()).unwrap();
            format!(
                "[alerting]\nrules_file = \"rules.toml\"\nevaluate_every = \"1s\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\nfrom = \"Aerie <aerie@ops.example>\"\ndashboard_url = \"http://monitor.example\"\n[alerting.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nusername = \"{}\"\npassword = \"right\"\nca_file = \"smtp-ca.pem\"\ntls_name = \"localhost\"\n",
                smtp.port(),
                smtp.user()
            )
        },
        account.moto.env(REGION),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("acme.toml");
    let text_of_spec = std::fs::read_to_string(example()).unwrap().replace(
        "url = \"https://monitor.ops.example:8443\"",
        &format!("url = \"{}\"", monitor.url()),
    );
    assert!(
        text_of_spec.contains(&monitor.url()),
        "the example's monitor line moved"
    );
    std::fs::write(&spec, text_of_spec).unwrap();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    // The monitor knows the environment by the token in Secrets Manager.
    aws_sdk_secretsmanager::Client::new(&account.moto.sdk_config(REGION).await)
        .put_secret_value()
        .secret_id(format!("aerie/{ENV}/ingest-token"))
        .secret_string(INGEST_TOKEN)
        .send()
        .await
        .unwrap();

    // Two lines of yesterday, one of today.
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let noon = yesterday.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let events: Vec<serde_json::Value> = [
        (noon, "gateway started"),
        (noon + chrono::Duration::minutes(5), "gateway serving"),
        (chrono::Utc::now(), "today's line"),
    ]
    .iter()
    .enumerate()
    .map(|(i, (at, message))| {
        serde_json::json!({
            "id": format!("{i:032x}"), "@timestamp": at, "kind": "log",
            "file": "/opt/wso2/repository/logs/wso2carbon.log", "level": "INFO",
            "message": message, "parsed": true,
        })
    })
    .collect();
    let answer = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("{}/api/v1/ingest", monitor.url()))
        .bearer_auth(INGEST_TOKEN)
        .json(&serde_json::json!({
            "environment": ENV, "host": "gateway-1", "agent": "test", "events": events,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    let run = account.aerie_with_env(
        &["backup", "run"],
        &spec,
        &[("AERIE_MONITOR_TOKEN", OPERATOR_TOKEN)],
    );
    assert!(run.status.success(), "{}", text(&run));
    for region in [REGION, DR] {
        let archived = keys(
            &account,
            region,
            &bucket(region),
            &format!("archives/{yesterday}/logs-"),
        )
        .await;
        assert_eq!(archived.len(), 1, "{archived:?}");
        let body = object(&account, region, &bucket(region), &archived[0]).await;
        let mut lines = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut lines)
            .unwrap();
        let mut messages: Vec<String> = lines
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["message"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        messages.sort();
        assert_eq!(messages, ["gateway serving", "gateway started"]);
    }
    let reported = monitor
        .get(&format!(
            "/api/v1/metrics?env={ENV}&name=aerie.backup.last_success.timestamp&from=now-1h&step=1s"
        ))
        .await
        .expect("the success is in the monitor");
    let newest = reported["series"][0]["points"]
        .as_array()
        .and_then(|p| p.last())
        .and_then(|p| p[1].as_f64())
        .unwrap();
    let age = chrono::Utc::now().timestamp() as f64 - newest;
    assert!((0.0..600.0).contains(&age), "{reported}");

    account
        .proxy
        .fail("CreateDBSnapshot", 1, 400, "SnapshotQuotaExceeded");
    let failed = account.aerie_with_env(
        &["backup", "run"],
        &spec,
        &[("AERIE_MONITOR_TOKEN", OPERATOR_TOKEN)],
    );
    assert!(!failed.status.success());
    let mail = wait_until(
        "the backup alert by mail",
        Duration::from_secs(30),
        async || {
            smtp.messages()
                .unwrap()
                .into_iter()
                .find(|m| m.data.contains("Subject: [FIRING") && m.data.contains("backup-failed"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
    assert!(
        mail.data.contains("SnapshotQuotaExceeded"),
        "the mail names what failed: {}",
        mail.data
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_runs_the_daily_backup_as_its_job_once_per_slot_and_its_backups_page_shows_the_last_good_ones_and_the_failure()
 {
    use aerie_system_tests::{Monitor, OPERATOR_TOKEN, StoreKind, password_hash};
    use aerie_testkit::wait_until;
    use std::time::Duration;

    let (account, spec) = applied().await;
    // The job's first run meets a full snapshot quota.
    account
        .proxy
        .fail("CreateDBSnapshot", 1, 400, "SnapshotQuotaExceeded");
    // The monitor's AWS calls go through the proxy too.
    let mut env = account.moto.env(REGION);
    env.retain(|(key, _)| *key != "AWS_ENDPOINT_URL");
    env.push(("AWS_ENDPOINT_URL", account.proxy.endpoint()));
    let hash = password_hash("the backup reviewer's passphrase");
    let monitor = Monitor::start_full(
        StoreKind::Embedded,
        "",
        &format!("backup_spec = \"{}\"\n", spec.display()),
        |_| {
            format!(
                "[jobs]\nbackup_every = \"1h\"\n\n[[user]]\nname = \"admin\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n"
            )
        },
        env,
    )
    .await;
    // It runs at start: no backup exists yet, so one is due, and fails.
    let status = wait_until(
        "the backup job's first run",
        Duration::from_secs(120),
        async || {
            let jobs = monitor.get("/api/v1/jobs").await?;
            let backup = jobs["backup"].clone();
            (backup["runs"].as_u64()? >= 1).then_some(backup)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", monitor.log()));
    assert!(
        status["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("SnapshotQuotaExceeded")),
        "{status}\n{}",
        monitor.log()
    );
    let run_now = async || -> serde_json::Value {
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/api/v1/jobs/backup/run", monitor.url()))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    // On demand: the open run is due and is finished.
    let done = run_now().await;
    assert!(
        done["last_result"]
            .as_str()
            .is_some_and(|r| r.starts_with("backed up acme-prod (run ")),
        "{done}\n{}",
        monitor.log()
    );
    let seen = snapshots(&account).await;
    let runs: BTreeSet<&str> = seen.iter().map(|s| s.run.as_str()).collect();
    assert_eq!(runs.len(), 1, "{seen:#?}");
    assert!(
        seen.iter().any(|s| s.region == DR),
        "copied to the DR region"
    );
    assert_eq!(manifests(&account, DR).await.len(), 1);

    // Again, within the same slot: nothing is due, nothing is made.
    let again = run_now().await;
    assert_eq!(again["last_result"], "no backup due", "{again}");
    assert_eq!(snapshots(&account).await, seen);
    // The success is in the monitor's own store, where `backup_age` looks.
    let reported = monitor
        .get("/api/v1/metrics?env=acme-prod&name=aerie.backup.last_success.timestamp&from=now-1h&step=1s")
        .await
        .expect("the success metric");
    assert_eq!(reported["series"][0]["host"], "aerie-backup", "{reported}");

    // The Backups page, in a browser.
    let (_browser, client, table) = crate::browser::open_signed_in(
        &monitor.url(),
        ("admin", "the backup reviewer's passphrase"),
        &format!("/env/{ENV}/backups"),
        "table#backups",
        "dashboard-backups",
    )
    .await;
    let rows: Vec<&str> = table.lines().skip(1).collect();
    let database = seen
        .iter()
        .find(|s| s.region == REGION && s.kind == "rds")
        .expect("the database's snapshot");
    let row_of = |of: &str| {
        rows.iter()
            .find(|r| r.contains(of))
            .unwrap_or_else(|| panic!("no row of {of} in {table}"))
    };
    let db_row = row_of(&database.of);
    assert!(
        db_row.contains(&database.id) && db_row.contains("within") && db_row.contains(DR),
        "{db_row}"
    );
    for volume in volumes(&account).await {
        let row = row_of(&volume);
        assert!(
            row.contains("ebs-snapshot") && row.contains("within") && row.contains(DR),
            "{row}"
        );
    }
    assert!(
        row_of("the environment's logs").contains("within"),
        "{table}"
    );
    let schedule = crate::browser::element_text(&client, "#backup-schedule").await;
    // The example's slot is 02:00 UTC; the page shows local time.
    let now = chrono::Utc::now();
    let today = now.date_naive().and_hms_opt(2, 0, 0).unwrap().and_utc();
    let next = if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    };
    let next = next
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    assert!(
        schedule.contains("RPO target 24 h")
            && schedule.contains(&format!("next run {next}"))
            && schedule.contains(&format!("copies to {DR}")),
        "{schedule}"
    );
    let failures = crate::browser::element_text(&client, "table#backup-failures").await;
    assert!(failures.contains("SnapshotQuotaExceeded"), "{failures}");
    client.close().await.unwrap();
}
