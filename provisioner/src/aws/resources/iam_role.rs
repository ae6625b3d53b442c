//! The nodes' IAM roles, one per node role (gateway, traffic manager):
//! assumable by EC2 only, with one inline policy (`aerie`) that allows
//! reading exactly that role's secrets and objects. The policy's
//! statements are the resource's rules (`allow s3:GetObject on
//! artifacts/bundles/gateway-*`): a statement added or taken away behind
//! Aerie's back shows in the plan, and apply writes the policy whole again.
//! Found under the environment's path (`model::iam_path`), the
//! environment's only when tagged for it.

use std::collections::BTreeSet;

use super::IamRole;
use super::prelude::*;
use crate::aws::tags::{ENV_TAG, ROLE_TAG};
use crate::model::Found;
use aws_sdk_iam::types::Tag;

/// The name of the one inline policy Aerie writes.
const POLICY: &str = "aerie";

/// Who may assume the role: EC2 instances (through their profile).
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// The environment's tags as IAM takes them.
pub(super) fn tags(cloud: &Cloud, role: &str) -> Result<Vec<Tag>, AwsError> {
    [
        (ENV_TAG, cloud.environment.clone()),
        (ROLE_TAG, role.to_owned()),
        ("Name", format!("{}-{role}", cloud.environment)),
    ]
    .into_iter()
    .map(|(key, value)| {
        Tag::builder()
            .key(key)
            .value(value)
            .build()
            .map_err(|e| AwsError::other("tags", e.to_string()))
    })
    .collect()
}

/// IAM tags as the (key, value) pairs `Cloud::role_in` reads.
pub(super) fn pairs(tags: &[Tag]) -> Vec<(Option<&str>, Option<&str>)> {
    tags.iter()
        .map(|t| (Some(t.key()), Some(t.value())))
        .collect()
}

/// A create's answer: made, or refused when one of that name exists (it
/// was not found as the environment's, so it is someone else's).
/// An IAM role or instance profile named `name` with these tags, found when
/// the tags say it is the environment's (its id and its `name` the name).
pub(super) fn ours_named(cloud: &Cloud, tags: &[Tag], kind: Kind, name: &str) -> Option<Found> {
    let tags = pairs(tags);
    let role = cloud.role_in(&tags, kind.label())?;
    let mut f = found(kind, role, name, "available");
    f.set("name", name);
    Some(f)
}

pub(super) fn created<T>(
    cloud: &Cloud,
    answer: Result<T, AwsError>,
    what: &str,
    name: &str,
) -> Result<(), AwsError> {
    match answer {
        Ok(_) => Ok(()),
        Err(error) if error.is("EntityAlreadyExists") => Err(AwsError::other(
            &error.call,
            format!(
                "{what} named {name} exists and is not tagged {ENV_TAG}={}: remove it, Aerie will not take it over",
                cloud.environment
            ),
        )),
        Err(error) => Err(error),
    }
}

#[async_trait::async_trait]
impl ResourceKind for IamRole {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let path = crate::model::iam_path(seen.spec);
        let request = cloud.iam.list_roles().path_prefix(&path);
        let listed = send("ListRoles", || request.clone().send()).await?;
        let roles = listed.roles().iter().filter(|r| r.path() == path);
        for name in roles.map(|r| r.role_name()) {
            let request = cloud.iam.list_role_tags().role_name(name);
            let tags = send("ListRoleTags", || request.clone().send()).await?;
            let Some(mut f) = ours_named(cloud, tags.tags(), Kind::IamRole, name) else {
                continue;
            };
            f.resource.rules = grants(cloud, seen, name).await?;
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let name = need.prop("name");
        let request = cloud
            .iam
            .create_role()
            .role_name(&name)
            .path(crate::model::iam_path(need.spec))
            .assume_role_policy_document(TRUST)
            .set_tags(Some(tags(cloud, need.role())?));
        let answer = send("CreateRole", || request.clone().send()).await;
        created(cloud, answer, "an IAM role", &name)?;
        put_policy(cloud, &name, &need.resource.rules, need.known).await?;
        Ok(Made::named(&name))
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        put_policy(cloud, change.id, change.rules, change.known).await
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let (name, policy) = (gone.id(), Policy::destroying());
        // What is attached to the role goes first: IAM refuses otherwise.
        let request = cloud.iam.list_role_policies().role_name(name);
        let inline = call("ListRolePolicies", policy, || request.clone().send()).await;
        for document in inline
            .map(|p| p.policy_names().to_vec())
            .unwrap_or_default()
        {
            let request = cloud.iam.delete_role_policy().role_name(name);
            let request = request.policy_name(document);
            removed("DeleteRolePolicy", policy, || request.clone().send()).await?;
        }
        let request = cloud.iam.list_instance_profiles_for_role().role_name(name);
        let carried = call("ListInstanceProfilesForRole", policy, || {
            request.clone().send()
        });
        let carried = carried.await.map(|p| p.instance_profiles().to_vec());
        for profile in carried.unwrap_or_default() {
            let remove = cloud
                .iam
                .remove_role_from_instance_profile()
                .role_name(name);
            let request = remove.instance_profile_name(profile.instance_profile_name());
            let call = "RemoveRoleFromInstanceProfile";
            removed(call, policy, || request.clone().send()).await?;
        }
        let request = cloud.iam.delete_role().role_name(name);
        gone.by("DeleteRole", || request.clone().send()).await
    }
}

/// The grants of role `name`'s inline policies, named by role.
async fn grants(cloud: &Cloud, seen: &Seen<'_>, name: &str) -> Result<BTreeSet<Rule>, AwsError> {
    let mut rules = BTreeSet::new();
    let request = cloud.iam.list_role_policies().role_name(name);
    let listed = send("ListRolePolicies", || request.clone().send()).await?;
    for policy in listed.policy_names() {
        let request = cloud
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy);
        let answer = send("GetRolePolicy", || request.clone().send()).await?;
        let document = answer.policy_document();
        // IAM answers the document URL-encoded.
        let document = percent_encoding::percent_decode_str(document).decode_utf8_lossy();
        for (action, arn) in statements(&document) {
            rules.insert(Rule::Grant {
                action,
                on: role_of_arn(seen, &arn),
            });
        }
    }
    Ok(rules)
}

/// Every (action, resource) a policy document allows.
fn statements(document: &str) -> Vec<(String, String)> {
    let value: serde_json::Value = serde_json::from_str(document).unwrap_or_default();
    let list = |v: &serde_json::Value| -> Vec<String> {
        match v {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    let statements = match &value["Statement"] {
        serde_json::Value::Array(items) => items.clone(),
        single @ serde_json::Value::Object(_) => vec![single.clone()],
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for statement in statements.iter().filter(|s| s["Effect"] == "Allow") {
        for action in list(&statement["Action"]) {
            for resource in list(&statement["Resource"]) {
                out.push((action.clone(), resource));
            }
        }
    }
    out
}

/// A policy's resource named as the model names it: a secret by its role,
/// an object pattern as `<bucket role>/<pattern>`; anything else as is.
fn role_of_arn(seen: &Seen<'_>, arn: &str) -> String {
    if let Some(object) = arn.strip_prefix("arn:aws:s3:::") {
        let (bucket, pattern) = object.split_once('/').unwrap_or((object, ""));
        return format!("{}/{pattern}", seen.role_of(bucket));
    }
    seen.role_of(arn)
}

/// The ARN a grant's `on` stands for.
fn arn_of(on: &str, known: &crate::aws::Known) -> Result<String, AwsError> {
    match on.split_once('/') {
        Some((bucket, pattern)) => Ok(format!("arn:aws:s3:::{}/{pattern}", known.id(bucket)?)),
        None => known.id(on),
    }
}

/// Writes role `name`'s inline policy with exactly `rules`' grants, and
/// removes any other inline policy.
async fn put_policy(
    cloud: &Cloud,
    name: &str,
    rules: &BTreeSet<Rule>,
    known: &crate::aws::Known,
) -> Result<(), AwsError> {
    let mut statements = Vec::new();
    for rule in rules {
        if let Rule::Grant { action, on } = rule {
            statements.push(serde_json::json!({
                "Effect": "Allow",
                "Action": action,
                "Resource": arn_of(on, known)?,
            }));
        }
    }
    let document =
        serde_json::json!({ "Version": "2012-10-17", "Statement": statements }).to_string();
    let request = cloud
        .iam
        .put_role_policy()
        .role_name(name)
        .policy_name(POLICY)
        .policy_document(document);
    send("PutRolePolicy", || request.clone().send()).await?;
    let request = cloud.iam.list_role_policies().role_name(name);
    let listed = send("ListRolePolicies", || request.clone().send()).await?;
    for other in listed.policy_names().iter().filter(|p| *p != POLICY) {
        let request = cloud.iam.delete_role_policy().role_name(name);
        let request = request.policy_name(other);
        removed("DeleteRolePolicy", Policy::standard(), || {
            request.clone().send()
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_reads_back_as_its_actions_and_resources() {
        let document = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:GetObject","Resource":["arn:aws:s3:::b/bundles/gateway-*","arn:aws:s3:::b/dist/*"]},
            {"Effect":"Deny","Action":"*","Resource":"*"},
            {"Effect":"Allow","Action":["secretsmanager:GetSecretValue"],"Resource":"arn:aws:secretsmanager:eu-west-1:1:secret:x"}]}"#;
        assert_eq!(
            statements(document),
            [
                (
                    "s3:GetObject".into(),
                    "arn:aws:s3:::b/bundles/gateway-*".into()
                ),
                ("s3:GetObject".into(), "arn:aws:s3:::b/dist/*".into()),
                (
                    "secretsmanager:GetSecretValue".into(),
                    "arn:aws:secretsmanager:eu-west-1:1:secret:x".into()
                ),
            ]
        );
    }
}
