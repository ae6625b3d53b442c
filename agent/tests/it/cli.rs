//! `aerie-agent check`: the effective config with secrets masked; a bad one
//! named by file and field, exit code 2, nothing started.

use std::process::Command;

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aerie-agent"))
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let data_dir_created = dir.path().join("data").exists();
    assert!(!data_dir_created, "check must not start anything");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).replace(&dir.path().display().to_string(), "DIR"),
    )
}

const GOOD: &str = "environment = \"acme-prod\"\nhost = \"gw-1\"\ndata_dir = \"data\"\n[monitor]\nurl = \"https://monitor.example:8443\"\ntoken = \"very-secret-token\"\n";

#[test]
fn check_prints_the_effective_config_with_the_token_masked() {
    let (code, stdout, stderr) = check(GOOD);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("environment = \"acme-prod\""), "{stdout}");
    assert!(
        stdout.contains("interval = \"10s\""),
        "defaults are shown: {stdout}"
    );
    assert!(
        !stdout.contains("very-secret-token") && !stderr.contains("very-secret-token"),
        "{stdout}"
    );
    assert!(stdout.contains("********"), "{stdout}");
}

#[test]
fn check_refuses_a_bad_config_with_exit_code_two() {
    let (code, stdout, stderr) =
        check(&GOOD.replace("https://monitor.example:8443", "monitor.example"));
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("DIR/agent.toml: monitor.url: \"monitor.example\" is not a URL"),
        "{stderr}"
    );
}
