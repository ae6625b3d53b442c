//! `aerie-agent run --config FILE` and `aerie-agent check --config FILE`.

use aerie_common::toml_file::TomlFile as _;
use std::path::PathBuf;
use std::process::ExitCode;

use aerie_agent::Config;
use clap::{Parser, Subcommand};

/// Collect host metrics, JVM heap, logs and API statistics and deliver them
/// to the Aerie monitor (or Elasticsearch).
/// The version and the git revision the binary was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("AERIE_GIT_REVISION"),
    ")"
);

#[derive(Debug, Parser)]
#[command(version = VERSION, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent until SIGTERM or Ctrl-C.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate the config and print it as the agent sees it, secrets masked.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AERIE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let (Command::Run { config } | Command::Check { config }) = &cli.command;
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("aerie-agent: {error}");
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
        Command::Run { .. } => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime starts");
            runtime.block_on(async {
                let (tell, shutdown) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    wait_for_signal().await;
                    let _ = tell.send(true);
                });
                match aerie_agent::run::run(config, shutdown).await {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        tracing::error!(%error, "agent could not start");
                        ExitCode::FAILURE
                    }
                }
            })
        }
    }
}

async fn wait_for_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler installs");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
