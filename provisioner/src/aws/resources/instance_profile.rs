//! The nodes' instance profiles, one per node role, each carrying that
//! role's IAM role (its rule: `carries gateway-role`). Found under the
//! environment's path (`model::iam_path`), the environment's only when
//! tagged for it; its id is
//! its name, which is what `RunInstances` is given.

use super::InstanceProfile;
use super::iam_role::{created, ours_named, tags};
use super::prelude::*;

#[async_trait::async_trait]
impl ResourceKind for InstanceProfile {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let path = crate::model::iam_path(seen.spec);
        let request = cloud.iam.list_instance_profiles().path_prefix(&path);
        let listed = send("ListInstanceProfiles", || request.clone().send()).await?;
        // The path filter is checked here too (moto ignores it).
        let ours = listed.instance_profiles().iter();
        for profile in ours.filter(|p| p.path() == path) {
            let name = profile.instance_profile_name();
            // Only GetInstanceProfile answers a profile's tags.
            let request = cloud.iam.get_instance_profile();
            let request = request.instance_profile_name(name);
            let answer = send("GetInstanceProfile", || request.clone().send()).await?;
            let tags = answer
                .instance_profile()
                .map(|p| p.tags())
                .unwrap_or_default();
            let Some(mut f) = ours_named(cloud, tags, Kind::InstanceProfile, name) else {
                continue;
            };
            for carried in profile.roles() {
                f.resource.rules.insert(Rule::Carries {
                    role: seen.role_of(carried.role_name()),
                });
            }
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let (name, tags) = (need.prop("name"), tags(cloud, need.role())?);
        let request = cloud.iam.create_instance_profile();
        let request = request.path(crate::model::iam_path(need.spec));
        let request = request.instance_profile_name(&name).set_tags(Some(tags));
        let answer = send("CreateInstanceProfile", || request.clone().send()).await;
        created(cloud, answer, "an instance profile", &name)?;
        for rule in &need.resource.rules {
            carry(cloud, &name, rule, need.known, true).await?;
        }
        Ok(Made::named(&name))
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        // Removals first: a profile carries one role at most.
        for (add, rule) in change.each() {
            carry(cloud, change.id, rule, change.known, add).await?;
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        let name = gone.id();
        let request = cloud.iam.get_instance_profile().instance_profile_name(name);
        let profile = call("GetInstanceProfile", Policy::destroying(), || {
            request.clone().send()
        })
        .await;
        let roles: Vec<String> = profile
            .ok()
            .and_then(|p| p.instance_profile)
            .map(|p| p.roles().iter().map(|r| r.role_name().to_owned()).collect())
            .unwrap_or_default();
        for role in roles {
            let request = cloud.iam.remove_role_from_instance_profile();
            let request = request.instance_profile_name(name).role_name(role);
            removed(
                "RemoveRoleFromInstanceProfile",
                Policy::destroying(),
                || request.clone().send(),
            )
            .await?;
        }
        let request = cloud
            .iam
            .delete_instance_profile()
            .instance_profile_name(name);
        gone.by("DeleteInstanceProfile", || request.clone().send())
            .await
    }
}

/// Adds (or removes) the role a `carries` rule names to profile `name`.
async fn carry(
    cloud: &Cloud,
    name: &str,
    rule: &Rule,
    known: &crate::aws::Known,
    add: bool,
) -> Result<(), AwsError> {
    let Rule::Carries { role } = rule else {
        return Ok(());
    };
    // A role that is not the environment's is named by its own name.
    let role = known.ids.get(role).cloned().unwrap_or_else(|| role.clone());
    if add {
        let request = cloud.iam.add_role_to_instance_profile();
        let request = request.instance_profile_name(name).role_name(role);
        match send("AddRoleToInstanceProfile", || request.clone().send()).await {
            // Added before an interruption: done.
            Err(error) if error.is("LimitExceeded") => Ok(()),
            other => other.map(|_| ()),
        }
    } else {
        let request = cloud.iam.remove_role_from_instance_profile();
        let request = request.instance_profile_name(name).role_name(role);
        removed("RemoveRoleFromInstanceProfile", Policy::standard(), || {
            request.clone().send()
        })
        .await
    }
}
