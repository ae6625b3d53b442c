#![no_main]
//! Fuzz target `ingest_body`: `aerie_monitor::fuzz::ingest_body` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_monitor::fuzz::ingest_body(data));
