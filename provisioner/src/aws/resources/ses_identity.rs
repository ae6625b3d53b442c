//! The SES domain identity with DKIM; the records the customer must add are
//! notes.
//!
//! SES identities carry no tags and are found by name, so several
//! environments (or the customer, outside Aerie) may use one domain. Each
//! environment that uses it says so on its own VPC, with the tag
//! `aerie:ses:<domain>`: `created` when Aerie verified the domain (this
//! environment or another that still uses it), `adopted` when it existed
//! before any environment claimed it. An environment sees the identity as
//! its own only with its claim; destroying one removes its claim, and the
//! identity goes only with the last `created` claim. An adopted identity is
//! never deleted.

use super::SesIdentity;
use super::prelude::*;
use aws_sdk_ec2::types::{Filter, Tag};

/// How an environment holds the identity.
const CREATED: &str = "created";
const ADOPTED: &str = "adopted";

#[async_trait::async_trait]
impl ResourceKind for SesIdentity {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let (policy, domain) = (Policy::standard(), &seen.spec.email.domain);
        let vpc = seen.out.iter().find(|f| f.resource.kind == Kind::Vpc);
        let Some(vpc) = vpc.map(|f| f.id.clone()) else {
            return Ok(()); // no VPC, no claim: not ours
        };
        let claims = claims(cloud, domain).await?;
        let Some((_, claim)) = claims.iter().find(|(id, _)| *id == vpc) else {
            return Ok(()); // used by others, or by nobody in Aerie: not ours
        };
        let get = cloud.ses.get_identity_verification_attributes();
        let request = get.identities(domain);
        let verification = call("GetIdentityVerificationAttributes", policy, || {
            request.clone().send()
        })
        .await?;
        let Some(attributes) = verification.verification_attributes().get(domain) else {
            return Ok(()); // claimed, but gone: apply verifies it again
        };
        let status = attributes.verification_status().as_str();
        let mut f = found(Kind::SesIdentity, "email", domain, status);
        f.set("domain", domain);
        f.set("claim", claim);
        if let Some(token) = attributes.verification_token() {
            f.notes
                .push(format!("TXT   _amazonses.{domain}  \"{token}\""));
        }
        let request = cloud.ses.get_identity_dkim_attributes().identities(domain);
        let dkim = call("GetIdentityDkimAttributes", policy, || {
            request.clone().send()
        })
        .await?;
        let tokens = dkim.dkim_attributes().get(domain).map(|d| d.dkim_tokens());
        for token in tokens.unwrap_or_default() {
            let record = format!("CNAME {token}._domainkey.{domain}  {token}.dkim.amazonses.com");
            f.notes.push(record);
        }
        seen.out.push(f);
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let (domain, vpc) = (need.prop("domain"), need.id_of("vpc"));
        let policy = Policy::standard();
        let others = claims(cloud, &domain).await?;
        let get = cloud.ses.get_identity_verification_attributes();
        let request = get.identities(&domain);
        let verification = call("GetIdentityVerificationAttributes", policy, || {
            request.clone().send()
        })
        .await?;
        let exists = verification.verification_attributes().contains_key(&domain);
        // Another environment's claim says whose it is; an identity nobody
        // in Aerie claims was made outside it.
        let claim = match others.iter().find(|(id, _)| *id != vpc) {
            Some((_, claim)) => claim.clone(),
            None if exists => ADOPTED.to_owned(),
            None => CREATED.to_owned(),
        };
        // Verifying again is harmless and repairs a missing DKIM setup.
        let identity = cloud.ses.verify_domain_identity().domain(&domain);
        call("VerifyDomainIdentity", policy, || identity.clone().send()).await?;
        let dkim = cloud.ses.verify_domain_dkim().domain(&domain);
        call("VerifyDomainDkim", policy, || dkim.clone().send()).await?;
        let tag = Tag::builder().key(claim_key(&domain)).value(&claim).build();
        let request = cloud.ec2.create_tags().resources(&vpc).tags(tag);
        call("CreateTags", policy, || request.clone().send()).await?;
        Ok(Made::named(&domain))
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let domain = gone.id();
        let ours = gone.known.ids.get("vpc");
        let others: Vec<_> = claims(cloud, domain)
            .await?
            .into_iter()
            .filter(|(vpc, _)| Some(vpc) != ours)
            .collect();
        let kept = if !others.is_empty() {
            Some(format!(
                "SES identity {domain}: still used by {} other environment(s)",
                others.len()
            ))
        } else if gone.found.resource.props.get("claim").map(String::as_str) == Some(ADOPTED) {
            Some(format!(
                "SES identity {domain}: made outside Aerie, left as it was"
            ))
        } else {
            // The identity before the claim: a run stopped between the two
            // leaves a claim on a VPC about to go, never an unclaimed
            // identity nobody would delete.
            let request = cloud.ses.delete_identity().identity(domain);
            gone.by("DeleteIdentity", || request.clone().send()).await?
        };
        if let Some(vpc) = ours {
            let tag = Tag::builder().key(claim_key(domain)).build();
            let request = cloud.ec2.delete_tags().resources(vpc).tags(tag);
            removed("DeleteTags", Policy::destroying(), || {
                request.clone().send()
            })
            .await?;
        }
        Ok(kept)
    }
}

/// The tag that says an environment's VPC uses `domain`.
fn claim_key(domain: &str) -> String {
    format!("aerie:ses:{domain}")
}

/// The VPCs (of any environment) that claim `domain`, with their claim.
async fn claims(cloud: &Cloud, domain: &str) -> Result<Vec<(String, String)>, AwsError> {
    let key = claim_key(domain);
    let filter = Filter::builder().name("tag-key").values(&key).build();
    let request = cloud.ec2.describe_vpcs().filters(filter);
    let answer = send("DescribeVpcs", || request.clone().send()).await?;
    let claimed = answer.vpcs().iter().filter_map(|vpc| {
        let claim = vpc.tags().iter().find(|t| t.key() == Some(key.as_str()))?;
        Some((vpc.vpc_id()?.to_owned(), claim.value()?.to_owned()))
    });
    Ok(claimed.collect())
}
