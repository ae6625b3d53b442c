//! The Debian packages (`scripts/package`): both installed with Debian's
//! `dpkg` into a throwaway root of the test's own (`--root`, maintainer
//! scripts run chrootless with `DPKG_ROOT`), then read back as an operator
//! would: dpkg's database, the files and their modes, the service users,
//! the units through `systemd-analyze verify` and `security`, and the
//! installed binaries' `check` and `--version`.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aerie_testkit::workspace_root;

/// Runs `command`, panicking with its output (and how to install `tool`)
/// when it cannot run or fails.
fn run(tool: &str, command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| {
        panic!("{tool} cannot run ({e}): scripts/install-test-deps installs it (Debian's dpkg and systemd)")
    });
    assert!(
        output.status.success(),
        "{tool} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// An empty root with an empty dpkg database, and systemd's targets as the
/// `systemd` dependency would bring them (what `systemd-analyze` resolves
/// a unit's ordering against).
fn throwaway_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dpkg = root.path().join("var/lib/dpkg");
    for dir in ["info", "updates"] {
        std::fs::create_dir_all(dpkg.join(dir)).unwrap();
    }
    std::fs::write(dpkg.join("status"), "").unwrap();
    std::fs::write(dpkg.join("available"), "").unwrap();
    let units = root.path().join("lib/systemd/system");
    std::fs::create_dir_all(&units).unwrap();
    for entry in std::fs::read_dir("/lib/systemd/system").unwrap().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().ends_with(".target") {
            std::fs::copy(entry.path(), units.join(name)).unwrap();
        }
    }
    root
}

fn packages(out: &Path) -> Vec<PathBuf> {
    let made = run(
        "scripts/package",
        Command::new(workspace_root().join("scripts/package"))
            .args(["--profile", "dev", "--no-build", "--out"])
            .arg(out),
    );
    String::from_utf8_lossy(&made.stdout)
        .lines()
        .map(PathBuf::from)
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn both_packages_install_into_a_fresh_root_with_their_users_hardened_units_and_working_binaries() {
    let out = tempfile::tempdir().unwrap();
    let debs = packages(out.path());
    assert_eq!(debs.len(), 2, "scripts/package made {debs:?}");
    let root = throwaway_root();
    let r = root.path();

    // A configuration and its token written before the install: the
    // package hands them to the service's group, readable by no one else.
    let agent_config =
        std::fs::read_to_string(workspace_root().join("examples/agent.toml")).unwrap();
    assert!(agent_config.contains("token_file = \"/etc/aerie/agent.token\""));
    std::fs::create_dir_all(r.join("etc/aerie")).unwrap();
    std::fs::write(r.join("etc/aerie/agent.toml"), &agent_config).unwrap();
    std::fs::write(r.join("etc/aerie/agent.token"), "a-secret-ingest-token\n").unwrap();

    run(
        "dpkg",
        Command::new("dpkg")
            .arg(format!("--root={}", r.display()))
            .args([
                "--force-script-chrootless",
                "--force-depends",
                "--log=/dev/null",
                "-i",
            ])
            .args(&debs),
    );
    let listed = run(
        "dpkg-query",
        Command::new("dpkg-query")
            .arg(format!("--admindir={}", r.join("var/lib/dpkg").display()))
            .args(["-W", "-f=${Package} ${Status}\n"]),
    );
    let listed = String::from_utf8_lossy(&listed.stdout);
    for name in ["aerie-agent", "aerie-monitor"] {
        assert!(
            listed.contains(&format!("{name} install ok installed")),
            "dpkg lists: {listed}"
        );
    }

    let passwd = std::fs::read_to_string(r.join("etc/passwd")).unwrap();
    let group = std::fs::read_to_string(r.join("etc/group")).unwrap();
    for (part, name) in [("agent", "aerie-agent"), ("monitor", "aerie-monitor")] {
        let binary = r.join("usr/bin").join(name);
        assert_eq!(mode(&binary), 0o755, "{}", binary.display());
        assert_eq!(
            std::fs::metadata(&binary).unwrap().uid(),
            0,
            "{name} is root's"
        );
        assert!(r.join(format!("etc/aerie/{part}.example.toml")).exists());
        assert_eq!(
            mode(&r.join(format!("etc/aerie/{part}.example.toml"))),
            0o644
        );
        // The service user: no login, its home the state folder.
        let user = passwd
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} user in {passwd}"));
        assert!(
            user.ends_with(&format!(":/var/lib/{name}:/usr/sbin/nologin")),
            "{user}"
        );
        assert!(
            group.lines().any(|l| l.starts_with(&format!("{name}:"))),
            "{group}"
        );

        let unit = format!("/lib/systemd/system/{name}.service");
        let text = std::fs::read_to_string(r.join(&unit[1..])).unwrap();
        for line in [
            format!("User={name}"),
            format!("StateDirectory={name}"),
            format!("ConditionPathExists=/etc/aerie/{part}.toml"),
            "Restart=on-failure".to_owned(),
            "NoNewPrivileges=yes".to_owned(),
            "ProtectSystem=strict".to_owned(),
        ] {
            assert!(text.lines().any(|l| l == line), "{unit} lacks {line}");
        }
        run(
            "systemd-analyze verify",
            Command::new("systemd-analyze")
                .arg("verify")
                .arg(format!("--root={}", r.display()))
                .arg(&unit),
        );
        // systemd's own exposure score, at most 4.0 ("OK") of 10.
        run(
            "systemd-analyze security",
            Command::new("systemd-analyze")
                .args(["security", "--offline=true", "--threshold=40"])
                .arg(format!("--root={}", r.display()))
                .arg(&unit),
        );

        let version = run(name, Command::new(&binary).arg("--version"));
        assert!(
            String::from_utf8_lossy(&version.stdout).starts_with(&format!("{name} ")),
            "{name} --version"
        );
    }

    let gid = |name: &str| -> u32 {
        let line = group
            .lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap();
        line.split(':').nth(2).unwrap().parse().unwrap()
    };
    for file in ["etc/aerie/agent.toml", "etc/aerie/agent.token"] {
        let metadata = std::fs::metadata(r.join(file)).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, 0o640, "{file}");
        assert_eq!(metadata.gid(), gid("aerie-agent"), "{file}'s group");
    }

    // The installed binaries read their configurations (the agent's with
    // its token's path inside the root); the token is masked.
    let inside = out.path().join("agent.toml");
    let token = r.join("etc/aerie/agent.token");
    let moved = agent_config.replace("/etc/aerie/agent.token", &token.to_string_lossy());
    std::fs::write(&inside, moved).unwrap();
    let checked = run(
        "aerie-agent check",
        Command::new(r.join("usr/bin/aerie-agent"))
            .args(["check", "--config"])
            .arg(&inside),
    );
    let checked = String::from_utf8_lossy(&checked.stdout);
    assert!(
        !checked.contains("a-secret-ingest-token"),
        "the token was printed:\n{checked}"
    );
    run(
        "aerie-monitor check",
        Command::new(r.join("usr/bin/aerie-monitor"))
            .args(["check", "--config"])
            .arg(r.join("etc/aerie/monitor.example.toml")),
    );
}

#[test]
fn a_unit_whose_program_is_missing_is_refused_by_the_same_verification() {
    // The check above can fail: the same verify on a unit naming a binary
    // the root does not have.
    let root = throwaway_root();
    let unit = root.path().join("lib/systemd/system/aerie-missing.service");
    let text = std::fs::read_to_string(workspace_root().join("packaging/aerie-agent.service"))
        .unwrap()
        .replace("/usr/bin/aerie-agent", "/usr/bin/aerie-missing");
    std::fs::write(&unit, text).unwrap();
    let verified = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .arg("/lib/systemd/system/aerie-missing.service")
        .output()
        .expect("systemd-analyze runs");
    assert!(
        !verified.status.success(),
        "a missing ExecStart passed verify"
    );
    assert!(
        String::from_utf8_lossy(&verified.stderr).contains("/usr/bin/aerie-missing"),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}
