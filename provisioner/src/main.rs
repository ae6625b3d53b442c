//! `aerie`: the operator's command line. It provisions a customer environment
//! from a spec (`aerie env plan/apply/status/destroy`), checks its security
//! posture, renders the handover report and drives DR drills and restores.
//!
//! It must never print, log or write a secret anywhere but AWS Secrets Manager.

use clap::Parser;

/// Provision, check, hand over and recover customer environments on AWS.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let Cli {} = Cli::parse();
    Ok(())
}
