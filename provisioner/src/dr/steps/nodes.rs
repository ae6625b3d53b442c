//! `nodes`: the environment's instances (the bastion and every product
//! node) launched in the DR site by the planner, each with the user-data
//! rendered for the DR site (`dr::site`: the site's region and artifacts
//! bucket, the recovered environment's secrets as replicated there), its
//! subnet, security groups, key and instance profile, waited for until
//! running; then each node's restored volumes attached to it (`/dev/sdf`,
//! `/dev/sdg`, ...). The site's IAM roles and instance profiles are made
//! with the nodes: their names and path carry the DR region
//! (`model::iam_name`), and their policies name the site's bucket and the
//! secrets' replicas in the DR region. The `artifacts` step comes first:
//! the nodes boot from the bundles it puts in the site's bucket.
//!
//! Found by tag like every apply and attached only when not yet, so
//! running it twice changes nothing. The undo terminates the site's
//! instances and removes its roles and profiles.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{Input, StepKind, Values, object};
use crate::dr::converge::{self, Part};
use crate::dr::{Context, DrError};
use crate::model::{Found, Kind};

pub(super) struct Nodes;

const INPUTS: &[Input] = &[Input {
    name: "volumes",
    required: false,
    doc: "each node's restored volumes (`${volumes.volumes}`), attached to it",
}];

/// What the step makes.
const KINDS: [Kind; 3] = [Kind::IamRole, Kind::InstanceProfile, Kind::Instance];

const PART: Part<'static> = Part {
    make: &KINDS,
    read: &[
        Kind::Vpc,
        Kind::Subnet,
        Kind::RouteTable,
        Kind::SecurityGroup,
        Kind::KeyPair,
        Kind::Secret,
        Kind::Bucket,
        Kind::Object,
        Kind::IamRole,
        Kind::InstanceProfile,
        Kind::Instance,
    ],
    fit: |_| {},
};

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
            "make the DR site's IAM roles and instance profiles, and launch the bastion and every node there through the planner with the user-data rendered for it{}",
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
        converge::tear_down(&context.site_cloud(), &site, &KINDS).await?;
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
