//! Who is calling: an agent with its environment's ingest token, or a user
//! with theirs. Tokens are compared in constant time.

use axum::http::HeaderMap;

use super::ApiError;
use crate::config::{Config, Environment, User};

fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::Unauthorized(
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
pub(super) fn environment<'a>(
    config: &'a Config,
    headers: &HeaderMap,
) -> Result<&'a Environment, ApiError> {
    let token = bearer(headers)?;
    config
        .environments
        .iter()
        .find(|environment| same(environment.ingest_token.expose(), token))
        .ok_or_else(|| ApiError::Unauthorized("unknown or expired ingest token".into()))
}

/// The environment whose ingest token is the basic-auth password (any user
/// name) or the bearer token: what Elasticsearch shippers can send.
pub(super) fn environment_basic_or_bearer<'a>(
    config: &'a Config,
    headers: &HeaderMap,
) -> Result<&'a Environment, ApiError> {
    let basic = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "));
    let Some(encoded) = basic else {
        return environment(config, headers);
    };
    let decoded = base64_decode(encoded.trim())
        .ok_or_else(|| ApiError::Unauthorized("the basic credentials are not base64".into()))?;
    let password = decoded
        .split_once(':')
        .map(|(_, password)| password)
        .unwrap_or_default();
    config
        .environments
        .iter()
        .find(|environment| same(environment.ingest_token.expose(), password))
        .ok_or_else(|| {
            ApiError::Unauthorized(
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
pub(super) fn user<'a>(config: &'a Config, headers: &HeaderMap) -> Result<&'a User, ApiError> {
    let token = bearer(headers)?;
    let user = config
        .users
        .iter()
        .find(|user| user.token.as_ref().is_some_and(|t| same(t.expose(), token)))
        .ok_or_else(|| ApiError::Unauthorized("unknown API token".into()))?;
    if let Some(expires) = user.token_expires
        && expires <= chrono::Utc::now()
    {
        return Err(ApiError::Unauthorized(format!(
            "the API token of {} expired at {}: ask an operator for a new one",
            user.name,
            expires.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    Ok(user)
}

/// The environment `name`, if it exists and `user` may read it. Another
/// customer's environment is answered exactly like one that does not exist.
pub(super) fn readable<'a>(
    config: &'a Config,
    user: &User,
    name: &str,
) -> Result<&'a Environment, ApiError> {
    config
        .environment(name)
        .filter(|_| user.can_read(name))
        .ok_or_else(|| ApiError::NotFound(format!("no environment {name:?}")))
}

/// The user, who must be an operator: a viewer may read but not act.
pub(super) fn operator<'a>(config: &'a Config, headers: &HeaderMap) -> Result<&'a User, ApiError> {
    let user = user(config, headers)?;
    if user.role != crate::config::Role::Operator {
        return Err(ApiError::Forbidden(format!(
            "{} is a viewer: only operators may do this",
            user.name
        )));
    }
    Ok(user)
}
