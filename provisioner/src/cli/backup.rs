//! `aerie backup run | list | prune | fetch`: the backup library driven
//! from the command line, its progress drawn, its results printed.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aerie_provisioner::backup::monitor::HttpMonitor;
use aerie_provisioner::backup::names::Archived;
use aerie_provisioner::backup::{self, Backups};
use aerie_provisioner::spec::Spec;
use anyhow::Context as _;

use super::progress::Bar;
use crate::Format;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum BackupCommand {
    /// Take one backup now (what the daily schedule runs), or finish the
    /// one an interrupted run left open.
    Run {
        #[arg(long)]
        spec: PathBuf,
    },
    /// Every backup in both regions: run, time, what, region, size, where.
    List {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Remove the snapshots the retention no longer keeps (never the
    /// newest good one of anything, nor a run in progress).
    Prune {
        #[arg(long)]
        spec: PathBuf,
    },
    /// Bring back one day's archive (restoring it from Glacier first when
    /// it has moved there), checked against its recorded SHA-256.
    Fetch {
        #[arg(long)]
        spec: PathBuf,
        /// The day, UTC (YYYY-MM-DD).
        #[arg(long)]
        day: chrono::NaiveDate,
        #[arg(long, value_enum)]
        what: Archived,
        /// The folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// How often S3 is asked whether a Glacier restore has finished.
        #[arg(long, default_value = "1m", value_parser = humantime::parse_duration)]
        poll: std::time::Duration,
    },
}

impl BackupCommand {
    pub(crate) fn spec(&self) -> &Path {
        let (Self::Run { spec }
        | Self::List { spec, .. }
        | Self::Prune { spec }
        | Self::Fetch { spec, .. }) = self;
        spec
    }
}

/// Runs one backup command.
#[allow(clippy::print_stdout)]
pub(crate) async fn run(command: BackupCommand, spec: Spec) -> anyhow::Result<ExitCode> {
    let backups = Backups::connect(&spec).await;
    match command {
        BackupCommand::Run { .. } => {
            let monitor = monitor(&spec, &backups.primary).await?;
            let monitor = monitor.as_ref().map(|m| m as &dyn backup::monitor::Monitor);
            let manifest = backup::run::run(&backups, monitor, &Bar::new())
                .await
                .context("the backup stopped (run it again to finish it)")?;
            println!(
                "Backup {} complete: {} items in {}.",
                manifest.run,
                manifest.items.len(),
                backups
                    .regions()
                    .map(|c| c.region.as_str())
                    .collect::<Vec<_>>()
                    .join(" and ")
            );
            for skipped in &manifest.skipped {
                println!("Not backed up: {skipped}.");
            }
        }
        BackupCommand::List { format, .. } => {
            let rows = backup::catalog::list(&backups).await?;
            match format {
                Format::Text => print!("{}", backup::catalog::render(&rows)),
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
            }
        }
        BackupCommand::Prune { .. } => {
            let pruned = backup::prune::prune(&backups, &Bar::new()).await?;
            println!(
                "Prune complete: {} snapshots removed, {} kept.",
                pruned.removed.len(),
                pruned.kept
            );
        }
        BackupCommand::Fetch {
            day,
            what,
            out,
            poll,
            ..
        } => {
            let backups = Backups {
                restores: aerie_provisioner::clock::Patience {
                    every: poll,
                    ..backups.restores
                },
                ..backups
            };
            let path = backup::fetch::fetch(&backups, day, what, &out, &Bar::new()).await?;
            println!("Wrote {}.", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The monitor the run reports to and exports logs from: the spec's
/// (`[nodes.monitor]`), with the environment's ingest token from Secrets
/// Manager and an operator's API token from `AERIE_MONITOR_TOKEN`.
pub(crate) async fn monitor(
    spec: &Spec,
    primary: &aerie_provisioner::aws::Cloud,
) -> anyhow::Result<Option<HttpMonitor>> {
    let Some(nodes) = &spec.nodes else {
        return Ok(None);
    };
    let secret = aerie_provisioner::topology::ingest_token_secret_name(&spec.name);
    let request = primary.secrets.get_secret_value().secret_id(&secret);
    let answer = aerie_provisioner::aws::retry::call(
        "GetSecretValue",
        aerie_provisioner::aws::retry::Policy::standard(),
        || request.clone().send(),
    )
    .await
    .with_context(|| {
        format!("the environment's ingest token ({secret}); apply the environment first")
    })?;
    let ingest_token = answer
        .secret_string()
        .with_context(|| format!("{secret} holds no text"))?
        .to_owned();
    let mut http = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60));
    if let Some(proxy) = &nodes.monitor.proxy {
        http = http.proxy(reqwest::Proxy::all(proxy)?);
    }
    Ok(Some(HttpMonitor {
        url: nodes.monitor.url.clone(),
        environment: spec.name.clone(),
        api_token: std::env::var("AERIE_MONITOR_TOKEN").ok(),
        ingest_token,
        http: http.build()?,
    }))
}
