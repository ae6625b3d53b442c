//! Runs a runbook: each step in order with its timeout and retries, its
//! inputs resolved from the spec, the run and the earlier steps' outputs;
//! every change journaled before the next call, so an execution stopped at
//! any moment (a `kill -9`) is continued by [`execute`] from its journal:
//! finished steps are skipped, the interrupted one runs again and finds
//! what it had made. On a failure the step's `on_failure` decides; an undo
//! (or a drill's teardown, which always runs) removes what each step made,
//! newest first. Afterwards a drill's RPO and RTO are measured from the
//! journal.
//!
//! [`dry_run`] shows the steps with every input that can be known before
//! running, and calls nothing.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::journal::{Execution, Journal, Outcome, Record, StepOutcome};
use super::runbook::{OnFailure, Runbook, Step};
use super::scope::Scope;
use super::steps::{self, StepKind, Values};
use super::{Context, DrError, Progress, Report};
use crate::spec::Spec;

/// The longest pause between two attempts of a step.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A new execution of `runbook` (its text `text`) by `context`.
pub fn begin(context: &Context, runbook: &Runbook, text: &str) -> Execution {
    Execution {
        run: context.run.clone(),
        runbook: runbook.name.clone(),
        runbook_text: text.to_owned(),
        environment: context.spec.name.clone(),
        region: context.dr.region.clone(),
        isolated: context.isolated,
        started: context.clock.now(),
        ended: None,
        outcome: Outcome::Running,
        steps: Vec::new(),
        undo: Vec::new(),
        recovery_point: None,
        rpo_seconds: None,
        rto_seconds: None,
        error: None,
    }
}

/// Whether `execution` can be continued: it stopped while running or
/// undoing, or failed with nothing undone (the failed step runs again).
pub fn resumable(execution: &Execution) -> bool {
    match execution.outcome {
        Outcome::Running | Outcome::Undoing => true,
        Outcome::Failed => execution.undo.is_empty(),
        Outcome::Succeeded => false,
    }
}

/// Runs (or continues) `execution` of `runbook`; answers the failure
/// that ended it, if one did, after the journal has recorded it.
pub async fn execute(
    context: &Context,
    journal: &Journal,
    runbook: &Runbook,
    execution: &mut Execution,
    report: &dyn Report,
) -> Result<(), DrError> {
    report.report(Progress::Begin {
        total: runbook.steps.len(),
    });
    if execution.outcome == Outcome::Failed {
        execution.outcome = Outcome::Running;
        execution.error = None;
    }
    let mut failure = None;
    let mut undo = runbook.teardown;
    if execution.outcome == Outcome::Running {
        failure = steps_of(context, journal, runbook, execution, report).await?;
        undo |= failure
            .as_ref()
            .is_some_and(|(on_failure, _)| *on_failure == OnFailure::Undo);
        if failure.is_none() {
            measure(execution);
        }
        execution.error = failure.as_ref().map(|(_, e)| e.to_string());
    }
    if undo || execution.outcome == Outcome::Undoing {
        execution.outcome = Outcome::Undoing;
        journal.save(execution).await?;
        if let Err(error) = undo_all(context, journal, runbook, execution, report).await {
            report.report(Progress::End { ok: false });
            return Err(error);
        }
    }
    execution.outcome = if execution.error.is_some() {
        Outcome::Failed
    } else {
        Outcome::Succeeded
    };
    execution.ended = Some(context.clock.now());
    journal.save(execution).await?;
    report.report(Progress::End {
        ok: execution.error.is_none(),
    });
    match failure {
        Some((_, error)) => Err(error),
        None => Ok(()),
    }
}

/// Runs the steps not yet done; answers the failure that stopped them
/// (with what the failed step asked for), if one did.
async fn steps_of(
    context: &Context,
    journal: &Journal,
    runbook: &Runbook,
    execution: &mut Execution,
    report: &dyn Report,
) -> Result<Option<(OnFailure, DrError)>, DrError> {
    let mut scope = Scope::new(&context.spec, &context.run, &context.site());
    let mut failure = None;
    for (i, step) in runbook.steps.iter().enumerate() {
        let kind = steps::kind(&step.kind).expect("a validated runbook names known kinds");
        match execution.steps.get(i) {
            Some(done) if done.outcome == StepOutcome::Done => {
                scope.add(&step.id, &done.outputs);
                continue;
            }
            Some(failed)
                if failed.outcome == StepOutcome::Failed
                    && step.on_failure == OnFailure::Continue =>
            {
                continue;
            }
            _ => {}
        }
        execution.steps.truncate(i);
        let resolved = step
            .with
            .iter()
            .map(|(name, value)| Ok((name.clone(), scope.resolve(value)?)))
            .collect::<Result<Values, super::scope::Unresolved>>();
        let mut record = Record {
            step: step.id.clone(),
            kind: step.kind.clone(),
            inputs: resolved.clone().unwrap_or_default(),
            outputs: Values::new(),
            started: context.clock.now(),
            ended: None,
            outcome: StepOutcome::Running,
            attempts: 0,
            error: None,
        };
        execution.steps.push(record.clone());
        journal.save(execution).await?;
        report.report(Progress::Working(format!(
            "{}: {}",
            step.id,
            kind.describe(&record.inputs)
        )));
        let result = match resolved {
            Ok(inputs) => attempt(context, step, kind, &inputs, &mut record.attempts).await,
            Err(unresolved) => Err(unresolved.into()),
        };
        record.ended = Some(context.clock.now());
        match result {
            Ok(outputs) => {
                scope.add(&step.id, &outputs);
                record.outputs = outputs;
                record.outcome = StepOutcome::Done;
                report.report(Progress::Done(format!(
                    "+ {} ({}) in {:.1} s",
                    step.id,
                    step.kind,
                    record.seconds().unwrap_or_default()
                )));
            }
            Err(error) => {
                let message = aerie_common::error_chain(&error);
                record.outcome = StepOutcome::Failed;
                record.error = Some(message.clone());
                report.report(Progress::Done(format!("! {}: {message}", step.id)));
                if step.on_failure != OnFailure::Continue {
                    failure = Some((
                        step.on_failure,
                        DrError::StepFailed {
                            run: context.run.clone(),
                            step: step.id.clone(),
                            kind: step.kind.clone(),
                            attempts: record.attempts,
                            message,
                        },
                    ));
                }
            }
        }
        *execution.steps.last_mut().expect("pushed above") = record;
        journal.save(execution).await?;
        if failure.is_some() {
            break;
        }
    }
    Ok(failure)
}

/// Runs `step` until it succeeds, has used its retries or fails in a way
/// no retry mends, each attempt within its timeout.
async fn attempt(
    context: &Context,
    step: &Step,
    kind: &dyn StepKind,
    inputs: &Values,
    attempts: &mut u32,
) -> Result<Values, DrError> {
    loop {
        *attempts += 1;
        let error = match within(step.timeout, kind.run(context, &step.id, inputs)).await {
            Ok(outputs) => return Ok(outputs),
            Err(error) => error,
        };
        if *attempts > step.retries || error.permanent() {
            return Err(error);
        }
        tracing::warn!(step = step.id, attempt = *attempts, error = %aerie_common::error_chain(&error), "retrying");
        let pause = Duration::from_secs(1 << (*attempts - 1).min(5)).min(MAX_BACKOFF);
        context.clock.sleep(pause).await;
    }
}

/// `work`'s result, or a timeout once `limit` has passed.
async fn within<T>(
    limit: Duration,
    work: impl Future<Output = Result<T, DrError>>,
) -> Result<T, DrError> {
    tokio::time::timeout(limit, work)
        .await
        .unwrap_or(Err(DrError::Timeout { after: limit }))
}

/// Undoes every step that may have made something, newest first,
/// skipping the ones already undone.
async fn undo_all(
    context: &Context,
    journal: &Journal,
    runbook: &Runbook,
    execution: &mut Execution,
    report: &dyn Report,
) -> Result<(), DrError> {
    let made: Vec<Record> = execution.steps.iter().rev().cloned().collect();
    for step in made {
        let kind = steps::kind(&step.kind).expect("a journaled step has a known kind");
        let undone = execution
            .undo
            .iter()
            .any(|u| u.step == step.step && u.outcome == StepOutcome::Done);
        let written = runbook.steps.iter().find(|s| s.id == step.step);
        // Inputs that never resolved: the step ran no call.
        let unresolved = step.inputs.is_empty() && written.is_some_and(|s| !s.with.is_empty());
        if !kind.mutating() || unresolved || undone {
            continue;
        }
        let timeout = written.map_or(kind.timeout(), |s| s.timeout);
        execution.undo.retain(|u| u.step != step.step);
        let mut record = Record {
            outputs: Values::new(),
            started: context.clock.now(),
            ended: None,
            outcome: StepOutcome::Running,
            attempts: 1,
            error: None,
            ..step.clone()
        };
        execution.undo.push(record.clone());
        journal.save(execution).await?;
        report.report(Progress::Working(format!("undoing {}", step.step)));
        let result = within(timeout, kind.undo(context, &step.step, &step.inputs)).await;
        record.ended = Some(context.clock.now());
        let failed = result.err().map(|e| aerie_common::error_chain(&e));
        record.outcome = if failed.is_some() {
            StepOutcome::Failed
        } else {
            StepOutcome::Done
        };
        record.error.clone_from(&failed);
        *execution.undo.last_mut().expect("pushed above") = record;
        journal.save(execution).await?;
        if let Some(message) = failed {
            report.report(Progress::Done(format!("! undo {}: {message}", step.step)));
            return Err(DrError::UndoFailed {
                run: context.run.clone(),
                step: step.step.clone(),
                message,
            });
        }
        report.report(Progress::Done(format!("- undid {}", step.step)));
    }
    Ok(())
}

/// A drill's figures, from the journal: RPO is the start minus the time
/// the restored backup was taken; RTO is the start to the end of the last
/// verification.
fn measure(execution: &mut Execution) {
    let point = execution
        .steps
        .iter()
        .filter(|s| s.kind == "recovery-point")
        .find_map(|s| {
            s.outputs
                .get("taken")?
                .as_str()?
                .parse::<DateTime<Utc>>()
                .ok()
        });
    execution.recovery_point = point;
    execution.rpo_seconds = point.map(|p| (execution.started - p).num_seconds());
    let verified = execution
        .steps
        .iter()
        .filter(|s| s.kind.starts_with("verify-"))
        .filter_map(|s| s.ended)
        .max();
    execution.rto_seconds = verified.map(|v| (v - execution.started).num_seconds());
}

/// What running `runbook` would do, step by step, with every input known
/// before it runs; it calls nothing.
pub fn dry_run(runbook: &Runbook, spec: &Spec, run: &str) -> String {
    use std::fmt::Write as _;
    let scope = Scope::new(
        spec,
        run,
        &super::site::name(&spec.name, run, runbook.isolated),
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Runbook {}: {}",
        runbook.name,
        runbook.description.trim()
    );
    let _ = writeln!(
        out,
        "Run {run} of {} in {}{}.",
        spec.name,
        spec.dr_region.as_deref().unwrap_or("(no dr_region)"),
        if runbook.isolated {
            ", isolated: its own names and tags, nothing of the environment's"
        } else {
            ""
        }
    );
    for (i, step) in runbook.steps.iter().enumerate() {
        let kind = steps::kind(&step.kind).expect("a validated runbook names known kinds");
        let inputs: Values = step
            .with
            .iter()
            .map(|(name, value)| (name.clone(), scope.resolve_shown(value)))
            .collect();
        let _ = writeln!(
            out,
            "{}. {} ({}): {} [{}]",
            i + 1,
            step.id,
            step.kind,
            kind.describe(&inputs),
            if kind.mutating() {
                "changes AWS"
            } else {
                "reads only"
            }
        );
        let _ = writeln!(
            out,
            "   timeout {}, {} retr{}, on failure {}",
            humantime::format_duration(step.timeout),
            step.retries,
            if step.retries == 1 { "y" } else { "ies" },
            match step.on_failure {
                OnFailure::Stop => "stop",
                OnFailure::Continue => "continue",
                OnFailure::Undo => "undo",
            }
        );
    }
    if runbook.teardown {
        let _ = writeln!(
            out,
            "Then tear down: undo every step that made something, newest first (also after a failure)."
        );
    }
    let _ = writeln!(out, "Dry run: nothing was called or changed.");
    out
}
