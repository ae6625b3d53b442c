//! The monitor serving HTTPS itself (`[tls]`): the real agent shipping to
//! it through a private CA, the agent's error naming an expired certificate
//! and a CA it does not trust, a certificate rotated with SIGHUP while the
//! agent ships (nothing lost, new connections get the new certificate), and
//! a key others may read refused before anything starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use aerie_system_tests::{
    Agent, ENVIRONMENT, INGEST_TOKEN, OPERATOR_TOKEN, binary, free_port, product_log_line,
};
use aerie_testkit::{PrivateCa, ServiceProcess, pace, wait_until};

/// A monitor on HTTPS with the certificate and key at `cert` and `key`.
struct HttpsMonitor {
    /// Its config and data, kept while it runs.
    _dir: tempfile::TempDir,
    port: u16,
    process: ServiceProcess,
}

impl HttpsMonitor {
    async fn start(cert: &Path, key: &Path) -> Self {
        Self::start_requiring(cert, key, None).await
    }

    /// The same, requiring client certificates signed by `client_ca`.
    async fn start_requiring(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let client_ca = client_ca.map_or(String::new(), |ca| {
            format!("client_ca_file = \"{}\"\n", ca.display())
        });
        let config = format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n{client_ca}[store]\nkind = \"embedded\"\n[[environment]]\nname = \"{ENVIRONMENT}\"\ningest_token = \"{INGEST_TOKEN}\"\n[[user]]\nname = \"ops\"\nrole = \"operator\"\ntoken = \"{OPERATOR_TOKEN}\"\n",
            cert.display(),
            key.display()
        );
        std::fs::write(dir.path().join("monitor.toml"), config).unwrap();
        let mut command = Command::new(binary("aerie-monitor"));
        command
            .args(["serve", "--config"])
            .arg(dir.path().join("monitor.toml"));
        let process = ServiceProcess::start("aerie-monitor", command).unwrap();
        wait_until(
            "the monitor to listen",
            Duration::from_secs(30),
            async || {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
                    .map(drop)
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", process.log()));
        Self {
            _dir: dir,
            port,
            process,
        }
    }

    /// `agent`'s log and this monitor's, for a failure message.
    fn logs_with(&self, agent: &Agent) -> String {
        format!("agent:\n{}\nmonitor:\n{}", agent.log(), self.process.log())
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// Every log message matching `q`, read over HTTPS trusting `ca`.
    async fn messages(&self, ca: &str, q: &str) -> Option<Vec<String>> {
        self.messages_as(ca, None, q).await
    }

    /// The same, presenting the client certificate and key in `identity`.
    async fn messages_as(&self, ca: &str, identity: Option<&str>, q: &str) -> Option<Vec<String>> {
        let mut client = reqwest::Client::builder()
            .no_proxy()
            .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
        if let Some(pem) = identity {
            client = client.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
        }
        let client = client.build().unwrap();
        let page: serde_json::Value = client
            .get(format!(
                "{}/api/v1/logs?env={ENVIRONMENT}&q={q}&from=now-1h&limit=1000",
                self.url()
            ))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .json()
            .await
            .ok()?;
        Some(
            page["lines"]
                .as_array()?
                .iter()
                .filter_map(|l| l["message"].as_str().map(str::to_owned))
                .collect(),
        )
    }
}

fn agent(monitor: &HttpsMonitor, ca_file: &Path, logs: &Path) -> Agent {
    agent_with(monitor, ca_file, "", logs)
}

/// An agent with `extra` keys in its `[monitor]` section.
fn agent_with(monitor: &HttpsMonitor, ca_file: &Path, extra: &str, logs: &Path) -> Agent {
    Agent::start_with_config(&format!(
        "environment = \"{ENVIRONMENT}\"\nhost = \"this-host\"\ndata_dir = \"data\"\ninterval = \"1s\"\n[monitor]\nurl = \"{}\"\ntoken = \"{INGEST_TOKEN}\"\nca_file = \"{}\"\n{extra}[[logs]]\nname = \"app\"\npaths = [\"{}\"]\nmultiline_timeout = \"200ms\"\n",
        monitor.url(),
        ca_file.display(),
        logs.join("*.log").display()
    ))
}

/// Appends each message as a product log line (an event of its own).
fn append(path: &Path, messages: &[String]) {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for message in messages {
        // The product's layout: the first word is the logger.
        let line = product_log_line("INFO", &format!("TlsTest {message}"));
        file.write_all(line.as_bytes()).unwrap();
    }
}

/// A new CA named `name`, its certificate written to `dir/file`.
fn new_ca(dir: &Path, name: &str, file: &str) -> (PrivateCa, PathBuf) {
    let ca = PrivateCa::new(name).unwrap();
    let path = dir.join(file);
    std::fs::write(&path, ca.pem()).unwrap();
    (ca, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_ships_to_the_monitor_over_https_through_a_private_ca() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, ca_file) = new_ca(pki.path(), "acme operations CA", "ca.pem");
    let (cert, key) = ca
        .server(&["127.0.0.1", "localhost"])
        .unwrap()
        .write(pki.path(), "monitor")
        .unwrap();
    let monitor = HttpsMonitor::start(&cert, &key).await;
    let logs = tempfile::tempdir().unwrap();
    append(
        &logs.path().join("app.log"),
        &["shipped over https".to_owned()],
    );
    let agent = agent(&monitor, &ca_file, logs.path());
    wait_until("the line over HTTPS", Duration::from_secs(30), async || {
        let found = monitor.messages(&ca.pem(), "https").await?;
        (found == ["shipped over https"]).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", monitor.logs_with(&agent)));

    // Plain HTTP to the HTTPS port gets nothing.
    let plain = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer = plain
        .get(format!(
            "http://127.0.0.1:{}/api/v1/openapi.json",
            monitor.port
        ))
        .send()
        .await;
    assert!(
        answer.as_ref().map_or(true, |r| !r.status().is_success()),
        "plain HTTP was served: {answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_certificate_and_an_untrusted_ca_are_named_in_the_agents_log() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, ca_file) = new_ca(pki.path(), "acme operations CA", "ca.pem");
    let (_, stranger_file) = new_ca(pki.path(), "someone else's CA", "stranger.pem");
    let logs = tempfile::tempdir().unwrap();
    append(
        &logs.path().join("app.log"),
        &["never delivered".to_owned()],
    );

    let cases = [
        (
            ca.expired_server(&["127.0.0.1"]),
            &ca_file,
            "the expired certificate",
            "expired",
        ),
        (
            ca.server(&["127.0.0.1"]),
            &stranger_file,
            "the unknown issuer",
            "unknownissuer",
        ),
    ];
    for (n, (issued, trusted, what, word)) in cases.into_iter().enumerate() {
        let (cert, key) = issued
            .unwrap()
            .write(pki.path(), &format!("monitor-{n}"))
            .unwrap();
        let monitor = HttpsMonitor::start(&cert, &key).await;
        let agent = agent(&monitor, trusted, logs.path());
        log_names(
            &agent,
            &format!("the agent to name {what}"),
            &["certificate", word],
        )
        .await;
        let delivered = monitor.messages(&ca.pem(), "delivered").await;
        assert!(
            delivered.unwrap_or_default().is_empty(),
            "{what}: a line went through"
        );
    }
}

/// Waits until `agent`'s log holds every one of `words` (lowercase).
async fn log_names(agent: &Agent, what: &str, words: &[&str]) {
    wait_until(what, Duration::from_secs(30), async || {
        let log = agent.log().to_lowercase();
        words.iter().all(|w| log.contains(w)).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent:\n{}", agent.log()));
}

/// The certificate a new TLS connection to `port` is shown, trusting `ca`.
async fn served_certificate(port: u16, ca: &str) -> Vec<u8> {
    let mut roots = rustls::RootCertStore::empty();
    let ca = rustls::pki_types::CertificateDer::from_pem_slice(ca.as_bytes()).unwrap();
    roots.add(ca).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

use rustls::pki_types::pem::PemObject;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_rotated_on_sighup_while_the_agent_ships_loses_nothing() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, ca_file) = new_ca(pki.path(), "acme operations CA", "ca.pem");
    let first = ca.server(&["127.0.0.1"]).unwrap();
    let (cert, key) = first.write(pki.path(), "monitor").unwrap();
    let monitor = HttpsMonitor::start(&cert, &key).await;
    let before = served_certificate(monitor.port, &ca.pem()).await;

    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("app.log");
    append(&file, &["rotation start".to_owned()]);
    let agent = agent(&monitor, &ca_file, logs.path());
    const LINES: usize = 60;
    let second = ca.server(&["127.0.0.1"]).unwrap();
    for n in 0..LINES {
        append(&file, &[format!("rotation {n:03}")]);
        if n == LINES / 2 {
            // Replaced in place, then SIGHUP, as an operator's renewal does.
            second.write(pki.path(), "monitor").unwrap();
            let hup = Command::new("kill")
                .args(["-HUP", &monitor.process.id().to_string()])
                .status()
                .unwrap();
            assert!(hup.success());
        }
        pace(Duration::from_millis(50));
    }
    let after = wait_until(
        "the new certificate on a new connection",
        Duration::from_secs(10),
        async || {
            let served = served_certificate(monitor.port, &ca.pem()).await;
            (served != before).then_some(served)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.process.log()));
    let expected = rustls::pki_types::CertificateDer::from_pem_slice(second.cert_pem.as_bytes())
        .unwrap()
        .to_vec();
    assert_eq!(
        after, expected,
        "a new connection is shown the renewed certificate"
    );

    let mut lines = wait_until("every line once", Duration::from_secs(60), async || {
        let found = monitor.messages(&ca.pem(), "rotation").await?;
        (found.len() > LINES).then_some(found)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", monitor.logs_with(&agent)));
    lines.sort();
    let mut expected: Vec<String> = (0..LINES).map(|n| format!("rotation {n:03}")).collect();
    expected.push("rotation start".to_owned());
    assert_eq!(lines, expected, "each line exactly once");
}

#[test]
fn a_key_others_may_read_keeps_the_monitor_from_starting_and_says_how_to_fix_it() {
    use std::os::unix::fs::PermissionsExt;
    let pki = tempfile::tempdir().unwrap();
    let ca = PrivateCa::new("acme operations CA").unwrap();
    let (cert, key) = ca
        .server(&["127.0.0.1"])
        .unwrap()
        .write(pki.path(), "monitor")
        .unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = pki.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{}\"\ndata_dir = \"data\"\n[tls]\ncert_file = \"monitor.crt\"\nkey_file = \"monitor.key\"\n[[environment]]\nname = \"{ENVIRONMENT}\"\ningest_token = \"{INGEST_TOKEN}\"\n",
            free_port()
        ),
    )
    .unwrap();
    for command in ["check", "serve"] {
        let output = Command::new(binary("aerie-monitor"))
            .args([command, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            !output.status.success(),
            "{command} started with a readable key"
        );
        let error = String::from_utf8_lossy(&output.stderr);
        assert!(
            error.contains("tls.key_file")
                && error.contains(&key.display().to_string())
                && error.contains("chmod 600"),
            "{command}: {error}"
        );
        assert!(
            !pki.path().join("data").exists(),
            "{command} made its data folder"
        );
    }
    let _ = cert;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_requiring_client_certificates_takes_an_agent_with_one_and_refuses_one_without() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, ca_file) = new_ca(pki.path(), "acme operations CA", "ca.pem");
    let (agents_ca, agents_ca_file) = new_ca(pki.path(), "acme agents CA", "agents-ca.pem");
    let (cert, key) = ca
        .server(&["127.0.0.1"])
        .unwrap()
        .write(pki.path(), "monitor")
        .unwrap();
    let issued = agents_ca.client("gateway-1").unwrap();
    let (client_cert, client_key) = issued.write(pki.path(), "agent").unwrap();
    let operator = agents_ca.client("operator").unwrap();
    let operator = format!("{}\n{}", operator.cert_pem, operator.key_pem);
    let monitor = HttpsMonitor::start_requiring(&cert, &key, Some(&agents_ca_file)).await;

    let without = tempfile::tempdir().unwrap();
    append(
        &without.path().join("app.log"),
        &["without a certificate".to_owned()],
    );
    let refused = agent(&monitor, &ca_file, without.path());
    log_names(
        &refused,
        "the agent to name the refusal",
        &["certificate", "cannot reach"],
    )
    .await;

    let with = tempfile::tempdir().unwrap();
    append(
        &with.path().join("app.log"),
        &["with a client certificate".to_owned()],
    );
    let identity = format!(
        "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
        client_cert.display(),
        client_key.display()
    );
    let accepted = agent_with(&monitor, &ca_file, &identity, with.path());
    wait_until(
        "the line from the agent with a certificate",
        Duration::from_secs(30),
        async || {
            let found = monitor
                .messages_as(&ca.pem(), Some(&operator), "certificate")
                .await?;
            (!found.is_empty()).then_some(found)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", monitor.logs_with(&accepted)));
    // Every connection needs one: a query without a certificate gets nothing.
    assert_eq!(monitor.messages(&ca.pem(), "certificate").await, None);
    let found = monitor
        .messages_as(&ca.pem(), Some(&operator), "certificate")
        .await;
    assert_eq!(found, Some(vec!["with a client certificate".to_owned()]));
    drop(refused);
}
