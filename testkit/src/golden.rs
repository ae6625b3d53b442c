//! Golden files: text a test produces (a plan, a rendered template, CLI
//! output) compared with a file kept in the repository. `AERIE_UPDATE_GOLDEN=1`
//! rewrites the files instead, so regenerating every golden is one command:
//! `AERIE_UPDATE_GOLDEN=1 cargo nextest run --workspace`, then read the diff.

use std::path::Path;

/// Panics unless `actual` equals the content of `path`; with
/// `AERIE_UPDATE_GOLDEN` set, writes `actual` to `path` instead.
#[track_caller]
pub fn assert_golden(path: &Path, actual: &str) {
    if std::env::var_os("AERIE_UPDATE_GOLDEN").is_some() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        }
        std::fs::write(path, actual).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (AERIE_UPDATE_GOLDEN=1 writes it from this run)",
            path.display()
        )
    });
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from this run, first at line {}:\n  golden: {:?}\n  now:    {:?}\n(AERIE_UPDATE_GOLDEN=1 rewrites it; check the diff before committing)",
            path.display(),
            first + 1,
            expected.lines().nth(first).unwrap_or("<end of file>"),
            actual.lines().nth(first).unwrap_or("<end of file>"),
        );
    }
}
