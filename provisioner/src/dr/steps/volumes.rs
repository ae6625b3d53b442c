//! `volumes`: the nodes' volumes made again in the DR region from the DR
//! copies of a backup run's EBS snapshots, each in the zone its node goes
//! to, and waited for. Tagged with the execution and the step. Running it
//! again, or another step of the same inputs in the same execution, finds
//! them: one volume per snapshot and execution, never two. The undo
//! removes only its own step's.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Input, StepKind, Values, text};
use crate::aws::recovery::{NewVolume, RestoredVolume};
use crate::aws::restores::{DR_RUN_TAG, DR_STEP_TAG};
use crate::aws::snapshots::SnapshotKind;
use crate::aws::{ENV_TAG, ROLE_TAG};
use crate::dr::{Context, DrError};
use crate::spec::Spec;

pub(super) struct Volumes;

const INPUTS: &[Input] = &[Input {
    name: "backup",
    required: true,
    doc: "the backup run whose volume snapshots are restored (`${point.backup}`)",
}];

#[async_trait::async_trait]
impl StepKind for Volumes {
    fn inputs(&self) -> &'static [Input] {
        INPUTS
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["volumes"]
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
            "make each node's volumes from the DR copies of backup {}'s snapshots, in the node's zone",
            inputs.get("backup").and_then(Value::as_str).unwrap_or("?")
        )
    }

    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError> {
        let backup = text(inputs, step, "backup")?;
        let site = context.site_spec()?;
        let snapshots: Vec<_> = context
            .dr
            .backup_snapshots()
            .await?
            .into_iter()
            .filter(|s| s.kind == SnapshotKind::Volume && s.run == backup && s.good())
            .collect();
        let ours = |volumes: Vec<RestoredVolume>| -> Vec<RestoredVolume> {
            volumes
                .into_iter()
                .filter(|v| snapshots.iter().any(|s| s.id == v.snapshot))
                .collect()
        };
        let made = ours(context.dr.restored_volumes(&context.run, None).await?);
        for snapshot in &snapshots {
            if made.iter().any(|v| v.snapshot == snapshot.id) {
                continue;
            }
            let zone = zone_of(&site, &snapshot.role);
            let tags = [
                (ENV_TAG, site.name.clone()),
                (ROLE_TAG, snapshot.role.clone()),
                ("Name", format!("{}-{}", site.name, snapshot.role)),
                (DR_RUN_TAG, context.run.clone()),
                (DR_STEP_TAG, step.to_owned()),
            ];
            context
                .dr
                .volume_from_snapshot(&NewVolume {
                    snapshot: &snapshot.id,
                    zone: &zone,
                    tags: tags.map(|(k, v)| (k.to_owned(), v)).to_vec(),
                })
                .await?;
        }
        let volumes = loop {
            let volumes = ours(context.dr.restored_volumes(&context.run, None).await?);
            if volumes.iter().all(|v| v.state != "creating") {
                break volumes;
            }
            context.clock.sleep(context.poll).await;
        };
        if let Some(bad) = volumes
            .iter()
            .find(|v| !matches!(v.state.as_str(), "available" | "in-use"))
        {
            return Err(DrError::Failed {
                what: format!("volume {} of {}", bad.id, bad.role),
                region: context.dr.region.clone(),
                state: bad.state.clone(),
            });
        }
        let mut by_role: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for volume in volumes {
            by_role
                .entry(volume.role)
                .or_default()
                .push(Value::from(volume.id));
        }
        let by_role = by_role
            .into_iter()
            .map(|(role, ids)| (role, Value::Array(ids)))
            .collect();
        Ok(Values::from([(
            "volumes".to_owned(),
            Value::Object(by_role),
        )]))
    }

    async fn undo(&self, context: &Context, step: &str, _inputs: &Values) -> Result<(), DrError> {
        for volume in context
            .dr
            .restored_volumes(&context.run, Some(step))
            .await?
        {
            context.dr.remove_volume(&volume).await?;
        }
        Ok(())
    }
}

/// The zone node `role` of `site` runs in (the bastion: the first).
fn zone_of(site: &Spec, role: &str) -> String {
    crate::topology::Topology::of(site)
        .and_then(|t| {
            t.nodes()
                .find(|n| n.role == role)
                .map(|n| n.availability_zone.clone())
        })
        .unwrap_or_else(|| site.network.availability_zones[0].clone())
}
