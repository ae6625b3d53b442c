//! The versioned record of every apply: a real git repository beside the
//! spec, read back with git itself. One commit per apply that changed
//! something, a diff between two that is exactly what changed, nothing for
//! a failed apply, and no secret value anywhere in the repository.

use std::path::Path;
use std::process::Command;

use crate::provisioner::{Account, REGION, example, text};

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .expect("git runs (apt-get install git)");
    assert!(output.status.success(), "git {args:?}: {}", text(&output));
    String::from_utf8(output.stdout).unwrap()
}

/// The commits of the record, newest first, as git lists them.
fn commits(history: &Path) -> Vec<String> {
    if !history.join(".git").exists() {
        return Vec::new();
    }
    git(history, &["log", "--format=%h %s"])
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_apply_that_changes_something_is_one_commit_and_their_diff_is_the_change() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("acme.toml");
    let original = std::fs::read_to_string(example()).unwrap();
    std::fs::write(&spec, &original).unwrap();
    let history = dir.path().join("history");

    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    // Nothing to do: nothing to record.
    let again = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(again.status.success(), "{}", text(&again));
    let first = commits(&history);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(first[0].contains("acme-prod: applied by"), "{first:?}");
    let message = git(&history, &["log", "-1", "--format=%B"]);
    assert!(
        message.contains("Plan: 40 to add, 0 to change, 0 to destroy."),
        "{message}"
    );
    for file in [
        "acme-prod/spec.toml",
        "acme-prod/plan.txt",
        "acme-prod/rendered/bastion/user-data.yaml",
        "acme-prod/rendered/gateway-1/repository/conf/api-manager.xml.fragment",
    ] {
        assert!(history.join(file).is_file(), "{file} is not recorded");
    }

    // A change of what the bastion boots with: the second commit.
    let changed = original.replace("ntp2.acme.example", "ntp3.acme.example");
    assert_ne!(changed, original, "the NTP line moved");
    std::fs::write(&spec, &changed).unwrap();
    let apply = account.aerie(&["env", "apply", "--yes", "--no-health-gate"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let listed = account.aerie(&["env", "history"], &spec);
    assert!(listed.status.success(), "{}", text(&listed));
    let both = commits(&history);
    assert_eq!(both.len(), 2, "{both:?}");
    let (newer, older) = (
        both[0].split(' ').next().unwrap(),
        both[1].split(' ').next().unwrap(),
    );
    for commit in [newer, older] {
        assert!(text(&listed).contains(commit), "{}", text(&listed));
    }
    let range = format!("{older}..{newer}");
    let diff = account.aerie(&["env", "history", "--diff", &range], &spec);
    let diff = text(&diff);
    assert!(
        diff.contains("+      server ntp3.acme.example iburst"),
        "{diff}"
    );
    assert!(
        diff.contains("-      server ntp2.acme.example iburst"),
        "{diff}"
    );
    // What changed is the spec, the plan, the handover (the replaced
    // instances' new addresses) and the user-data of every instance (each
    // runs chrony on those servers); in the rendered files and the spec,
    // only the NTP lines.
    let mut files: Vec<String> = git(&history, &["diff", "--name-only", &range])
        .lines()
        .map(str::to_owned)
        .collect();
    files.sort();
    let mut expected: Vec<String> = [
        "bastion",
        "gateway-1",
        "gateway-2",
        "traffic-manager-1",
        "traffic-manager-2",
    ]
    .iter()
    .map(|role| format!("acme-prod/rendered/{role}/user-data.yaml"))
    .chain(
        ["handover.html", "handover.md", "plan.txt", "spec.toml"]
            .map(|file| format!("acme-prod/{file}")),
    )
    .collect();
    expected.sort();
    assert_eq!(files, expected);
    let rendered = git(
        &history,
        &[
            "diff",
            "--unified=0",
            &range,
            "--",
            "acme-prod/rendered",
            "acme-prod/spec.toml",
        ],
    );
    for line in rendered.lines().filter(|l| {
        (l.starts_with('+') || l.starts_with('-')) && !l.starts_with("+++") && !l.starts_with("---")
    }) {
        assert!(
            line.contains("ntp"),
            "a change that is not the NTP server's: {line}"
        );
    }

    // No secret of the environment, in any file or any commit.
    let everything = git(&history, &["log", "-p", "--all"]);
    let secrets = aws_sdk_secretsmanager::Client::new(&account.moto.sdk_config(REGION).await);
    let listed = secrets.list_secrets().send().await.unwrap();
    let mut searched = 0;
    for name in listed.secret_list().iter().filter_map(|s| s.name()) {
        let value = secrets
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .unwrap();
        let value = value.secret_string().unwrap();
        assert!(
            !everything.contains(value),
            "secret {name} is in the history"
        );
        searched += 1;
    }
    assert!(searched >= 5, "only {searched} secrets were searched for");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_apply_commits_nothing() {
    let account = Account::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = dir.path().join("acme.toml");
    std::fs::copy(example(), &spec).unwrap();
    account
        .proxy
        .fail("CreateDBInstance", 1, 400, "InvalidParameterCombination");
    let failed = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(!failed.status.success(), "{}", text(&failed));
    assert_eq!(commits(&dir.path().join("history")), Vec::<String>::new());
    let listed = account.aerie(&["env", "history"], &spec);
    assert!(
        text(&listed).contains("No apply is recorded"),
        "{}",
        text(&listed)
    );
}
