//! The dashboard in a real browser (headless Debian Chromium over WebDriver)
//! against the real monitor, with the real agent shipping this host's
//! metrics and a log file the test writes. Every test leaves screenshots in
//! `target/test-artifacts/`.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use aerie_system_tests::{Agent, Monitor, StoreKind, product_log_line};
use aerie_testkit::{Chromium, SmtpServer, screenshot, wait_until};
use fantoccini::{Client, Locator};

use crate::browser::{element_text, log_in};

const ADMIN_PASSWORD: &str = "operator's long passphrase";
const VIEWER_PASSWORD: &str = "acme sees acme only";

use aerie_system_tests::password_hash as hash;

/// A monitor with two environments, an operator and a viewer of acme-prod
/// only, alerting through a real SMTP server, and an agent for this host.
struct Setup {
    monitor: Monitor,
    _agent: Agent,
    _smtp: SmtpServer,
    logs: tempfile::TempDir,
    browser: Chromium,
}

async fn setup(dashboard: &str) -> Setup {
    let smtp = SmtpServer::start("alerts@acme.example", "right")
        .await
        .unwrap();
    let (admin, viewer) = (hash(ADMIN_PASSWORD), hash(VIEWER_PASSWORD));
    let monitor = Monitor::start_configured(
        StoreKind::Embedded,
        |dir| {
            std::fs::write(
                dir.join("rules.toml"),
                "[[rule]]\nname = \"cpu-seen\"\nkind = \"metric\"\nmetric = \"system.cpu.total.pct\"\nop = \">=\"\nthreshold = 0.0\nwindow = \"5m\"\nsummary = \"{{host}} reports CPU\"\n",
            )
            .unwrap();
            std::fs::write(dir.join("smtp-ca.pem"), smtp.certificate_pem()).unwrap();
            format!(
                "[[environment]]\nname = \"globex-prod\"\ningest_token = \"globex-ingest-token\"\n\n\
                 [[user]]\nname = \"admin\"\nrole = \"operator\"\npassword_hash = \"{admin}\"\n\n\
                 [[user]]\nname = \"acme-viewer\"\nrole = \"viewer\"\npassword_hash = \"{viewer}\"\nenvironments = [\"acme-prod\"]\n\n\
                 [dashboard]\n{dashboard}\n\n\
                 [alerting]\nrules_file = \"rules.toml\"\nevaluate_every = \"1s\"\ngroup_wait = \"1s\"\nfrom = \"aerie@ops.example\"\ndashboard_url = \"http://monitor.example\"\n\
                 [alerting.smtp]\nhost = \"127.0.0.1\"\nport = {}\nusername = \"{}\"\npassword = \"right\"\nca_file = \"smtp-ca.pem\"\ntls_name = \"localhost\"\n",
                smtp.port(),
                smtp.user()
            )
        },
        Vec::new(),
    )
    .await;
    let logs = tempfile::tempdir().unwrap();
    std::fs::write(
        logs.path().join("wso2carbon.log"),
        product_log_line("INFO", "Bootstrap started"),
    )
    .unwrap();
    let agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "1s");
    let browser = Chromium::start().await.unwrap();
    Setup {
        monitor,
        _agent: agent,
        _smtp: smtp,
        logs,
        browser,
    }
}

/// The text of the page, once it has one (a form's submit does not wait
/// for the next page).
async fn text(client: &Client) -> String {
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The text of `css` once it contains `wanted`.
async fn text_with(client: &Client, css: &str, wanted: &str) -> String {
    wait_until(
        &format!("{css} to show {wanted:?}"),
        Duration::from_secs(10),
        async || {
            let text = client
                .find(Locator::Css(css))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains(wanted).then_some(text)
        },
    )
    .await
    .unwrap()
}

fn append(dir: &Path, line: &str) {
    let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f");
    std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("wso2carbon.log"))
        .unwrap()
        .write_all(format!("[{now}] {line}\n").as_bytes())
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_operator_sees_the_cpu_chart_and_finds_a_log_line() {
    let setup = setup("").await;
    let base = setup.monitor.url();
    let client = setup.browser.session().await.unwrap();
    log_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    let page = text(&client).await;
    assert!(
        page.contains("acme-prod") && page.contains("globex-prod"),
        "{page}"
    );

    let points = wait_until(
        "CPU points on the host page",
        Duration::from_secs(30),
        async || {
            client
                .goto(&format!("{base}/env/acme-prod/host/this-host?range=15m"))
                .await
                .ok()?;
            let svg = client
                .find(Locator::Css("#chart-cpu svg.chart"))
                .await
                .ok()?;
            let points: u64 = svg.attr("data-points").await.ok()??.parse().ok()?;
            (points >= 2).then_some(points)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", setup.monitor.log()));
    assert!(points >= 2);
    let legend = element_text(&client, "#chart-cpu .legend").await;
    assert!(
        legend.contains("cpu.total.pct") && legend.contains('%'),
        "{legend}"
    );
    screenshot(&client, "dashboard-host-page").await.unwrap();

    append(
        setup.logs.path(),
        "ERROR - GatewayHandler request ck7q2-needle failed: backend timeout",
    );
    let row = wait_until(
        "the line through the search box",
        Duration::from_secs(30),
        async || {
            client
                .goto(&format!("{base}/env/acme-prod/logs"))
                .await
                .ok()?;
            let form = client.form(Locator::Css("#log-search")).await.ok()?;
            form.set_by_name("q", "ck7q2-needle").await.ok()?;
            form.submit().await.ok()?;
            let row = client.find(Locator::Css("#log-rows tr")).await.ok()?;
            // The submit navigates: until the answer is loaded the rows are
            // the unfiltered page's.
            row.text()
                .await
                .ok()
                .filter(|text| text.contains("ck7q2-needle"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", setup.monitor.log()));
    assert!(
        row.contains("ck7q2-needle") && row.contains("this-host") && row.contains("ERROR"),
        "{row}"
    );
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("q=ck7q2-needle"),
        "the search is in the URL"
    );
    // The hit histogram counts what the search finds: the one line.
    let bars = client
        .find_all(Locator::Css("#hits rect.bar"))
        .await
        .unwrap();
    let mut counted = 0;
    for bar in &bars {
        counted += bar
            .attr("data-count")
            .await
            .unwrap()
            .unwrap()
            .parse::<u64>()
            .unwrap();
    }
    assert_eq!((bars.len(), counted), (1, 1), "one bar of one line");
    assert_eq!(element_text(&client, "#total").await, "1");
    screenshot(&client, "dashboard-log-search").await.unwrap();

    // Live tail: a new matching line appears without a reload.
    client
        .find(Locator::Css("#live-tail"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    append(
        setup.logs.path(),
        "WARN - GatewayHandler request ck7q2-needle retried on the second backend",
    );
    text_with(&client, "#log-rows", "retried on the second backend").await;
    screenshot(&client, "dashboard-live-tail").await.unwrap();

    // The API statistics page answers with its tables.
    client
        .goto(&format!("{base}/env/acme-prod/apistats?period=hour"))
        .await
        .unwrap();
    let page = text(&client).await;
    assert!(
        page.contains("Per API and tenant") && page.contains("Usage per tenant"),
        "{page}"
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_operator_creates_a_silence_in_the_form() {
    let setup = setup("").await;
    let base = setup.monitor.url();
    let client = setup.browser.session().await.unwrap();
    log_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    wait_until(
        "cpu-seen firing on the alerts page",
        Duration::from_secs(30),
        async || {
            client
                .goto(&format!("{base}/env/acme-prod/alerts"))
                .await
                .ok()?;
            let active = client
                .find(Locator::Css("#active-alerts"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            active.contains("cpu-seen").then_some(())
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", setup.monitor.log()));
    let form = client.form(Locator::Css("#silence-form")).await.unwrap();
    form.set_by_name("rule", "cpu-seen").await.unwrap();
    form.set_by_name("host", "this-host").await.unwrap();
    form.set_by_name("duration", "3h").await.unwrap();
    form.set_by_name("comment", "kernel upgrade OPS-4711")
        .await
        .unwrap();
    form.submit().await.unwrap();
    let silences = text_with(&client, "#silences", "kernel upgrade OPS-4711").await;
    assert!(
        silences.contains("kernel upgrade OPS-4711")
            && silences.contains("rule=cpu-seen")
            && silences.contains("admin"),
        "{silences}"
    );
    let api = setup.monitor.get("/api/v1/silences").await.unwrap();
    assert_eq!(api[0]["matchers"]["environment"], "acme-prod", "{api}");
    let active = wait_until(
        "the alert marked silenced",
        Duration::from_secs(20),
        async || {
            client.refresh().await.ok()?;
            let active = client
                .find(Locator::Css("#active-alerts"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            active.contains("silenced").then_some(active)
        },
    )
    .await
    .unwrap();
    assert!(active.contains("cpu-seen"), "{active}");
    screenshot(&client, "dashboard-silence-created")
        .await
        .unwrap();

    // Expire it from the page.
    client
        .find(Locator::Css("#silences button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_with(&client, "#silences", "(ended)").await;
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_viewer_sees_only_their_environment_and_cannot_change_anything() {
    let setup = setup("").await;
    let base = setup.monitor.url();
    let client = setup.browser.session().await.unwrap();
    log_in(&client, &base, "acme-viewer", VIEWER_PASSWORD).await;
    let page = text(&client).await;
    assert!(page.contains("acme-prod"), "{page}");
    assert!(
        !page.contains("globex-prod"),
        "another customer is listed: {page}"
    );
    let header = element_text(&client, "header.top").await;
    assert!(
        header.contains("acme-viewer · read-only") && !header.contains("globex-prod"),
        "{header}"
    );

    client
        .goto(&format!("{base}/env/acme-prod/alerts"))
        .await
        .unwrap();
    assert!(
        client.find(Locator::Css("#silence-form")).await.is_err(),
        "a viewer sees the silence form"
    );
    assert!(client.find(Locator::Css("#silences button")).await.is_err());
    screenshot(&client, "dashboard-viewer-alerts")
        .await
        .unwrap();

    client
        .goto(&format!("{base}/env/globex-prod"))
        .await
        .unwrap();
    let page = text(&client).await;
    assert!(
        page.contains("Not found") && page.contains("There is no environment \"globex-prod\""),
        "{page}"
    );
    screenshot(&client, "dashboard-viewer-other-environment")
        .await
        .unwrap();

    // A forged POST with the viewer's own session and CSRF token: refused.
    let cookie = client.get_named_cookie("aerie_session").await.unwrap();
    let csrf = {
        client.goto(&format!("{base}/")).await.unwrap();
        client
            .find(Locator::Css("form.logout input[name=csrf]"))
            .await
            .unwrap()
            .attr("value")
            .await
            .unwrap()
            .unwrap()
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = |path: String, form: Vec<(&'static str, String)>, session: String| {
        let http = http.clone();
        async move {
            http.post(path)
                .header("Cookie", format!("aerie_session={session}"))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let forged = post(
        format!("{base}/env/acme-prod/silences"),
        vec![
            ("csrf", csrf.clone()),
            ("rule", "cpu-seen".into()),
            ("duration", "1h".into()),
            ("comment", "viewer tries".into()),
        ],
        cookie.value().to_owned(),
    )
    .await;
    assert_eq!(forged.status(), 403);
    let body = forged.text().await.unwrap();
    assert!(body.contains("read-only access"), "{body}");
    let other = post(
        format!("{base}/env/globex-prod/silences"),
        vec![("csrf", csrf), ("comment", "x".into())],
        cookie.value().to_owned(),
    )
    .await;
    assert_eq!(
        other.status(),
        404,
        "another customer's environment is not found"
    );

    // An operator's session without the CSRF token (a cross-site form): refused.
    let operator = setup.browser.session().await.unwrap();
    log_in(&operator, &base, "admin", ADMIN_PASSWORD).await;
    let session = operator.get_named_cookie("aerie_session").await.unwrap();
    let cross_site = post(
        format!("{base}/env/acme-prod/silences"),
        vec![
            ("rule", "cpu-seen".into()),
            ("duration", "1h".into()),
            ("comment", "forged".into()),
        ],
        session.value().to_owned(),
    )
    .await;
    assert_eq!(cross_site.status(), 403);
    assert!(cross_site.text().await.unwrap().contains("CSRF token"));
    assert_eq!(
        setup.monitor.get("/api/v1/silences").await.unwrap(),
        serde_json::json!([]),
        "no silence was made"
    );
    operator.close().await.unwrap();

    // Logging out ends the session: the next page asks for a login.
    client
        .find(Locator::Css("form.logout button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css("section.login"))
        .await
        .unwrap();
    client.goto(&format!("{base}/env/acme-prod")).await.unwrap();
    assert_eq!(client.current_url().await.unwrap().path(), "/login");
    let replay = post(
        format!("{base}/logout"),
        vec![("csrf", "x".into())],
        cookie.value().to_owned(),
    )
    .await;
    assert_eq!(replay.status(), 303, "the old cookie is no session");
    assert!(
        replay.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
    client.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_bad_input_reads_as_a_message_on_the_page() {
    let setup = setup("session_ttl = \"4s\"\nmax_login_failures = 3\nlogin_window = \"1m\"").await;
    let base = setup.monitor.url();
    let client = setup.browser.session().await.unwrap();

    log_in(&client, &base, "admin", "not the password").await;
    text_with(&client, "main", "Wrong user name or password.").await;
    screenshot(&client, "dashboard-wrong-password")
        .await
        .unwrap();

    log_in(&client, &base, "admin", ADMIN_PASSWORD).await;
    client
        .goto(&format!("{base}/env/acme-prod/logs?q=%28unclosed"))
        .await
        .unwrap();
    let page = text(&client).await;
    assert!(
        page.contains("The search \"(unclosed\" is not valid"),
        "{page}"
    );
    screenshot(&client, "dashboard-bad-query").await.unwrap();

    client
        .goto(&format!(
            "{base}/env/acme-prod/host/this-host?from=now-1h&to=now-2h"
        ))
        .await
        .unwrap();
    let page = text(&client).await;
    assert!(page.contains("The range starts"), "{page}");
    assert!(page.contains("pick a From before the To"), "{page}");
    screenshot(&client, "dashboard-range-reversed")
        .await
        .unwrap();

    // The session ends when unused for longer than session_ttl.
    tokio::time::sleep(Duration::from_secs(5)).await;
    client
        .goto(&format!("{base}/env/acme-prod/alerts"))
        .await
        .unwrap();
    let page = text(&client).await;
    assert!(page.contains("Your session has ended"), "{page}");
    assert!(client.current_url().await.unwrap().path() == "/login");
    screenshot(&client, "dashboard-session-ended")
        .await
        .unwrap();

    // Logins are limited: after three failures even the right password waits.
    for _ in 0..3 {
        log_in(&client, &base, "acme-viewer", "guess").await;
    }
    log_in(&client, &base, "acme-viewer", VIEWER_PASSWORD).await;
    text_with(&client, "main", "Too many failed logins").await;
    screenshot(&client, "dashboard-login-limited")
        .await
        .unwrap();
    client.close().await.unwrap();
}
