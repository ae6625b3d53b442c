//! `aerie-monitor serve --config FILE` and `aerie-monitor check --config FILE`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use aerie_monitor::Config;
use aerie_monitor::api::{AppState, app};
use aerie_monitor::config::StoreConfig;
use aerie_monitor::store::Store;
use aerie_monitor::store::elasticsearch::ElasticsearchStore;
use aerie_monitor::store::embedded::EmbeddedStore;
use clap::{Parser, Subcommand};

/// Ingest, store, query, alert on and show what Aerie's agents collect.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve ingest and the query API until SIGTERM or Ctrl-C.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the config and print it, secrets masked.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AERIE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let (Command::Serve { config } | Command::Check { config }) = &cli.command;
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("aerie-monitor: {error}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Check { .. } => {
            #[allow(clippy::print_stdout)]
            {
                print!("{}", config.to_masked_toml());
            }
            ExitCode::SUCCESS
        }
        Command::Serve { .. } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime starts");
            match runtime.block_on(serve(config)) {
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

async fn serve(config: Config) -> Result<(), String> {
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
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", config.listen))?;
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
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let mut terminate =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("a SIGTERM handler installs");
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            tracing::info!("monitor stopping");
        })
        .await
        .map_err(|error| error.to_string())
}
