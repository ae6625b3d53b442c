//! `aerie env check`: the security posture of a live environment, in the
//! spirit of Prowler's AWS checks and the CIS AWS benchmark. Every check
//! reads what AWS has (never the plan, the spec's wishes or our own
//! output; the spec only names the environment, its operator networks and
//! what it calls production), and answers one [`Finding`] per resource:
//! PASS, FAIL with what is wrong and the fix, or PENDING (waiting on the
//! customer, as SES verification does).
//!
//! It changes nothing: every call here is a read.

mod compute;
mod data;
mod facts;
mod network;

use serde::Serialize;

use crate::aws::Cloud;
use crate::aws::retry::AwsError;
use crate::spec::Spec;

pub use facts::Facts;

/// How a resource fares against one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Fail,
    /// Not wrong, not done: waiting on someone (DNS records to add).
    Pending,
}

/// One check of one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `sg-no-world-ingress`, `ec2-imdsv2-required`, ...
    pub check: &'static str,
    pub status: Status,
    /// The resource by role and id: `security-group rds-sg (sg-0123)`.
    pub resource: String,
    /// For a FAIL or PENDING: what is wrong, then the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Finding {
    pub(crate) fn pass(check: &'static str, resource: impl Into<String>) -> Self {
        Self {
            check,
            status: Status::Pass,
            resource: resource.into(),
            detail: None,
        }
    }

    pub(crate) fn fail(
        check: &'static str,
        resource: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            check,
            status: Status::Fail,
            resource: resource.into(),
            detail: Some(detail.into()),
        }
    }

    /// PASS when `problems` is empty, else one FAIL saying them all.
    pub(crate) fn of(
        check: &'static str,
        resource: impl Into<String>,
        problems: &[String],
    ) -> Self {
        if problems.is_empty() {
            Self::pass(check, resource)
        } else {
            Self::fail(check, resource, problems.join("; "))
        }
    }
}

/// Every check of the environment, in a stable order.
pub async fn run(cloud: &Cloud, spec: &Spec) -> Result<Vec<Finding>, AwsError> {
    let facts = Facts::gather(cloud, spec).await?;
    let mut out = Vec::new();
    out.extend(network::findings(&facts, spec));
    out.extend(compute::findings(&facts));
    out.extend(data::findings(&facts, spec));
    Ok(out)
}

/// The findings as the operator reads them: one line each.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for finding in findings {
        let status = match finding.status {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Pending => "PENDING",
        };
        out.push_str(&format!(
            "{:<28} {status:<7} {}",
            finding.check, finding.resource
        ));
        if let Some(detail) = &finding.detail {
            out.push_str(&format!(": {detail}"));
        }
        out.push('\n');
    }
    let failed = findings.iter().filter(|f| f.status == Status::Fail).count();
    let pending = findings
        .iter()
        .filter(|f| f.status == Status::Pending)
        .count();
    out.push_str(&format!(
        "\n{} checks: {} passed, {failed} failed, {pending} pending.\n",
        findings.len(),
        findings.len() - failed - pending
    ));
    out
}
