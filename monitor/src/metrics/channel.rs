//! A mail channel as the alert engine uses it, counted: each mail goes to
//! the channel it wraps unchanged, and whether it was taken is counted in
//! [`Metrics`] (`aerie_monitor_mails_total{outcome}`).

use std::sync::Arc;

use crate::notify::{Channel, Mail, SendError};

use super::Metrics;

/// A channel whose sends are counted.
#[derive(Debug)]
pub struct CountedChannel {
    inner: Arc<dyn Channel>,
    metrics: Arc<Metrics>,
}

impl CountedChannel {
    pub fn new(inner: Arc<dyn Channel>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

#[async_trait::async_trait]
impl Channel for CountedChannel {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let sent = self.inner.send(mail).await;
        self.metrics
            .mailed(if sent.is_ok() { "sent" } else { "failed" });
        sent
    }
}
