#![no_main]
//! Fuzz target `access_log_line`: `aerie_agent::fuzz::access_log_line` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_agent::fuzz::access_log_line(data));
