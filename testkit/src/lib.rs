//! Test support for Aerie: the real services that tests talk to.
//!
//! Each service starts on a free 127.0.0.1 port, is polled until it answers
//! (never a fixed sleep), and stops when its handle is dropped. Its output goes
//! to a log file that is deleted when the test passes and kept, with its last
//! lines printed, when the test panics.
//!
//! | handle | real implementation | installed by |
//! |---|---|---|
//! | [`MotoServer`] | `moto_server` (PyPI `moto[server]`), every AWS region on one server | `scripts/install-test-deps` (virtualenv `.venv`) |
//! | [`OpenSearch`], [`OpenSearchCluster`] | OpenSearch 2.19 (Maven Central), in-process nodes started by `testkit/opensearch` | the same (Maven) |
//! | [`SmtpServer`] | `aiosmtpd` (PyPI) with AUTH required after STARTTLS | the same |
//! | [`Chromium`] | Debian `chromium` headless, driven through `chromedriver` | the same (apt) |
//! | [`Tinyproxy`] | Debian `tinyproxy`, an HTTP proxy | the same (apt) |
//! | [`WebhookReceiver`] | an HTTP server (axum) keeping what is posted to it, answering the status the test sets | nothing to install |
//!
//! A service that cannot start is an [`Error`] that says why and how to
//! install what is missing: tests fail on it, they are never skipped.

mod chromium;
mod corpus;
mod error;
mod faults;
mod flood;
mod golden;
mod health;
mod mariadb;
mod moto;
mod opensearch;
mod paths;
mod pki;
mod poll;
mod prometheus;
mod proxy;
mod refusals;
mod served;
mod service;
mod smtp;
mod tls;
mod webhook;

pub use chromium::{Chromium, screenshot};
pub use corpus::replay_corpus;
pub use error::Error;
pub use faults::FaultProxy;
pub use flood::{WriteFlood, write_rejections};
pub use golden::assert_golden;
pub use health::HealthServer;
pub use mariadb::MariaDb;
pub use moto::MotoServer;
pub use opensearch::{OpenSearch, OpenSearchCluster};
pub use paths::{artifact_dir, files_named, workspace_root};
pub use pki::{Issued, PrivateCa};
pub use poll::{pace, wait_until};
pub use prometheus::{Prometheus, Scrape};
pub use proxy::Tinyproxy;
pub use refusals::assert_refused;
pub use service::{ServiceProcess, free_port};
pub use smtp::{ReceivedMail, SmtpServer};
pub use tls::{TlsListener, self_signed};
pub use webhook::{Delivery, WebhookReceiver};
