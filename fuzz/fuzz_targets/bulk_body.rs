#![no_main]
//! Fuzz target `bulk_body`: `aerie_monitor::fuzz::bulk_body` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_monitor::fuzz::bulk_body(data));
