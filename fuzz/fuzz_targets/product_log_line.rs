#![no_main]
//! Fuzz target `product_log_line`: `aerie_agent::fuzz::product_log_line` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_agent::fuzz::product_log_line(data));
