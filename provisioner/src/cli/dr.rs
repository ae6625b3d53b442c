//! `aerie dr drill | restore | runs | show | resume`: the runbook engine
//! driven from the command line, its progress drawn, its result printed
//! (for people, or as JSON for other tools).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use aerie_common::toml_file::TomlFile as _;
use aerie_provisioner::aws::Cloud;
use aerie_provisioner::dr::journal::{Execution, Journal};
use aerie_provisioner::dr::runbook::Runbook;
use aerie_provisioner::dr::{self, ConnectTo, Context, engine};
use aerie_provisioner::spec::Spec;
use anyhow::Context as _;

use super::progress::Bar;
use crate::Format;

/// What running a runbook takes, for `drill`, `restore` and `resume`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunOptions {
    #[arg(long)]
    spec: PathBuf,
    /// Print the result as text or as JSON (progress then goes to stderr).
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Connect to FROM (host:port, the host may be `*` or `*.suffix`) at
    /// TO instead: a database endpoint reached through an SSH tunnel.
    #[arg(long = "connect-to", value_name = "FROM=TO")]
    connect_to: Vec<String>,
    /// The PEM certificates that sign the database's TLS certificate (for
    /// RDS, AWS's bundle from truststore.pki.rds.amazonaws.com); the SQL
    /// check trusts them beside the public roots and never connects
    /// without TLS.
    #[arg(long = "database-ca", value_name = "FILE")]
    database_ca: Option<PathBuf>,
    /// The local journal folder (default: `dr-runs/` beside the spec).
    #[arg(long)]
    journal: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum DrCommand {
    /// Rehearse the recovery in isolation in the DR region (runbooks/
    /// drill.toml): restore, verify, measure RPO and RTO, tear down.
    Drill {
        #[command(flatten)]
        options: RunOptions,
        /// Run another runbook.
        #[arg(long)]
        runbook: Option<PathBuf>,
        /// Show the steps with their inputs and call nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Fail over to the DR region for real (runbooks/failover.toml): the
    /// environment brought up there from its backups and DNS pointed at it.
    Restore {
        #[command(flatten)]
        options: RunOptions,
        #[arg(long)]
        runbook: Option<PathBuf>,
        #[arg(long)]
        dry_run: bool,
        /// Confirm: this makes resources in the DR region.
        #[arg(long)]
        yes: bool,
    },
    /// Every execution, newest first.
    Runs {
        #[arg(long)]
        spec: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// One execution, step by step.
    Show {
        run: String,
        #[arg(long)]
        spec: PathBuf,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[arg(long)]
        journal: Option<PathBuf>,
    },
    /// Continue an execution that stopped (the process died, or a step
    /// failed with nothing undone).
    Resume {
        run: String,
        #[command(flatten)]
        options: RunOptions,
    },
}

impl DrCommand {
    pub(crate) fn spec(&self) -> &Path {
        match self {
            Self::Drill { options, .. }
            | Self::Restore { options, .. }
            | Self::Resume { options, .. } => &options.spec,
            Self::Runs { spec, .. } | Self::Show { spec, .. } => spec,
        }
    }
}

/// Runs one `aerie dr` command.
#[allow(clippy::print_stdout)]
pub(crate) async fn run(command: DrCommand, spec: Spec) -> anyhow::Result<ExitCode> {
    match command {
        DrCommand::Drill {
            options,
            runbook,
            dry_run,
        } => Box::pin(start(spec, &options, runbook.as_deref(), "drill", dry_run)).await,
        DrCommand::Restore {
            options,
            runbook,
            dry_run,
            yes,
        } => {
            if !dry_run && !yes {
                eprintln!(
                    "aerie: a restore makes resources in the DR region for real; look at `--dry-run` first, then add --yes"
                );
                return Ok(ExitCode::from(2));
            }
            Box::pin(start(
                spec,
                &options,
                runbook.as_deref(),
                "failover",
                dry_run,
            ))
            .await
        }
        DrCommand::Runs {
            spec: file,
            format,
            journal,
        } => {
            let journal = journal_of(&spec, &file, journal.as_deref()).await?;
            let executions = journal.list().await?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&executions)?),
                Format::Text => print!("{}", runs_table(&executions)),
            }
            Ok(ExitCode::SUCCESS)
        }
        DrCommand::Show {
            run,
            spec: file,
            format,
            journal,
        } => {
            let journal = journal_of(&spec, &file, journal.as_deref()).await?;
            let execution = journal.load(&run).await?;
            print_execution(&execution, format)?;
            Ok(ExitCode::SUCCESS)
        }
        DrCommand::Resume { run, options } => {
            let journal = journal_of(&spec, &options.spec, options.journal.as_deref()).await?;
            let execution = journal.load(&run).await?;
            if !engine::resumable(&execution) {
                anyhow::bail!("run {run} {} and has nothing left to do", execution.outcome);
            }
            let runbook = Runbook::parse(
                Path::new(&format!("run {run}'s runbook")),
                &execution.runbook_text,
            )?;
            let context = Context::connect(spec, run, execution.isolated).await?;
            go(context, &options, &journal, &runbook, execution).await
        }
    }
}

/// Starts `runbook` (or the shipped one called `default`), or continues
/// the unfinished execution of it.
#[allow(clippy::print_stdout)]
async fn start(
    spec: Spec,
    options: &RunOptions,
    file: Option<&Path>,
    default: &str,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let (label, text) = match file {
        Some(file) => (
            file.to_path_buf(),
            std::fs::read_to_string(file).with_context(|| file.display().to_string())?,
        ),
        None => {
            let (_, text) = dr::SHIPPED
                .iter()
                .find(|(name, _)| *name == default)
                .expect("a shipped runbook");
            (
                PathBuf::from(format!("runbooks/{default}.toml")),
                (*text).to_owned(),
            )
        }
    };
    let runbook = match Runbook::parse(&label, &text) {
        Ok(runbook) => runbook,
        Err(error) => {
            eprintln!("aerie: {error}");
            return Ok(ExitCode::from(2));
        }
    };
    let run = dr::run_id(chrono::Utc::now());
    if dry_run {
        print!("{}", engine::dry_run(&runbook, &spec, &run));
        return Ok(ExitCode::SUCCESS);
    }
    let journal = journal_of(&spec, &options.spec, options.journal.as_deref()).await?;
    let unfinished = journal
        .list()
        .await?
        .into_iter()
        .find(|e| e.runbook == runbook.name && engine::resumable(e));
    let (context, execution) = match unfinished {
        Some(execution) => {
            eprintln!(
                "Continuing run {} of {}, which stopped {}.",
                execution.run, execution.runbook, execution.outcome
            );
            let context = Context::connect(spec, execution.run.clone(), execution.isolated).await?;
            (context, execution)
        }
        None => {
            let context = Context::connect(spec, run, runbook.isolated).await?;
            let execution = engine::begin(&context, &runbook, &text);
            (context, execution)
        }
    };
    go(context, options, &journal, &runbook, execution).await
}

/// Runs `execution` (by `context`, of its run) to its end and prints the
/// result.
async fn go(
    mut context: Context,
    options: &RunOptions,
    journal: &Journal,
    runbook: &Runbook,
    mut execution: Execution,
) -> anyhow::Result<ExitCode> {
    let mut connect_to = ConnectTo::default();
    for rule in &options.connect_to {
        connect_to.add(rule)?;
    }
    context.connect_to = connect_to;
    context.database_ca = options.database_ca.clone();
    let bar = Bar::new();
    let to_stderr = |progress: dr::Progress| {
        if let dr::Progress::Done(line) = progress {
            eprintln!("{line}");
        }
    };
    let report: &dyn dr::Report = match options.format {
        Format::Text => &bar,
        Format::Json => &to_stderr,
    };
    let outcome = engine::execute(&context, journal, runbook, &mut execution, report).await;
    if execution.outcome.finished() {
        report_to_monitor(&context, &execution).await;
    }
    print_execution(&execution, options.format)?;
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(error) => {
            eprintln!("aerie: {}", aerie_common::error_chain(&error));
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Tells the spec's monitor how the execution went (`dr::report`); a
/// monitor that cannot be told is said on stderr and changes nothing else.
async fn report_to_monitor(context: &Context, execution: &Execution) {
    let targets = dr::report::Targets {
        rpo: context.spec.backup.rpo,
        rto: context.spec.backup.rto,
    };
    let sent = match super::backup::monitor(&context.spec, &context.primary).await {
        Ok(Some(monitor)) => monitor
            .send(dr::report::DR_HOST, dr::report::events(execution, &targets))
            .await
            .map_err(anyhow::Error::from),
        Ok(None) => return,
        Err(error) => Err(error),
    };
    if let Err(error) = sent {
        eprintln!(
            "aerie: the result was not reported to the monitor: {}",
            aerie_common::error_chain(error.as_ref())
        );
    }
}

/// The journal of `spec`'s executions: `dir`, or `dr-runs/` beside the
/// spec file, and the DR region's backup bucket.
async fn journal_of(spec: &Spec, file: &Path, dir: Option<&Path>) -> anyhow::Result<Journal> {
    let region = spec.dr_region.clone().with_context(|| {
        format!(
            "{} has no dr_region: there is nowhere to recover to",
            spec.name
        )
    })?;
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None => file.parent().unwrap_or(Path::new(".")).join("dr-runs"),
    };
    Ok(Journal {
        dir,
        bucket: aerie_provisioner::backup::names::bucket(&spec.name, &region),
        cloud: Cloud::connect(&spec.name, &region).await,
    })
}

#[allow(clippy::print_stdout)]
fn print_execution(execution: &Execution, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&summary(execution))?),
        Format::Text => print!("{}", execution_text(execution)),
    }
    Ok(())
}

/// The result other tools read: run, outcome, the figures, the steps.
fn summary(execution: &Execution) -> serde_json::Value {
    serde_json::json!({
        "run": execution.run,
        "runbook": execution.runbook,
        "environment": execution.environment,
        "region": execution.region,
        "outcome": execution.outcome,
        "started": execution.started,
        "ended": execution.ended,
        "recovery_point": execution.recovery_point,
        "rpo_seconds": execution.rpo_seconds,
        "rto_seconds": execution.rto_seconds,
        "error": execution.error,
        "steps": execution.steps.iter().map(|s| serde_json::json!({
            "step": s.step,
            "kind": s.kind,
            "outcome": s.outcome,
            "attempts": s.attempts,
            "seconds": s.seconds(),
            "outputs": s.outputs,
            "error": s.error,
        })).collect::<Vec<_>>(),
        "undo": execution.undo.iter().map(|s| serde_json::json!({
            "step": s.step,
            "outcome": s.outcome,
            "seconds": s.seconds(),
            "error": s.error,
        })).collect::<Vec<_>>(),
    })
}

fn duration(seconds: Option<i64>) -> String {
    seconds.map_or_else(|| "-".to_owned(), dr::report::figure)
}

fn execution_text(execution: &Execution) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Run {} of {} ({}, {}): {}",
        execution.run,
        execution.runbook,
        execution.environment,
        execution.region,
        execution.outcome
    );
    if let Some(point) = execution.recovery_point {
        let _ = writeln!(out, "Recovery point: {}", point.to_rfc3339());
    }
    let _ = writeln!(
        out,
        "RPO {}, RTO {}",
        duration(execution.rpo_seconds),
        duration(execution.rto_seconds)
    );
    let repointed = execution
        .steps
        .iter()
        .filter(|s| s.kind == "dns" && s.outcome == dr::journal::StepOutcome::Done)
        .filter_map(|s| s.outputs.get("records")?.as_array());
    for records in repointed {
        let _ = writeln!(
            out,
            "DNS now points at the DR site in {}{}:",
            execution.region,
            if execution.isolated {
                " (the drill's own zone)"
            } else {
                ""
            }
        );
        for record in records.iter().filter_map(|r| r.as_str()) {
            let _ = writeln!(out, "  {record}");
        }
    }
    for (what, records) in [("step", &execution.steps), ("undo", &execution.undo)] {
        for record in records.iter() {
            let _ = writeln!(
                out,
                "  {what} {:<12} {:<18} {:<8} {:>7.1} s  {} attempt(s){}",
                record.step,
                record.kind,
                format!("{:?}", record.outcome).to_lowercase(),
                record.seconds().unwrap_or_default(),
                record.attempts,
                record
                    .error
                    .as_ref()
                    .map(|e| format!("  {e}"))
                    .unwrap_or_default()
            );
            // What the step made or found: names, ids, endpoints (never a
            // secret: no step outputs one).
            for (name, value) in &record.outputs {
                let value = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                let _ = writeln!(out, "      {name} = {value}");
            }
        }
    }
    if let Some(error) = &execution.error {
        let _ = writeln!(out, "Failed: {error}");
    }
    out
}

fn runs_table(executions: &[Execution]) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(
        "RUN              RUNBOOK           OUTCOME    RPO         RTO         STARTED\n",
    );
    for e in executions {
        let _ = writeln!(
            out,
            "{:<16} {:<17} {:<10} {:<11} {:<11} {}",
            e.run,
            e.runbook,
            e.outcome,
            duration(e.rpo_seconds),
            duration(e.rto_seconds),
            e.started.to_rfc3339()
        );
    }
    out
}
