//! Cross-component system tests: the real binaries (`aerie`, `aerie-agent`,
//! `aerie-monitor`) against the real services testkit starts. One test binary
//! for the crate, so the test build links once.

mod agent_to_monitor;
mod alerting;
mod dashboard;
mod provisioner;
mod quickstart;
mod rsyslog_to_monitor;
