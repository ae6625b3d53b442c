//! `[[environment]]`: each customer environment, its ingest token, who
//! is told about its alerts and, optionally, the spec its daily backup
//! follows.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use aerie_wire::Secret;
use serde::{Deserialize, Serialize};

use super::{FieldError, invalid, valid_name};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEnvironment {
    name: String,
    customer: Option<String>,
    ingest_token: Option<String>,
    ingest_token_file: Option<PathBuf>,
    #[serde(default)]
    operators: Vec<String>,
    #[serde(default)]
    customer_contacts: Vec<String>,
    #[serde(default)]
    notify_customer: bool,
    backup_spec: Option<PathBuf>,
    #[serde(default)]
    webhook: Vec<RawWebhook>,
    #[serde(default)]
    quota: Vec<RawQuota>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuota {
    tenant: String,
    requests_per_month: Option<u64>,
    bandwidth_per_month: Option<bytesize::ByteSize>,
    #[serde(default = "eighty")]
    warn_at_percent: u8,
    message: Option<String>,
}

fn eighty() -> u8 {
    80
}

/// A tenant's monthly quota (seed 001's throttling rules): a warning at
/// `warn_at_percent` of a limit, a block at 100 % until the month ends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quota {
    /// The tenant (`acme.com`, `carbon.super`), or `*` for every tenant
    /// without a rule of its own.
    pub tenant: String,
    pub requests_per_month: Option<u64>,
    pub bandwidth_per_month: Option<bytesize::ByteSize>,
    pub warn_at_percent: u8,
    /// What the gateways show a blocked tenant's callers, instead of the
    /// default sentence.
    pub message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: String,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
}

/// Where an environment's alerts are also posted, as Alertmanager webhook
/// JSON signed with `secret`.
#[derive(Debug, Clone, Serialize)]
pub struct Webhook {
    /// An `http` or `https` URL.
    pub url: String,
    pub secret: Secret,
}

/// A customer environment whose agents send data.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    pub customer: Option<String>,
    pub ingest_token: Secret,
    /// Who is told of every alert.
    pub operators: Vec<String>,
    /// The customer's contacts, told too when `notify_customer` is set.
    pub customer_contacts: Vec<String>,
    pub notify_customer: bool,
    /// The environment's spec (`aerie env`'s file): when set, the monitor
    /// runs its daily backup by the spec's `[backup]` policy.
    pub backup_spec: Option<PathBuf>,
    /// Receivers of every alert notification besides the mail.
    pub webhooks: Vec<Webhook>,
    /// Monthly quotas per tenant; none means nobody is ever throttled.
    pub quotas: Vec<Quota>,
}

impl Environment {
    /// Who receives this environment's alert mail.
    pub fn recipients(&self) -> Vec<String> {
        let mut to = self.operators.clone();
        if self.notify_customer {
            to.extend(self.customer_contacts.iter().cloned());
        }
        to
    }
}

/// Validates the environments; their tokens go into `tokens` (unique across
/// environments and users).
pub(super) fn validate(
    raws: Vec<RawEnvironment>,
    base: &Path,
    tokens: &mut HashSet<String>,
) -> Result<Vec<Environment>, FieldError> {
    let mut environments = Vec::new();
    for (index, raw) in raws.into_iter().enumerate() {
        let field = format!("environment[{index}]");
        if !valid_name(&raw.name) {
            return Err(invalid(
                format!("{field}.name"),
                format!(
                    "{:?}: use lowercase letters, digits and '-', starting with a letter",
                    raw.name
                ),
            ));
        }
        if environments
            .iter()
            .any(|e: &Environment| e.name == raw.name)
        {
            return Err(invalid(
                format!("{field}.name"),
                format!("{:?} is listed twice", raw.name),
            ));
        }
        let token = Secret::from_inline_or_file(
            &format!("{field}.ingest_token"),
            raw.ingest_token,
            raw.ingest_token_file,
            base,
        )?
        .ok_or_else(|| {
            invalid(
                format!("{field}.ingest_token_file"),
                "missing: every environment needs an ingest token for its agents",
            )
        })?;
        if !tokens.insert(token.expose().to_owned()) {
            return Err(invalid(
                format!("{field}.ingest_token"),
                "is already used by another environment or user: tokens must be unique",
            ));
        }
        for (list, values) in [
            ("operators", &raw.operators),
            ("customer_contacts", &raw.customer_contacts),
        ] {
            if let Some(bad) = values
                .iter()
                .find(|address| !address.contains('@') || address.contains(char::is_whitespace))
            {
                return Err(invalid(
                    format!("{field}.{list}"),
                    format!("{bad:?} is not an email address"),
                ));
            }
        }
        if raw.notify_customer && raw.customer_contacts.is_empty() {
            return Err(invalid(
                format!("{field}.customer_contacts"),
                "notify_customer is set but no contact is listed",
            ));
        }
        let backup_spec = raw.backup_spec.map(|path| base.join(path));
        if let Some(path) = &backup_spec {
            check_spec(path, &raw.name, &format!("{field}.backup_spec"))?;
        }
        let webhooks = raw
            .webhook
            .into_iter()
            .enumerate()
            .map(|(n, hook)| webhook(hook, &format!("{field}.webhook[{n}]"), base))
            .collect::<Result<Vec<_>, _>>()?;
        let quotas = quotas(raw.quota, &field)?;
        environments.push(Environment {
            backup_spec,
            webhooks,
            quotas,
            name: raw.name,
            customer: raw.customer,
            ingest_token: token,
            operators: raw.operators,
            customer_contacts: raw.customer_contacts,
            notify_customer: raw.notify_customer,
        });
    }
    Ok(environments)
}

/// The quotas of the environment at `field`, checked.
fn quotas(raws: Vec<RawQuota>, field: &str) -> Result<Vec<Quota>, FieldError> {
    let mut quotas: Vec<Quota> = Vec::new();
    for (n, raw) in raws.into_iter().enumerate() {
        let field = format!("{field}.quota[{n}]");
        let tenant = raw.tenant.trim();
        if tenant.is_empty() || tenant.contains(char::is_whitespace) {
            return Err(invalid(
                format!("{field}.tenant"),
                format!(
                    "{:?}: name the tenant as the gateway logs it (acme.com, carbon.super) or \"*\" for every other tenant",
                    raw.tenant
                ),
            ));
        }
        if quotas.iter().any(|q| q.tenant == tenant) {
            return Err(invalid(
                format!("{field}.tenant"),
                format!("{tenant:?} has a quota already: merge the two"),
            ));
        }
        if raw.requests_per_month.is_none() && raw.bandwidth_per_month.is_none() {
            return Err(invalid(
                format!("{field}.requests_per_month"),
                "missing: a quota needs requests_per_month, bandwidth_per_month or both",
            ));
        }
        if raw.requests_per_month == Some(0)
            || raw.bandwidth_per_month.is_some_and(|b| b.as_u64() == 0)
        {
            return Err(invalid(
                format!("{field}.requests_per_month"),
                "is zero: a limit of nothing blocks the tenant at once; remove the tenant from the gateways instead",
            ));
        }
        if !(1..=99).contains(&raw.warn_at_percent) {
            return Err(invalid(
                format!("{field}.warn_at_percent"),
                format!(
                    "{}: give a percentage from 1 to 99 (80 by default)",
                    raw.warn_at_percent
                ),
            ));
        }
        quotas.push(Quota {
            tenant: tenant.to_owned(),
            requests_per_month: raw.requests_per_month,
            bandwidth_per_month: raw.bandwidth_per_month,
            warn_at_percent: raw.warn_at_percent,
            message: raw.message,
        });
    }
    Ok(quotas)
}

/// A webhook's URL checked and its secret read; errors name `field`.
fn webhook(raw: RawWebhook, field: &str, base: &Path) -> Result<Webhook, FieldError> {
    let url = reqwest::Url::parse(&raw.url).map_err(|error| {
        invalid(
            format!("{field}.url"),
            format!(
                "{:?} is not a URL ({error}): write it like \"https://hooks.example.com/aerie\"",
                raw.url
            ),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid(
            format!("{field}.url"),
            format!("{:?}: use an http:// or https:// URL with a host", raw.url),
        ));
    }
    if url.password().is_some() {
        return Err(invalid(
            format!("{field}.url"),
            "carries a password: the receiver checks the signature made with secret_file instead",
        ));
    }
    let secret = Secret::from_inline_or_file(
        &format!("{field}.secret"),
        raw.secret,
        raw.secret_file,
        base,
    )?
    .ok_or_else(|| {
        invalid(
            format!("{field}.secret_file"),
            "missing: every webhook signs its bodies; name a file holding the shared secret",
        )
    })?;
    Ok(Webhook {
        url: raw.url,
        secret,
    })
}

/// Checks that `path` is a valid spec of environment `name`; the error
/// names `field`.
fn check_spec(path: &Path, name: &str, field: &str) -> Result<(), FieldError> {
    use aerie_common::toml_file::TomlFile as _;
    let spec = aerie_provisioner::spec::Spec::load(path)
        .map_err(|error| invalid(field, error.to_string()))?;
    if spec.name == name {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "{} is the spec of {:?}, not of {name:?}: name the spec of this environment",
                path.display(),
                spec.name
            ),
        ))
    }
}
