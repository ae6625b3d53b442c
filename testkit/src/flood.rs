//! Other writers keeping an OpenSearch node's write queue full, so that the
//! writer under test is answered `429` as a busy production cluster answers
//! it. Used with [`crate::OpenSearch::busy`], whose write pool has one thread
//! and a queue of one.
//!
//! The flood writes only to its own index (`flood`); it stops when dropped.

use tokio::task::JoinHandle;

/// Index-only bulk requests of this many small documents each.
const DOCUMENTS_PER_REQUEST: usize = 200;

/// Writers flooding one node; dropping it stops them.
#[derive(Debug)]
pub struct WriteFlood {
    writers: Vec<JoinHandle<()>>,
}

impl WriteFlood {
    /// Starts `writers` loops, each sending one bulk request after another
    /// to `url` (a refused request is simply sent again).
    pub fn start(url: &str, writers: usize) -> Self {
        let body: String = (0..DOCUMENTS_PER_REQUEST)
            .map(|n| format!("{{\"index\":{{}}}}\n{{\"n\":{n},\"text\":\"filler\"}}\n"))
            .collect();
        let url = format!("{}/flood/_bulk", url.trim_end_matches('/'));
        let client = reqwest::Client::new();
        let writers = (0..writers)
            .map(|_| {
                let (client, url, body) = (client.clone(), url.clone(), body.clone());
                tokio::spawn(async move {
                    loop {
                        let sent = client
                            .post(&url)
                            .header("content-type", "application/x-ndjson")
                            .body(body.clone())
                            .send()
                            .await;
                        if let Ok(response) = sent {
                            let _ = response.bytes().await;
                        }
                    }
                })
            })
            .collect();
        Self { writers }
    }
}

impl Drop for WriteFlood {
    fn drop(&mut self) {
        for writer in &self.writers {
            writer.abort();
        }
    }
}

/// How many write tasks the node at `url` has refused since it started
/// (`_nodes/stats/thread_pool/write`): the proof that it was busy.
pub async fn write_rejections(url: &str) -> u64 {
    let url = format!("{}/_nodes/stats/thread_pool", url.trim_end_matches('/'));
    let Ok(response) = reqwest::get(&url).await else {
        return 0;
    };
    let stats: serde_json::Value = response.json().await.unwrap_or_default();
    stats["nodes"]
        .as_object()
        .into_iter()
        .flat_map(|nodes| nodes.values())
        .filter_map(|node| node["thread_pool"]["write"]["rejected"].as_u64())
        .sum()
}
