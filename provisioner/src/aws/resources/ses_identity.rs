//! The SES domain identity with DKIM; the records the customer must add are notes.

use super::prelude::*;

/// The mail domain the environment sends from.
pub(super) struct SesIdentity;

#[async_trait::async_trait]
impl ResourceKind for SesIdentity {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let (policy, domain) = (Policy::standard(), &seen.spec.email.domain);
        let get = cloud.ses.get_identity_verification_attributes();
        let request = get.identities(domain);
        let verification = call("GetIdentityVerificationAttributes", policy, || {
            request.clone().send()
        })
        .await?;
        let Some(attributes) = verification.verification_attributes().get(domain) else {
            return Ok(());
        };
        let status = attributes.verification_status().as_str();
        let mut f = found(Kind::SesIdentity, "email", domain, status);
        f.set("domain", domain);
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
        let domain = need.prop("domain");
        let identity = cloud.ses.verify_domain_identity().domain(&domain);
        call("VerifyDomainIdentity", Policy::standard(), || {
            identity.clone().send()
        })
        .await?;
        let dkim = cloud.ses.verify_domain_dkim().domain(&domain);
        call("VerifyDomainDkim", Policy::standard(), || {
            dkim.clone().send()
        })
        .await?;
        Ok(Made::named(&domain))
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let request = cloud.ses.delete_identity().identity(gone.id());
        gone.by("DeleteIdentity", || request.clone().send()).await
    }
}
