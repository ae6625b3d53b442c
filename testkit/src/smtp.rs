//! A real SMTP server (aiosmtpd) that requires STARTTLS and AUTH, with a
//! certificate made for the test, and keeps every accepted message where the
//! test can read it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::AsyncReadExt;

use crate::Error;
use crate::paths::{INSTALL_FIX, venv, workspace_root};
use crate::service::{Launch, ServiceProcess};

/// A running SMTP server on 127.0.0.1.
#[derive(Debug)]
pub struct SmtpServer {
    _process: ServiceProcess,
    port: u16,
    user: String,
    password: String,
    certificate_pem: String,
    dir: tempfile::TempDir,
}

/// One message the server accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// Whether the client had logged in when it sent the message.
    pub authenticated: bool,
    /// Whether the session was under STARTTLS.
    pub tls: bool,
    /// The whole message: headers and body as sent.
    pub data: String,
}

impl SmtpServer {
    /// Starts a server that accepts `user` / `password` after STARTTLS.
    pub async fn start(user: &str, password: &str) -> Result<Self, Error> {
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            what: "creating the SMTP server's folder".into(),
            source,
        })?;
        let certified = rcgen::generate_simple_self_signed(vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
        ])
        .map_err(|error| Error::Other(format!("making the SMTP test certificate: {error}")))?;
        let certificate_pem = certified.cert.pem();
        let write = |name: &str, contents: &str| -> Result<PathBuf, Error> {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).map_err(|source| Error::Io {
                what: format!("writing {}", path.display()),
                source,
            })?;
            Ok(path)
        };
        let cert = write("cert.pem", &certificate_pem)?;
        let key = write("key.pem", &certified.signing_key.serialize_pem())?;
        // The password goes through a file, not the command line `ps` shows.
        let password_file = write("password", password)?;
        let spool = dir.path().join("spool");
        let script = workspace_root().join("testkit/py/smtp_server.py");

        let python = venv().join("bin").join("python");
        let launch = Launch {
            service: "smtp-server",
            program: &python,
            fix: INSTALL_FIX,
            timeout: Duration::from_secs(30),
        };
        let (process, port) = launch
            .start(
                |port| {
                    vec![
                        script.clone().into(),
                        "--port".into(),
                        port.to_string().into(),
                        "--cert".into(),
                        cert.clone().into(),
                        "--key".into(),
                        key.clone().into(),
                        "--user".into(),
                        user.into(),
                        "--password-file".into(),
                        password_file.clone().into(),
                        "--spool".into(),
                        spool.clone().into(),
                    ]
                },
                &[("PYTHONUNBUFFERED", "1")],
                async |port| greets(port).await,
            )
            .await?;
        Ok(Self {
            _process: process,
            port,
            user: user.to_owned(),
            password: password.to_owned(),
            certificate_pem,
            dir,
        })
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// The server's self-signed certificate, for the client's trust store.
    /// It names `localhost` and `127.0.0.1`.
    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    /// Every message accepted so far, oldest first.
    pub fn messages(&self) -> Result<Vec<ReceivedMail>, Error> {
        read_spool(&self.dir.path().join("spool"))
    }

    /// Logins the server refused so far, one `MECHANISM login` per line.
    pub fn auth_failures(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("spool/auth-failures.log"))
            .map(|text| text.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

fn read_spool(spool: &Path) -> Result<Vec<ReceivedMail>, Error> {
    let mut paths: Vec<PathBuf> = match std::fs::read_dir(spool) {
        Ok(entries) => entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Io {
                what: format!("reading {}", spool.display()),
                source,
            });
        }
    };
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
                what: format!("reading {}", path.display()),
                source,
            })?;
            serde_json::from_str(&text)
                .map_err(|error| Error::Other(format!("{}: {error}", path.display())))
        })
        .collect()
}

/// Whether an SMTP server on `port` sends its `220` greeting.
async fn greets(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let mut greeting = [0u8; 3];
        stream.read_exact(&mut greeting).await.ok()?;
        Some(&greeting == b"220")
    };
    tokio::time::timeout(Duration::from_secs(1), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}
