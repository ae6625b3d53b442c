//! `aerie-monitor serve|check --config FILE`, `aerie-monitor quickstart` and
//! `aerie-monitor hash-password`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use aerie_monitor::Config;
use aerie_monitor::api::{AppState, app};
use aerie_monitor::config::StoreConfig;
use aerie_monitor::store::Store;
use aerie_monitor::store::elasticsearch::ElasticsearchStore;
use aerie_monitor::store::embedded::EmbeddedStore;
use clap::{Parser, Subcommand};

/// mimalloc reuses freed memory where the system allocator mapped every
/// ingest request's multi-megabyte buffers afresh (page faults were a fifth
/// of the ingest CPU). Built without transparent huge pages (`no_thp`):
/// with them, zeroing 2 MiB pages on each fault cost more than it saved.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ingest, store, query, alert on and show what Aerie's agents collect.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve ingest, the query API and the dashboard until SIGTERM or Ctrl-C.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the config and print it, secrets masked.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the monitor on its embedded store with an agent for this host and
    /// an operator login: the dashboard in one command. Stops on Ctrl-C.
    Quickstart {
        /// Where the data, the generated config and the password file go.
        #[arg(long, default_value = "./aerie-data")]
        data_dir: PathBuf,
        /// The dashboard's port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// More log files for the agent to tail (globs), besides the
        /// quickstart's own log.
        #[arg(long)]
        tail: Vec<String>,
    },
    /// Read a password from standard input (its first line) and print its
    /// argon2 hash, for `password_hash` in the config.
    HashPassword,
}

fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("AERIE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn"))
}

#[allow(clippy::print_stdout)]
fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match &cli.command {
        Command::Serve { config } | Command::Check { config } => {
            tracing_subscriber::fmt()
                .with_env_filter(log_filter())
                .with_writer(std::io::stderr)
                .init();
            match Config::load(config) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("aerie-monitor: {error}");
                    return ExitCode::from(2);
                }
            }
        }
        Command::Quickstart {
            data_dir,
            port,
            tail,
        } => return quickstart(data_dir, *port, tail),
        Command::HashPassword => {
            let mut line = String::new();
            if let Err(error) = std::io::stdin().read_line(&mut line) {
                eprintln!("aerie-monitor: cannot read the password from standard input: {error}");
                return ExitCode::from(2);
            }
            let password = line.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                eprintln!(
                    "aerie-monitor: no password on standard input: `echo 'the password' | aerie-monitor hash-password`"
                );
                return ExitCode::from(2);
            }
            return match aerie_monitor::dashboard::hash_password(password) {
                Ok(hash) => {
                    println!("{hash}");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("aerie-monitor: {error}");
                    ExitCode::FAILURE
                }
            };
        }
    };
    match cli.command {
        Command::Check { .. } => {
            print!("{}", config.to_masked_toml());
            ExitCode::SUCCESS
        }
        _ => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime starts");
            let result = runtime.block_on(async {
                let listener = tokio::net::TcpListener::bind(config.listen)
                    .await
                    .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
                serve(config, listener, stop_signal()).await
            });
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(%error, "monitor stopped");
                    eprintln!("aerie-monitor: {error}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// SIGTERM or Ctrl-C.
async fn stop_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler installs");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

async fn serve(
    config: Config,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let store: Arc<dyn Store> = match &config.store {
        StoreConfig::Embedded => {
            let dir = config.data_dir.join("embedded");
            Arc::new(EmbeddedStore::open(&dir).map_err(|error| error.to_string())?)
        }
        StoreConfig::Elasticsearch {
            url,
            username,
            password,
            index_prefix,
        } => Arc::new(
            ElasticsearchStore::connect(url, username.as_deref(), password.as_ref(), index_prefix)
                .await
                .map_err(|error| error.to_string())?,
        ),
    };
    let address = listener.local_addr().map_err(|error| error.to_string())?;
    tracing::info!(%address, environments = config.environments.len(), "monitor listening");
    let state = AppState::start(config, store).await?;
    if let Some(engine) = state.alerts.clone() {
        // SIGHUP reloads the rules, as daemons do; a bad file keeps the old ones.
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .map_err(|error| format!("cannot handle SIGHUP: {error}"))?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                let _ = engine.reload();
            }
        });
    }
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        stop.await;
        tracing::info!("monitor stopping");
    })
    .await
    .map_err(|error| error.to_string())
}

/// Writes `text` to `path`, readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // An existing file keeps its mode on open: set it.
    file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A password of 20 letters and digits.
fn generate_password() -> String {
    aerie_common::secret::password(20)
}

fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[allow(clippy::print_stdout)]
fn quickstart(data_dir: &Path, port: u16, tail: &[String]) -> ExitCode {
    match quickstart_inner(data_dir, port, tail) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("aerie-monitor quickstart: {error}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
fn quickstart_inner(data_dir: &Path, port: u16, tail: &[String]) -> Result<(), String> {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    std::fs::create_dir_all(data_dir.join("logs"))
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let data_dir =
        std::fs::canonicalize(data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let log_path = data_dir.join("logs").join("aerie-quickstart.log");
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
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
    let hash = aerie_monitor::dashboard::hash_password(&password)?;
    write_private(
        &data_dir.join("ingest.token"),
        &aerie_monitor::dashboard::random_token(),
    )?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a tokio runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| {
                format!("cannot listen on 127.0.0.1:{port}: {e} (choose another with --port, or --port 0 for a free one)")
            })?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
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
        let config = Config::load(&monitor_path).map_err(|e| e.to_string())?;

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
        let agent_config = aerie_agent::Config::load(&agent_path).map_err(|e| e.to_string())?;

        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(serve(config, listener, async move {
            let _ = server_stop.wait_for(|stop| *stop).await;
        }));
        let agent = tokio::spawn(aerie_agent::run::run(agent_config, stop_rx));
        tracing::info!(dashboard = %format!("http://{address}"), "quickstart running; Ctrl-C stops it");
        println!("Dashboard: http://{address}");
        println!("User: admin");
        println!("Password file: {}", password_file.display());
        use std::io::Write;
        let _ = std::io::stdout().flush();

        stop_signal().await;
        tracing::info!("quickstart stopping");
        let _ = stop_tx.send(true);
        match agent.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "the agent stopped with an error"),
            Err(error) => tracing::warn!(%error, "the agent task failed"),
        }
        server
            .await
            .map_err(|e| format!("the monitor task failed: {e}"))??;
        tracing::info!("quickstart stopped");
        Ok(())
    })
}
