//! A real MariaDB server (Debian's `mariadb-server`): a fresh data folder of
//! the test's own, on a free loopback port, stopped when the test ends. The
//! test talks to it with the real `mariadb` client (over its socket). With
//! [`MariaDb::start_tls`] TCP clients must use TLS.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::Error;
use crate::paths::INSTALL_FIX;
use crate::service::{Launch, ServiceProcess};

const SERVER: &str = "/usr/sbin/mariadbd";
const INSTALL_DB: &str = "/usr/bin/mariadb-install-db";
const CLIENT: &str = "/usr/bin/mariadb";

/// A running MariaDB server on 127.0.0.1.
#[derive(Debug)]
pub struct MariaDb {
    _process: ServiceProcess,
    port: u16,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl MariaDb {
    /// Initialises a data folder and starts the server on it.
    pub async fn start() -> Result<Self, Error> {
        Self::start_with(None).await
    }

    /// As [`MariaDb::start`], with TLS on `certificate` (its name is what
    /// clients check) and no connection over TCP without it.
    pub async fn start_tls(certificate: &crate::Issued) -> Result<Self, Error> {
        Self::start_with(Some(certificate)).await
    }

    async fn start_with(tls: Option<&crate::Issued>) -> Result<Self, Error> {
        for (tool, path) in [("mariadb-install-db", INSTALL_DB), ("mariadb", CLIENT)] {
            if !Path::new(path).exists() {
                return Err(Error::NotInstalled {
                    tool,
                    path: path.into(),
                    fix: INSTALL_FIX,
                });
            }
        }
        let dir = tempfile::tempdir().map_err(|source| Error::Io {
            what: "creating the MariaDB folder".into(),
            source,
        })?;
        let data = dir.path().join("data");
        let socket = dir.path().join("mariadb.sock");
        let user = whoami();
        let installed = Command::new(INSTALL_DB)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--user={user}"))
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            // Its own temporary folder: installs running at once in the
            // shared /tmp trip over each other's temporary tables.
            .arg(format!("--tmpdir={}", dir.path().display()))
            .stdout(Stdio::null())
            .output()
            .map_err(|source| Error::Io {
                what: format!("running {INSTALL_DB}"),
                source,
            })?;
        if !installed.status.success() {
            return Err(Error::Other(format!(
                "{INSTALL_DB} failed: {}",
                String::from_utf8_lossy(&installed.stderr)
            )));
        }
        let launch = Launch {
            service: "mariadb",
            program: Path::new(SERVER),
            fix: INSTALL_FIX,
            timeout: Duration::from_secs(60),
        };
        let mut tls_args: Vec<std::ffi::OsString> = Vec::new();
        if let Some(certificate) = tls {
            let (cert, key) = certificate.write(dir.path(), "server")?;
            tls_args.push(format!("--ssl-cert={}", cert.display()).into());
            tls_args.push(format!("--ssl-key={}", key.display()).into());
            tls_args.push("--require-secure-transport=ON".into());
        }
        let socket_arg = socket.clone();
        let (process, port) = launch
            .start(
                |port| {
                    vec![
                        "--no-defaults".into(),
                        format!("--datadir={}", data.display()).into(),
                        format!("--socket={}", socket_arg.display()).into(),
                        format!(
                            "--pid-file={}",
                            dir_of(&socket_arg).join("mariadb.pid").display()
                        )
                        .into(),
                        format!("--port={port}").into(),
                        "--bind-address=127.0.0.1".into(),
                        format!("--user={user}").into(),
                        "--skip-name-resolve".into(),
                        "--innodb-buffer-pool-size=16M".into(),
                        format!("--tmpdir={}", dir_of(&socket_arg).display()).into(),
                    ]
                    .into_iter()
                    .chain(tls_args.iter().cloned())
                    .collect()
                },
                &[],
                async |_port| socket_arg.exists(),
            )
            .await?;
        Ok(Self {
            _process: process,
            port,
            socket,
            _dir: dir,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs `sql` as the server's root user (through its socket).
    pub fn root(&self, sql: &str) -> Output {
        self.client(
            &[
                format!("--socket={}", self.socket.display()),
                "--user=root".into(),
            ],
            sql,
        )
    }

    /// Runs `sql` as `user` with `password` over TCP, as a product node does.
    pub fn as_user(&self, user: &str, password: &str, sql: &str) -> Output {
        let mut command = self.command(&[
            "--host=127.0.0.1".to_owned(),
            format!("--port={}", self.port),
            format!("--user={user}"),
        ]);
        command.env("MYSQL_PWD", password);
        run(command, sql)
    }

    fn client(&self, args: &[String], sql: &str) -> Output {
        run(self.command(args), sql)
    }

    fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(CLIENT);
        command
            .arg("--no-defaults")
            .args(args)
            .args(["--batch", "--skip-column-names"]);
        command
    }
}

fn run(mut command: Command, sql: &str) -> Output {
    use std::io::Write;
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{CLIENT}: {e}"));
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(sql.as_bytes())
        .expect("the client reads its input");
    child.wait_with_output().expect("the client ends")
}

fn dir_of(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The user the server runs as (this process's).
fn whoami() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            let output = Command::new("id").arg("-un").output();
            output
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
                .unwrap_or_else(|| "root".into())
        })
}
