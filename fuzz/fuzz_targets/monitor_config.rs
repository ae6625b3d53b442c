#![no_main]
//! Fuzz target `monitor_config`: `aerie_monitor::fuzz::config` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_monitor::fuzz::config(data));
