//! The cluster's nodes as the store reaches them: every request goes to
//! one node, the first of the configured list that took a connection at
//! the last probe. A probe every second tries the current node; when it
//! refuses or does not answer within the probe's time, the next node that
//! does becomes current. With one node it never probes.
//!
//! A request already sent to a node that dies fails (the agent keeps the
//! batch and sends it again; a query answers an error once); the next goes
//! to a live node. It never decides anything about the data: which shard
//! copy serves a request is the cluster's business.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use elasticsearch::http::Url;
use elasticsearch::http::transport::{Connection, ConnectionPool};

/// How often the current node is probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How long a probe waits for a connection.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone)]
pub(super) struct Failover {
    nodes: Arc<Vec<Url>>,
    current: Arc<AtomicUsize>,
}

impl Failover {
    /// A pool over `nodes` (at least one), starting with the first; with
    /// more than one, its probe runs while the pool lives.
    pub(super) fn new(nodes: Vec<Url>) -> Self {
        let pool = Self {
            nodes: Arc::new(nodes),
            current: Arc::new(AtomicUsize::new(0)),
        };
        if pool.nodes.len() > 1 {
            let (nodes, current) = (Arc::downgrade(&pool.nodes), Arc::clone(&pool.current));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(PROBE_EVERY).await;
                    let Some(nodes) = nodes.upgrade() else {
                        return;
                    };
                    probe(&nodes, &current).await;
                }
            });
        }
        pool
    }
}

/// Keeps `current` on a node that takes connections: the current one if
/// it does, else the next one after it that does.
async fn probe(nodes: &[Url], current: &AtomicUsize) {
    let now = current.load(Ordering::Relaxed);
    for step in 0..nodes.len() {
        let index = (now + step) % nodes.len();
        if reachable(&nodes[index]).await {
            if index != now {
                current.store(index, Ordering::Relaxed);
                tracing::warn!(from = %nodes[now], to = %nodes[index], "the Elasticsearch node does not answer; using another");
            }
            return;
        }
    }
}

/// Whether `url`'s host takes a TCP connection within the probe's time.
async fn reachable(url: &Url) -> bool {
    let (Some(host), Some(port)) = (url.host_str(), url.port_or_known_default()) else {
        return false;
    };
    let connect = tokio::net::TcpStream::connect((host, port));
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, connect).await,
        Ok(Ok(_))
    )
}

impl ConnectionPool for Failover {
    fn next(&self) -> Connection {
        let index = self.current.load(Ordering::Relaxed) % self.nodes.len();
        Connection::new(self.nodes[index].clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_node_that_refuses_connections_is_passed_over_for_the_next_that_takes_them() {
        let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let dead_port = dead.local_addr().unwrap().port();
        drop(dead);
        let url = |port: u16| Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
        let nodes = vec![url(dead_port), url(live.local_addr().unwrap().port())];
        let current = AtomicUsize::new(0);
        probe(&nodes, &current).await;
        assert_eq!(current.load(Ordering::Relaxed), 1);
        // It stays on a node that answers.
        probe(&nodes, &current).await;
        assert_eq!(current.load(Ordering::Relaxed), 1);
    }
}
