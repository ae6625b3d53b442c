//! `recovery-point`: the newest good copy of the database's backup in the
//! DR region (an RDS snapshot tagged by `aerie backup run`), the point the
//! recovery goes back to. It reads and never changes anything, so a dry
//! run leaves it out like the rest and it has nothing to undo.

use std::time::Duration;

use serde_json::Value;

use super::{Input, StepKind, Values};
use crate::aws::snapshots::SnapshotKind;
use crate::dr::{Context, DrError};

pub(super) struct RecoveryPoint;

#[async_trait::async_trait]
impl StepKind for RecoveryPoint {
    fn inputs(&self) -> &'static [Input] {
        &[]
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["snapshot", "taken", "backup"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(300)
    }

    fn retries(&self) -> u32 {
        2
    }

    fn mutating(&self) -> bool {
        false
    }

    fn describe(&self, _inputs: &Values) -> String {
        "find the newest good copy of the database's backup in the DR region".to_owned()
    }

    async fn run(
        &self,
        context: &Context,
        _step: &str,
        _inputs: &Values,
    ) -> Result<Values, DrError> {
        let newest = context
            .dr
            .backup_snapshots()
            .await?
            .into_iter()
            .filter(|s| s.kind == SnapshotKind::Database && s.good())
            .max_by_key(|s| s.taken)
            .ok_or_else(|| DrError::NoRecoveryPoint {
                environment: context.spec.name.clone(),
                region: context.dr.region.clone(),
            })?;
        Ok(Values::from([
            ("snapshot".to_owned(), Value::from(newest.id)),
            ("taken".to_owned(), Value::from(newest.taken.to_rfc3339())),
            ("backup".to_owned(), Value::from(newest.run)),
        ]))
    }

    async fn undo(&self, _context: &Context, _step: &str, _inputs: &Values) -> Result<(), DrError> {
        Ok(())
    }
}
