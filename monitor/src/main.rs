//! `aerie-monitor serve|check --config FILE`, `aerie-monitor quickstart` and
//! `aerie-monitor hash-password`.

#[cfg(feature = "quickstart")]
mod quickstart;

use aerie_common::toml_file::TomlFile as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aerie_monitor::Config;
use clap::{Parser, Subcommand};

/// mimalloc reuses freed memory where the system allocator mapped every
/// ingest request's multi-megabyte buffers afresh (page faults were a fifth
/// of the ingest CPU). Built without transparent huge pages (`no_thp`):
/// with them, zeroing 2 MiB pages on each fault cost more than it saved.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (the enum's 16th member in
/// mimalloc.h; the Rust bindings name no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Has mimalloc keep freed memory for a second before giving it back to
/// the system, not 10 ms: a search or count frees megabytes of granules,
/// and the next one, a few milliseconds later, faulted them in again
/// (zeroing those pages was a quarter of a count's CPU at 30M lines).
fn keep_freed_memory_a_second() {
    // SAFETY: mi_option_set takes two integers, checks the option's range
    // and may be called from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 1000);
    }
}

/// Ingest, store, query, alert on and show what Aerie's agents collect.
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
    #[cfg(feature = "quickstart")]
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

pub(crate) fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_env("AERIE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tantivy=warn"))
}

#[allow(clippy::print_stdout)]
fn main() -> ExitCode {
    keep_freed_memory_a_second();
    let cli = Cli::parse();
    let config = match &cli.command {
        Command::Serve { config } | Command::Check { config } => {
            tracing_subscriber::fmt()
                .with_env_filter(log_filter())
                .with_writer(std::io::stderr)
                .init();
            match load(config) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!(
                        "aerie-monitor: {}",
                        aerie_common::error_chain(error.as_ref())
                    );
                    return ExitCode::from(2);
                }
            }
        }
        #[cfg(feature = "quickstart")]
        Command::Quickstart {
            data_dir,
            port,
            tail,
        } => return quickstart::run(data_dir, *port, tail),
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
            return match aerie_monitor::auth::hash_password(password) {
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
                aerie_monitor::server::serve(config, listener, stop_signal())
                    .await
                    .map_err(|error| aerie_common::error_chain(&error))
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

/// The config at `path`, with its alert rules file checked too: a bad one is
/// refused before anything starts, naming the file, the rule and the fix.
fn load(path: &Path) -> anyhow::Result<Config> {
    let config = Config::load(path)?;
    if let Some(alerting) = &config.alerting {
        let names: Vec<String> = config.environments.iter().map(|e| e.name.clone()).collect();
        aerie_monitor::alerting::rules::load(&alerting.rules_file, &names)?;
    }
    Ok(config)
}

/// SIGTERM or Ctrl-C.
pub(crate) async fn stop_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler installs");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
