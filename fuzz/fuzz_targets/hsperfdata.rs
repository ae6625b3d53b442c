#![no_main]
//! Fuzz target `hsperfdata`: `aerie_agent::fuzz::hsperfdata` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_agent::fuzz::hsperfdata(data));
