//! `aerie-agent`: runs on every host of a customer environment and ships host
//! metrics, JVM heap, logs and API statistics to the monitor.
//!
//! It must never block or slow the products it watches, never drop an event
//! it has read, and never depend on the AWS SDK (it ships to every host).

use clap::Parser;

/// Collect host metrics, JVM heap, logs and API statistics and deliver them.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let Cli {} = Cli::parse();
    Ok(())
}
