//! `[[user]]`: operators and customer viewers, their API tokens and
//! dashboard passwords.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use aerie_wire::Secret;
use serde::{Deserialize, Serialize};

use super::{Environment, FieldError, invalid};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    name: String,
    role: Role,
    token: Option<String>,
    token_file: Option<PathBuf>,
    /// RFC 3339; the API token is refused from then on.
    token_expires: Option<String>,
    /// Dashboard login: an argon2 hash (`aerie-monitor hash-password`).
    password_hash: Option<String>,
    #[serde(default)]
    environments: Vec<String>,
}

/// What a user may do: operators everything, viewers read their environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    Viewer,
}

/// Someone who queries the API.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    /// For the API; a dashboard-only user has none.
    pub token: Option<Secret>,
    pub token_expires: Option<chrono::DateTime<chrono::Utc>>,
    /// For the dashboard; an API-only user has none.
    pub password_hash: Option<Secret>,
    /// For viewers, the environments they may see.
    pub environments: Vec<String>,
}

impl User {
    /// Whether this user may read `environment`.
    pub fn can_read(&self, environment: &str) -> bool {
        self.role == Role::Operator || self.environments.iter().any(|e| e == environment)
    }
}

/// Validates the users against the configured `environments`; their tokens
/// must not be in `tokens` already.
pub(super) fn validate(
    raws: Vec<RawUser>,
    base: &Path,
    tokens: &mut HashSet<String>,
    environments: &[Environment],
) -> Result<Vec<User>, FieldError> {
    let mut users = Vec::new();
    for (index, raw) in raws.into_iter().enumerate() {
        let field = format!("user[{index}]");
        if raw.name.trim().is_empty() {
            return Err(invalid(format!("{field}.name"), "is empty"));
        }
        let token = Secret::from_inline_or_file(
            &format!("{field}.token"),
            raw.token,
            raw.token_file,
            base,
        )?;
        if token.is_none() && raw.password_hash.is_none() {
            return Err(invalid(
                format!("{field}.token_file"),
                "missing: give the user an API token (token or token_file), a dashboard password (password_hash), or both",
            ));
        }
        if let Some(token) = &token
            && !tokens.insert(token.expose().to_owned())
        {
            return Err(invalid(
                format!("{field}.token"),
                "is already used by an environment or another user: tokens must be unique",
            ));
        }
        let token_expires = match &raw.token_expires {
            None => None,
            Some(text) => Some(
                chrono::DateTime::parse_from_rfc3339(text)
                    .map_err(|e| {
                        invalid(
                            format!("{field}.token_expires"),
                            format!("{text:?} is not an RFC 3339 time ({e}): write e.g. \"2027-01-31T00:00:00Z\""),
                        )
                    })?
                    .to_utc(),
            ),
        };
        if let Some(hash) = &raw.password_hash
            && let Err(error) = argon2::PasswordHash::new(hash)
        {
            return Err(invalid(
                format!("{field}.password_hash"),
                format!(
                    "not an argon2 hash ({error}): make one with `aerie-monitor hash-password`"
                ),
            ));
        }
        match raw.role {
            Role::Viewer if raw.environments.is_empty() => {
                return Err(invalid(
                    format!("{field}.environments"),
                    "a viewer must list the environments they may see",
                ));
            }
            Role::Operator if !raw.environments.is_empty() => {
                return Err(invalid(
                    format!("{field}.environments"),
                    "operators see every environment: remove the list, or make the user a viewer",
                ));
            }
            _ => {}
        }
        if let Some(unknown) = raw
            .environments
            .iter()
            .find(|name| !environments.iter().any(|e| &e.name == *name))
        {
            return Err(invalid(
                format!("{field}.environments"),
                format!("{unknown:?} is not a configured environment"),
            ));
        }
        if users.iter().any(|u: &User| u.name == raw.name) {
            return Err(invalid(
                format!("{field}.name"),
                format!("{:?} is used twice: user names must be unique", raw.name),
            ));
        }
        users.push(User {
            name: raw.name,
            role: raw.role,
            token,
            token_expires,
            password_hash: raw.password_hash.map(Secret::new),
            environments: raw.environments,
        });
    }
    Ok(users)
}
