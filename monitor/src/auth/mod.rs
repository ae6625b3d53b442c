//! Who may do what: API tokens and a user's rights (`tokens`), dashboard
//! sessions with their CSRF tokens and the login limiter (`sessions`),
//! password hashing (`password`). Both faces (the
//! JSON API and the dashboard) use these; neither keeps its own copy.
//!
//! Nothing here is ever logged with its secret: a session id, a CSRF token
//! or a password never reaches a log line.

pub mod password;
pub mod sessions;
pub mod tokens;

pub use password::{PasswordError, hash_password, verify_password};
pub use sessions::{Session, Sessions};
