//! What the three binaries' build scripts share: the git revision they are
//! built from, for `--version` (`AERIE_GIT_REVISION`, `unknown` outside a
//! git checkout).
//!
//! Runs at build time only; never a dependency of the binaries themselves.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Sets `AERIE_GIT_REVISION` for the crate being built, and tells cargo to
/// build again when the checked-out commit changes.
#[expect(
    clippy::print_stdout,
    reason = "cargo reads a build script's instructions from its standard output"
)]
pub fn git_revision() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    let revision =
        git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=AERIE_GIT_REVISION={revision}");
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = Path::new(&git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", git_dir.join(head).display());
        }
        println!(
            "cargo:rerun-if-changed={}",
            git_dir.join("packed-refs").display()
        );
    }
}
