//! A product node's health URL that a test controls: HTTPS with a
//! self-signed certificate (as the product serves it) on a free loopback
//! port, answering `GET /services/Version` with the status the test sets,
//! and counting the requests. It stops when dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::Error;

/// A running health URL.
#[derive(Debug)]
pub struct HealthServer {
    port: u16,
    state: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
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
        let tcp = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(Error::NoFreePort)?;
        let port = tcp.local_addr().map_err(Error::NoFreePort)?.port();
        let state = Arc::new(Shared {
            status: AtomicU16::new(200),
            hits: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .route("/services/Version", get(answer))
            .with_state(state.clone());
        let listener = crate::TlsListener::new(tcp, acceptor);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { port, state, task })
    }

    pub fn port(&self) -> u16 {
        self.port
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

impl Drop for HealthServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(state): State<Arc<Shared>>) -> (StatusCode, &'static str) {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let status = StatusCode::from_u16(state.status.load(Ordering::SeqCst))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, "WSO2 API Manager-4.2.0\n")
}
