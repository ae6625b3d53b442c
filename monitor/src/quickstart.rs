//! `aerie-monitor quickstart`: the monitor on its embedded store with an
//! agent for this host and an operator login, in one command. The only
//! file that names the agent crate (behind the default `quickstart`
//! feature), so the monitor builds without it.

use aerie_common::toml_file::TomlFile as _;
use std::path::Path;
use std::process::ExitCode;

use aerie_monitor::Config;
use anyhow::Context;

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| path.display().to_string())?;
    // An existing file keeps its mode on open: set it.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| path.display().to_string())?;
    file.write_all(text.as_bytes())
        .with_context(|| path.display().to_string())
}

/// A password of 20 letters and digits.
fn generate_password() -> String {
    aerie_common::secret::password(20)
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[allow(clippy::print_stdout)]
pub(crate) fn run(data_dir: &Path, port: u16, tail: &[String]) -> ExitCode {
    match quickstart_inner(data_dir, port, tail) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "aerie-monitor quickstart: {}",
                aerie_common::error_chain(error.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
fn quickstart_inner(data_dir: &Path, port: u16, tail: &[String]) -> anyhow::Result<()> {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    std::fs::create_dir_all(data_dir.join("logs"))
        .with_context(|| data_dir.display().to_string())?;
    let data_dir =
        std::fs::canonicalize(data_dir).with_context(|| data_dir.display().to_string())?;
    let log_path = data_dir.join("logs").join("aerie-quickstart.log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| log_path.display().to_string())?;
    tracing_subscriber::fmt()
        .with_env_filter(crate::log_filter())
        .with_ansi(false)
        .with_writer(std::io::stderr.and(std::sync::Mutex::new(log_file)))
        .init();

    let password_file = data_dir.join("admin-password");
    let password = match std::fs::read_to_string(&password_file) {
        Ok(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => {
            let password = generate_password();
            write_private(&password_file, &format!("{password}\n"))?;
            password
        }
    };
    let hash = aerie_monitor::auth::hash_password(&password)?;
    write_private(
        &data_dir.join("ingest.token"),
        &aerie_common::secret::token(),
    )?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("a tokio runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| {
                format!("cannot listen on 127.0.0.1:{port} (choose another with --port, or --port 0 for a free one)")
            })?;
        let address = listener.local_addr().context("the listening address")?;
        let monitor_toml = format!(
            "# Written by `aerie-monitor quickstart`; see examples/monitor.toml for every field.\n\
             listen = \"{address}\"\n\
             data_dir = \".\"\n\n\
             [[environment]]\n\
             name = \"local\"\n\
             customer = \"This machine\"\n\
             ingest_token_file = \"ingest.token\"\n\n\
             [[user]]\n\
             name = \"admin\"\n\
             role = \"operator\"\n\
             password_hash = {}\n",
            toml_string(&hash)
        );
        let monitor_path = data_dir.join("monitor.toml");
        write_private(&monitor_path, &monitor_toml)?;
        let config = Config::load(&monitor_path)?;

        let mut paths = vec![format!("{}/logs/*.log", data_dir.display())];
        paths.extend(tail.iter().cloned());
        let agent_toml = format!(
            "# Written by `aerie-monitor quickstart`; see examples/agent.toml for every field.\n\
             environment = \"local\"\n\
             data_dir = \"agent\"\n\
             interval = \"10s\"\n\n\
             [monitor]\n\
             url = \"http://{address}\"\n\
             token_file = \"ingest.token\"\n\n\
             [[logs]]\n\
             name = \"local\"\n\
             paths = [{}]\n\
             format = \"plain\"\n",
            paths
                .iter()
                .map(|p| toml_string(p))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let agent_path = data_dir.join("agent.toml");
        write_private(&agent_path, &agent_toml)?;
        let agent_config = aerie_agent::Config::load(&agent_path)?;

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(aerie_monitor::server::serve(config, listener, async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        }));
        let agent = tokio::spawn(aerie_agent::run::run(agent_config, stop_rx));
        tracing::info!(dashboard = %format!("http://{address}"), "quickstart running; Ctrl-C stops it");
        println!("Dashboard: http://{address}");
        println!("User: admin");
        println!("Password file: {}", password_file.display());
        use std::io::Write;
        let _ = std::io::stdout().flush();

        crate::stop_signal().await;
        tracing::info!("quickstart stopping");
        let _ = stop_tx.send(true);
        match agent.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the agent stopped with an error"),
            Err(error) => tracing::warn!(%error, "the agent task failed"),
        }
        server
            .await
            .context("the monitor task failed")??;
        tracing::info!("quickstart stopped");
        Ok(())
    })
}
