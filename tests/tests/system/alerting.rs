//! Alerting end to end: the real agent tails a product log, the real monitor
//! evaluates a log rule and mails through Amazon SES (moto_server).

use std::io::Write;
use std::time::Duration;

use aerie_system_tests::{Agent, Monitor, StoreKind, product_log_line};
use aerie_testkit::{MotoServer, wait_until};

/// Subjects and bodies of the mail moto's SES has accepted.
async fn ses_mail(moto: &MotoServer) -> Vec<(String, String)> {
    let data = moto.data().await.unwrap();
    let messages = data["ses"]["Message"].clone();
    let list: Vec<serde_json::Value> = match messages {
        serde_json::Value::Array(list) => list,
        serde_json::Value::Object(map) => map.into_values().collect(),
        _ => Vec::new(),
    };
    list.iter()
        .map(|m| {
            (
                m["subject"].as_str().unwrap_or_default().to_owned(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_memory_line_mails_once_through_ses_and_resolves() {
    let moto = MotoServer::start().await.unwrap();
    let region = "eu-west-1";
    aws_sdk_ses::Client::new(&moto.sdk_config(region).await)
        .verify_domain_identity()
        .domain("ops.example")
        .send()
        .await
        .unwrap();
    let monitor = Monitor::start_configured(
        StoreKind::Embedded,
        |dir| {
            std::fs::write(
                dir.join("rules.toml"),
                "[[rule]]\nname = \"out-of-memory\"\nkind = \"log\"\nseverity = \"critical\"\nquery = \"log.level:ERROR AND OutOfMemoryError\"\nwindow = \"10s\"\nsummary = \"{{host}} logged an OutOfMemoryError\"\n",
            )
            .unwrap();
            "[alerting]\nrules_file = \"rules.toml\"\nevaluate_every = \"1s\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\nfrom = \"Aerie <aerie@ops.example>\"\ndashboard_url = \"http://monitor.example\"\n[alerting.ses]\n".to_owned()
        },
        moto.env(region),
    )
    .await;
    let logs = tempfile::tempdir().unwrap();
    let file = logs.path().join("wso2carbon.log");
    std::fs::write(&file, product_log_line("INFO", "Bootstrap started")).unwrap();
    let agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "5s");
    wait_until(
        "the agent's first line",
        Duration::from_secs(30),
        async || (!monitor.all_logs("started").await.is_empty()).then_some(()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", agent.log()));

    let line = product_log_line(
        "ERROR",
        "ThrottleDataPublisher java.lang.OutOfMemoryError: Java heap space",
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(line.as_bytes())
        .unwrap();

    let firing = wait_until(
        "the firing mail in SES",
        Duration::from_secs(30),
        async || {
            ses_mail(&moto)
                .await
                .into_iter()
                .find(|(subject, _)| subject.starts_with("[FIRING]"))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
    assert_eq!(firing.0, "[FIRING] out-of-memory on this-host (acme-prod)");
    assert!(
        firing.1.contains("this-host logged an OutOfMemoryError"),
        "{}",
        firing.1
    );
    assert!(
        firing
            .1
            .contains("java.lang.OutOfMemoryError: Java heap space"),
        "the mail names the line: {}",
        firing.1
    );

    // The window passes without another such line: one resolved mail.
    let mail = wait_until("the resolved mail", Duration::from_secs(40), async || {
        let mail = ses_mail(&moto).await;
        mail.iter()
            .any(|(subject, _)| subject.starts_with("[RESOLVED]"))
            .then_some(mail)
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
    let subjects: Vec<&str> = mail.iter().map(|(subject, _)| subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "[FIRING] out-of-memory on this-host (acme-prod)",
            "[RESOLVED] out-of-memory on this-host (acme-prod)"
        ]
    );

    // The engine records a mail as notified once the send returns, just
    // after SES has it: wait for the fourth entry, then check them all.
    let history = wait_until(
        "the resolved mail in the history",
        Duration::from_secs(10),
        async || {
            let history = monitor.get("/api/v1/alerts/history?env=acme-prod").await?;
            (history.as_array()?.len() >= 4).then_some(history)
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
    let events: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["firing", "notified", "resolved", "notified"],
        "{history}"
    );
}

pub(crate) mod smtp {
    use std::time::Duration;

    use aerie_system_tests::{Agent, Monitor, OPERATOR_TOKEN, StoreKind};
    use aerie_testkit::{SmtpServer, wait_until};

    const ALWAYS: &str = "[[rule]]\nname = \"cpu-seen\"\nkind = \"metric\"\nmetric = \"system.cpu.total.pct\"\nop = \">=\"\nthreshold = 0.0\nwindow = \"5m\"\nsummary = \"{{host}} reports CPU\"\n";

    /// `[alerting]` through `smtp` with `password`, the given rules and repeat interval.
    pub(crate) fn alerting(
        dir: &std::path::Path,
        smtp: &SmtpServer,
        password: &str,
        rules: &str,
        repeat: &str,
    ) -> String {
        std::fs::write(dir.join("rules.toml"), rules).unwrap();
        std::fs::write(dir.join("smtp-ca.pem"), smtp.certificate_pem()).unwrap();
        format!(
            "[alerting]\nrules_file = \"rules.toml\"\nevaluate_every = \"1s\"\ngroup_wait = \"1s\"\ngroup_interval = \"1s\"\nrepeat_interval = \"{repeat}\"\nfrom = \"Aerie <aerie@ops.example>\"\ndashboard_url = \"http://monitor.example\"\n[alerting.smtp]\nhost = \"127.0.0.1\"\nport = {}\nsecurity = \"starttls\"\nusername = \"{}\"\npassword = \"{password}\"\nca_file = \"smtp-ca.pem\"\ntls_name = \"localhost\"\n",
            smtp.port(),
            smtp.user()
        )
    }

    pub(crate) fn subjects(smtp: &SmtpServer) -> Vec<String> {
        smtp.messages()
            .unwrap()
            .into_iter()
            .filter_map(|m| {
                m.data
                    .lines()
                    .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
            })
            .collect()
    }

    pub(crate) async fn wait_for_subject(
        smtp: &SmtpServer,
        monitor: &Monitor,
        prefix: &str,
        count: usize,
        timeout: Duration,
    ) -> Vec<String> {
        wait_until(
            &format!("{count} mail(s) starting {prefix:?}"),
            timeout,
            async || {
                let subjects = subjects(smtp);
                (subjects.iter().filter(|s| s.starts_with(prefix)).count() >= count)
                    .then_some(subjects)
            },
        )
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}\nmail: {:?}\nmonitor:\n{}",
                subjects(smtp),
                monitor.log()
            )
        })
    }

    /// A silence of rule `rule` for an hour made through `monitor`'s API by
    /// the operator: the answer.
    pub(crate) async fn silence(monitor: &Monitor, rule: &str, comment: &str) -> serde_json::Value {
        reqwest::Client::new()
            .post(format!("{}/api/v1/silences", monitor.url()))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&serde_json::json!({ "matchers": { "rule": rule }, "comment": comment, "duration": "1h" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits until the alert job has run `runs` more times: time measured in evaluations.
    pub(crate) async fn evaluations(monitor: &Monitor, runs: u64) {
        let now = || async {
            monitor
                .get("/api/v1/jobs")
                .await
                .and_then(|jobs| jobs["alerts"]["runs"].as_u64())
                .unwrap_or(0)
        };
        let start = now().await;
        wait_until("more evaluations", Duration::from_secs(60), async || {
            (now().await >= start + runs).then_some(())
        })
        .await
        .unwrap();
    }

    async fn history(monitor: &Monitor) -> Vec<serde_json::Value> {
        monitor
            .get("/api/v1/alerts/history?env=acme-prod")
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_host_mails_host_down_holds_back_its_other_alerts_and_resolves() {
        let smtp = SmtpServer::start("alerts@acme.example", "right")
            .await
            .unwrap();
        let rules = format!(
            "{ALWAYS}\n[[rule]]\nname = \"host-down\"\nkind = \"host_down\"\nseverity = \"critical\"\nwindow = \"4s\"\nsummary = \"{{{{host}}}} is silent\"\n"
        );
        let monitor = Monitor::start_configured(
            StoreKind::Embedded,
            |dir| alerting(dir, &smtp, "right", &rules, "2s"),
            Vec::new(),
        )
        .await;
        let logs = tempfile::tempdir().unwrap();
        let mut agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "1s");
        wait_for_subject(
            &smtp,
            &monitor,
            "[FIRING] cpu-seen",
            1,
            Duration::from_secs(30),
        )
        .await;

        agent.kill_hard();
        let before = subjects(&smtp)
            .iter()
            .filter(|s| s.starts_with("[FIRING] cpu-seen"))
            .count();
        wait_for_subject(
            &smtp,
            &monitor,
            "[FIRING] host-down on this-host",
            1,
            Duration::from_secs(30),
        )
        .await;
        let alerts = monitor.get("/api/v1/alerts?env=acme-prod").await.unwrap();
        let cpu = alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == "cpu-seen")
            .unwrap()
            .clone();
        assert_eq!(cpu["inhibited"], true, "{alerts}");
        evaluations(&monitor, 4).await; // two repeat intervals
        let during = subjects(&smtp)
            .iter()
            .filter(|s| s.starts_with("[FIRING] cpu-seen"))
            .count();
        assert!(
            during <= before + 1,
            "cpu-seen repeated while the host was down: {:?}",
            subjects(&smtp)
        );

        agent.restart();
        wait_for_subject(
            &smtp,
            &monitor,
            "[RESOLVED] host-down on this-host",
            1,
            Duration::from_secs(30),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_restart_while_firing_sends_no_second_firing_mail() {
        let smtp = SmtpServer::start("alerts@acme.example", "right")
            .await
            .unwrap();
        let mut monitor = Monitor::start_configured(
            StoreKind::Embedded,
            |dir| alerting(dir, &smtp, "right", ALWAYS, "4h"),
            Vec::new(),
        )
        .await;
        let logs = tempfile::tempdir().unwrap();
        let _agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "1s");
        wait_for_subject(
            &smtp,
            &monitor,
            "[FIRING] cpu-seen",
            1,
            Duration::from_secs(30),
        )
        .await;
        monitor.kill_hard();
        monitor.restart().await;
        evaluations(&monitor, 5).await;
        assert_eq!(subjects(&smtp).len(), 1, "{:?}", subjects(&smtp));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silence_holds_back_repeats_until_it_expires() {
        let smtp = SmtpServer::start("alerts@acme.example", "right")
            .await
            .unwrap();
        let monitor = Monitor::start_configured(
            StoreKind::Embedded,
            |dir| alerting(dir, &smtp, "right", ALWAYS, "2s"),
            Vec::new(),
        )
        .await;
        let logs = tempfile::tempdir().unwrap();
        let _agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "1s");
        wait_for_subject(
            &smtp,
            &monitor,
            "[FIRING] cpu-seen",
            1,
            Duration::from_secs(30),
        )
        .await;

        let created = silence(&monitor, "cpu-seen", "planned maintenance").await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["author"], "ops");
        evaluations(&monitor, 2).await;
        let silenced = subjects(&smtp).len();
        evaluations(&monitor, 5).await; // more than two repeat intervals
        assert_eq!(
            subjects(&smtp).len(),
            silenced,
            "repeats went out during the silence"
        );
        let alerts = monitor.get("/api/v1/alerts?env=acme-prod").await.unwrap();
        assert_eq!(alerts[0]["silenced_by"], id.as_str(), "{alerts}");

        let expired = reqwest::Client::new()
            .delete(format!("{}/api/v1/silences/{id}", monitor.url()))
            .bearer_auth(OPERATOR_TOKEN)
            .send()
            .await
            .unwrap();
        assert!(expired.status().is_success());
        wait_for_subject(
            &smtp,
            &monitor,
            "[FIRING] cpu-seen",
            silenced + 1,
            Duration::from_secs(20),
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_smtp_password_is_recorded_retried_and_delivered_once_fixed() {
        let smtp = SmtpServer::start("alerts@acme.example", "right")
            .await
            .unwrap();
        let mut monitor = Monitor::start_configured(
            StoreKind::Embedded,
            |dir| alerting(dir, &smtp, "wrong", ALWAYS, "4h"),
            Vec::new(),
        )
        .await;
        let logs = tempfile::tempdir().unwrap();
        let _agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "1s");
        let failure = wait_until(
            "a recorded send failure",
            Duration::from_secs(30),
            async || {
                history(&monitor)
                    .await
                    .into_iter()
                    .find(|e| e["event"] == "notify_failed")
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", monitor.log()));
        assert!(
            failure["message"].as_str().unwrap().contains("535"),
            "{failure}"
        );
        assert!(
            monitor.log().contains("alert mail not sent; will retry"),
            "{}",
            monitor.log()
        );
        assert!(subjects(&smtp).is_empty());

        let config = monitor.dir.path().join("monitor.toml");
        let fixed = std::fs::read_to_string(&config)
            .unwrap()
            .replace("password = \"wrong\"", "password = \"right\"");
        std::fs::write(&config, fixed).unwrap();
        monitor.kill_hard();
        monitor.restart().await;
        wait_for_subject(
            &smtp,
            &monitor,
            "[FIRING] cpu-seen",
            1,
            Duration::from_secs(60),
        )
        .await;
        evaluations(&monitor, 3).await;
        assert_eq!(
            subjects(&smtp).len(),
            1,
            "delivered once: {:?}",
            subjects(&smtp)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_rules_file_on_reload_keeps_the_old_rules_and_says_why() {
        let smtp = SmtpServer::start("alerts@acme.example", "right")
            .await
            .unwrap();
        let monitor = Monitor::start_configured(
            StoreKind::Embedded,
            |dir| alerting(dir, &smtp, "right", ALWAYS, "4h"),
            Vec::new(),
        )
        .await;
        let rules = monitor.dir.path().join("rules.toml");
        let reload = async || {
            let response = reqwest::Client::new()
                .post(format!("{}/api/v1/rules/reload", monitor.url()))
                .bearer_auth(OPERATOR_TOKEN)
                .send()
                .await
                .unwrap();
            (
                response.status().as_u16(),
                response.json::<serde_json::Value>().await.unwrap(),
            )
        };
        let rule_count = async || {
            evaluations(&monitor, 1).await;
            let jobs = monitor.get("/api/v1/jobs").await.unwrap();
            jobs["alerts"]["last_result"]
                .as_str()
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        };
        assert_eq!(rule_count().await, 1);

        std::fs::write(
            &rules,
            format!("{ALWAYS}\n[[rule]]\nname = \"broken\"\nkind = \"gauge\"\nsummary = \"s\"\n"),
        )
        .unwrap();
        let (status, answer) = reload().await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("rules.toml")
                && message.contains("\"broken\"")
                && message.contains("kind \"gauge\""),
            "{message}"
        );
        assert!(
            message.contains("the 1 current rules stay in force"),
            "{message}"
        );
        assert_eq!(rule_count().await, 1, "the old rules still run");
        assert!(
            monitor
                .log()
                .contains("rules not reloaded; keeping the current ones"),
            "{}",
            monitor.log()
        );

        std::fs::write(
            &rules,
            format!("{ALWAYS}\n{}", ALWAYS.replace("cpu-seen", "cpu-seen-too")),
        )
        .unwrap();
        let (status, answer) = reload().await;
        assert_eq!(
            (status, answer["rules"].as_u64()),
            (200, Some(2)),
            "{answer}"
        );
        assert_eq!(rule_count().await, 2);

        // SIGHUP does the same.
        std::fs::write(&rules, ALWAYS).unwrap();
        let pid = monitor.pid().unwrap();
        assert!(
            std::process::Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
        wait_until("the SIGHUP reload", Duration::from_secs(20), async || {
            (rule_count().await == 1).then_some(())
        })
        .await
        .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_channel_raises_its_own_alert_through_the_other_channel() {
        let smtp = SmtpServer::start("alerts@acme.example", "right")
            .await
            .unwrap();
        let moto = aerie_testkit::MotoServer::start().await.unwrap();
        let region = "eu-west-1";
        aws_sdk_ses::Client::new(&moto.sdk_config(region).await)
            .verify_domain_identity()
            .domain("ops.example")
            .send()
            .await
            .unwrap();
        let mut monitor = Monitor::start_configured(
            StoreKind::Embedded,
            |dir| {
                format!(
                    "{}[alerting.ses]\n",
                    alerting(dir, &smtp, "wrong", ALWAYS, "4h").replace(
                        "repeat_interval",
                        "channel = \"smtp\"\nchannel_failing_after = \"3s\"\nrepeat_interval"
                    )
                )
            },
            moto.env(region),
        )
        .await;
        monitor
            .ingest_metric("gw-1", "system.cpu.total.pct", 12.0)
            .await;
        let raised = wait_until(
            "the channel alert in SES",
            Duration::from_secs(40),
            async || {
                super::ses_mail(&moto)
                    .await
                    .into_iter()
                    .find(|(subject, _)| subject.starts_with("[FIRING]"))
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
        assert_eq!(
            raised.0,
            "[FIRING] notification-channel on aerie-monitor (acme-prod)"
        );
        assert!(
            raised.1.contains("Alert mail through smtp") && raised.1.contains("535"),
            "the mail names the channel and its error: {}",
            raised.1
        );
        assert!(subjects(&smtp).is_empty());
        let alerts = monitor.get("/api/v1/alerts?env=acme-prod").await.unwrap();
        assert!(
            alerts
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["rule"] == "notification-channel" && a["state"] == "firing"),
            "{alerts}"
        );

        // The password is fixed: the waiting mail goes out through SMTP and
        // the channel alert resolves through SES.
        let config = monitor.dir.path().join("monitor.toml");
        let fixed = std::fs::read_to_string(&config)
            .unwrap()
            .replace("password = \"wrong\"", "password = \"right\"");
        std::fs::write(&config, fixed).unwrap();
        monitor.kill_hard();
        monitor.restart().await;
        wait_for_subject(
            &smtp,
            &monitor,
            "[FIRING] cpu-seen on gw-1",
            1,
            Duration::from_secs(60),
        )
        .await;
        let mail = wait_until(
            "the channel's resolved mail",
            Duration::from_secs(30),
            async || {
                let mail = super::ses_mail(&moto).await;
                mail.iter()
                    .any(|(subject, _)| subject.starts_with("[RESOLVED]"))
                    .then_some(mail)
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nmonitor:\n{}", monitor.log()));
        let subjects: Vec<&str> = mail.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            subjects,
            [
                "[FIRING] notification-channel on aerie-monitor (acme-prod)",
                "[RESOLVED] notification-channel on aerie-monitor (acme-prod)"
            ]
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_backup_fires_and_a_fresh_one_does_not() {
        let smtp = SmtpServer::start("alerts@acme.example", "right")
            .await
            .unwrap();
        let rules = "[[rule]]\nname = \"backup-stale\"\nkind = \"backup_age\"\nseverity = \"critical\"\nmax_age = \"26h\"\nsummary = \"backup of {{host}} is {{value}} s old\"\n";
        let monitor = Monitor::start_configured(
            StoreKind::Embedded,
            |dir| alerting(dir, &smtp, "right", rules, "4h"),
            Vec::new(),
        )
        .await;
        // Nothing reported yet: the environment has no backup at all.
        let none = wait_for_subject(&smtp, &monitor, "[FIRING]", 1, Duration::from_secs(30)).await;
        assert_eq!(none, ["[FIRING] backup-stale on (no backups) (acme-prod)"]);

        let now = chrono::Utc::now().timestamp() as f64;
        for (host, age_hours) in [("db-stale", 30.0), ("db-fresh", 1.0)] {
            monitor
                .ingest_metric(
                    host,
                    "aerie.backup.last_success.timestamp",
                    now - age_hours * 3600.0,
                )
                .await;
        }
        // One mail: db-stale fires, and the environment-wide alert resolves.
        let mail = wait_for_subject(
            &smtp,
            &monitor,
            "[FIRING:1] backup-stale on db-stale",
            1,
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(mail.len(), 2, "{mail:?}");
        let body = smtp.messages().unwrap().pop().unwrap().data;
        assert!(
            body.contains("[RESOLVED] (no backups): backup of (no backups)"),
            "{body}"
        );
        evaluations(&monitor, 2).await;
        let alerts = monitor.get("/api/v1/alerts?env=acme-prod").await.unwrap();
        let firing: Vec<&str> = alerts
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["state"] == "firing")
            .map(|a| a["host"].as_str().unwrap())
            .collect();
        assert_eq!(firing, ["db-stale"], "{alerts}");
        let stale = alerts
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["host"] == "db-stale")
            .unwrap();
        let age = stale["value"].as_f64().unwrap();
        assert!((30.0 * 3600.0..31.0 * 3600.0).contains(&age), "{stale}");
        assert!(
            stale["detail"]
                .as_str()
                .unwrap()
                .starts_with("newest good backup: "),
            "{stale}"
        );
    }
}
