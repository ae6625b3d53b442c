//! `aerie`: the operator's command line. It provisions a customer environment
//! from a spec (`aerie env plan/apply/status/destroy`) and checks its
//! security posture (`aerie env check`).
//!
//! AWS access comes from the standard SDK configuration (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, the usual credential variables and profiles), so the same
//! binary runs against AWS and against moto_server. It never prints, logs
//! or writes a secret anywhere but AWS Secrets Manager.

mod cli;

use aerie_common::toml_file::TomlFile as _;
use std::path::PathBuf;
use std::process::ExitCode;

use aerie_provisioner::apply;
use aerie_provisioner::aws::Cloud;
use aerie_provisioner::aws::preflight::{self, PreflightError};
use aerie_provisioner::history::{History, Record};
use aerie_provisioner::model::desired;
use aerie_provisioner::plan::plan;
use aerie_provisioner::spec::{DnsMode, Spec};
use anyhow::Context;
use clap::{Parser, Subcommand};

/// Provision, check, hand over and recover customer environments on AWS.
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
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// A customer environment: plan, apply, status, destroy.
    #[command(subcommand)]
    Env(EnvCommand),
    /// The environment's backups: run, list, prune, fetch.
    #[command(subcommand)]
    Backup(cli::backup::BackupCommand),
    /// Disaster recovery by runbook: drill, restore, runs, show, resume.
    #[command(subcommand)]
    Dr(cli::dr::DrCommand),
}

#[derive(Debug, Subcommand)]
enum EnvCommand {
    /// Compare the spec with the account and print what apply would do.
    Plan {
        #[arg(long)]
        spec: PathBuf,
    },
    /// Make the account match the spec.
    Apply {
        #[arg(long)]
        spec: PathBuf,
        /// Apply without asking (required: there is no prompt).
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        rollout: RolloutArgs,
    },
    /// Every resource of the environment with its AWS id and state.
    Status {
        #[arg(long)]
        spec: PathBuf,
    },
    /// Write what the spec renders (the bastion's user-data, each product
    /// node's configuration bundle) to a folder, without any AWS call.
    Render {
        #[arg(long)]
        spec: PathBuf,
        /// The folder to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
    },
    /// The security posture of the live environment, read from AWS: one
    /// line per check and resource; exit code 1 when any check fails.
    Check {
        #[arg(long)]
        spec: PathBuf,
        /// `text` (one line each) or `json` (for other tools).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// The handover package (Markdown and a self-contained HTML page),
    /// read from AWS, written to a folder.
    Handover {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The applies recorded for the environment, newest first; with
    /// `--diff A..B`, what changed between two of them.
    History {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long, value_name = "A..B")]
        diff: Option<String>,
    },
    /// Remove every resource tagged for the environment, and nothing else.
    Destroy {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long)]
        yes: bool,
    },
}

/// Runs every posture check and prints the findings; exit code 1 when
/// any fails.
#[allow(clippy::print_stdout)]
async fn check(cloud: &Cloud, spec: &Spec, format: Format) -> anyhow::Result<ExitCode> {
    let findings = aerie_provisioner::check::run(cloud, spec).await?;
    match format {
        Format::Text => print!("{}", aerie_provisioner::check::render(&findings)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&findings)?),
    }
    let failed = findings
        .iter()
        .any(|f| f.status == aerie_provisioner::check::Status::Fail);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The folder of the environment's record of applies.
fn history_dir(spec: &Spec) -> PathBuf {
    spec.history
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("history"))
}

/// Commits what this apply did to the record; answers the commit.
fn record(
    spec: &Spec,
    spec_file: &std::path::Path,
    plan: &aerie_provisioner::plan::Plan,
    handover: &aerie_provisioner::handover::Handover,
) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(spec_file)
        .with_context(|| format!("{}: cannot read it again", spec_file.display()))?;
    let artifacts = aerie_provisioner::render::artifacts(spec)?;
    let bundles = aerie_provisioner::render::bundles(spec)?;
    let printed = plan.render();
    let summary = printed.lines().last().unwrap_or_default();
    let operator = History::operator();
    let commit = History::new(&history_dir(spec), &spec.name).commit(&Record {
        spec: &text,
        artifacts: &artifacts,
        bundles: &bundles,
        plan: &printed,
        summary,
        operator: &operator,
        handover: Some(handover),
    })?;
    Ok(commit)
}

/// Lists the recorded applies, or diffs two of them.
#[allow(clippy::print_stdout)]
fn history(spec: &Spec, diff: Option<&str>) -> anyhow::Result<ExitCode> {
    let history = History::new(&history_dir(spec), &spec.name);
    if let Some(range) = diff {
        print!("{}", history.diff(range)?);
        return Ok(ExitCode::SUCCESS);
    }
    let entries = history.entries()?;
    if entries.is_empty() {
        println!(
            "No apply is recorded for {} in {}.",
            spec.name,
            history.dir.display()
        );
    }
    for entry in entries {
        println!("{}  {}  {}", entry.commit, entry.date, entry.subject);
    }
    Ok(ExitCode::SUCCESS)
}

/// How replaced product nodes are rolled out.
#[derive(Debug, clap::Args)]
struct RolloutArgs {
    /// How many gateways may be replaced at once (the traffic managers go
    /// one at a time whatever this says).
    #[arg(long, default_value_t = 1)]
    max_unavailable: usize,
    /// How long a replaced node has to report healthy through the monitor.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    health_timeout: std::time::Duration,
    /// Replace nodes without waiting for them to report healthy (nodes
    /// that cannot reach the monitor yet). The monitor is read with the
    /// API token in AERIE_MONITOR_TOKEN otherwise.
    #[arg(long)]
    no_health_gate: bool,
}

/// The monitor the rollout asks, when the plan replaces nodes.
fn monitor_health(
    spec: &Spec,
    args: &RolloutArgs,
    rolling: bool,
) -> anyhow::Result<Option<aerie_provisioner::rollout::Monitor>> {
    if !rolling || args.no_health_gate {
        return Ok(None);
    }
    let Some(nodes) = &spec.nodes else {
        return Ok(None);
    };
    let Ok(token) = std::env::var("AERIE_MONITOR_TOKEN") else {
        anyhow::bail!(
            "the plan replaces product nodes, and each must report healthy through the monitor at {} before the next: set AERIE_MONITOR_TOKEN to an operator's or viewer's API token of that monitor, or pass --no-health-gate",
            nodes.monitor.url
        );
    };
    let mut http = reqwest::Client::builder();
    if let Some(proxy) = &nodes.monitor.proxy {
        http = http.proxy(reqwest::Proxy::all(proxy)?);
    }
    Ok(Some(aerie_provisioner::rollout::Monitor {
        url: nodes.monitor.url.clone(),
        environment: spec.name.clone(),
        token,
        http: http.build()?,
    }))
}

/// How `check` and `backup list` print.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[allow(clippy::print_stdout)]
fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AERIE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    // The AWS SDK builds rustls with aws-lc-rs and the workspace with ring:
    // with both in, clients that ask for the process's provider (the SQL
    // check's TLS) need it named. Ring, as everywhere else in Aerie.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = Cli::parse().command;
    let path = match &command {
        Top::Env(command) => spec_path(command),
        Top::Backup(command) => command.spec(),
        Top::Dr(command) => command.spec(),
    };
    let spec = match Spec::load(path) {
        Ok(spec) => spec,
        Err(error) => {
            eprintln!("aerie: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime starts");
    let outcome = match command {
        Top::Env(command) => runtime.block_on(run(command, spec)),
        Top::Backup(command) => runtime.block_on(cli::backup::run(command, spec)),
        Top::Dr(command) => runtime.block_on(Box::pin(cli::dr::run(command, spec))),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("aerie: {}", aerie_common::error_chain(error.as_ref()));
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::print_stdout)]
async fn run(command: EnvCommand, spec: Spec) -> anyhow::Result<ExitCode> {
    let spec_file = spec_path(&command).to_owned();
    match &command {
        // Rendering is pure, the record local: no AWS client, no call.
        EnvCommand::Render { out, .. } => return render_to(&spec, out),
        EnvCommand::History { diff, .. } => return history(&spec, diff.as_deref()),
        _ => {}
    }
    let mut cloud = Cloud::connect(&spec.name, &spec.region).await;
    cloud.final_snapshot = spec.database.final_snapshot;
    if matches!(command, EnvCommand::Plan { .. } | EnvCommand::Apply { .. }) {
        // What only AWS can tell, before anything is created.
        match preflight::check(&cloud, &spec).await {
            Err(PreflightError::Unavailable { problems, .. }) => {
                for problem in problems {
                    eprintln!("aerie: {}: {problem}", spec_path(&command).display());
                }
                return Ok(ExitCode::from(2));
            }
            checked => checked?,
        }
    }
    let observed = cloud.observe(&spec).await?;
    let wanted = desired(&spec)?;
    match command {
        EnvCommand::Plan { .. } => {
            let plan = plan(&wanted, &observed);
            print!("{}", plan.render());
            print_rollout(&plan);
            if !plan.refused.is_empty() {
                return Ok(ExitCode::from(1));
            }
            print_records(&observed);
            if !observed
                .iter()
                .any(|f| f.resource.kind == aerie_provisioner::model::Kind::SesIdentity)
            {
                println!(
                    "\nDNS records the customer must add for {} (SES verification TXT and three DKIM CNAMEs): known after apply; `aerie env status` prints them.",
                    spec.email.domain
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        EnvCommand::Apply { yes, rollout, .. } => {
            let plan = plan(&wanted, &observed);
            apply_env(&cloud, &spec, &spec_file, &observed, &plan, yes, &rollout).await
        }
        EnvCommand::Render { out, .. } => render_to(&spec, &out),
        EnvCommand::History { diff, .. } => history(&spec, diff.as_deref()),
        EnvCommand::Check { format, .. } => check(&cloud, &spec, format).await,
        EnvCommand::Handover { out, .. } => {
            let package = aerie_provisioner::handover::build(&cloud, &spec, &observed).await?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("{}: cannot create it", out.display()))?;
            for (name, text) in [
                ("handover.md", &package.markdown),
                ("handover.html", &package.html),
            ] {
                let path = out.join(name);
                std::fs::write(&path, text)
                    .with_context(|| format!("{}: cannot write it", path.display()))?;
            }
            println!("Wrote handover.md and handover.html to {}.", out.display());
            Ok(ExitCode::SUCCESS)
        }
        EnvCommand::Status { .. } => {
            print!("{}", apply::status(&wanted, &observed));
            print_records(&observed);
            Ok(ExitCode::SUCCESS)
        }
        EnvCommand::Destroy { yes, .. } => {
            if observed.is_empty() {
                println!("Nothing is tagged for {}.", spec.name);
                return Ok(ExitCode::SUCCESS);
            }
            for found in &observed {
                println!(
                    "- {} {} ({})",
                    found.resource.kind.label(),
                    found.resource.role,
                    found.id
                );
            }
            // A protected database refuses before anything is removed, so
            // the environment is never left half destroyed around it.
            if let Some(db) = observed.iter().find(|f| {
                f.resource
                    .rules
                    .contains(&aerie_provisioner::rule::Rule::DeletionProtection)
            }) {
                eprintln!(
                    "aerie: nothing destroyed: {} {} ({}) has deletion protection on (a production environment): set production = false in the spec and apply, then destroy",
                    db.resource.kind.label(),
                    db.resource.role,
                    db.id
                );
                return Ok(ExitCode::from(1));
            }
            if !yes {
                println!(
                    "Not destroyed: run again with --yes to remove these {} resources.",
                    observed.len()
                );
                return Ok(ExitCode::from(1));
            }
            let removed = apply::destroy(&cloud, &observed, &cli::progress::Bar::new())
                .await
                .context("destroy stopped (run it again to go on from here)")?;
            println!("Destroy complete: {removed} removed.");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `aerie env apply`: prints the plan, runs it (rolling replaced nodes
/// out through the monitor), records it and says what the customer needs.
#[allow(clippy::print_stdout)]
async fn apply_env(
    cloud: &Cloud,
    spec: &Spec,
    spec_file: &std::path::Path,
    observed: &[aerie_provisioner::model::Found],
    plan: &aerie_provisioner::plan::Plan,
    yes: bool,
    rollout: &RolloutArgs,
) -> anyhow::Result<ExitCode> {
    print!("{}", plan.render());
    print_rollout(plan);
    if !plan.refused.is_empty() {
        println!("Not applied: the plan refuses what is listed under Refused.");
        return Ok(ExitCode::from(1));
    }
    if plan.is_empty() {
        print_records(observed);
        return Ok(ExitCode::SUCCESS);
    }
    if !yes {
        println!("Not applied: run again with --yes to apply this plan.");
        return Ok(ExitCode::from(1));
    }
    let order = aerie_provisioner::rollout::order(plan);
    let monitor = monitor_health(spec, rollout, !order.is_empty())?;
    let gate = monitor
        .as_ref()
        .map(|monitor| aerie_provisioner::rollout::Gate {
            health: monitor,
            timeout: rollout.health_timeout,
            every: std::time::Duration::from_secs(2),
            max_unavailable: rollout.max_unavailable,
        });
    apply::apply(
        cloud,
        spec,
        plan,
        observed,
        &cli::progress::Bar::new(),
        gate,
    )
    .await
    .context("apply stopped (run it again to go on from here)")?;
    let observed = cloud.observe(spec).await?;
    let observed = observed.as_slice();
    if spec.dns.mode == DnsMode::Customer {
        write_mappings(spec, observed)?;
    }
    let (add, change, destroy) = plan.counts();
    let package = aerie_provisioner::handover::build(cloud, spec, observed).await?;
    let commit = record(spec, spec_file, plan, &package)?;
    println!("Apply complete: {add} added, {change} changed, {destroy} destroyed.");
    println!("Recorded as {commit} in {}.", history_dir(spec).display());
    print_records(observed);
    print_monitor_token(spec);
    Ok(ExitCode::SUCCESS)
}

/// The spec file `command` reads.
fn spec_path(command: &EnvCommand) -> &std::path::Path {
    let (EnvCommand::Plan { spec }
    | EnvCommand::Apply { spec, .. }
    | EnvCommand::Status { spec }
    | EnvCommand::Render { spec, .. }
    | EnvCommand::Check { spec, .. }
    | EnvCommand::History { spec, .. }
    | EnvCommand::Handover { spec, .. }
    | EnvCommand::Destroy { spec, .. }) = command;
    spec
}

/// Writes the bastion's user-data and every node's bundle under `out`.
#[allow(clippy::print_stdout)]
fn render_to(spec: &Spec, out: &std::path::Path) -> anyhow::Result<ExitCode> {
    let artifacts = aerie_provisioner::render::artifacts(spec)?;
    let mut written: Vec<_> = artifacts
        .user_data
        .into_iter()
        .map(|(role, text)| (out.join(role).join("user-data.yaml"), text))
        .collect();
    for bundle in aerie_provisioner::render::bundles(spec)? {
        for (path, text) in bundle.files {
            written.push((out.join(&bundle.role).join(path), text));
        }
    }
    for (path, text) in &written {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create it", dir.display()))?;
        }
        std::fs::write(path, text)
            .with_context(|| format!("{}: cannot write it", path.display()))?;
    }
    println!("Rendered {} files under {}.", written.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

/// The order replaced nodes go in, when the plan replaces any.
#[allow(clippy::print_stdout)]
fn print_rollout(plan: &aerie_provisioner::plan::Plan) {
    let order = aerie_provisioner::rollout::order(plan);
    if !order.is_empty() {
        println!(
            "\nRolling replacement, each node healthy in the monitor before the next: {}.",
            order.join(", ")
        );
    }
}

/// Where the nodes' agents ship, and where the token they present is kept
/// (never the token itself).
#[allow(clippy::print_stdout)]
fn print_monitor_token(spec: &Spec) {
    if let Some(nodes) = &spec.nodes {
        println!(
            "\nThe nodes' agents ship to {} with the ingest token in Secrets Manager ({}): give it to that monitor as environment {}'s ingest_token_file.",
            nodes.monitor.url,
            aerie_provisioner::topology::ingest_token_secret_name(&spec.name),
            spec.name
        );
    }
}

#[allow(clippy::print_stdout)]
fn print_records(observed: &[aerie_provisioner::model::Found]) {
    let records = apply::customer_records(observed);
    if !records.is_empty() {
        println!("\nDNS records the customer must add (SES domain verification and DKIM):");
        for record in records {
            println!("  {record}");
        }
    }
}

fn write_mappings(spec: &Spec, observed: &[aerie_provisioner::model::Found]) -> anyhow::Result<()> {
    let Some(path) = &spec.dns.mappings_file else {
        return Ok(());
    };
    let mut text = format!(
        "# Name-to-IP mappings for {} (written by aerie env apply)\n",
        spec.name
    );
    // The hosts the private zone would name: the bastion and the nodes
    // (their private IPs) and the database (its RDS endpoint, a name: a
    // CNAME for the customer).
    let hosts = aerie_provisioner::model::named_hosts(spec);
    for found in observed.iter().filter(|f| hosts.contains(&f.resource.role)) {
        if let Some(address) = &found.address {
            text.push_str(&format!(
                "{}.{}\t{address}\n",
                found.resource.role, spec.dns.zone
            ));
        }
    }
    std::fs::write(path, text)
        .with_context(|| format!("{}: cannot write the mappings", path.display()))
}
