#![no_main]
//! Fuzz target `agent_config`: `aerie_agent::fuzz::config` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_agent::fuzz::config(data));
