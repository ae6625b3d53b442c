//! The README's first command: `aerie-monitor quickstart` starts the monitor
//! on its embedded store with an agent for this host and an operator login,
//! prints where and how to log in, and stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use aerie_system_tests::binary;
use aerie_testkit::wait_until;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_prints_its_login_shows_this_host_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("aerie-data");
    let mut child = Command::new(binary("aerie-monitor"))
        .args(["quickstart", "--port", "0", "--data-dir"])
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        lines.push(line.trim_end().to_owned());
    }
    let url = lines[0]
        .strip_prefix("Dashboard: http://127.0.0.1:")
        .map(|port| format!("http://127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(lines[1], "User: admin");
    let password_file = lines[2]
        .strip_prefix("Password file: ")
        .unwrap_or_else(|| panic!("{lines:?}"));
    let metadata = std::fs::metadata(password_file).unwrap();
    assert_eq!(
        metadata.permissions().mode() & 0o777,
        0o600,
        "the password file is readable by its owner only"
    );
    let password = std::fs::read_to_string(password_file).unwrap();
    let password = password.trim();
    assert!(password.len() >= 16);

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let login = http
        .post(format!("{url}/login"))
        .form(&[("user", "admin"), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = async |path: &str| {
        http.get(format!("{url}{path}"))
            .header("Cookie", &session)
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    };

    // This host's live charts and the quickstart's own log, within a minute.
    let host = wait_until(
        "this host on the dashboard",
        Duration::from_secs(60),
        async || {
            let home = page("/").await?;
            let start = home.find("/env/local/host/")? + "/env/local/host/".len();
            let end = start + home[start..].find('"')?;
            Some(home[start..end].to_owned())
        },
    )
    .await
    .unwrap();
    wait_until(
        "CPU points on the host page",
        Duration::from_secs(60),
        async || {
            let host_page = page(&format!("/env/local/host/{host}?range=15m")).await?;
            let cpu = host_page.split("id=\"chart-cpu\"").nth(1)?;
            let points: u64 = cpu
                .split("data-points=\"")
                .nth(1)?
                .split('"')
                .next()?
                .parse()
                .ok()?;
            (points >= 2).then_some(())
        },
    )
    .await
    .unwrap();
    let logs = wait_until(
        "the quickstart's log lines",
        Duration::from_secs(60),
        async || {
            let logs = page("/env/local/logs?q=quickstart").await?;
            logs.contains("quickstart running").then_some(logs)
        },
    )
    .await
    .unwrap();
    assert!(logs.contains("aerie-quickstart.log"), "the file is named");
    let alerts = page("/env/local/alerts").await.unwrap();
    assert!(
        alerts.contains("Alerting is not configured on this monitor"),
        "the alerts page says why it is empty: {alerts}"
    );

    // Ctrl-C stops both, cleanly.
    assert!(
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = wait_until(
        "the quickstart to exit",
        Duration::from_secs(30),
        async || child.try_wait().unwrap(),
    )
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("quickstart stopped"), "{stderr}");
    assert!(!stderr.contains(password), "the password is never logged");
}
