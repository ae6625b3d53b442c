//! Health-gated rolling upgrades: moto for the instances, the real
//! `aerie-monitor`, and for each node a real `aerie-agent` reporting as that
//! node, whose product health URL is a small HTTP server this test
//! controls. The rollout goes traffic managers first, one node at a time,
//! never both traffic managers down; a node that never turns healthy stops
//! it with the rest untouched, and the next apply resumes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use aerie_system_tests::{Agent, INGEST_TOKEN, Monitor, OPERATOR_TOKEN};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::provisioner::{Account, env_filter, example, text};

/// A health URL answering the status the test sets.
struct HealthServer {
    url: String,
    status: Arc<AtomicU16>,
    task: tokio::task::JoinHandle<()>,
}

impl HealthServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/health", listener.local_addr().unwrap());
        let status = Arc::new(AtomicU16::new(200));
        let answer = status.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let status = answer.load(Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = [0u8; 2048];
                    let _ = stream.read(&mut request).await;
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                });
            }
        });
        Self { url, status, task }
    }
}

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const NODES: [&str; 5] = [
    "traffic-manager-1",
    "traffic-manager-2",
    "gateway-1",
    "gateway-2",
    "gateway-3",
];

/// The running instance id of each node, by role.
async fn ids(account: &Account) -> BTreeMap<String, String> {
    let answer = account
        .ec2()
        .await
        .describe_instances()
        .filters(env_filter("acme-prod"))
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("instance-state-name")
                .values("running")
                .build(),
        )
        .send()
        .await
        .unwrap();
    answer
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .map(|i| {
            let role = i
                .tags()
                .iter()
                .find(|t| t.key() == Some("aerie:role"))
                .and_then(|t| t.value())
                .unwrap();
            (role.to_owned(), i.instance_id().unwrap().to_owned())
        })
        .collect()
}

/// An applied environment with three gateways shipping to a real monitor,
/// an agent per node reporting its product's health, and a spec whose
/// product version is then raised (every node to be replaced).
struct Stage {
    account: Account,
    _monitor: Monitor,
    _dir: tempfile::TempDir,
    spec: std::path::PathBuf,
    servers: BTreeMap<&'static str, HealthServer>,
    _agents: Vec<Agent>,
    before: BTreeMap<String, String>,
}

async fn stage() -> Stage {
    let account = Account::start().await;
    let monitor = Monitor::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("acme.toml");
    let original = std::fs::read_to_string(example())
        .unwrap()
        .replace(
            "private subnets.\ncount = 2\n",
            "private subnets.\ncount = 3\n",
        )
        .replace("https://monitor.ops.example:8443", &monitor.url());
    assert!(original.contains(&monitor.url()) && original.contains("count = 3"));
    std::fs::write(&spec, &original).unwrap();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let before = ids(&account).await;
    // Each node's agent, reporting its product's health every second.
    let mut servers = BTreeMap::new();
    let mut agents = Vec::new();
    for role in NODES {
        let server = HealthServer::start().await;
        agents.push(Agent::start_with_config(&format!(
            "environment = \"acme-prod\"\nhost = \"{role}\"\ndata_dir = \"data\"\ninterval = \"1s\"\n[monitor]\nurl = \"{}\"\ntoken = \"{INGEST_TOKEN}\"\n[[health]]\nname = \"product\"\nurl = \"{}\"\ntimeout = \"1s\"\n",
            monitor.url(),
            server.url
        )));
        servers.insert(role, server);
    }
    let upgraded = original.replace("product_version = \"2.0.0\"", "product_version = \"2.1.0\"");
    std::fs::write(&spec, &upgraded).unwrap();
    Stage {
        account,
        _monitor: monitor,
        _dir: dir,
        spec,
        servers,
        _agents: agents,
        before,
    }
}

/// `aerie env apply` gated by the monitor (a short timeout).
fn rollout(stage: &Stage) -> std::process::Output {
    let mut command = std::process::Command::new(aerie_system_tests::binary("aerie"));
    command
        .args(["env", "apply", "--yes", "--health-timeout", "8s", "--spec"])
        .arg(&stage.spec);
    for (key, value) in stage.account.moto.env(crate::provisioner::REGION) {
        command.env(key, value);
    }
    command
        .env("AWS_ENDPOINT_URL", stage.account.proxy.endpoint())
        .env("AERIE_AWS_ATTEMPTS", "8")
        .env("AERIE_MONITOR_TOKEN", OPERATOR_TOKEN);
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_goes_node_by_node_stops_at_an_unhealthy_one_and_resumes_after_the_fix() {
    let stage = stage().await;
    let (account, before) = (&stage.account, &stage.before);
    stage.servers["gateway-2"]
        .status
        .store(500, Ordering::SeqCst);
    let plan = text(&account.aerie(&["env", "plan"], &stage.spec));
    assert!(
        plan.contains("Rolling replacement, each node healthy in the monitor before the next: traffic-manager-1, traffic-manager-2, gateway-1, gateway-2, gateway-3."),
        "{plan}"
    );
    account.proxy.clear();
    let stopped = rollout(&stage);
    assert!(!stopped.status.success(), "{}", text(&stopped));
    let out = text(&stopped);
    assert!(
        out.contains("gateway-2 did not report healthy within 8s") && out.contains("HTTP 500"),
        "{out}"
    );
    let during = ids(account).await;
    for role in [
        "traffic-manager-1",
        "traffic-manager-2",
        "gateway-1",
        "gateway-2",
    ] {
        assert_ne!(during[role], before[role], "{role} was not replaced");
    }
    assert_eq!(
        during["gateway-3"], before["gateway-3"],
        "gateway-3 was touched"
    );
    // One node down at a time: every termination is followed by a launch
    // before the next termination.
    let calls: Vec<String> = account
        .proxy
        .mutating_calls()
        .into_iter()
        .filter(|c| c == "TerminateInstances" || c == "RunInstances")
        .collect();
    assert_eq!(
        calls,
        ["TerminateInstances", "RunInstances"].repeat(4),
        "two nodes were down at once"
    );

    // Fixed: the next apply replaces only what is left.
    stage.servers["gateway-2"]
        .status
        .store(200, Ordering::SeqCst);
    let resumed = rollout(&stage);
    assert!(resumed.status.success(), "{}", text(&resumed));
    let after = ids(account).await;
    assert_eq!(
        after["gateway-2"], during["gateway-2"],
        "gateway-2 was replaced again"
    );
    assert_ne!(
        after["gateway-3"], before["gateway-3"],
        "gateway-3 was not replaced"
    );
    assert_eq!(
        after.len(),
        6,
        "one of each node and the bastion: {after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_stopped_after_a_node_went_down_converges_with_one_of_each_node() {
    let stage = stage().await;
    let account = &stage.account;
    // The run dies right after the first node is terminated, before its
    // replacement is launched.
    account.proxy.clear();
    account.proxy.stop_after("TerminateInstances");
    let killed = rollout(&stage);
    assert!(!killed.status.success(), "{}", text(&killed));
    assert_eq!(ids(account).await.len(), 5, "one node is down");
    account.proxy.heal();
    let again = rollout(&stage);
    assert!(again.status.success(), "{}", text(&again));
    // The rest in order, one by one (the first node, gone, is made anew).
    let replaced: Vec<String> = text(&again)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("-/+ replaced instance "))
        .map(|l| l.split(' ').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        replaced,
        ["traffic-manager-2", "gateway-1", "gateway-2", "gateway-3"],
        "{}",
        text(&again)
    );
    let after = ids(account).await;
    assert_eq!(
        after.len(),
        6,
        "one of each node and the bastion: {after:?}"
    );
    for role in NODES {
        assert_ne!(after[role], stage.before[role], "{role} was not replaced");
    }
    let plan = text(&account.aerie(&["env", "plan"], &stage.spec));
    assert!(plan.starts_with("No changes."), "{plan}");
}
