//! Entry points for fuzzing what the provisioner reads from its users: the
//! environment spec and the DR runbooks. Each takes any bytes and returns;
//! a refusal (with file, field and fix) is a fine answer, a panic is a bug.
//! `fuzz/fuzz_targets/` runs them under libFuzzer (`scripts/fuzz`); the
//! test below replays the committed seeds.
//!
//! Nothing here calls AWS, writes a file or keeps state between calls.

use std::path::Path;

use aerie_common::toml_file::TomlFile as _;

/// `env_spec`: an environment spec, validated.
pub fn spec(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::spec::Spec::parse(Path::new("/etc/aerie/acme.toml"), text);
    }
}

/// `runbook`: a DR runbook, validated.
pub fn runbook(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::dr::runbook::Runbook::parse(Path::new("runbooks/drill.toml"), text);
    }
}

#[cfg(test)]
mod tests {
    use aerie_testkit::replay_corpus;

    #[test]
    fn every_seed_of_the_provisioners_fuzz_targets_is_read_without_a_panic() {
        replay_corpus("env_spec", super::spec);
        replay_corpus("runbook", super::runbook);
    }
}
