use std::path::{Path, PathBuf};

/// The command that installs every tool the harness starts.
pub(crate) const INSTALL_FIX: &str =
    "scripts/install-test-deps (run from the repository root; scripts/test runs it first)";

/// The repository root: testkit lives one level below it.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit has a parent folder")
}

/// The virtualenv holding moto_server and aiosmtpd
/// (`AERIE_VENV`, or `.venv` at the repository root).
pub(crate) fn venv() -> PathBuf {
    std::env::var_os("AERIE_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"))
}

/// Where service logs go while a test runs (kept only when it fails).
pub(crate) fn log_dir() -> PathBuf {
    workspace_root().join("target").join("testkit-logs")
}

/// How many files in `dir` are named `*.<extension>` (a store's segments).
pub fn files_named(dir: &Path, extension: &str) -> usize {
    std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .filter(|entry| {
            let entry = entry.as_ref().expect("a directory entry");
            entry.path().extension().is_some_and(|x| x == extension)
        })
        .count()
}

/// Where tests put what a person should be able to look at afterwards
/// (screenshots, rendered reports): `target/test-artifacts`.
pub fn artifact_dir() -> PathBuf {
    let dir = workspace_root().join("target").join("test-artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}
