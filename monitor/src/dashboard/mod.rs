//! The web dashboard, served by the monitor itself: every page rendered on
//! the server from the handlebars templates in `templates/dashboard/`, every
//! asset (styles, the small script, the charts, drawn as SVG) built into the
//! binary, so it works with no internet access.
//!
//! Access: users of the config with an argon2 `password_hash` log in with a
//! form; the session cookie is HttpOnly, SameSite=Strict and Secure when the
//! dashboard is reached over TLS (`X-Forwarded-Proto: https` from the proxy
//! in front). Every form that changes something carries the session's CSRF
//! token. Failed logins are limited per user name and client address. A
//! viewer sees only their environments (another one is a 404, as in the
//! API) and can change nothing (403).

mod backups;
mod chart;
mod dr;
mod pages;

use std::net::SocketAddr;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use handlebars::Handlebars;
use serde::Deserialize;
use serde_json::json;

use crate::auth::password::{DUMMY_HASH, verify_password};
use crate::config::{Config, Role, User};
use crate::state::AppState;

const COOKIE: &str = "aerie_session";

const TEMPLATES: [(&str, &str); 11] = [
    (
        "layout",
        include_str!("../../../templates/dashboard/layout.hbs"),
    ),
    (
        "login",
        include_str!("../../../templates/dashboard/login.hbs"),
    ),
    (
        "error",
        include_str!("../../../templates/dashboard/error.hbs"),
    ),
    (
        "environments",
        include_str!("../../../templates/dashboard/environments.hbs"),
    ),
    (
        "environment",
        include_str!("../../../templates/dashboard/environment.hbs"),
    ),
    (
        "host",
        include_str!("../../../templates/dashboard/host.hbs"),
    ),
    (
        "logs",
        include_str!("../../../templates/dashboard/logs.hbs"),
    ),
    (
        "alerts",
        include_str!("../../../templates/dashboard/alerts.hbs"),
    ),
    (
        "apistats",
        include_str!("../../../templates/dashboard/apistats.hbs"),
    ),
    (
        "backups",
        include_str!("../../../templates/dashboard/backups.hbs"),
    ),
    ("dr", include_str!("../../../templates/dashboard/dr.hbs")),
];

const CSS: &str = include_str!("../../assets/aerie.css");
const JS: &str = include_str!("../../assets/aerie.js");

/// The page templates, compiled once.
static PAGES: LazyLock<Handlebars<'static>> = LazyLock::new(|| {
    let mut pages = Handlebars::new();
    for (name, text) in TEMPLATES {
        pages
            .register_template_string(name, text)
            .expect("the dashboard templates compile");
    }
    pages
        .register_partial("layout", TEMPLATES[0].1)
        .expect("the layout compiles");
    pages
});

fn render(name: &str, data: &serde_json::Value) -> Html<String> {
    Html(PAGES.render(name, data).unwrap_or_else(|error| {
        tracing::error!(%error, page = name, "page not rendered");
        format!(
            "<!doctype html><title>Aerie</title><p>This page could not be drawn ({}). The monitor's log has the details.</p>",
            chart::escape(&error.to_string())
        )
    }))
}

/// A page that did not come about, as the user sees it.
#[derive(Debug)]
pub enum PageError {
    /// Not logged in (or the session ended): to the login form.
    Login {
        expired: bool,
        next: String,
    },
    BadRequest(String),
    Forbidden(String),
    NotFound(String),
    Unavailable(String),
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            Self::Login { expired, next } => {
                let mut target = format!("/login?next={}", urlencode(&next));
                if expired {
                    target.push_str("&expired=1");
                }
                return Redirect::to(&target).into_response();
            }
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "Not understood", message),
            Self::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message),
            Self::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message),
            Self::Unavailable(message) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Not available now",
                message,
            ),
        };
        let page = render(
            "error",
            &json!({ "title": title, "message": message, "status": status.as_u16() }),
        );
        (status, secure_headers(), page).into_response()
    }
}

fn urlencode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char)
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Headers every page carries: no framing, no outside scripts or styles.
fn secure_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
            ),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    ]
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

/// The user behind a request's session cookie.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub user: User,
    pub csrf: String,
}

impl SignedIn {
    fn operator(&self) -> bool {
        self.user.role == Role::Operator
    }

    /// Refuses a viewer: they may look, not change.
    fn must_operate(&self) -> Result<(), PageError> {
        if self.operator() {
            Ok(())
        } else {
            Err(PageError::Forbidden(format!(
                "{} has read-only access: only operators may change anything.",
                self.user.name
            )))
        }
    }

    /// Refuses a form without this session's CSRF token.
    fn check_csrf(&self, token: &str) -> Result<(), PageError> {
        if !token.is_empty() && token == self.csrf {
            Ok(())
        } else {
            Err(PageError::Forbidden(
                "The form was not sent from this dashboard (its CSRF token is missing or stale). Reload the page and try again.".into(),
            ))
        }
    }

    /// What every page knows: the user, the CSRF token and the environments
    /// they may see.
    fn context(&self, config: &Config, title: &str) -> serde_json::Value {
        json!({
            "title": title,
            "user": { "name": self.user.name, "operator": self.operator() },
            "csrf": self.csrf,
            "nav": config
                .environments
                .iter()
                .filter(|e| self.user.can_read(&e.name))
                .map(|e| e.name.clone())
                .collect::<Vec<_>>(),
        })
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let next = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let Some(id) = cookie_value(&parts.headers, COOKIE) else {
            return Err(PageError::Login {
                expired: false,
                next,
            });
        };
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(state.config.dashboard.session_ttl)
            .unwrap_or(chrono::Duration::hours(12));
        let session = state.sessions.touch(id, ttl, now).await;
        let Some(session) = session else {
            return Err(PageError::Login {
                expired: true,
                next,
            });
        };
        let user = state
            .config
            .users
            .iter()
            .find(|u| u.name == session.user && u.password_hash.is_some())
            .cloned()
            .ok_or(PageError::Login {
                expired: true,
                next,
            })?;
        Ok(Self {
            user,
            csrf: session.csrf,
        })
    }
}

/// The environment `name` if `user` may see it; another customer's is
/// answered as one that does not exist.
fn readable<'a>(
    config: &'a Config,
    signed_in: &SignedIn,
    name: &str,
) -> Result<&'a crate::config::Environment, PageError> {
    crate::auth::tokens::readable(config, &signed_in.user, name)
        .map_err(|_| PageError::NotFound(format!("There is no environment {name:?}.")))
}

#[derive(Debug, Deserialize)]
struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// Where a login may send the user on: only a path of this dashboard,
/// anything else to the start page. A path is printable ASCII (browsers
/// drop tabs and line breaks, so `/<tab>/evil.example` would leave the
/// site; a control character cannot be a `Location` at all), begins with
/// one `/` and holds no backslash (which browsers read as `/`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            path.to_owned()
        }
        _ => "/".into(),
    }
}

async fn login_form(
    axum::extract::Query(query): axum::extract::Query<LoginQuery>,
) -> impl IntoResponse {
    let message = query
        .expired
        .is_some()
        .then_some("Your session has ended. Log in again to go on.");
    (
        secure_headers(),
        render(
            "login",
            &json!({
                "title": "Log in",
                "next": safe_next(query.next.as_deref()),
                "message": message,
            }),
        ),
    )
}

/// The client's address, as the connection gives it (not a header a client
/// could forge).
#[derive(Debug)]
struct ClientAddress(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string()),
        ))
    }
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    #[serde(default)]
    user: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    axum::extract::Form(form): axum::extract::Form<LoginForm>,
) -> Response {
    let key = (form.user.trim().to_lowercase(), client.clone());
    let dashboard = &state.config.dashboard;
    let refuse = |status: StatusCode, message: &str| {
        (
            status,
            secure_headers(),
            render(
                "login",
                &json!({
                    "title": "Log in",
                    "next": safe_next(form.next.as_deref()),
                    "user": form.user,
                    "error": message,
                }),
            ),
        )
            .into_response()
    };
    if let Some(wait) = state
        .sessions
        .login_wait(&key, dashboard.login_window, dashboard.max_login_failures)
        .await
    {
        tracing::warn!(user = %key.0, %client, "login refused: too many failures");
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "Too many failed logins for this user from your address. Try again in {wait} seconds."
            ),
        );
    }
    let user = state
        .config
        .users
        .iter()
        .find(|u| u.name == form.user.trim() && u.password_hash.is_some())
        .cloned();
    let hash = user
        .as_ref()
        .and_then(|u| u.password_hash.as_ref())
        .map_or_else(|| DUMMY_HASH.clone(), |h| h.expose().to_owned());
    let password = form.password.clone();
    let verified = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .unwrap_or(false);
    let Some(user) = user.filter(|_| verified) else {
        state.sessions.failed(key.clone()).await;
        tracing::warn!(user = %key.0, %client, "login failed");
        return refuse(StatusCode::UNAUTHORIZED, "Wrong user name or password.");
    };
    state.sessions.succeeded(&key).await;
    let ttl =
        chrono::Duration::from_std(dashboard.session_ttl).unwrap_or(chrono::Duration::hours(12));
    let id = match state.sessions.start(&user.name, ttl, Utc::now()).await {
        Ok(id) => id,
        Err(error) => {
            let error = aerie_common::error_chain(&error);
            tracing::error!(user = %user.name, %error, "no session could be kept in the store");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "The monitor cannot reach its store to keep your session. Try again shortly.",
            );
        }
    };
    tracing::info!(user = %user.name, %client, "logged in");
    let secure = if over_tls(&headers) { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict{secure}");
    (
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("a cookie is a header value"),
        )],
        Redirect::to(&safe_next(form.next.as_deref())),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    axum::extract::Form(form): axum::extract::Form<CsrfForm>,
) -> Result<Response, PageError> {
    signed_in.check_csrf(&form.csrf)?;
    if let Some(id) = cookie_value(&headers, COOKIE) {
        state.sessions.end(id).await;
    }
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok((
        [(
            header::SET_COOKIE,
            HeaderValue::from_str(&cookie).expect("a cookie is a header value"),
        )],
        Redirect::to("/login"),
    )
        .into_response())
}

/// The dashboard's routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::environments))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/env/{env}", get(pages::environment))
        .route("/env/{env}/host/{host}", get(pages::host))
        .route("/env/{env}/logs", get(pages::logs))
        .route("/env/{env}/logs/tail", get(pages::tail))
        .route("/env/{env}/alerts", get(pages::alerts))
        .route("/env/{env}/silences", post(pages::create_silence))
        .route(
            "/env/{env}/silences/{id}/expire",
            post(pages::expire_silence),
        )
        .route("/env/{env}/apistats", get(pages::api_stats))
        .route("/env/{env}/backups", get(backups::backups))
        .route("/env/{env}/dr", get(dr::dr))
        .route(
            "/assets/aerie.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS) }),
        )
        .route(
            "/assets/aerie.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    JS,
                )
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_only_sends_on_within_the_site() {
        assert_eq!(safe_next(Some("/env/acme/logs?q=a")), "/env/acme/logs?q=a");
        assert_eq!(safe_next(Some("//evil.example/")), "/");
        assert_eq!(safe_next(Some("https://evil.example/")), "/");
        assert_eq!(safe_next(None), "/");
        for hostile in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\\evil.example",
            "/\\/evil.example",
            "/ /evil.example",
            "/\u{7f}/evil.example",
            "/\u{2028}/evil.example",
            "/é",
            "",
            "evil.example",
        ] {
            assert_eq!(safe_next(Some(hostile)), "/", "{hostile:?}");
        }
    }

    #[test]
    fn every_page_template_compiles() {
        let page = render("login", &json!({ "title": "Log in", "next": "/" }));
        assert!(page.0.contains("<form"), "{}", page.0);
    }
}
