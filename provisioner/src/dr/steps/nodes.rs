//! `nodes`: the environment's instances (the bastion and every product
//! node) launched in the DR site by the planner, each with the user-data
//! rendered for the DR site (`dr::site`), its subnet, security groups and
//! key, waited for until running; then each node's restored volumes
//! attached to it (`/dev/sdf`, `/dev/sdg`, ...). Found by tag like every
//! apply and attached only when not yet, so running it twice changes
//! nothing. The undo terminates the site's instances.
//!
//! The DR nodes get no instance profile: the roles of the environment's
//! nodes name its own region's bucket and secrets.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{Input, StepKind, Values, object};
use crate::dr::converge::{self, Part};
use crate::dr::{Context, DrError};
use crate::model::{Found, Kind, Resource};

pub(super) struct Nodes;

const INPUTS: &[Input] = &[Input {
    name: "volumes",
    required: false,
    doc: "each node's restored volumes (`${volumes.volumes}`), attached to it",
}];

const PART: Part<'static> = Part {
    make: &[Kind::Instance],
    read: &[
        Kind::Vpc,
        Kind::Subnet,
        Kind::RouteTable,
        Kind::SecurityGroup,
        Kind::KeyPair,
        Kind::Instance,
    ],
    fit: without_profile,
};

/// The DR site's instance has no profile (and so waits for no bundle).
fn without_profile(resource: &mut Resource) {
    resource.props.remove("profile");
    resource
        .deps
        .retain(|d| !d.ends_with("-profile") && !d.starts_with("bundle-"));
}

/// The devices restored volumes are attached as, in order.
const DEVICES: [&str; 6] = [
    "/dev/sdf", "/dev/sdg", "/dev/sdh", "/dev/sdi", "/dev/sdj", "/dev/sdk",
];

#[async_trait::async_trait]
impl StepKind for Nodes {
    fn inputs(&self) -> &'static [Input] {
        INPUTS
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["instances", "addresses"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(30 * 60)
    }

    fn retries(&self) -> u32 {
        2
    }

    fn mutating(&self) -> bool {
        true
    }

    fn describe(&self, inputs: &Values) -> String {
        format!(
            "launch the bastion and every node in the DR site through the planner with the user-data rendered for it{}",
            if inputs.contains_key("volumes") {
                ", and attach each node's restored volumes"
            } else {
                ""
            }
        )
    }

    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError> {
        let site = context.site_spec()?;
        let cloud = context.site_cloud();
        let mut found = converge::converge(&cloud, &site, PART).await?;
        while instances(&found).any(|f| f.state == "pending") {
            context.clock.sleep(context.poll).await;
            found = cloud.observe_kinds(&site, PART.read).await?;
        }
        if let Some(bad) = instances(&found).find(|f| f.state != "running") {
            return Err(DrError::Failed {
                what: format!("instance {} ({})", bad.id, bad.resource.role),
                region: cloud.region.clone(),
                state: bad.state.clone(),
            });
        }
        if inputs.contains_key("volumes") {
            attach(context, step, inputs, &found).await?;
        }
        let map = |value: fn(&Found) -> Option<String>| -> Value {
            Value::Object(
                instances(&found)
                    .filter_map(|f| Some((f.resource.role.clone(), Value::from(value(f)?))))
                    .collect::<Map<_, _>>(),
            )
        };
        Ok(Values::from([
            ("instances".to_owned(), map(|f| Some(f.id.clone()))),
            ("addresses".to_owned(), map(|f| f.address.clone())),
        ]))
    }

    async fn undo(&self, context: &Context, _step: &str, _inputs: &Values) -> Result<(), DrError> {
        let site = context.site_spec()?;
        converge::tear_down(&context.site_cloud(), &site, &[Kind::Instance]).await?;
        Ok(())
    }
}

fn instances(found: &[Found]) -> impl Iterator<Item = &Found> {
    found.iter().filter(|f| f.resource.kind == Kind::Instance)
}

/// Attaches each node's restored volumes that are not attached yet.
async fn attach(
    context: &Context,
    step: &str,
    inputs: &Values,
    found: &[Found],
) -> Result<(), DrError> {
    let wanted = object(inputs, step, "volumes")?;
    let all: Vec<&str> = wanted
        .values()
        .flat_map(|ids| ids.as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .collect();
    let made = context.dr.volumes(&all).await?;
    for (role, ids) in &wanted {
        let Some(instance) = converge::id_of(found, role) else {
            return Err(DrError::Input {
                step: step.to_owned(),
                input: "volumes".to_owned(),
                problem: format!("names {role}, which the spec has no instance of"),
            });
        };
        let ids: Vec<&str> = ids
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (volume, device) in ids.iter().zip(DEVICES) {
            let attached = made.get(*volume).and_then(|v| v.attached_to.as_deref());
            if attached == Some(instance) {
                continue;
            }
            context.dr.attach_volume(volume, instance, device).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dr_node_is_launched_without_a_profile_or_waiting_for_its_bundle() {
        let mut node = Resource::new(Kind::Instance, "gateway-1")
            .prop("profile", "gateway-profile")
            .prop("subnet", "private-a")
            .needs(&[
                "private-a",
                "gateway-sg",
                "gateway-profile",
                "bundle-gateway-1",
            ]);
        without_profile(&mut node);
        assert!(!node.props.contains_key("profile"));
        assert_eq!(node.props["subnet"], "private-a");
        assert_eq!(node.deps, ["private-a", "gateway-sg"]);
    }
}
