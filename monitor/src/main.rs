//! `aerie-monitor`: receives what the agents send, stores it (embedded or in
//! Elasticsearch), answers queries, evaluates alert rules, sends notifications
//! and serves the dashboard.
//!
//! It acknowledges only what is durable, and never shows a customer viewer
//! anything outside their own environments.

use clap::Parser;

/// Ingest, store, query, alert on and show what Aerie's agents collect.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let Cli {} = Cli::parse();
    Ok(())
}
