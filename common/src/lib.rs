//! The few mechanisms every Aerie crate shares, each written once: writing a
//! file so that a crash leaves the old or the new version whole
//! ([`atomic_write`]), an error with its causes on one line
//! ([`error_chain`]), generated secrets ([`secret`]), the loader of
//! every TOML file a person writes ([`toml_file`]), the reader of the
//! JSON state files a program keeps ([`read_json_or_default`]), and the
//! hasher for keys that are hashes already ([`Prehashed`]).
//!
//! It must stay small and quick to build: the agent depends on it, so it
//! never brings in an async runtime, a network client or the AWS SDK.

mod atomic;
mod chain;
mod json_file;
mod prehashed;
pub mod secret;
pub mod toml_file;

pub use atomic::{atomic_write, atomic_write_with};
pub use chain::error_chain;
pub use json_file::{JsonFileError, read_json_or_default};
pub use prehashed::{BuildPrehashed, Prehashed};
