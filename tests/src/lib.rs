//! Cross-component system tests live in `tests/tests/`: they run the real
//! `aerie`, `aerie-agent` and `aerie-monitor` binaries against the services
//! that `aerie-testkit` starts. This library is empty on purpose.
