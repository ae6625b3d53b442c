//! The engine's state on disk (`alerts/state.json`), or in the cluster's
//! shared state (document `alerts/state`) when monitor replicas share an
//! Elasticsearch store: alerts, the outbox, silences, groups and the
//! channel's health, replaced whole after every change and before any mail
//! is sent, so a restart (or another replica taking over) neither repeats a
//! firing mail nor loses one waiting to go.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::AlertError;
use super::group::Group;
use super::model::{Alert, Silence};
use super::outbox::{ChannelHealth, Outgoing};

/// Everything the engine keeps between evaluations.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Saved {
    pub(crate) alerts: BTreeMap<String, Alert>,
    pub(crate) outbox: Vec<Outgoing>,
    #[serde(default)]
    pub(crate) silences: Vec<Silence>,
    #[serde(default)]
    pub(crate) groups: BTreeMap<String, Group>,
    #[serde(default)]
    pub(crate) channel: ChannelHealth,
    /// The last outbox id handed out.
    #[serde(default)]
    pub(crate) sequence: u64,
}

/// Where the state lives under the engine's directory.
pub(crate) fn path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// The saved state, or a fresh one when there is none yet.
pub(crate) fn load(dir: &Path) -> Result<Saved, AlertError> {
    Ok(aerie_common::read_json_or_default(&path(dir))?)
}

/// Replaces the saved state durably.
pub(crate) fn save(dir: &Path, saved: &Saved) -> Result<(), AlertError> {
    let path = path(dir);
    let json = serde_json::to_vec(saved).expect("alert state serializes");
    aerie_common::atomic_write(&path, &json).map_err(AlertError::io(&path, "write it"))
}

/// The shared-state document the engine's state is kept in.
pub(crate) const KIND: &str = "alerts";
pub(crate) const KEY: &str = "state";

/// The state as the shared document holds it.
pub(crate) fn to_shared(saved: &Saved) -> serde_json::Value {
    serde_json::to_value(saved).expect("alert state serializes")
}

/// The shared document read back.
pub(crate) fn from_shared(body: serde_json::Value) -> Result<Saved, AlertError> {
    serde_json::from_value(body).map_err(|source| AlertError::SharedState { source })
}
