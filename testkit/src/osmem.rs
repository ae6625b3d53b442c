//! `osmem-server`: an in-memory Elasticsearch-compatible server. Its wheel
//! ships the binary inside the package and installs no console script.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;
use crate::paths::{INSTALL_FIX, venv};
use crate::poll::http_ready;
use crate::service::{Launch, ServiceProcess};

/// A running `osmem-server` on 127.0.0.1.
#[derive(Debug)]
pub struct OsmemServer {
    _process: ServiceProcess,
    url: String,
}

impl OsmemServer {
    pub async fn start() -> Result<Self, Error> {
        let program = binary();
        let launch = Launch {
            service: "osmem-server",
            program: &program,
            fix: INSTALL_FIX,
            timeout: Duration::from_secs(30),
        };
        let (process, port) = launch
            .start(
                |port| {
                    vec![
                        "-addr".into(),
                        format!("127.0.0.1:{port}").into(),
                        "-no-stdin-watch".into(),
                    ]
                },
                &[],
                async |port| {
                    http_ready(
                        &format!("http://127.0.0.1:{port}/"),
                        Some(("x-elastic-product", "Elasticsearch")),
                    )
                    .await
                },
            )
            .await?;
        Ok(Self {
            _process: process,
            url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// `<venv>/lib/python3.X/site-packages/osmem_server/bin/osmem-server`.
fn binary() -> PathBuf {
    let lib = venv().join("lib");
    std::fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| {
            entry
                .path()
                .join("site-packages/osmem_server/bin/osmem-server")
        })
        .find(|path| path.exists())
        .unwrap_or_else(|| lib.join("python3/site-packages/osmem_server/bin/osmem-server"))
}
