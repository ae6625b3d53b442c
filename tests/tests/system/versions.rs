//! `--version` of the three binaries: the release and the git revision of
//! the checkout they were built from, as git itself gives it.

use aerie_system_tests::binary;
use aerie_testkit::workspace_root;

#[test]
fn every_binary_names_its_release_and_the_git_revision_it_was_built_from() {
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .expect("git is on PATH (the tests run in a checkout)");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    assert_eq!(head.len(), 12, "not a git checkout: {head:?}");
    for (binary_name, package) in [
        ("aerie", "aerie-provisioner"),
        ("aerie-agent", "aerie-agent"),
        ("aerie-monitor", "aerie-monitor"),
    ] {
        let output = std::process::Command::new(binary(binary_name))
            .arg("--version")
            .output()
            .unwrap();
        assert!(output.status.success(), "{binary_name} --version failed");
        let printed = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert_eq!(
            printed,
            format!("{package} {} ({head})", env!("CARGO_PKG_VERSION")),
            "{binary_name}"
        );
    }
}
