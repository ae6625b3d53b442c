//! Tenant throttling decisions (seed 001's throttling manager): each run
//! checks this month's usage of every tenant against the environment's
//! quotas and decides, per tenant, allowed, warning (past the warning
//! threshold of a limit) or blocked (a limit reached, until the month
//! ends). The gateways poll the decisions
//! (`GET /api/v1/environments/{env}/throttle`, with an ETag) and never wait
//! on them; a tenant rising to warning or blocked is announced once a month
//! through the alert engine's outbox (mail, webhooks, history).
//!
//! Deciding is pure ([`decide`]: quotas, usage, month); the run keeps the
//! decisions and what was announced in `throttle.json` under the data
//! directory, so a restart neither forgets a block nor mails it again. With
//! a store several monitors share they are kept in the cluster instead
//! (`throttle/<environment>`), so a new leader neither forgets nor repeats
//! either and every monitor answers the gateways the same. The time is
//! passed in; nothing here reads the clock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Months, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Keep;
use super::usage::{Ledger, Period, Usage};
use crate::alerting::{Alert, Engine, State};
use crate::config::{Config, Quota};
use crate::store::shared::SharedState;

/// What the gateways do with a tenant's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Allowed,
    /// Allowed, past the warning threshold of a limit.
    Warning,
    /// Refused until the month ends.
    Blocked,
}

/// One tenant's decision, as the gateways read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub tenant: String,
    pub decision: Verdict,
    /// What to tell the tenant's callers (blocked) or operators (warning);
    /// empty when allowed.
    pub message: String,
    /// When a block lifts: the start of next month (UTC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

/// An environment's decisions for one month: the body of the throttle
/// endpoint. Usage figures stay out of it, so that it (and its ETag)
/// changes only when a decision does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decisions {
    pub environment: String,
    pub month: String,
    /// Tenants with a quota; a tenant not listed is allowed.
    pub tenants: Vec<Decision>,
}

impl Decisions {
    /// A strong ETag: the SHA-256 of the body, quoted.
    pub fn etag(&self) -> String {
        let body = serde_json::to_vec(self).expect("decisions serialize");
        let digest = Sha256::digest(&body);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("\"{hex}\"")
    }
}

/// The first instant of `at`'s month and of the month after.
pub fn month_of(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists");
    (start, start + Months::new(1))
}

/// A month's name in the decisions (`2026-12`), from its first instant.
fn month_name(start: DateTime<Utc>) -> String {
    start.format("%Y-%m").to_string()
}

/// How far one limit is used, in percent.
fn share(used: u64, limit: u64) -> f64 {
    used as f64 * 100.0 / limit as f64
}

/// The decisions of `environment` for the month starting `month`:
/// `usage` is this month's usage per tenant. A tenant with its own quota
/// follows it; every other tenant with usage follows the `*` quota if
/// there is one.
pub fn decide(
    environment: &str,
    quotas: &[Quota],
    usage: &BTreeMap<String, Usage>,
    month: DateTime<Utc>,
) -> Decisions {
    let next = month + Months::new(1);
    let mut tenants: BTreeMap<&str, &Quota> = BTreeMap::new();
    let wildcard = quotas.iter().find(|q| q.tenant == "*");
    if let Some(wildcard) = wildcard {
        for tenant in usage.keys() {
            tenants.insert(tenant, wildcard);
        }
    }
    for quota in quotas.iter().filter(|q| q.tenant != "*") {
        tenants.insert(&quota.tenant, quota);
    }
    let decisions = tenants
        .into_iter()
        .map(|(tenant, quota)| {
            let used = usage.get(tenant).cloned().unwrap_or_default();
            decision(tenant, quota, &used, next)
        })
        .collect();
    Decisions {
        environment: environment.to_owned(),
        month: month_name(month),
        tenants: decisions,
    }
}

fn decision(tenant: &str, quota: &Quota, used: &Usage, next: DateTime<Utc>) -> Decision {
    let limits = [
        quota.requests_per_month.map(|limit| {
            (
                "requests",
                used.requests,
                limit,
                format!("{} of {limit} requests", used.requests),
            )
        }),
        quota.bandwidth_per_month.map(|limit| {
            let shown = format!(
                "{} of {} of bandwidth",
                bytesize::ByteSize::b(used.bytes),
                limit
            );
            ("bandwidth", used.bytes, limit.as_u64(), shown)
        }),
    ];
    let worst = limits
        .into_iter()
        .flatten()
        .max_by(|a, b| share(a.1, a.2).total_cmp(&share(b.1, b.2)));
    let Some((what, used, limit, shown)) = worst else {
        return allowed(tenant);
    };
    let percent = share(used, limit);
    let until = next.format("%Y-%m-%d");
    if used >= limit {
        Decision {
            tenant: tenant.to_owned(),
            decision: Verdict::Blocked,
            message: quota.message.clone().unwrap_or_else(|| {
                format!("{tenant} has used its monthly {what} quota ({shown}); calls are refused until {until} UTC")
            }),
            until: Some(next),
        }
    } else if percent >= f64::from(quota.warn_at_percent) {
        Decision {
            tenant: tenant.to_owned(),
            decision: Verdict::Warning,
            message: format!(
                "{tenant} has used {percent:.0}% of its monthly {what} quota ({shown}); calls are refused once it is used up, until {until} UTC"
            ),
            until: None,
        }
    } else {
        allowed(tenant)
    }
}

fn allowed(tenant: &str) -> Decision {
    Decision {
        tenant: tenant.to_owned(),
        decision: Verdict::Allowed,
        message: String::new(),
        until: None,
    }
}

/// Why a throttle run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ThrottleError {
    #[error("the throttle state could not be read")]
    Read(#[from] aerie_common::JsonFileError),
    #[error("{}: cannot write the throttle state", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the throttle state in the cluster could not be read or written")]
    Shared(#[from] crate::store::StoreError),
    #[error("the throttle state of {environment} in the cluster is not valid")]
    SharedParse {
        environment: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("the usage could not be recounted")]
    Usage(#[from] super::usage::LedgerError),
    #[error("a decision could not be announced")]
    Announce(#[from] crate::alerting::AlertError),
}

/// What survives a restart.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    /// environment → its decisions.
    decisions: BTreeMap<String, Decisions>,
    /// environment → tenant → (month, the highest verdict announced in it).
    announced: BTreeMap<String, BTreeMap<String, (String, Verdict)>>,
}

/// The decisions of every environment with quotas, kept on disk or in the
/// cluster.
#[derive(Debug)]
pub struct Throttle {
    keep: Keep,
    saved: Mutex<Saved>,
}

/// The kind of the throttle's shared documents, one per environment.
const SHARED_KIND: &str = "throttle";

/// One environment's part of [`Saved`], as kept in the cluster.
#[derive(Debug, Serialize, Deserialize)]
struct Environment {
    environment: String,
    decisions: Option<Decisions>,
    announced: BTreeMap<String, (String, Verdict)>,
}

impl Throttle {
    pub fn open(file: PathBuf) -> Result<Self, ThrottleError> {
        let saved: Saved = aerie_common::read_json_or_default(&file)?;
        Ok(Self {
            keep: Keep::File(file),
            saved: Mutex::new(saved),
        })
    }

    /// Decisions kept in the monitors' shared state.
    pub fn shared(shared: Arc<dyn SharedState>) -> Self {
        Self {
            keep: Keep::Shared(shared),
            saved: Mutex::default(),
        }
    }

    /// Reads `environment`'s decisions and announcements again from the
    /// cluster (on disk they are this monitor's own and always current).
    pub async fn load(&self, environment: &str) -> Result<(), ThrottleError> {
        let Keep::Shared(shared) = &self.keep else {
            return Ok(());
        };
        let kept = match shared.get(SHARED_KIND, environment).await? {
            Some((body, _)) => Some(serde_json::from_value::<Environment>(body).map_err(
                |source| ThrottleError::SharedParse {
                    environment: environment.to_owned(),
                    source,
                },
            )?),
            None => None,
        };
        let mut saved = self.lock();
        let (decisions, announced) =
            kept.map_or((None, None), |kept| (kept.decisions, Some(kept.announced)));
        match decisions {
            Some(decisions) => saved.decisions.insert(environment.to_owned(), decisions),
            None => saved.decisions.remove(environment),
        };
        match announced {
            Some(announced) => saved.announced.insert(environment.to_owned(), announced),
            None => saved.announced.remove(environment),
        };
        Ok(())
    }

    /// Writes what the run decided: the whole file, or in the cluster one
    /// document per environment of `environments`.
    async fn save(&self, environments: &[&str]) -> Result<(), ThrottleError> {
        let shared = match &self.keep {
            Keep::File(file) => {
                let json =
                    serde_json::to_vec(&*self.lock()).expect("the throttle state serializes");
                return aerie_common::atomic_write(file, &json).map_err(|source| {
                    ThrottleError::Write {
                        path: file.clone(),
                        source,
                    }
                });
            }
            Keep::Shared(shared) => shared,
        };
        for environment in environments {
            let body = {
                let saved = self.lock();
                serde_json::to_value(Environment {
                    environment: (*environment).to_owned(),
                    decisions: saved.decisions.get(*environment).cloned(),
                    announced: saved
                        .announced
                        .get(*environment)
                        .cloned()
                        .unwrap_or_default(),
                })
                .expect("the throttle state serializes")
            };
            crate::store::shared::overwrite(shared.as_ref(), SHARED_KIND, environment, &body)
                .await?;
        }
        Ok(())
    }

    /// The decisions of `environment` as of the last run; none before the
    /// first run of a month (every tenant allowed).
    pub fn decisions(&self, environment: &str, now: DateTime<Utc>) -> Decisions {
        let month = month_name(month_of(now).0);
        self.lock()
            .decisions
            .get(environment)
            .filter(|d| d.month == month)
            .cloned()
            .unwrap_or_else(|| Decisions {
                environment: environment.to_owned(),
                month,
                tenants: Vec::new(),
            })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Saved> {
        self.saved.lock().expect("throttle lock")
    }

    /// Decides for every environment with quotas from the ledger's usage of
    /// `now`'s month, saves, and announces each tenant that rose to warning
    /// or blocked (once per month and verdict) through `engine`, if any.
    pub async fn decide_all(
        &self,
        config: &Config,
        ledger: &Ledger,
        engine: Option<&Engine>,
        now: DateTime<Utc>,
    ) -> Result<String, ThrottleError> {
        let (month, _) = month_of(now);
        let month_name = month_name(month);
        let with_quotas: Vec<&str> = config
            .environments
            .iter()
            .filter(|e| !e.quotas.is_empty())
            .map(|e| e.name.as_str())
            .collect();
        for environment in &with_quotas {
            self.load(environment).await?;
        }
        let mut rises = Vec::new();
        let mut counts = BTreeMap::<Verdict, usize>::new();
        {
            let mut saved = self.lock();
            for environment in config.environments.iter().filter(|e| !e.quotas.is_empty()) {
                let usage: BTreeMap<String, Usage> = ledger
                    .rows(&environment.name, None, Period::Month)
                    .into_iter()
                    .filter(|row| row.start == month)
                    .map(|row| (row.tenant, row.usage))
                    .collect();
                let decisions = decide(&environment.name, &environment.quotas, &usage, month);
                let announced = saved.announced.entry(environment.name.clone()).or_default();
                for decision in &decisions.tenants {
                    *counts.entry(decision.decision).or_default() += 1;
                    let before = announced
                        .get(&decision.tenant)
                        .filter(|(m, _)| *m == month_name)
                        .map_or(Verdict::Allowed, |(_, v)| *v);
                    if decision.decision > before {
                        announced.insert(
                            decision.tenant.clone(),
                            (month_name.clone(), decision.decision),
                        );
                        rises.push(alert(&environment.name, decision, now));
                    }
                }
                saved.decisions.insert(environment.name.clone(), decisions);
            }
        }
        self.save(&with_quotas).await?;
        for rise in &rises {
            tracing::warn!(environment = %rise.environment, tenant = %rise.host, decision = %rise.rule, "{}", rise.summary);
            if let Some(engine) = engine {
                engine.announce(rise, now).await?;
            }
        }
        let mut summary = format!(
            "{} allowed, {} warned, {} blocked",
            counts.get(&Verdict::Allowed).unwrap_or(&0),
            counts.get(&Verdict::Warning).unwrap_or(&0),
            counts.get(&Verdict::Blocked).unwrap_or(&0)
        );
        for rise in &rises {
            summary.push_str(&format!(
                "; announced {} {} in {}",
                rise.host, rise.rule, rise.environment
            ));
        }
        Ok(summary)
    }
}

/// The alert that announces a tenant's rise to warning or blocked.
fn alert(environment: &str, decision: &Decision, now: DateTime<Utc>) -> Alert {
    let blocked = decision.decision == Verdict::Blocked;
    Alert {
        rule: if blocked {
            "quota-blocked"
        } else {
            "quota-warning"
        }
        .into(),
        environment: environment.to_owned(),
        host: decision.tenant.clone(),
        labels: BTreeMap::from([("tenant".to_owned(), decision.tenant.clone())]),
        severity: if blocked { "critical" } else { "warning" }.into(),
        state: State::Firing,
        since: now,
        fired_at: Some(now),
        resolved_at: None,
        value: 0.0,
        summary: decision.message.clone(),
        description: if blocked {
            "The gateways refuse this tenant's calls until the month ends. Raise the quota in monitor.toml ([[environment.quota]]) and restart the monitor to lift it sooner.".into()
        } else {
            "The tenant is still served; its calls are refused once the quota is used up.".into()
        },
        detail: String::new(),
        last_notified: None,
        inhibited: false,
        silenced_by: None,
        changes: Vec::new(),
        flapping: false,
    }
}

/// Runs the throttle job: recounts this month's usage of the environments
/// with quotas, then decides.
pub async fn run(
    config: &Config,
    store: &Arc<dyn crate::store::Store>,
    ledger: &Ledger,
    throttle: &Throttle,
    engine: Option<&Engine>,
) -> Result<String, ThrottleError> {
    let environments: Vec<String> = config
        .environments
        .iter()
        .filter(|e| !e.quotas.is_empty())
        .map(|e| e.name.clone())
        .collect();
    ledger.refresh(store, &environments).await?;
    throttle
        .decide_all(config, ledger, engine, Utc::now())
        .await
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use aerie_common::toml_file::TomlFile as _;

    use super::*;

    fn quota(tenant: &str, requests: Option<u64>, bandwidth: Option<u64>) -> Quota {
        Quota {
            tenant: tenant.into(),
            requests_per_month: requests,
            bandwidth_per_month: bandwidth.map(bytesize::ByteSize::b),
            warn_at_percent: 80,
            message: None,
        }
    }

    fn usage(requests: u64, bytes: u64) -> Usage {
        Usage {
            requests,
            faults: 0,
            bytes,
        }
    }

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn verdicts(decisions: &Decisions) -> Vec<(&str, Verdict)> {
        decisions
            .tenants
            .iter()
            .map(|d| (d.tenant.as_str(), d.decision))
            .collect()
    }

    #[test]
    fn a_tenant_is_warned_from_the_threshold_and_blocked_at_the_limit_of_either_quota() {
        let quotas = [
            quota("acme.com", Some(1000), None),
            quota("globex.com", Some(1000), Some(10_000)),
            quota("initech.com", Some(1000), None),
        ];
        let used = BTreeMap::from([
            ("acme.com".to_owned(), usage(799, 0)),
            ("globex.com".to_owned(), usage(10, 8_000)),
            ("initech.com".to_owned(), usage(1000, 0)),
        ]);
        let month = at("2026-12-01T00:00:00Z");
        let decisions = decide("acme-prod", &quotas, &used, month);
        assert_eq!(decisions.month, "2026-12");
        assert_eq!(
            verdicts(&decisions),
            [
                ("acme.com", Verdict::Allowed),
                ("globex.com", Verdict::Warning),
                ("initech.com", Verdict::Blocked)
            ]
        );
        let warning = &decisions.tenants[1].message;
        assert!(
            warning.contains("80% of its monthly bandwidth quota"),
            "{warning}"
        );
        let blocked = &decisions.tenants[2];
        assert_eq!(blocked.until, Some(at("2027-01-01T00:00:00Z")));
        assert!(
            blocked.message.contains("1000 of 1000 requests"),
            "{}",
            blocked.message
        );
        assert!(
            blocked.message.contains("until 2027-01-01"),
            "{}",
            blocked.message
        );
    }

    #[test]
    fn the_wildcard_quota_covers_every_other_tenant_seen_and_a_rule_of_its_own_wins() {
        let mut own = quota("acme.com", Some(10), None);
        own.message = Some("Upgrade your plan at https://acme.example/plans".into());
        let quotas = [quota("*", Some(100), None), own];
        let used = BTreeMap::from([
            ("acme.com".to_owned(), usage(10, 0)),
            ("globex.com".to_owned(), usage(90, 0)),
        ]);
        let decisions = decide("acme-prod", &quotas, &used, at("2026-12-01T00:00:00Z"));
        assert_eq!(
            verdicts(&decisions),
            [
                ("acme.com", Verdict::Blocked),
                ("globex.com", Verdict::Warning)
            ]
        );
        assert_eq!(
            decisions.tenants[0].message,
            "Upgrade your plan at https://acme.example/plans"
        );
    }

    #[test]
    fn the_etag_changes_with_a_decision_and_not_with_usage_below_the_threshold() {
        let quotas = [quota("acme.com", Some(1000), None)];
        let month = at("2026-12-01T00:00:00Z");
        let of = |requests| {
            let used = BTreeMap::from([("acme.com".to_owned(), usage(requests, 0))]);
            decide("acme-prod", &quotas, &used, month).etag()
        };
        assert_eq!(of(10), of(500));
        assert_ne!(of(500), of(850));
    }

    /// A monitor config whose environment has `quotas`, and a ledger of
    /// `hours` (tenant, hour, requests) in a folder of the test's own.
    fn setup(hours: &[(&str, &str, u64)]) -> (tempfile::TempDir, Config, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let text = "data_dir = \"data\"\n[[environment]]\nname = \"acme-prod\"\ningest_token = \"t\"\n[[environment.quota]]\ntenant = \"acme.com\"\nrequests_per_month = 10\n";
        let config = Config::parse(&dir.path().join("monitor.toml"), text).unwrap();
        let mut ledger: BTreeMap<String, BTreeMap<DateTime<Utc>, Usage>> = BTreeMap::new();
        for (tenant, hour, requests) in hours {
            ledger
                .entry((*tenant).to_owned())
                .or_default()
                .insert(at(hour), usage(*requests, 0));
        }
        let file = dir.path().join("usage.json");
        std::fs::write(
            &file,
            serde_json::to_vec(&BTreeMap::from([("acme-prod", ledger)])).unwrap(),
        )
        .unwrap();
        let ledger = Ledger::open(file).unwrap();
        (dir, config, ledger)
    }

    fn state(dir: &Path) -> Throttle {
        Throttle::open(dir.join("throttle.json")).unwrap()
    }

    #[tokio::test]
    async fn a_block_is_announced_once_survives_a_restart_and_lifts_with_the_new_month() {
        let (dir, config, ledger) = setup(&[
            ("acme.com", "2026-12-01T10:00:00Z", 8),
            ("acme.com", "2026-12-02T10:00:00Z", 2),
        ]);
        let throttle = state(dir.path());
        let now = at("2026-12-15T12:00:00Z");
        let first = throttle
            .decide_all(&config, &ledger, None, now)
            .await
            .unwrap();
        assert_eq!(
            first,
            "0 allowed, 0 warned, 1 blocked; announced acme.com quota-blocked in acme-prod"
        );
        let again = state(dir.path())
            .decide_all(&config, &ledger, None, now)
            .await
            .unwrap();
        assert_eq!(
            again, "0 allowed, 0 warned, 1 blocked",
            "not announced twice"
        );
        let read = state(dir.path());
        assert_eq!(
            verdicts(&read.decisions("acme-prod", now)),
            [("acme.com", Verdict::Blocked)]
        );

        // January: December's usage no longer counts.
        let january = at("2027-01-01T00:05:00Z");
        assert!(read.decisions("acme-prod", january).tenants.is_empty());
        let lifted = read
            .decide_all(&config, &ledger, None, january)
            .await
            .unwrap();
        assert_eq!(lifted, "1 allowed, 0 warned, 0 blocked");
        assert_eq!(
            verdicts(&read.decisions("acme-prod", january)),
            [("acme.com", Verdict::Allowed)]
        );
    }

    #[tokio::test]
    async fn a_warning_then_a_block_are_each_announced() {
        let (dir, config, ledger) = setup(&[("acme.com", "2026-12-01T10:00:00Z", 8)]);
        let throttle = state(dir.path());
        let now = at("2026-12-15T12:00:00Z");
        let warned = throttle
            .decide_all(&config, &ledger, None, now)
            .await
            .unwrap();
        assert!(
            warned.ends_with("announced acme.com quota-warning in acme-prod"),
            "{warned}"
        );
        let (_dir, _, more) = setup(&[
            ("acme.com", "2026-12-01T10:00:00Z", 8),
            ("acme.com", "2026-12-15T10:00:00Z", 5),
        ]);
        let blocked = throttle
            .decide_all(&config, &more, None, now)
            .await
            .unwrap();
        assert!(
            blocked.ends_with("announced acme.com quota-blocked in acme-prod"),
            "{blocked}"
        );
    }
}
