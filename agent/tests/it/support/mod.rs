//! What the agent's integration tests share: a receiver that records every
//! event it is sent (a small HTTP server speaking the ingest API), and a
//! runner for the real `aerie-agent` binary.

#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aerie_testkit::{ServiceProcess, wait_until};
use aerie_wire::{Event, EventBody, IngestRequest, IngestResponse};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

pub const TOKEN: &str = "test-ingest-token";

#[derive(Debug, Default)]
struct Received {
    /// Every event, in arrival order, duplicates included.
    events: Vec<Event>,
    requests: usize,
    /// Each request's `Content-Encoding` ("" for none), in arrival order.
    encodings: Vec<String>,
}

/// The receiver's address stays the same across stop and start.
pub struct Receiver {
    address: SocketAddr,
    received: Arc<Mutex<Received>>,
    server: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
}

async fn ingest(
    State(received): State<Arc<Mutex<Received>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<IngestResponse>, StatusCode> {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {TOKEN}")) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    let encoding = headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let json = match encoding.as_str() {
        "gzip" => {
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut text)
                .map_err(|_| StatusCode::BAD_REQUEST)?;
            text
        }
        "zstd" => zstd::decode_all(&body[..]).map_err(|_| StatusCode::BAD_REQUEST)?,
        "" => body.to_vec(),
        _ => return Err(StatusCode::UNSUPPORTED_MEDIA_TYPE),
    };
    let request: IngestRequest =
        serde_json::from_slice(&json).map_err(|_| StatusCode::BAD_REQUEST)?;
    let mut received = received.lock().unwrap();
    received.requests += 1;
    received.encodings.push(encoding);
    let accepted = request.events.len() as u64;
    received.events.extend(request.events);
    Ok(axum::Json(IngestResponse {
        accepted,
        duplicates: 0,
        rejected: Vec::new(),
    }))
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let mut receiver = Self {
            address,
            received: Arc::default(),
            server: None,
        };
        receiver.up().await;
        receiver
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Starts serving again on the same address.
    pub async fn up(&mut self) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(self.address).unwrap();
        let listener = socket.listen(1024).unwrap();
        let app = axum::Router::new()
            .route(aerie_wire::INGEST_PATH, axum::routing::post(ingest))
            .layer(axum::extract::DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(Arc::clone(&self.received));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        self.server = Some((stop, task));
    }

    /// Stops serving: connections are refused until [`Receiver::up`].
    pub async fn down(&mut self) {
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(());
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Each request's `Content-Encoding` ("" for none), in arrival order.
    pub fn encodings(&self) -> Vec<String> {
        self.received.lock().unwrap().encodings.clone()
    }

    pub fn events(&self) -> Vec<Event> {
        self.received.lock().unwrap().events.clone()
    }

    /// The latest value received of metric `name` whose labels include `labels`.
    pub fn latest_metric(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.events()
            .into_iter()
            .rev()
            .find_map(|event| match event.body {
                EventBody::Metric {
                    name: found,
                    value,
                    labels: have,
                } if found == name
                    && labels
                        .iter()
                        .all(|(k, v)| have.get(*k).map(String::as_str) == Some(*v)) =>
                {
                    Some(value)
                }
                _ => None,
            })
    }

    /// Log events, as (id, message) in arrival order.
    pub fn log_lines(&self) -> Vec<(String, String)> {
        self.events()
            .into_iter()
            .filter_map(|event| match event.body {
                EventBody::Log { message, .. } => Some((event.id, message)),
                _ => None,
            })
            .collect()
    }

    /// Waits until `count` distinct log events with a `seq=` number arrived.
    pub async fn wait_for_lines(&self, count: usize, timeout: Duration) -> Vec<(String, String)> {
        wait_until(
            &format!("{count} distinct log lines"),
            timeout,
            async || {
                let lines = self.log_lines();
                let distinct: std::collections::HashSet<&str> =
                    lines.iter().map(|(id, _)| id.as_str()).collect();
                (distinct.len() >= count).then_some(lines.clone())
            },
        )
        .await
        .unwrap_or_else(|error| {
            let lines = self.log_lines();
            let distinct: std::collections::HashSet<&str> =
                lines.iter().map(|(id, _)| id.as_str()).collect();
            panic!(
                "{error}: {} distinct of {} received",
                distinct.len(),
                lines.len()
            )
        })
    }
}

/// The sequence number a test line carries (`seq=<n>`).
pub fn seq_of(message: &str) -> Option<u64> {
    let rest = &message[message.find("seq=")? + 4..];
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Checks that every line 0..count arrived, and that ids and lines map one to
/// one (a resent line keeps its id; no line arrives under two ids).
pub fn assert_every_line_once(lines: &[(String, String)], count: u64) {
    let mut by_id: HashMap<&str, u64> = HashMap::new();
    let mut by_seq: HashMap<u64, &str> = HashMap::new();
    for (id, message) in lines {
        let seq = seq_of(message).unwrap_or_else(|| panic!("no seq in {message:?}"));
        if let Some(previous) = by_id.insert(id, seq) {
            assert_eq!(previous, seq, "id {id} names two lines");
        }
        if let Some(previous) = by_seq.insert(seq, id) {
            assert_eq!(previous, id, "line {seq} arrived under two ids");
        }
    }
    let missing: Vec<u64> = (0..count)
        .filter(|seq| !by_seq.contains_key(seq))
        .take(10)
        .collect();
    assert!(
        missing.is_empty(),
        "lines never arrived (first ten): {missing:?}"
    );
    assert_eq!(
        by_seq.len() as u64,
        count,
        "lines beyond the {count} written arrived"
    );
}

/// A product log line with a sequence number.
pub fn product_line(seq: u64) -> String {
    format!("[2026-11-21 10:00:00,000]  INFO - TestWriter seq={seq} request handled in 12 ms\n")
}

/// Appends the product lines `seqs` to `path` (created if needed).
pub fn append_lines(path: &Path, seqs: std::ops::Range<u64>) {
    use std::io::Write;
    let mut file = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap(),
    );
    for seq in seqs {
        file.write_all(product_line(seq).as_bytes()).unwrap();
    }
    file.flush().unwrap();
}

/// The real agent, run from a config the test writes.
pub struct Agent {
    pub dir: tempfile::TempDir,
    config: PathBuf,
    process: Option<ServiceProcess>,
}

impl Agent {
    /// An agent whose data directory lives in a fresh folder; `sections` is
    /// TOML appended after the common part (destination, logs, ...).
    pub fn new(sections: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agent.toml");
        let text = format!(
            "environment = \"acme-prod\"\nhost = \"test-host\"\ndata_dir = \"{}\"\ninterval = \"1s\"\n{sections}",
            dir.path().join("data").display()
        );
        std::fs::write(&config, text).unwrap();
        Self {
            dir,
            config,
            process: None,
        }
    }

    pub fn logs_dir(&self) -> PathBuf {
        let logs = self.dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        logs
    }

    pub fn start(&mut self) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aerie-agent"));
        command
            .args(["run", "--config"])
            .arg(&self.config)
            .env("AERIE_LOG", "info,aerie_agent=debug");
        self.process = Some(ServiceProcess::start("aerie-agent", command).unwrap());
    }

    pub fn kill_hard(&mut self) {
        if let Some(process) = &mut self.process {
            process.kill_hard();
        }
        self.process = None;
    }

    pub fn log(&self) -> String {
        self.process
            .as_ref()
            .map(ServiceProcess::log)
            .unwrap_or_default()
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }
}

/// `[monitor]` pointing at `url` with the test token (and `monitor_extra`
/// lines), plus `[[logs]]` on `glob`.
pub fn monitor_and_logs(url: &str, monitor_extra: &str, glob: &Path) -> String {
    format!(
        "[monitor]\nurl = \"{url}\"\ntoken = \"{TOKEN}\"\nbatch_max_events = 5000\n{monitor_extra}\n\n{}",
        logs_section(glob)
    )
}

/// `[[logs]]` on `glob`, product format, timestamps in UTC.
pub fn logs_section(glob: &Path) -> String {
    format!(
        "[[logs]]\nname = \"app\"\npaths = [\"{}\"]\nmultiline_timeout = \"200ms\"\ntimezone = \"+00:00\"\n",
        glob.display()
    )
}

/// A certificate for `localhost` and `127.0.0.1`: (PEM of the certificate,
/// which is its own CA, and the acceptor that serves it).
pub fn self_signed() -> (String, tokio_rustls::TlsAcceptor) {
    aerie_testkit::self_signed().unwrap()
}

impl Receiver {
    /// A receiver over HTTPS with a self-signed certificate; answers the
    /// receiver and the certificate's PEM (for the agent's `ca_file`).
    pub async fn start_tls() -> (Self, String) {
        let (pem, acceptor) = self_signed();
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = tcp.local_addr().unwrap();
        let received: Arc<Mutex<Received>> = Arc::default();
        let app = axum::Router::new()
            .route(aerie_wire::INGEST_PATH, axum::routing::post(ingest))
            .with_state(Arc::clone(&received));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(aerie_testkit::TlsListener::new(tcp, acceptor), app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        (
            Self {
                address,
                received,
                server: Some((stop, task)),
            },
            pem,
        )
    }

    /// `https://localhost:PORT`, for a receiver started with [`Receiver::start_tls`].
    pub fn https_url(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }
}
