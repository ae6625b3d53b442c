//! A webhook receiver that a test controls: plain HTTP on a free loopback
//! port, keeping every request posted to it (headers and body) and answering
//! with the status the test sets. It stops when dropped (`served.rs`).

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};

use crate::Error;

/// One request as the receiver kept it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Delivery {
    /// A header's value as text, if it was sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body read as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A running receiver.
#[derive(Debug)]
pub struct WebhookReceiver {
    served: crate::served::Served,
    state: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    status: AtomicU16,
    deliveries: Mutex<Vec<Delivery>>,
}

impl WebhookReceiver {
    /// Starts one answering 200 to a POST on any path.
    pub async fn start() -> Result<Self, Error> {
        let state = Arc::new(Shared {
            status: AtomicU16::new(200),
            deliveries: Mutex::new(Vec::new()),
        });
        let app = axum::Router::new()
            .fallback(axum::routing::post(keep))
            .with_state(state.clone());
        let served = crate::served::Served::plain(app).await?;
        Ok(Self { served, state })
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.served.port())
    }

    /// What it answers from now on.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Every request so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state
            .deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

async fn keep(
    State(state): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state
        .deliveries
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(Delivery {
            path: uri.path().to_owned(),
            headers,
            body: body.to_vec(),
        });
    StatusCode::from_u16(state.status.load(Ordering::SeqCst))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
