//! The checks of what holds data and names: the database (encrypted,
//! private, backed up, protected from deletion in production), the mail
//! domain (verified, DKIM on; PENDING while the customer's DNS records are
//! missing), the buckets (public access blocked, encrypted), and the
//! environment's tags on everything in its VPC.

use super::facts::Facts;
use super::network::{group_name, role_of};
use super::{Finding, Status};
use crate::aws::{ENV_TAG, ROLE_TAG};
use crate::spec::Spec;

pub(super) fn findings(facts: &Facts, spec: &Spec) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(db) = &facts.database {
        let name = format!(
            "db-instance db ({})",
            db.db_instance_identifier().unwrap_or_default()
        );
        let check = |ok: bool, problem: &str| -> Vec<String> {
            if ok {
                Vec::new()
            } else {
                vec![problem.to_owned()]
            }
        };
        out.push(Finding::of(
            "rds-encrypted",
            name.clone(),
            &check(
                db.storage_encrypted() == Some(true),
                "its storage is not encrypted: restore an encrypted copy of a snapshot and switch to it",
            ),
        ));
        out.push(Finding::of(
            "rds-not-public",
            name.clone(),
            &check(
                db.publicly_accessible() != Some(true),
                "it is publicly accessible: turn PubliclyAccessible off (aws rds modify-db-instance --no-publicly-accessible)",
            ),
        ));
        out.push(Finding::of(
            "rds-backups-on",
            name.clone(),
            &check(
                db.backup_retention_period().unwrap_or(0) > 0,
                "automated backups are off: set a backup retention period of 7 days or more",
            ),
        ));
        if spec.production {
            out.push(Finding::of(
                "rds-deletion-protection",
                name,
                &check(
                    db.deletion_protection() == Some(true),
                    "deletion protection is off in production: turn it on (aws rds modify-db-instance --deletion-protection)",
                ),
            ));
        }
    }
    if let Some(mail) = &facts.mail {
        out.extend(mail_findings(mail));
    }
    for bucket in &facts.buckets {
        let name = format!("bucket {}", bucket.name);
        let mut problems = Vec::new();
        if !bucket.public_access_blocked {
            problems.push("public access is not blocked: turn all four public-access blocks on (aerie env apply does)".to_owned());
        }
        if !bucket.encrypted {
            problems
                .push("default encryption is off: turn SSE on (aerie env apply does)".to_owned());
        }
        out.push(Finding::of("s3-private-encrypted", name, &problems));
    }
    out.extend(tag_findings(facts));
    out
}

fn mail_findings(mail: &super::facts::MailFacts) -> Vec<Finding> {
    let name = format!("ses-identity {}", mail.domain);
    let verified = match mail.verification.as_deref() {
        Some("Success") => Finding::pass("ses-domain-verified", name.clone()),
        Some("Pending") => Finding {
            check: "ses-domain-verified",
            status: Status::Pending,
            resource: name.clone(),
            detail: Some(format!(
                "verification pending: the customer adds TXT _amazonses.{} \"{}\"",
                mail.domain,
                mail.verification_token.as_deref().unwrap_or_default()
            )),
        },
        other => Finding::fail(
            "ses-domain-verified",
            name.clone(),
            format!(
                "the domain is {}: verify it (aerie env apply makes the identity; the customer adds its TXT record)",
                other.unwrap_or("not an identity")
            ),
        ),
    };
    let dkim = match (mail.dkim_enabled, mail.dkim_verification.as_deref()) {
        (true, Some("Success")) => Finding::pass("ses-dkim-enabled", name),
        (true, Some("Pending")) => Finding {
            check: "ses-dkim-enabled",
            status: Status::Pending,
            resource: name,
            detail: Some(format!(
                "DKIM pending: the customer adds {}",
                mail.dkim_tokens
                    .iter()
                    .map(|t| format!(
                        "CNAME {t}._domainkey.{} {t}.dkim.amazonses.com",
                        mail.domain
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        },
        (enabled, status) => Finding::fail(
            "ses-dkim-enabled",
            name,
            format!(
                "DKIM is {} ({}): enable Easy DKIM and have the customer add its three CNAME records",
                if enabled { "on" } else { "off" },
                status.unwrap_or("no status")
            ),
        ),
    };
    vec![verified, dkim]
}

/// Every resource in the VPC, the database and the buckets carry
/// `aerie:env`, `aerie:role` and `Name`.
fn tag_findings(facts: &Facts) -> Vec<Finding> {
    let environment = facts.environment.as_str();
    let missing = |pairs: Vec<(String, String)>| -> Vec<String> {
        let has = |key: &str| pairs.iter().any(|(k, _)| k == key);
        let mut problems = Vec::new();
        if !pairs.iter().any(|(k, v)| k == ENV_TAG && v == environment) {
            problems.push(format!("{ENV_TAG}={environment}"));
        }
        for key in [ROLE_TAG, "Name"] {
            if !has(key) {
                problems.push(key.to_owned());
            }
        }
        if problems.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "it lacks the tags {}: tag it as the environment's (aerie env apply tags what it made) or remove it",
                problems.join(", ")
            )]
        }
    };
    let ec2 = |tags: &[aws_sdk_ec2::types::Tag]| -> Vec<(String, String)> {
        tags.iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    let mut out = Vec::new();
    for group in facts
        .groups
        .iter()
        .filter(|g| g.group_name() != Some("default"))
    {
        out.push(Finding::of(
            "tags-complete",
            group_name(group),
            &missing(ec2(group.tags())),
        ));
    }
    for subnet in &facts.subnets {
        let name = format!(
            "subnet {} ({})",
            role_of(subnet.tags()),
            subnet.subnet_id().unwrap_or_default()
        );
        out.push(Finding::of(
            "tags-complete",
            name,
            &missing(ec2(subnet.tags())),
        ));
    }
    for instance in &facts.instances {
        let name = format!(
            "instance {} ({})",
            role_of(instance.tags()),
            instance.instance_id().unwrap_or_default()
        );
        out.push(Finding::of(
            "tags-complete",
            name,
            &missing(ec2(instance.tags())),
        ));
    }
    if let Some(db) = &facts.database {
        let tags = db
            .tag_list()
            .iter()
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let name = format!(
            "db-instance db ({})",
            db.db_instance_identifier().unwrap_or_default()
        );
        out.push(Finding::of("tags-complete", name, &missing(tags)));
    }
    for bucket in &facts.buckets {
        out.push(Finding::of(
            "tags-complete",
            format!("bucket {}", bucket.name),
            &missing(bucket.tags.clone()),
        ));
    }
    out
}
