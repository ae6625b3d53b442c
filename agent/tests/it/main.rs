//! The real `aerie-agent` binary under test, one claim per function: what
//! it does with bad input, its command line, delivery through failures, edge
//! cases of files, and JVMs. One test binary for the crate, so the test build
//! links once.

mod support;

mod bad_input;
mod cli;
mod delivery;
mod edges;
mod identity;
mod jvm;
