//! `aerie-monitor check`: the config with secrets masked, or the file and
//! field at fault with exit code 2.

use std::process::Command;

fn check(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("monitor.toml");
    std::fs::write(&config, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aerie-monitor"))
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).replace(&dir.path().display().to_string(), "DIR"),
    )
}

const GOOD: &str = "data_dir = \"data\"\n[[environment]]\nname = \"acme-prod\"\ningest_token = \"secret-ingest\"\n[[user]]\nname = \"ops\"\nrole = \"operator\"\ntoken = \"secret-ops\"\n";

#[test]
fn check_prints_the_config_with_tokens_masked() {
    let (code, stdout, stderr) = check(GOOD);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("name = \"acme-prod\"") && stdout.contains("logs = \"14days\""),
        "{stdout}"
    );
    assert!(
        !stdout.contains("secret-ingest") && !stdout.contains("secret-ops"),
        "{stdout}"
    );
}

#[test]
fn check_names_the_field_at_fault() {
    let (code, _, stderr) = check(&GOOD.replace("role = \"operator\"", "role = \"admin\""));
    assert_eq!(code, 2);
    assert!(
        stderr.contains("DIR/monitor.toml") && stderr.contains("unknown variant `admin`"),
        "{stderr}"
    );
}

#[test]
fn check_names_a_bad_rules_file_the_rule_and_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.toml"),
        "[[rule]]\nname = \"broken\"\nkind = \"gauge\"\nsummary = \"s\"\n",
    )
    .unwrap();
    let config = dir.path().join("monitor.toml");
    std::fs::write(
        &config,
        format!("{GOOD}\n[alerting]\nrules_file = \"rules.toml\"\nfrom = \"aerie@ops.example\"\ndashboard_url = \"http://monitor.example\"\n[alerting.ses]\n"),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aerie-monitor"))
        .arg("check")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("rules.toml")
            && stderr.contains("\"broken\"")
            && stderr.contains("kind \"gauge\""),
        "{stderr}"
    );
}
