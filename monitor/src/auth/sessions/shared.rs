//! Sessions and login failures as documents of the monitors' shared state:
//! `sessions/<sha256 of the id>` (the user, the CSRF token, the expiry) and
//! `logins/<sha256 of user and address>` (the recent failures' times).
//! A failure is counted by read, change, write-if-unchanged, again on a
//! conflict, so two monitors counting at once lose neither count.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::{LoginKey, Session};
use crate::store::StoreError;
use crate::store::shared::SharedState;

const SESSIONS: &str = "sessions";
const LOGINS: &str = "logins";

/// How long a session's expiry may lag before a use writes it again: every
/// use would otherwise be a write to the cluster.
const EXTEND_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// How many recent failures a key's document keeps (far above any limit).
const FAILURES_KEPT: usize = 100;

/// How many times a count is tried again after losing a race.
const ATTEMPTS: usize = 8;

/// The hex SHA-256 of `parts`, each followed by a NUL.
fn digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn bad(error: serde_json::Error) -> StoreError {
    StoreError::backend("shared state", error)
}

pub(super) async fn start(
    store: &dyn SharedState,
    id: &str,
    session: &Session,
) -> Result<(), StoreError> {
    let body = serde_json::to_value(session).map_err(bad)?;
    store.put(SESSIONS, &digest(&[id]), &body, None).await?;
    Ok(())
}

pub(super) async fn touch(
    store: &dyn SharedState,
    id: &str,
    ttl: chrono::Duration,
    now: DateTime<Utc>,
) -> Result<Option<Session>, StoreError> {
    let key = digest(&[id]);
    let Some((body, read_at)) = store.get(SESSIONS, &key).await? else {
        return Ok(None);
    };
    let mut session: Session = serde_json::from_value(body).map_err(bad)?;
    if session.expires <= now {
        store.remove(SESSIONS, &key).await?;
        return Ok(None);
    }
    if now + ttl - session.expires >= EXTEND_EVERY {
        session.expires = now + ttl;
        let body = serde_json::to_value(&session).map_err(bad)?;
        // Another monitor extending it at the same moment is as good.
        store.put(SESSIONS, &key, &body, Some(read_at)).await?;
    }
    Ok(Some(session))
}

/// Removes every session that expired before `now`.
pub(super) async fn prune(store: &dyn SharedState, now: DateTime<Utc>) -> Result<u64, StoreError> {
    store.prune(SESSIONS, "expires", now).await
}

pub(super) async fn end(store: &dyn SharedState, id: &str) -> Result<(), StoreError> {
    store.remove(SESSIONS, &digest(&[id])).await
}

/// A key's recent failures, as stored.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Failures {
    /// When each failed, oldest first.
    at: Vec<DateTime<Utc>>,
}

fn login_key(key: &LoginKey) -> String {
    digest(&[&key.0, &key.1])
}

pub(super) async fn login_wait(
    store: &dyn SharedState,
    key: &LoginKey,
    window: Duration,
    max: usize,
    now: DateTime<Utc>,
) -> Result<Option<u64>, StoreError> {
    let Some((body, _)) = store.get(LOGINS, &login_key(key)).await? else {
        return Ok(None);
    };
    let failures: Failures = serde_json::from_value(body).map_err(bad)?;
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::TimeDelta::MAX);
    let recent: Vec<&DateTime<Utc>> = failures
        .at
        .iter()
        .filter(|at| now - **at < window)
        .collect();
    Ok((recent.len() >= max).then(|| {
        let left = window - (now - *recent[0]);
        u64::try_from(left.num_seconds()).unwrap_or(0) + 1
    }))
}

pub(super) async fn failed(
    store: &dyn SharedState,
    key: &LoginKey,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let name = login_key(key);
    for _ in 0..ATTEMPTS {
        let found = store.get(LOGINS, &name).await?;
        let (mut failures, read_at) = match found {
            Some((body, version)) => (
                serde_json::from_value::<Failures>(body).map_err(bad)?,
                Some(version),
            ),
            None => (Failures::default(), None),
        };
        failures.at.push(now);
        let excess = failures.at.len().saturating_sub(FAILURES_KEPT);
        failures.at.drain(..excess);
        let body: Value = serde_json::to_value(&failures).map_err(bad)?;
        if store.put(LOGINS, &name, &body, read_at).await?.is_some() {
            return Ok(());
        }
    }
    Err(StoreError::backend(
        "shared state",
        format!("a failed login was not counted: {ATTEMPTS} other monitors' writes came first"),
    ))
}

pub(super) async fn succeeded(store: &dyn SharedState, key: &LoginKey) -> Result<(), StoreError> {
    store.remove(LOGINS, &login_key(key)).await
}
