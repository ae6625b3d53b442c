//! `aerie-monitor`: receives what the agents send, stores it (embedded or in
//! Elasticsearch), answers queries, evaluates alert rules, sends notifications
//! and serves the dashboard.
//!
//! It acknowledges only what is durable, and never shows a customer viewer
//! anything outside their own environments.

pub mod alerting;
pub mod api;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod fuzz;
pub mod jobs;
pub mod metrics;
pub mod notify;
pub mod query;
pub mod server;
pub mod state;
/// The store, its own crate (`monitor/store`): a template change here does
/// not recompile it.
pub use aerie_store as store;
pub mod timespec;
pub mod tls;

pub use config::Config;
