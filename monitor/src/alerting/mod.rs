//! Alerting: rules evaluated on a timer against the store, alerts that move
//! through pending, firing and resolved, a history of every transition, and
//! mail for firing (again every `repeat_interval`) and resolved alerts.
//!
//! One concern per file:
//! - `rules`: the rules file, parsed and validated (its own loader);
//! - `observe`: what a rule sees in the store (two questions: one aggregate
//!   per series over a window, matching log lines counted per host);
//! - `transition`: the pure step of one alert for one observation;
//! - `suppress`: inhibition (a host that is down mails only about being
//!   down), silences and flap damping;
//! - `group`: an environment's alerts of one rule share their mail
//!   (`group_wait`, `group_interval`, `repeat_interval`);
//! - `outbox`: mail waiting to go, retried with backoff, and the primary
//!   channel's health;
//! - `persist` and `history`: what survives a restart;
//! - `engine`: the evaluation that ties them together, with time passed in.
//!
//! State and the mail outbox are saved after every evaluation, before any
//! mail is sent: after a restart an alert that was firing is still firing
//! (no second firing mail), and a mail not yet sent is still in the outbox
//! (none lost). When the primary channel has failed for longer than
//! `channel_failing_after`, the engine raises a [`CHANNEL_RULE`] alert of its
//! own, mailed to the operators through the other channel.
//!
//! This module never reads the clock except in [`Engine::evaluate`], and
//! never sends mail while holding its state lock.

mod engine;
mod error;
mod group;
mod history;
mod model;
mod observe;
mod outbox;
mod persist;
pub mod rules;
mod suppress;
mod texts;
mod transition;

#[cfg(test)]
mod tests;

pub use engine::{Engine, Webhooks};
pub use error::AlertError;
pub use model::{Alert, CHANNEL_RULE, HistoryEntry, Silence, State};
