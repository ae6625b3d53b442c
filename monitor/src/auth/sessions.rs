//! Dashboard sessions and the login limiter. A monitor of one machine
//! keeps them in its memory (a restart logs everyone out); monitor replicas
//! sharing an Elasticsearch store keep them in the cluster
//! (`store::shared`, through [`shared`]), so a session made through one
//! replica is valid on every other and failed logins count across them all.
//! A session slides: each use extends it by the configured time to live; an
//! expired one is forgotten when next seen.
//!
//! A session's id (the cookie's value) is never stored in the cluster: its
//! document is named by the id's SHA-256.

mod shared;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::store::StoreError;
use crate::store::shared::{PruneClock, SharedState};

/// A logged-in user's session.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub user: String,
    pub csrf: String,
    pub expires: DateTime<Utc>,
}

/// Who tried to log in: the user name (lowercase) and the client's address.
pub type LoginKey = (String, String);

/// Sessions and recent login failures.
#[derive(Debug, Default)]
pub struct Sessions {
    /// The cluster's, when monitors share one.
    shared: Option<Arc<dyn SharedState>>,
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<LoginKey, Vec<Instant>>>,
    /// When this monitor last removed expired sessions from the cluster.
    pruned: PruneClock,
}

impl Sessions {
    /// Sessions in this monitor's memory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sessions in `shared`, seen by every monitor sharing it.
    pub fn shared(shared: Arc<dyn SharedState>) -> Self {
        Self {
            shared: Some(shared),
            ..Self::default()
        }
    }

    /// Starts a session for `user`; answers its id (the cookie's value).
    pub async fn start(
        &self,
        user: &str,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Result<String, StoreError> {
        let id = aerie_common::secret::token();
        let session = Session {
            user: user.to_owned(),
            csrf: aerie_common::secret::token(),
            expires: now + ttl,
        };
        if let Some(store) = &self.shared {
            shared::start(&**store, &id, &session).await?;
            // Sessions never ended by a logout would otherwise stay.
            if self.pruned.due()
                && let Err(error) = shared::prune(&**store, now).await
            {
                let error = aerie_common::error_chain(&error);
                tracing::warn!(%error, "expired sessions could not be removed from the store");
            }
            return Ok(id);
        }
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(id.clone(), session);
        Ok(id)
    }

    /// The live session `id`, extended by `ttl`; an expired one ends.
    pub async fn touch(
        &self,
        id: &str,
        ttl: chrono::Duration,
        now: DateTime<Utc>,
    ) -> Option<Session> {
        if let Some(store) = &self.shared {
            return shared::touch(&**store, id, ttl, now)
                .await
                .unwrap_or_else(|error| {
                    let error = aerie_common::error_chain(&error);
                    tracing::warn!(%error, "a session could not be read from the store; asking to log in again");
                    None
                });
        }
        let mut sessions = self.sessions.lock().expect("sessions lock");
        match sessions.get_mut(id) {
            Some(session) if session.expires > now => {
                session.expires = now + ttl;
                Some(session.clone())
            }
            Some(_) => {
                sessions.remove(id);
                None
            }
            None => None,
        }
    }

    /// Ends session `id` (logout).
    pub async fn end(&self, id: &str) {
        if let Some(store) = &self.shared {
            if let Err(error) = shared::end(&**store, id).await {
                let error = aerie_common::error_chain(&error);
                tracing::warn!(%error, "a session could not be removed from the store");
            }
            return;
        }
        self.sessions.lock().expect("sessions lock").remove(id);
    }

    /// Seconds `key` must wait before trying again, when it has failed
    /// `max` times within `window`.
    pub async fn login_wait(&self, key: &LoginKey, window: Duration, max: usize) -> Option<u64> {
        if let Some(store) = &self.shared {
            return shared::login_wait(&**store, key, window, max, Utc::now())
                .await
                .unwrap_or_else(|error| {
                    let error = aerie_common::error_chain(&error);
                    tracing::warn!(%error, "login failures could not be read from the store");
                    None
                });
        }
        let mut failures = self.failures.lock().expect("failures lock");
        // Forget failures older than the window, so the map stays small.
        failures.retain(|_, times| {
            times.retain(|at| at.elapsed() < window);
            !times.is_empty()
        });
        let recent = failures.get(key)?;
        (recent.len() >= max).then(|| window.saturating_sub(recent[0].elapsed()).as_secs() + 1)
    }

    /// Counts a failed login of `key`.
    pub async fn failed(&self, key: LoginKey) {
        if let Some(store) = &self.shared {
            if let Err(error) = shared::failed(&**store, &key, Utc::now()).await {
                let error = aerie_common::error_chain(&error);
                tracing::warn!(%error, "a failed login could not be counted in the store");
            }
            return;
        }
        self.failures
            .lock()
            .expect("failures lock")
            .entry(key)
            .or_default()
            .push(Instant::now());
    }

    /// A successful login forgets `key`'s failures.
    pub async fn succeeded(&self, key: &LoginKey) {
        if let Some(store) = &self.shared {
            if let Err(error) = shared::succeeded(&**store, key).await {
                let error = aerie_common::error_chain(&error);
                tracing::warn!(%error, "login failures could not be cleared in the store");
            }
            return;
        }
        self.failures.lock().expect("failures lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions in memory, and in a shared state as monitor replicas keep them.
    fn both() -> [Sessions; 2] {
        let shared = Arc::new(crate::store::shared::MemoryShared::default());
        [Sessions::new(), Sessions::shared(shared)]
    }

    #[tokio::test]
    async fn a_session_slides_while_used_and_ends_once_unused_past_its_ttl() {
        for sessions in both() {
            let ttl = chrono::Duration::minutes(30);
            let t0: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
            let id = sessions.start("ops", ttl, t0).await.unwrap();
            let later = t0 + chrono::Duration::minutes(20);
            assert_eq!(sessions.touch(&id, ttl, later).await.unwrap().user, "ops");
            assert!(
                sessions
                    .touch(&id, ttl, later + chrono::Duration::minutes(29))
                    .await
                    .is_some()
            );
            assert!(
                sessions
                    .touch(&id, ttl, later + chrono::Duration::minutes(90))
                    .await
                    .is_none()
            );
            assert!(
                sessions.touch(&id, ttl, later).await.is_none(),
                "an ended session stays ended"
            );
            assert!(sessions.touch("forged", ttl, t0).await.is_none());
        }
    }

    #[tokio::test]
    async fn logins_are_refused_after_max_failures_and_a_success_forgets_them() {
        for sessions in both() {
            let key: LoginKey = ("ops".into(), "127.0.0.1".into());
            let window = Duration::from_secs(60);
            for _ in 0..3 {
                assert_eq!(sessions.login_wait(&key, window, 3).await, None);
                sessions.failed(key.clone()).await;
            }
            let wait = sessions.login_wait(&key, window, 3).await.expect("limited");
            assert!((1..=61).contains(&wait), "{wait}");
            let other: LoginKey = ("ops".into(), "127.0.0.2".into());
            assert_eq!(
                sessions.login_wait(&other, window, 3).await,
                None,
                "per address"
            );
            sessions.succeeded(&key).await;
            assert_eq!(sessions.login_wait(&key, window, 3).await, None);
        }
    }

    #[tokio::test]
    async fn a_session_made_through_one_replica_is_valid_on_another_and_the_id_is_never_stored() {
        let shared = Arc::new(crate::store::shared::MemoryShared::default());
        let (one, two) = (
            Sessions::shared(shared.clone()),
            Sessions::shared(shared.clone()),
        );
        let ttl = chrono::Duration::minutes(30);
        let t0: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let id = one.start("ops", ttl, t0).await.unwrap();
        let seen = two
            .touch(&id, ttl, t0 + chrono::Duration::minutes(10))
            .await
            .unwrap();
        assert_eq!(seen.user, "ops");
        assert_eq!(
            shared.get("sessions", &id).await.unwrap(),
            None,
            "named by a digest"
        );
        two.end(&id).await;
        assert!(
            one.touch(&id, ttl, t0).await.is_none(),
            "ended on every replica"
        );
    }
}
