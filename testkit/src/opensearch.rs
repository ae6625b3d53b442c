//! A real OpenSearch (2.19, from Maven Central): one node, or a cluster of
//! several on loopback ports, each an in-process node started by the small
//! Java launcher in `testkit/opensearch` (built by `scripts/install-test-deps`)
//! the way OpenSearch's own test framework starts one. Each node keeps its
//! data in a folder of the test's own and stops when its handle is dropped.
//!
//! Readiness is read from `/_cluster/health` (OpenSearch sends no
//! `X-Elastic-Product` header): the cluster has all its nodes and is not red.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use crate::paths::{INSTALL_FIX, workspace_root};
use crate::poll::probe;
use crate::service::{Launch, ServiceProcess, free_port, lost_its_port};

/// The Java the launcher runs on (Debian's `openjdk-17-jdk-headless`).
const JAVA: &str = "/usr/bin/java";

/// One running OpenSearch node on 127.0.0.1.
#[derive(Debug)]
pub struct OpenSearch {
    process: ServiceProcess,
    url: String,
    _home: tempfile::TempDir,
}

/// Several OpenSearch nodes forming one cluster on loopback ports.
#[derive(Debug)]
pub struct OpenSearchCluster {
    nodes: Vec<OpenSearch>,
}

impl OpenSearch {
    /// Starts a single-node cluster and waits until it is green.
    pub async fn start() -> Result<Self, Error> {
        let transport = free_port()?;
        Self::start_node(transport, &[transport], &[]).await
    }

    /// A single node whose write pool has one thread and a queue of one:
    /// with a [`crate::WriteFlood`] beside it, it answers other writers
    /// `429` as a busy cluster does.
    pub async fn busy() -> Result<Self, Error> {
        let settings = [
            ("thread_pool.write.size", "1"),
            ("thread_pool.write.queue_size", "1"),
        ];
        let transport = free_port()?;
        Self::start_node(transport, &[transport], &settings).await
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the node with SIGKILL, as a crash would.
    pub fn kill_hard(&mut self) {
        self.process.kill_hard();
    }

    /// Starts the node whose transport port is `transport`, in the cluster
    /// of the nodes on `cluster` (transport ports, its own among them).
    async fn start_node(
        transport: u16,
        cluster: &[u16],
        settings: &[(&str, &str)],
    ) -> Result<Self, Error> {
        let jar = launcher_jar();
        if !jar.exists() {
            return Err(Error::NotInstalled {
                tool: "the OpenSearch launcher",
                path: jar,
                fix: INSTALL_FIX,
            });
        }
        let home = tempfile::tempdir().map_err(|source| Error::Io {
            what: "creating an OpenSearch home folder".into(),
            source,
        })?;
        let classpath = format!(
            "{}:{}",
            jar.display(),
            jar.with_file_name("lib").join("*").display()
        );
        let seeds = cluster
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let launch = Launch {
            service: "opensearch",
            program: Path::new(JAVA),
            fix: INSTALL_FIX,
            timeout: Duration::from_secs(180),
        };
        let nodes = cluster.len();
        let (process, port) = launch
            .start(
                |port| {
                    let mut args: Vec<std::ffi::OsString> = vec![
                        // A small heap: a test's node holds little.
                        "-Xms256m".into(),
                        "-Xmx256m".into(),
                        "-XX:+UseSerialGC".into(),
                        format!("-Djava.io.tmpdir={}", home.path().display()).into(),
                        "-cp".into(),
                        classpath.clone().into(),
                        "aerie.testkit.OpenSearchLauncher".into(),
                        home.path().into(),
                        port.to_string().into(),
                        transport.to_string().into(),
                        seeds.clone().into(),
                    ];
                    args.extend(settings.iter().map(|(k, v)| format!("{k}={v}").into()));
                    args
                },
                &[],
                async |port| healthy(port, nodes).await,
            )
            .await?;
        Ok(Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
            _home: home,
        })
    }
}

impl OpenSearchCluster {
    /// Starts `nodes` nodes together (each waits for the others to form the
    /// cluster) and returns once every one sees them all.
    /// A transport port taken by another program before its node bound it
    /// starts the whole cluster again on new ports.
    pub async fn start(nodes: usize) -> Result<Self, Error> {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let cluster = (0..nodes)
                .map(|_| free_port())
                .collect::<Result<Vec<_>, _>>()?;
            let starts = cluster
                .iter()
                .map(|&transport| OpenSearch::start_node(transport, &cluster, &[]));
            match futures_util::future::try_join_all(starts).await {
                Ok(started) => return Ok(Self { nodes: started }),
                Err(error) if attempt < ATTEMPTS && lost_its_port(&error) => continue,
                Err(error) => return Err(error),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Every node's base URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url.clone()).collect()
    }

    /// Node `index`.
    pub fn node(&mut self, index: usize) -> &mut OpenSearch {
        &mut self.nodes[index]
    }
}

/// The node on `port` answers its cluster's health with `nodes` nodes and a
/// status that is not red.
async fn healthy(port: u16, nodes: usize) -> bool {
    let url = format!("http://127.0.0.1:{port}/_cluster/health");
    let Some(response) = probe(&url).await else {
        return false;
    };
    let Ok(health) = response.json::<serde_json::Value>().await else {
        return false;
    };
    health["number_of_nodes"].as_u64() == Some(nodes as u64)
        && matches!(health["status"].as_str(), Some("green" | "yellow"))
}

/// `testkit/opensearch/target/opensearch-launcher.jar`, its dependencies in
/// `lib/` beside it.
fn launcher_jar() -> PathBuf {
    workspace_root()
        .join("testkit/opensearch/target")
        .join("opensearch-launcher.jar")
}
