//! Secrets in the agent's config: the one type shared with the monitor.

pub use aerie_wire::Secret;
