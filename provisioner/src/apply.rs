//! Executing a plan: steps along the dependency graph, at most
//! [`PARALLEL`] at a time, with a progress bar; removals last, in reverse
//! dependency order. Every create is preceded by the plan's "find by tag",
//! so a run that crashed part way converges when run again.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::aws::retry::AwsError;
use crate::aws::{Cloud, Found, Known};
use crate::model::{Kind, Resource};
use crate::plan::{Plan, Step};
use crate::spec::Spec;

pub const PARALLEL: usize = 4;

/// The bastion's cloud-init user-data, from `templates/bastion/user-data.hbs`.
pub fn bastion_user_data(spec: &Spec) -> String {
    let mut registry = handlebars::Handlebars::new();
    registry.set_strict_mode(true);
    registry.register_escape_fn(handlebars::no_escape);
    registry
        .render_template(
            include_str!("../../templates/bastion/user-data.hbs"),
            &serde_json::json!({
                "environment": spec.name,
                "ssh_port": spec.access.ssh_port,
                "ntp_servers": spec.ntp.servers,
            }),
        )
        .expect("the user-data template renders")
}

fn known_from(observed: &[Found]) -> Known {
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

fn progress(total: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("the progress template is valid")
            .progress_chars("=> "),
    );
    bar
}

/// Prints a line above the progress bar, or on its own when the bar is
/// hidden (output not a terminal: a log or CI keeps every line).
#[allow(clippy::print_stdout)]
fn say(bar: &indicatif::ProgressBar, line: impl AsRef<str>) {
    if bar.is_hidden() {
        println!("{}", line.as_ref());
    } else {
        bar.println(line);
    }
}

/// Runs `plan`; prints a line per finished step.
#[allow(clippy::print_stdout)]
pub async fn apply(
    cloud: &Cloud,
    spec: &Spec,
    plan: &Plan,
    observed: &[Found],
) -> Result<(), AwsError> {
    let mut known = known_from(observed);
    let user_data = bastion_user_data(spec);
    let bar = progress(plan.steps.len());
    let (removals, work): (Vec<&Step>, Vec<&Step>) = plan
        .steps
        .iter()
        .partition(|s| matches!(s, Step::Remove(_)));
    let mut pending: BTreeMap<String, &Step> =
        work.iter().map(|s| (s.role().to_owned(), *s)).collect();
    let deps = |step: &Step| -> Vec<String> {
        match step {
            Step::Add(resource)
            | Step::Change {
                desired: resource, ..
            } => resource.deps.clone(),
            Step::Remove(_) => Vec::new(),
        }
    };
    let mut running = FuturesUnordered::new();
    let mut started: BTreeSet<String> = BTreeSet::new();
    let mut failure: Option<AwsError> = None;
    loop {
        if failure.is_none() {
            let ready: Vec<String> = pending
                .iter()
                .filter(|(role, step)| {
                    !started.contains(*role) && deps(step).iter().all(|d| !pending.contains_key(d))
                })
                .map(|(role, _)| role.clone())
                .collect();
            for role in ready {
                if running.len() >= PARALLEL {
                    break;
                }
                started.insert(role.clone());
                let step = pending[&role];
                let snapshot = known.clone();
                let user_data = user_data.as_str();
                bar.set_message(format!("{} {}", verb(step), role));
                running.push(async move {
                    let result = run_step(cloud, spec, step, &snapshot, user_data).await;
                    (role, result)
                });
            }
        }
        let Some((role, result)) = running.next().await else {
            break;
        };
        bar.inc(1);
        match result {
            Ok((id, address)) => {
                let step = pending.remove(&role).expect("a pending step");
                say(
                    &bar,
                    format!("{} {} {role} ({id})", past(step), kind_of(step).label()),
                );
                known.ids.insert(role.clone(), id);
                if let Some(address) = address {
                    known.addresses.insert(role, address);
                }
            }
            Err(error) => {
                say(&bar, format!("! {role}: {error}"));
                failure.get_or_insert(error);
            }
        }
    }
    if let Some(error) = failure {
        bar.abandon();
        return Err(error);
    }
    if !pending.is_empty() {
        bar.abandon();
        return Err(AwsError::other(
            "apply",
            format!(
                "steps wait on resources that are not in the plan: {}",
                pending.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    let mut removals: Vec<&Found> = removals
        .iter()
        .filter_map(|s| match s {
            Step::Remove(found) => Some(found),
            _ => None,
        })
        .collect();
    removals.sort_by_key(|f| std::cmp::Reverse(f.resource.kind));
    for found in removals {
        bar.set_message(format!("removing {}", found.resource.role));
        let kept = cloud.delete(found, &known).await?;
        bar.inc(1);
        say(&bar, removed_line(found, kept.as_deref()));
    }
    bar.finish_and_clear();
    Ok(())
}

fn kind_of(step: &Step) -> Kind {
    match step {
        Step::Add(resource)
        | Step::Change {
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
    }
}

fn past(step: &Step) -> &'static str {
    match step {
        Step::Add(_) => "+ created",
        Step::Change { .. } => "~ changed",
        Step::Remove(_) => "- removed",
    }
}

async fn run_step(
    cloud: &Cloud,
    spec: &Spec,
    step: &Step,
    known: &Known,
    user_data: &str,
) -> Result<(String, Option<String>), AwsError> {
    match step {
        Step::Add(resource) => {
            let (id, address) = cloud.create(resource, known, user_data, spec).await?;
            let mut known = known.clone();
            known.ids.insert(resource.role.clone(), id.clone());
            let rules: Vec<String> = resource.rules.iter().cloned().collect();
            if !rules.is_empty() {
                cloud
                    .change_rules(resource, &id, &rules, &[], &known)
                    .await?;
            }
            Ok((id, address))
        }
        Step::Change {
            desired,
            found,
            add,
            remove,
        } => {
            cloud
                .change_rules(desired, &found.id, add, remove, known)
                .await?;
            Ok((found.id.clone(), found.address.clone()))
        }
        Step::Remove(_) => unreachable!("removals run after the rest"),
    }
}

/// Removes everything tagged for the environment, dependents first.
#[allow(clippy::print_stdout)]
pub async fn destroy(cloud: &Cloud, observed: &[Found]) -> Result<usize, AwsError> {
    let known = known_from(observed);
    let bar = progress(observed.len());
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
            bar.inc(1);
            let kept = result?;
            say(&bar, removed_line(found, kept.as_deref()));
        }
    }
    bar.finish_and_clear();
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
