//! Dashboard sessions and the login limiter, in the monitor's memory (a
//! restart logs everyone out). A session slides: each use extends it by the
//! configured time to live; an expired one is forgotten when next seen.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// A logged-in user's session.
#[derive(Debug, Clone)]
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
    sessions: Mutex<HashMap<String, Session>>,
    failures: Mutex<HashMap<LoginKey, Vec<Instant>>>,
}

impl Sessions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a session for `user`; answers its id (the cookie's value).
    pub fn start(&self, user: &str, ttl: chrono::Duration, now: DateTime<Utc>) -> String {
        let id = aerie_common::secret::token();
        let mut sessions = self.sessions.lock().expect("sessions lock");
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            id.clone(),
            Session {
                user: user.to_owned(),
                csrf: aerie_common::secret::token(),
                expires: now + ttl,
            },
        );
        id
    }

    /// The live session `id`, extended by `ttl`; an expired one ends.
    pub fn touch(&self, id: &str, ttl: chrono::Duration, now: DateTime<Utc>) -> Option<Session> {
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
    pub fn end(&self, id: &str) {
        self.sessions.lock().expect("sessions lock").remove(id);
    }

    /// Seconds `key` must wait before trying again, when it has failed
    /// `max` times within `window`.
    pub fn login_wait(&self, key: &LoginKey, window: Duration, max: usize) -> Option<u64> {
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
    pub fn failed(&self, key: LoginKey) {
        self.failures
            .lock()
            .expect("failures lock")
            .entry(key)
            .or_default()
            .push(Instant::now());
    }

    /// A successful login forgets `key`'s failures.
    pub fn succeeded(&self, key: &LoginKey) {
        self.failures.lock().expect("failures lock").remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_slides_while_used_and_ends_once_unused_past_its_ttl() {
        let sessions = Sessions::new();
        let ttl = chrono::Duration::minutes(30);
        let t0: DateTime<Utc> = "2030-01-01T00:00:00Z".parse().unwrap();
        let id = sessions.start("ops", ttl, t0);
        let later = t0 + chrono::Duration::minutes(20);
        assert_eq!(sessions.touch(&id, ttl, later).unwrap().user, "ops");
        assert!(
            sessions
                .touch(&id, ttl, later + chrono::Duration::minutes(29))
                .is_some()
        );
        assert!(
            sessions
                .touch(&id, ttl, later + chrono::Duration::minutes(90))
                .is_none()
        );
        assert!(
            sessions.touch(&id, ttl, later).is_none(),
            "an ended session stays ended"
        );
        assert!(sessions.touch("forged", ttl, t0).is_none());
    }

    #[test]
    fn logins_are_refused_after_max_failures_and_a_success_forgets_them() {
        let sessions = Sessions::new();
        let key: LoginKey = ("ops".into(), "127.0.0.1".into());
        let window = Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(sessions.login_wait(&key, window, 3), None);
            sessions.failed(key.clone());
        }
        let wait = sessions.login_wait(&key, window, 3).expect("limited");
        assert!((1..=61).contains(&wait), "{wait}");
        let other: LoginKey = ("ops".into(), "127.0.0.2".into());
        assert_eq!(sessions.login_wait(&other, window, 3), None, "per address");
        sessions.succeeded(&key);
        assert_eq!(sessions.login_wait(&key, window, 3), None);
    }
}
