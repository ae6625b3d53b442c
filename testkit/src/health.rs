//! A product node's health URL that a test controls: HTTPS with a
//! self-signed certificate (as the product serves it) on a free loopback
//! port, answering `GET /services/Version` with the status the test sets,
//! and counting the requests. It stops when dropped (`served.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::Error;

/// A running health URL.
#[derive(Debug)]
pub struct HealthServer {
    served: crate::served::Served,
    state: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    status: AtomicU16,
    hits: AtomicUsize,
}

impl HealthServer {
    /// Starts one answering 200.
    pub async fn start() -> Result<Self, Error> {
        let (_, acceptor) = crate::tls::self_signed()?;
        let state = Arc::new(Shared {
            status: AtomicU16::new(200),
            hits: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/services/Version", get(answer))
            .with_state(state.clone());
        let served = crate::served::Served::tls(app, acceptor).await?;
        Ok(Self { served, state })
    }

    pub fn port(&self) -> u16 {
        self.served.port()
    }

    /// What it answers from now on.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// How many requests it has answered.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }
}

async fn answer(State(state): State<Arc<Shared>>) -> (StatusCode, &'static str) {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(state.status.load(Ordering::SeqCst))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, "WSO2 API Manager-4.2.0\n")
}
