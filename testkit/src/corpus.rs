//! The fuzzing seed corpora (`fuzz/corpus/<target>/`), replayed as
//! ordinary tests: every committed seed, and every crash input kept there
//! once fixed, goes through the target's entry point in each test run, so
//! a regression shows in `scripts/test` without running the fuzzer.

use crate::workspace_root;

/// Calls `entry` with every file of `fuzz/corpus/<target>/`; a panic names
/// the file. A target without seeds fails: a corpus is part of a target.
pub fn replay_corpus(target: &str, entry: fn(&[u8])) {
    let dir = workspace_root().join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: commit seeds for fuzz target {target}",
                dir.display()
            )
        })
        .map(|entry| entry.expect("a readable corpus folder").path())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{}: no seeds: commit some for fuzz target {target}",
        dir.display()
    );
    for path in files {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Err(panic) = std::panic::catch_unwind(|| entry(&data)) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!(
                "{}: fuzz target {target} panics on it: {message}",
                path.display()
            );
        }
    }
}
