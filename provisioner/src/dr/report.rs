//! What a DR execution tells the monitor once it ends, on host `aerie-dr`:
//! its RPO and RTO (`aerie.dr.rpo.seconds`, `aerie.dr.rto.seconds`), each
//! step's duration (`aerie.dr.step.seconds`), its result (`aerie.dr.result`:
//! 1 when it succeeded and met both targets), the time of the last drill
//! (`aerie.dr.last.timestamp`, which a `backup_age` rule can watch), and a
//! log event from the logger `aerie.dr`: INFO when all went well, WARN when
//! a target was missed, ERROR when it failed. Every metric carries the
//! `runbook` and `run` labels; the dashboard's DR page reads them back.

use std::collections::BTreeMap;
use std::time::Duration;

use aerie_wire::{Event, EventBody};

use super::journal::{Execution, Outcome};

/// The host DR reports carry.
pub const DR_HOST: &str = "aerie-dr";
/// The logger of the event each execution ends with.
pub const DR_LOGGER: &str = "aerie.dr";
pub const RPO_METRIC: &str = "aerie.dr.rpo.seconds";
pub const RTO_METRIC: &str = "aerie.dr.rto.seconds";
pub const STEP_METRIC: &str = "aerie.dr.step.seconds";
pub const RESULT_METRIC: &str = "aerie.dr.result";
pub const LAST_METRIC: &str = "aerie.dr.last.timestamp";

/// The objectives an execution is measured against (`[backup] rpo`, `rto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub rpo: Duration,
    pub rto: Duration,
}

/// Whether `execution` met `targets` (a figure not measured is not met).
pub fn met(execution: &Execution, targets: &Targets) -> bool {
    let within = |seconds: Option<i64>, target: Duration| {
        seconds.is_some_and(|s| u64::try_from(s).is_ok_and(|s| s <= target.as_secs()))
    };
    within(execution.rpo_seconds, targets.rpo) && within(execution.rto_seconds, targets.rto)
}

/// The events that report `execution`.
pub fn events(execution: &Execution, targets: &Targets) -> Vec<Event> {
    let at = execution.ended.unwrap_or(execution.started);
    let labels = BTreeMap::from([
        ("runbook".to_owned(), execution.runbook.clone()),
        ("run".to_owned(), execution.run.clone()),
    ]);
    let metric = |name: &str, value: f64, extra: &[(&str, String)]| {
        let mut labels = labels.clone();
        labels.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        let key: Vec<&[u8]> = [b"dr".as_slice(), execution.run.as_bytes(), name.as_bytes()]
            .into_iter()
            .chain(extra.iter().map(|(_, v)| v.as_bytes()))
            .collect();
        Event {
            id: aerie_wire::event_id(&key),
            timestamp: at,
            body: EventBody::Metric {
                name: name.to_owned(),
                value,
                labels,
            },
        }
    };
    let succeeded = execution.outcome == Outcome::Succeeded;
    let met = succeeded && met(execution, targets);
    let mut out = vec![
        metric(RESULT_METRIC, if met { 1.0 } else { 0.0 }, &[]),
        metric(LAST_METRIC, at.timestamp() as f64, &[]),
    ];
    if let Some(rpo) = execution.rpo_seconds {
        out.push(metric(RPO_METRIC, rpo as f64, &[]));
    }
    if let Some(rto) = execution.rto_seconds {
        out.push(metric(RTO_METRIC, rto as f64, &[]));
    }
    for (i, step) in execution.steps.iter().enumerate() {
        if let Some(seconds) = step.seconds() {
            out.push(metric(
                STEP_METRIC,
                seconds,
                &[
                    ("step", step.step.clone()),
                    ("order", format!("{:02}", i + 1)),
                ],
            ));
        }
    }
    let figures = format!(
        "RPO {} (target {}), RTO {} (target {})",
        seconds(execution.rpo_seconds),
        humantime::format_duration(targets.rpo),
        seconds(execution.rto_seconds),
        humantime::format_duration(targets.rto)
    );
    let (level, message) = if !succeeded {
        (
            "ERROR",
            format!(
                "{} {} of {} failed: {}",
                execution.runbook,
                execution.run,
                execution.environment,
                execution.error.as_deref().unwrap_or("see its journal")
            ),
        )
    } else if !met {
        (
            "WARN",
            format!(
                "{} {} of {} missed its targets: {figures}",
                execution.runbook, execution.run, execution.environment
            ),
        )
    } else {
        (
            "INFO",
            format!(
                "{} {} of {} succeeded: {figures}",
                execution.runbook, execution.run, execution.environment
            ),
        )
    };
    out.push(Event {
        id: aerie_wire::event_id(&[b"dr-end", execution.run.as_bytes()]),
        timestamp: at,
        body: EventBody::Log {
            file: DR_HOST.to_owned(),
            level: Some(level.to_owned()),
            logger: Some(DR_LOGGER.to_owned()),
            message,
            parsed: true,
            origin: None,
        },
    });
    out
}

fn seconds(value: Option<i64>) -> String {
    value.map_or_else(|| "not measured".to_owned(), figure)
}

/// A measured RPO or RTO for people (`5h 2s`).
pub fn figure(seconds: i64) -> String {
    humantime::format_duration(Duration::from_secs(seconds.unsigned_abs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dr::journal::Outcome;

    fn execution(rpo: i64, rto: i64) -> Execution {
        let at = chrono::Utc::now();
        Execution {
            run: "r1".into(),
            runbook: "drill".into(),
            runbook_text: String::new(),
            environment: "acme-prod".into(),
            region: "eu-central-1".into(),
            isolated: true,
            started: at,
            ended: Some(at),
            outcome: Outcome::Succeeded,
            steps: Vec::new(),
            undo: Vec::new(),
            recovery_point: None,
            rpo_seconds: Some(rpo),
            rto_seconds: Some(rto),
            error: None,
        }
    }

    fn level(events: &[Event]) -> String {
        events
            .iter()
            .find_map(|e| match &e.body {
                EventBody::Log { level, .. } => level.clone(),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn a_drill_within_both_targets_reports_info_and_one_missing_a_target_warns() {
        let targets = Targets {
            rpo: Duration::from_secs(3600),
            rto: Duration::from_secs(600),
        };
        let good = events(&execution(3600, 600), &targets);
        assert_eq!(level(&good), "INFO");
        let late = events(&execution(3600, 601), &targets);
        assert_eq!(level(&late), "WARN");
        let result = |events: &[Event]| {
            events.iter().find_map(|e| match &e.body {
                EventBody::Metric { name, value, .. } if name == RESULT_METRIC => Some(*value),
                _ => None,
            })
        };
        assert_eq!(result(&good), Some(1.0));
        assert_eq!(result(&late), Some(0.0));
    }
}
