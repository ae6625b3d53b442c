//! tinyproxy (Debian): a real HTTP proxy, for agents behind a customer's proxy.

use std::path::PathBuf;
use std::time::Duration;

use crate::Error;
use crate::paths::INSTALL_FIX;
use crate::service::{Launch, ServiceProcess};

/// A running tinyproxy on 127.0.0.1.
#[derive(Debug)]
pub struct Tinyproxy {
    process: ServiceProcess,
    url: String,
    _dir: tempfile::TempDir,
}

impl Tinyproxy {
    /// A proxy that forwards requests from loopback clients.
    pub async fn start() -> Result<Self, Error> {
        Self::start_allowing("127.0.0.1").await
    }

    /// A proxy that refuses every client on loopback (it allows only an
    /// address no test connects from): requests through it get a 403.
    pub async fn start_refusing() -> Result<Self, Error> {
        Self::start_allowing("192.0.2.1").await
    }

    async fn start_allowing(allow: &str) -> Result<Self, Error> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            what: "creating tinyproxy's folder".into(),
            source,
        })?;
        let program = PathBuf::from("/usr/bin/tinyproxy");
        let launch = Launch {
            service: "tinyproxy",
            program: &program,
            fix: INSTALL_FIX,
            timeout: Duration::from_secs(20),
        };
        let config_dir = dir.path().to_path_buf();
        let allow = allow.to_owned();
        let (process, port) = launch
            .start(
                |port| {
                    let config = config_dir.join(format!("tinyproxy-{port}.conf"));
                    let text = format!(
                        "Port {port}\nListen 127.0.0.1\nTimeout 30\nAllow {allow}\nLogLevel Info\nMaxClients 50\n"
                    );
                    std::fs::write(&config, text).expect("writing tinyproxy's config");
                    vec!["-d".into(), "-c".into(), config.into()]
                },
                &[],
                async |port| tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok(),
            )
            .await?;
        Ok(Self {
            process,
            url: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What tinyproxy has logged so far (each request it handled or refused).
    pub fn log(&self) -> String {
        self.process.log_tail(usize::MAX)
    }
}
