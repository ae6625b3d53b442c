//! Headless Debian Chromium, driven over WebDriver: `chromedriver` runs on a
//! free port and starts a browser for every session.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Error;
use crate::paths::INSTALL_FIX;
use crate::poll::probe;
use crate::service::{Launch, ServiceProcess};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Flags for a headless browser on a machine with no network but loopback:
/// without the background-networking ones Chromium keeps trying to reach
/// Google's hosts.
const FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,900",
];

/// A running chromedriver that opens headless Chromium sessions.
#[derive(Debug)]
pub struct Chromium {
    _process: ServiceProcess,
    webdriver_url: String,
}

impl Chromium {
    pub async fn start() -> Result<Self, Error> {
        if !Path::new(CHROMIUM).exists() {
            return Err(Error::NotInstalled {
                tool: "chromium",
                path: PathBuf::from(CHROMIUM),
                fix: INSTALL_FIX,
            });
        }
        let program = PathBuf::from(CHROMEDRIVER);
        let launch = Launch {
            service: "chromedriver",
            program: &program,
            fix: INSTALL_FIX,
            timeout: Duration::from_secs(30),
        };
        let (process, port) = launch
            .start(
                |port| vec![format!("--port={port}").into()],
                &[],
                async |port| driver_ready(port).await,
            )
            .await?;
        Ok(Self {
            _process: process,
            webdriver_url: format!("http://127.0.0.1:{port}"),
        })
    }

    /// A new browser session. Close it with `client.close().await`; any left
    /// open dies with this handle.
    pub async fn session(&self) -> Result<fantoccini::Client, Error> {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({ "binary": CHROMIUM, "args": FLAGS }),
        );
        fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.webdriver_url)
            .await
            .map_err(|error| Error::Other(format!("opening a Chromium session: {error}")))
    }
}

/// Saves a screenshot of the session's page to `target/test-artifacts/NAME.png`
/// and returns its path: every browser test leaves one behind.
pub async fn screenshot(client: &fantoccini::Client, name: &str) -> Result<PathBuf, Error> {
    let png = client
        .screenshot()
        .await
        .map_err(|error| Error::Other(format!("taking screenshot {name}: {error}")))?;
    let path = crate::artifact_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).map_err(|source| Error::Io {
        what: format!("writing {}", path.display()),
        source,
    })?;
    Ok(path)
}

/// chromedriver's `/status` says `ready: true`.
async fn driver_ready(port: u16) -> bool {
    let Some(response) = probe(&format!("http://127.0.0.1:{port}/status")).await else {
        return false;
    };
    response
        .json::<serde_json::Value>()
        .await
        .is_ok_and(|status| status["value"]["ready"] == true)
}
