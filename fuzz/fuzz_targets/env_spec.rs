#![no_main]
//! Fuzz target `env_spec`: `aerie_provisioner::fuzz::spec` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_provisioner::fuzz::spec(data));
