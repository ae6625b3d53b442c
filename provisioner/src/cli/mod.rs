//! What the `aerie` command draws: the library reports, this shows.

pub(crate) mod backup;
pub(crate) mod dr;
pub(crate) mod progress;
