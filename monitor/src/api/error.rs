use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::tokens::AuthError;
use crate::store::StoreError;

/// Every way a request can fail, each with the status it answers.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The store is unavailable: nothing was stored; the client may retry.
    #[error("{0}")]
    Unavailable(String),
    /// The store is busy: the client should send the same again after
    /// [`RETRY_AFTER_BUSY`] seconds (back-pressure, as Elasticsearch's own
    /// `429`).
    #[error("{0}")]
    Busy(String),
}

/// What a `429` answer's `Retry-After` asks for, in seconds.
const RETRY_AFTER_BUSY: &str = "1";

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Busy(_) => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl ApiError {
    /// What a request gets when state the monitor keeps (the usage ledger,
    /// the throttle's decisions) cannot be read: `503`, its cause logged.
    pub fn unavailable(error: impl std::error::Error) -> Self {
        let error = aerie_common::error_chain(&error);
        tracing::error!(%error, "kept state unavailable");
        Self::Unavailable(
            "the monitor's state is unavailable; nothing was changed, try again".into(),
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthorized(message) => Self::Unauthorized(message),
            AuthError::Forbidden(message) => Self::Forbidden(message),
            AuthError::NotFound(message) => Self::NotFound(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::BadQuery { .. } => Self::BadRequest(error.to_string()),
            StoreError::Busy { .. } => {
                tracing::warn!(error = %error, "store busy; the client is asked to retry");
                Self::Busy(format!(
                    "{error}; nothing was lost, send the same again shortly"
                ))
            }
            StoreError::Backend { .. } => {
                let error = aerie_common::error_chain(&error);
                tracing::error!(%error, "store failed");
                Self::Unavailable("the store is unavailable; nothing was changed, try again".into())
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::warn!(error = %self, %status, "request failed");
        }
        let mut response = (
            status,
            Json(json!({ "error": { "status": status.as_u16(), "message": self.to_string() } })),
        )
            .into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(RETRY_AFTER_BUSY),
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}
