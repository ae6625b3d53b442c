#![no_main]
//! Fuzz target `runbook`: `aerie_provisioner::fuzz::runbook` on every input.

libfuzzer_sys::fuzz_target!(|data: &[u8]| aerie_provisioner::fuzz::runbook(data));
