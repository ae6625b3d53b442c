//! Who is calling the API: an agent with its environment's ingest token, or
//! a user with theirs; and what a user may read. Tokens are compared in
//! constant time. A failure says what to do, never which tokens exist.

use axum::http::HeaderMap;

use crate::config::{Config, Environment, User};

/// Why a caller is refused; each face answers it in its own way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or ones that match nobody (or have expired).
    #[error("{0}")]
    Unauthorized(String),
    /// A viewer asking to change something.
    #[error("{0}")]
    Forbidden(String),
    /// An environment that does not exist, or that the user may not see:
    /// the two are answered alike.
    #[error("{0}")]
    NotFound(String),
}

fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            AuthError::Unauthorized(
                "missing bearer token: send Authorization: Bearer <token>".into(),
            )
        })
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The environment whose ingest token this is.
pub fn environment<'a>(
    config: &'a Config,
    headers: &HeaderMap,
) -> Result<&'a Environment, AuthError> {
    let token = bearer(headers)?;
    config
        .environments
        .iter()
        .find(|environment| same(environment.ingest_token.expose(), token))
        .ok_or_else(|| AuthError::Unauthorized("unknown or expired ingest token".into()))
}

/// The environment whose ingest token is the basic-auth password (any user
/// name) or the bearer token: what Elasticsearch shippers can send.
pub fn environment_basic_or_bearer<'a>(
    config: &'a Config,
    headers: &HeaderMap,
) -> Result<&'a Environment, AuthError> {
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "));
    let Some(encoded) = basic else {
        return environment(config, headers);
    };
    let decoded = base64_decode(encoded.trim())
        .ok_or_else(|| AuthError::Unauthorized("the basic credentials are not base64".into()))?;
    let password = decoded
        .split_once(':')
        .map(|(_, password)| password)
        .unwrap_or_default();
    config
        .environments
        .iter()
        .find(|environment| same(environment.ingest_token.expose(), password))
        .ok_or_else(|| {
            AuthError::Unauthorized(
                "unknown or expired ingest token (give it as the password)".into(),
            )
        })
}

/// Standard base64, as HTTP basic authentication uses it.
fn base64_decode(text: &str) -> Option<String> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// The user this token belongs to.
pub fn user<'a>(config: &'a Config, headers: &HeaderMap) -> Result<&'a User, AuthError> {
    let token = bearer(headers)?;
    let user = config
        .users
        .iter()
        .find(|user| user.token.as_ref().is_some_and(|t| same(t.expose(), token)))
        .ok_or_else(|| AuthError::Unauthorized("unknown API token".into()))?;
    if let Some(expires) = user.token_expires
        && expires <= chrono::Utc::now()
    {
        return Err(AuthError::Unauthorized(format!(
            "the API token of {} expired at {}: ask an operator for a new one",
            user.name,
            expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    Ok(user)
}

/// The environment `name`, if it exists and `user` may read it. Another
/// customer's environment is answered exactly like one that does not exist.
pub fn readable<'a>(
    config: &'a Config,
    user: &User,
    name: &str,
) -> Result<&'a Environment, AuthError> {
    config
        .environment(name)
        .filter(|_| user.can_read(name))
        .ok_or_else(|| AuthError::NotFound(format!("no environment {name:?}")))
}

/// The user, who must be an operator: a viewer may read but not act.
pub fn operator<'a>(config: &'a Config, headers: &HeaderMap) -> Result<&'a User, AuthError> {
    let user = user(config, headers)?;
    if user.role != crate::config::Role::Operator {
        return Err(AuthError::Forbidden(format!(
            "{} is a viewer: only operators may do this",
            user.name
        )));
    }
    Ok(user)
}
