//! A real Prometheus server (Debian's `prometheus`) scraping the targets a
//! test gives it every second, with its data in a temporary folder, on a
//! free loopback port; and its HTTP query API, to read a value back.

use std::path::Path;
use std::time::Duration;

use crate::Error;
use crate::poll::http_ready;
use crate::service::{Launch, ServiceProcess};

/// Where Debian installs it.
const PROGRAM: &str = "/usr/bin/prometheus";

/// What Prometheus scrapes: `host:port`, the path, and the bearer token
/// it sends, if any.
#[derive(Debug, Clone)]
pub struct Scrape {
    pub target: String,
    pub path: String,
    pub bearer: Option<String>,
}

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    _process: ServiceProcess,
    _dir: tempfile::TempDir,
    url: String,
}

impl Prometheus {
    /// Starts one scraping each of `jobs` every second.
    pub async fn start(jobs: &[Scrape]) -> Result<Self, Error> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| Error::Io { what, source }
        };
        let dir = tempfile::tempdir().map_err(io("a folder for prometheus"))?;
        let config = dir.path().join("prometheus.yml");
        let mut yaml =
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n".to_owned();
        for (index, job) in jobs.iter().enumerate() {
            yaml.push_str(&format!(
                "  - job_name: job{index}\n    metrics_path: '{}'\n    static_configs:\n      - targets: ['{}']\n",
                job.path, job.target
            ));
            if let Some(token) = &job.bearer {
                yaml.push_str(&format!(
                    "    authorization:\n      credentials: '{token}'\n"
                ));
            }
        }
        std::fs::write(&config, yaml).map_err(io("prometheus.yml"))?;
        let data = dir.path().join("data");
        let launch = Launch {
            service: "prometheus",
            program: Path::new(PROGRAM),
            fix: "scripts/install-test-deps (it installs Debian's prometheus package)",
            timeout: Duration::from_secs(60),
        };
        let (process, port) = launch
            .start(
                |port| {
                    vec![
                        format!("--config.file={}", config.display()).into(),
                        format!("--storage.tsdb.path={}", data.display()).into(),
                        format!("--web.listen-address=127.0.0.1:{port}").into(),
                    ]
                },
                &[],
                async |port| http_ready(&format!("http://127.0.0.1:{port}/-/ready"), None).await,
            )
            .await?;
        Ok(Self {
            _process: process,
            _dir: dir,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// The value of instant query `query` (the first series'), if it has one.
    pub async fn value(&self, query: &str) -> Result<Option<f64>, Error> {
        let answer: serde_json::Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", query)])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|source| Error::Http {
                what: format!("asking prometheus {query:?}"),
                source,
            })?
            .json()
            .await
            .map_err(|source| Error::Http {
                what: format!("prometheus's answer to {query:?}"),
                source,
            })?;
        Ok(answer["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok()))
    }
}
