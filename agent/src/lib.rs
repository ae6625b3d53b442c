//! `aerie-agent`: runs on every host of a customer environment and ships host
//! metrics, JVM heap, logs and API statistics to the monitor (or straight to
//! Elasticsearch).
//!
//! Built the way Vector builds its components: `sources/<name>/` produce
//! events, a disk-backed [`queue`] holds them, `sinks/<name>/` deliver them.
//! It must never block or slow the products it watches, never drop an event
//! it has read (when its disk budget is full it stops reading and says so),
//! and never depend on the AWS SDK: it ships to every host.

pub mod config;
pub mod counters;
pub mod fuzz;
pub mod metrics;
pub mod queue;
pub mod run;
pub mod secret;
pub mod sinks;
pub mod sources;

pub use config::Config;
