//! What every handler of both faces (the JSON API and the dashboard) shares.
//! Data only: it is built by the composition root (`crate::server`) and
//! never builds anything itself.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::alerting::Engine;
use crate::auth::Sessions;
use crate::config::Config;
use crate::jobs::Jobs;
use crate::jobs::usage::Ledger;
use crate::store::Store;

/// The running monitor, as handlers see it.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub ledger: Arc<Ledger>,
    /// The tenants' throttling decisions (environments with quotas).
    pub throttle: Arc<crate::jobs::throttle::Throttle>,
    pub jobs: Arc<Jobs>,
    /// Present when `[alerting]` is configured.
    pub alerts: Option<Arc<Engine>>,
    /// The dashboard's sessions and login limiter.
    pub sessions: Arc<Sessions>,
    /// Permits to read a large body (ingest, `_bulk`): at most
    /// [`BODIES_IN_FLIGHT`] at once, so that memory for bodies stays under
    /// that many times the batch limit however many clients send.
    pub bodies: Arc<Semaphore>,
    /// The monitor's own counters (`GET /metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// How many large bodies are read and handled at once; the rest wait for a
/// permit before a byte of theirs is read.
pub const BODIES_IN_FLIGHT: usize = 8;
