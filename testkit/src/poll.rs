use std::time::{Duration, Instant};

use crate::Error;

/// Polls `check` every 100 ms until it returns `Some`, or fails with
/// [`Error::Timeout`] naming `what` once `timeout` has passed.
///
/// Tests wait on conditions, never on fixed sleeps.
pub async fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Result<T, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            return Err(Error::Timeout {
                what: what.to_owned(),
                timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A GET of `url` that answers within a second with a success status: the
/// readiness probe for HTTP services. `None` while the service is not up.
pub(crate) async fn probe(url: &str) -> Option<reqwest::Response> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(1))
        .no_proxy()
        .build()
        .ok()?;
    let response = client.get(url).send().await.ok()?;
    response.status().is_success().then_some(response)
}

/// Whether `url` answers (see [`probe`]), with `header` set to its value if given.
pub(crate) async fn http_ready(url: &str, header: Option<(&str, &str)>) -> bool {
    probe(url).await.is_some_and(|response| {
        header.is_none_or(|(name, value)| {
            response
                .headers()
                .get(name)
                .is_some_and(|found| found.as_bytes() == value.as_bytes())
        })
    })
}

/// A writer's pause between batches, so that a reader sees a file grow the
/// way a product writes it. Here the pause is the point: never use it to
/// wait for a condition (that is [`wait_until`]).
pub fn pace(pause: std::time::Duration) {
    #[expect(
        clippy::disallowed_methods,
        reason = "pacing a writer thread, not waiting for a condition"
    )]
    std::thread::sleep(pause);
}
