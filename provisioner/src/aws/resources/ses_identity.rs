//! The SES domain identity with DKIM; the records the customer must add are notes.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind};

/// SesIdentity resources.
#[derive(Debug)]
pub(super) struct SesIdentity;

#[async_trait::async_trait]
impl ResourceKind for SesIdentity {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let domain = &seen.spec.email.domain;
        let verification = call("GetIdentityVerificationAttributes", policy, || {
            cloud
                .ses
                .get_identity_verification_attributes()
                .identities(domain)
                .send()
        })
        .await?;
        if let Some(attributes) = verification.verification_attributes().get(domain) {
            let mut f = found(
                Kind::SesIdentity,
                "email",
                domain,
                attributes.verification_status().as_str(),
            );
            f.resource.props.insert("domain".into(), domain.clone());
            if let Some(token) = attributes.verification_token() {
                f.notes
                    .push(format!("TXT   _amazonses.{domain}  \"{token}\""));
            }
            let dkim = call("GetIdentityDkimAttributes", policy, || {
                cloud
                    .ses
                    .get_identity_dkim_attributes()
                    .identities(domain)
                    .send()
            })
            .await?;
            if let Some(dkim) = dkim.dkim_attributes().get(domain) {
                for token in dkim.dkim_tokens() {
                    f.notes.push(format!(
                        "CNAME {token}._domainkey.{domain}  {token}.dkim.amazonses.com"
                    ));
                }
            }
            seen.out.push(f);
        }
        Ok(())
    }

    async fn create(
        &self,
        cloud: &Cloud,
        need: &Need<'_>,
    ) -> Result<(String, Option<String>), AwsError> {
        let policy = Policy::standard();
        let prop = |key: &str| need.prop(key);
        let id = {
            let domain = prop("domain");
            call("VerifyDomainIdentity", policy, || {
                cloud.ses.verify_domain_identity().domain(&domain).send()
            })
            .await?;
            call("VerifyDomainDkim", policy, || {
                cloud.ses.verify_domain_dkim().domain(&domain).send()
            })
            .await?;
            domain
        };
        Ok((id, None))
    }

    async fn delete(
        &self,
        cloud: &Cloud,
        found: &Found,
        _known: &Known,
    ) -> Result<Option<String>, AwsError> {
        let policy = Policy::destroying();
        let id = found.id.as_str();
        call("DeleteIdentity", policy, || {
            cloud.ses.delete_identity().identity(id).send()
        })
        .await?;
        Ok(None)
    }
}
