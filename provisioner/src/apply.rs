//! Executing a plan: steps along the dependency graph, at most
//! [`PARALLEL`] at a time, each step reported as a [`Progress`] event; removals last, in reverse
//! dependency order. Every create is preceded by the plan's "find by tag",
//! so a run that crashed part way converges when run again.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::aws::retry::AwsError;
use crate::aws::{Cloud, Known};
use crate::model::Found;
use crate::model::{Kind, Resource, Rule};
use crate::plan::{Plan, Step};
use crate::progress::{Progress, Report};
use crate::rollout::Gate;
use crate::spec::Spec;

pub const PARALLEL: usize = 4;

/// The ids and addresses of what was observed, by role.
pub(crate) fn known_from(observed: &[Found]) -> Known {
    let mut known = Known::default();
    for found in observed {
        known
            .ids
            .insert(found.resource.role.clone(), found.id.clone());
        if let Some(address) = &found.address {
            known
                .addresses
                .insert(found.resource.role.clone(), address.clone());
        }
    }
    known
}

/// Why an apply stopped.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error(transparent)]
    Rollout(#[from] crate::rollout::RolloutError),
}

/// Runs `plan`, reporting each step as it starts and ends.
pub async fn apply(
    cloud: &Cloud,
    spec: &Spec,
    plan: &Plan,
    observed: &[Found],
    report: &dyn Report,
    gate: Option<Gate<'_>>,
) -> Result<(), ApplyError> {
    let mut known = known_from(observed);
    let artifacts = crate::render::artifacts(spec)?;
    report.report(Progress::Begin {
        total: plan.steps.len(),
    });
    let (removals, work): (Vec<&Step>, Vec<&Step>) = plan
        .steps
        .iter()
        .partition(|s| matches!(s, Step::Remove(_)));
    let mut pending: BTreeMap<String, &Step> =
        work.iter().map(|s| (s.role().to_owned(), *s)).collect();
    let mut running = FuturesUnordered::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut failure: Option<ApplyError> = None;
    // The node replacements in flight (a rollout's, when gated).
    let mut rolling: BTreeSet<String> = BTreeSet::new();
    loop {
        if failure.is_none() {
            let mut ready: Vec<String> = pending
                .iter()
                .filter(|(role, step)| {
                    !started.contains(*role) && deps(step).iter().all(|d| !pending.contains_key(d))
                })
                .map(|(role, _)| role.clone())
                .collect();
            ready.sort_by_key(|role| crate::rollout::rank(role));
            for role in ready {
                if running.len() >= PARALLEL {
                    break;
                }
                let step = pending[&role];
                let node = gate.is_some() && is_node_replacement(step);
                if node && !may_roll(&role, &rolling, &pending, gate) {
                    continue;
                }
                if node {
                    rolling.insert(role.clone());
                }
                started.insert(role.clone());
                let snapshot = known.clone();
                let artifacts = &artifacts;
                report.report(Progress::Working(format!("{} {role}", verb(step))));
                running.push(async move {
                    let since = chrono::Utc::now();
                    let result = run_step(cloud, spec, step, &snapshot, artifacts)
                        .await
                        .map_err(ApplyError::from);
                    let result = match (result, gate) {
                        (Ok(made), Some(gate)) if node => {
                            crate::rollout::wait_healthy(&gate, &role, since)
                                .await
                                .map(|()| made)
                                .map_err(ApplyError::from)
                        }
                        (result, _) => result,
                    };
                    (role, result)
                });
            }
        }
        let Some((role, result)) = running.next().await else {
            break;
        };
        rolling.remove(&role);
        match result {
            Ok((id, address)) => {
                let step = pending.remove(&role).expect("a pending step");
                report.report(Progress::Done(format!(
                    "{} {} {role} ({id})",
                    past(step),
                    kind_of(step).label()
                )));
                known.ids.insert(role.clone(), id);
                if let Some(address) = address {
                    known.addresses.insert(role, address);
                }
            }
            Err(error) => {
                report.report(Progress::Done(format!("! {role}: {error}")));
                failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = failure {
        report.report(Progress::End { ok: false });
        return Err(error);
    }
    if !pending.is_empty() {
        report.report(Progress::End { ok: false });
        return Err(AwsError::other(
            "apply",
            format!(
                "steps wait on resources that are not in the plan: {}",
                pending.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        )
        .into());
    }
    remove_all(cloud, &removals, &known, report).await?;
    report.report(Progress::End { ok: true });
    Ok(())
}

/// The roles a step waits for.
fn deps(step: &Step) -> &[String] {
    match step {
        Step::Add(resource)
        | Step::Change {
            desired: resource, ..
        }
        | Step::Replace {
            desired: resource, ..
        } => &resource.deps,
        Step::Remove(_) => &[],
    }
}

/// The plan's removals, last and in reverse dependency order.
async fn remove_all(
    cloud: &Cloud,
    removals: &[&Step],
    known: &Known,
    report: &dyn Report,
) -> Result<(), AwsError> {
    let mut removals: Vec<&Found> = removals
        .iter()
        .filter_map(|s| match s {
            Step::Remove(found) => Some(found),
            _ => None,
        })
        .collect();
    removals.sort_by_key(|f| std::cmp::Reverse(f.resource.kind));
    for found in removals {
        report.report(Progress::Working(format!(
            "removing {}",
            found.resource.role
        )));
        let kept = cloud.delete(found, known).await?;
        report.report(Progress::Done(removed_line(found, kept.as_deref())));
    }
    Ok(())
}

/// A replacement of a product node (what a rollout gates).
fn is_node_replacement(step: &Step) -> bool {
    matches!(step, Step::Replace { desired, .. }
        if desired.kind == Kind::Instance && crate::rollout::is_node(&desired.role))
}

/// Whether node `role` may be replaced now: in the rollout's order, no
/// traffic manager down while another is replaced, gateways after the
/// traffic managers, at most `max_unavailable` gateways down at once.
fn may_roll(
    role: &str,
    rolling: &BTreeSet<String>,
    pending: &BTreeMap<String, &Step>,
    gate: Option<Gate<'_>>,
) -> bool {
    let limit = gate.map_or(usize::MAX, |g| g.max_unavailable.max(1));
    // In the plan's order: never before a node that comes earlier and has
    // not started yet.
    let earlier_waiting = pending.iter().any(|(other, step)| {
        is_node_replacement(step)
            && crate::rollout::rank(other) < crate::rollout::rank(role)
            && !rolling.contains(other)
    });
    if earlier_waiting {
        return false;
    }
    if role.starts_with("traffic-manager-") {
        return rolling.is_empty();
    }
    let managers_waiting = pending
        .iter()
        .any(|(other, step)| other.starts_with("traffic-manager-") && is_node_replacement(step))
        || rolling.iter().any(|r| r.starts_with("traffic-manager-"));
    !managers_waiting && rolling.len() < limit
}

fn kind_of(step: &Step) -> Kind {
    match step {
        Step::Add(resource)
        | Step::Change {
            desired: resource, ..
        }
        | Step::Replace {
            desired: resource, ..
        } => resource.kind,
        Step::Remove(found) => found.resource.kind,
    }
}

fn verb(step: &Step) -> &'static str {
    match step {
        Step::Add(_) => "creating",
        Step::Change { .. } => "changing",
        Step::Remove(_) => "removing",
        Step::Replace { .. } => "replacing",
    }
}

fn past(step: &Step) -> &'static str {
    match step {
        Step::Add(_) => "+ created",
        Step::Change { .. } => "~ changed",
        Step::Remove(_) => "- removed",
        Step::Replace { .. } => "-/+ replaced",
    }
}

async fn run_step(
    cloud: &Cloud,
    spec: &Spec,
    step: &Step,
    known: &Known,
    artifacts: &crate::render::Artifacts,
) -> Result<(String, Option<String>), AwsError> {
    match step {
        Step::Replace { desired, found, .. } => {
            // The old one goes first: two instances of one role would be
            // taken for a duplicate left by a crash.
            cloud.delete(found, known).await?;
            let add = Step::Add(desired.clone());
            Box::pin(run_step(cloud, spec, &add, known, artifacts)).await
        }
        Step::Add(resource) => {
            let crate::aws::Made { id, address } =
                cloud.create(resource, known, artifacts, spec).await?;
            let mut known = known.clone();
            known.ids.insert(resource.role.clone(), id.clone());
            let rules: Vec<Rule> = resource.rules.iter().cloned().collect();
            if !rules.is_empty() {
                cloud
                    .change_rules(resource, &id, (&rules, &[]), &[], &known)
                    .await?;
            }
            Ok((id, address))
        }
        Step::Change {
            desired,
            found,
            add,
            remove,
            repairs,
        } => {
            cloud
                .change_rules(desired, &found.id, (add, remove), repairs, known)
                .await?;
            Ok((found.id.clone(), found.address.clone()))
        }
        Step::Remove(_) => unreachable!("removals run after the rest"),
    }
}

/// Removes everything tagged for the environment, dependents first.
pub async fn destroy(
    cloud: &Cloud,
    observed: &[Found],
    report: &dyn Report,
) -> Result<usize, AwsError> {
    let known = known_from(observed);
    report.report(Progress::Begin {
        total: observed.len(),
    });
    let mut by_kind: BTreeMap<std::cmp::Reverse<Kind>, Vec<&Found>> = BTreeMap::new();
    for found in observed {
        by_kind
            .entry(std::cmp::Reverse(found.resource.kind))
            .or_default()
            .push(found);
    }
    for (_, group) in by_kind {
        let results: Vec<(&Found, Result<Option<String>, AwsError>)> =
            futures_util::future::join_all(group.iter().map(|found| {
                let known = &known;
                async move { (*found, cloud.delete(found, known).await) }
            }))
            .await;
        for (found, result) in results {
            let kept = result.inspect_err(|_| report.report(Progress::End { ok: false }))?;
            report.report(Progress::Done(removed_line(found, kept.as_deref())));
        }
    }
    report.report(Progress::End { ok: true });
    Ok(observed.len())
}

/// The line printed for a removed resource, with what was kept of it.
fn removed_line(found: &Found, kept: Option<&str>) -> String {
    let mut line = format!(
        "- removed {} {} ({})",
        found.resource.kind.label(),
        found.resource.role,
        found.id
    );
    if let Some(kept) = kept {
        line.push_str(&format!("; kept {kept}"));
    }
    line
}

/// What `status` prints: every resource of the environment, its id and state.
pub fn status(desired: &[Resource], observed: &[Found]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(out, "{:<18} {:<22} {:<28} STATE", "KIND", "ROLE", "ID");
    for resource in desired {
        let found = observed
            .iter()
            .find(|f| f.resource.kind == resource.kind && f.resource.role == resource.role);
        let (id, state) = found.map_or(("-", "missing"), |f| (f.id.as_str(), f.state.as_str()));
        let _ = writeln!(
            out,
            "{:<18} {:<22} {:<28} {state}",
            resource.kind.label(),
            resource.role,
            id
        );
    }
    for found in observed {
        if !desired
            .iter()
            .any(|r| r.kind == found.resource.kind && r.role == found.resource.role)
        {
            let _ = writeln!(
                out,
                "{:<18} {:<22} {:<28} {} (not in the spec)",
                found.resource.kind.label(),
                found.resource.role,
                found.id,
                found.state
            );
        }
    }
    out
}

/// DNS records the customer must add for SES (from what AWS says).
pub fn customer_records(observed: &[Found]) -> Vec<String> {
    observed
        .iter()
        .flat_map(|f| f.notes.iter().cloned())
        .collect()
}
