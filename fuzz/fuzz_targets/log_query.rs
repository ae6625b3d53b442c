#![no_main]
//! Fuzz target `log_query`: `aerie_store::fuzz::log_query` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_store::fuzz::log_query(data));
