//! Two monitor replicas on one real OpenSearch node, as behind a load
//! balancer: a dashboard session made by logging in through one is valid
//! on the other, a logout through either ends it on both, and failed
//! logins through one count on the other.

use aerie_system_tests::{Monitor, StoreKind, password_hash};
use aerie_testkit::OpenSearch;
use reqwest::StatusCode;

const PASSPHRASE: &str = "the replicas' reviewer passphrase";

/// A client that keeps no cookies and follows no redirects: the test
/// carries the session cookie from one replica to the other by hand.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn replica(node: &OpenSearch, hash: &str) -> Monitor {
    let user = format!(
        "[[user]]\nname = \"reviewer\"\nrole = \"operator\"\npassword_hash = \"{hash}\"\n\n[dashboard]\nmax_login_failures = 3\n"
    );
    Monitor::start_full(
        StoreKind::Elasticsearch(node.url().to_owned()),
        "",
        "",
        |_| user,
        Vec::new(),
    )
    .await
}

/// Logs in through `monitor`: the status and the session cookie it set.
async fn log_in(monitor: &Monitor, password: &str) -> (StatusCode, Option<String>) {
    let answer = client()
        .post(format!("{}/login", monitor.url()))
        .form(&[("user", "reviewer"), ("password", password), ("next", "/")])
        .send()
        .await
        .unwrap();
    let cookie = answer
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::to_owned);
    (answer.status(), cookie)
}

/// The overview page through `monitor` with `cookie`: 200 when signed in,
/// a redirect to the login page when not.
async fn overview(monitor: &Monitor, cookie: &str) -> reqwest::Response {
    client()
        .get(format!("{}/", monitor.url()))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

/// The CSRF token of the signed-in page.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
    page[at..].split('"').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_through_one_replica_is_valid_on_the_other_until_a_logout_through_either() {
    let node = OpenSearch::start().await.unwrap();
    let hash = password_hash(PASSPHRASE);
    let (one, two) = (replica(&node, &hash).await, replica(&node, &hash).await);

    let (status, cookie) = log_in(&one, PASSPHRASE).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{}", one.log());
    let cookie = cookie.expect("a session cookie");
    let page = overview(&two, &cookie).await;
    assert_eq!(page.status(), StatusCode::OK, "{}", two.log());
    let page = page.text().await.unwrap();
    assert!(page.contains("reviewer"), "{page}");

    // Logging out through the second ends the session on the first too.
    let logout = client()
        .post(format!("{}/logout", two.url()))
        .header(reqwest::header::COOKIE, &cookie)
        .form(&[("csrf", csrf_of(&page))])
        .send()
        .await
        .unwrap();
    assert!(logout.status().is_redirection(), "{}", logout.status());
    let after = overview(&one, &cookie).await;
    assert!(after.status().is_redirection(), "{}", after.status());
    let to = after.headers()[reqwest::header::LOCATION].to_str().unwrap();
    assert!(to.starts_with("/login"), "{to}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_logins_through_one_replica_count_on_the_other() {
    let node = OpenSearch::start().await.unwrap();
    let hash = password_hash(PASSPHRASE);
    let (one, two) = (replica(&node, &hash).await, replica(&node, &hash).await);
    for (monitor, attempt) in [(&one, 1), (&two, 2), (&one, 3)] {
        let (status, _) = log_in(monitor, "a wrong passphrase").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    // The limit (3) is reached across both: even the right passphrase
    // waits, through either replica.
    for monitor in [&two, &one] {
        let (status, cookie) = log_in(monitor, PASSPHRASE).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(cookie, None);
    }
}

/// `cpu-seen` held pending for 20 s before it fires: time for the leader
/// to be killed while it is pending.
const PENDING_CPU: &str = "[[rule]]\nname = \"cpu-seen\"\nkind = \"metric\"\nmetric = \"system.cpu.total.pct\"\nop = \">=\"\nthreshold = 0.0\nwindow = \"5m\"\nfor = \"20s\"\nsummary = \"{{host}} reports CPU\"\n";

/// Whether `monitor` runs the jobs (it leads) now.
async fn leads(monitor: &Monitor) -> bool {
    let jobs = monitor.get("/api/v1/jobs").await;
    jobs.is_some_and(|j| j["alerts"]["standing_by"] == false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_killed_while_an_alert_is_pending_the_other_replica_mails_it_once_and_silences_hold_on_both()
 {
    use crate::alerting::smtp::{alerting, evaluations, silence, subjects, wait_for_subject};
    use aerie_system_tests::Agent;
    use aerie_testkit::{OpenSearchCluster, SmtpServer, wait_until};
    use std::time::Duration;

    let cluster = OpenSearchCluster::start(2).await.unwrap();
    let smtp = SmtpServer::start("alerts@acme.example", "right")
        .await
        .unwrap();
    // Each replica talks to its own node of the cluster.
    let mut replicas = Vec::new();
    for url in cluster.urls() {
        let replica = Monitor::start_configured(
            StoreKind::Elasticsearch(url),
            |dir| alerting(dir, &smtp, "right", PENDING_CPU, "4h"),
            Vec::new(),
        )
        .await;
        replicas.push(replica);
    }
    // The real agent ships through either replica.
    let logs = tempfile::tempdir().unwrap();
    let _agents: Vec<Agent> = replicas
        .iter()
        .map(|r| Agent::start(&r.url(), &logs.path().join("*.log"), "1s"))
        .collect();
    let leader = wait_until("a leader", std::time::Duration::from_secs(30), async || {
        for (index, replica) in replicas.iter().enumerate() {
            if leads(replica).await {
                return Some(index);
            }
        }
        None
    })
    .await
    .unwrap();
    let other = 1 - leader;

    // A silence made through the replica that stands by holds on the leader.
    let created = silence(&replicas[other], "backup-stale", "no backups in this test").await;
    let id = created["id"].as_str().expect("a silence").to_owned();
    let listed = replicas[leader].get("/api/v1/silences").await.unwrap();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");

    // The alert pending on the leader, which is then killed.
    let pending = wait_until("the alert pending", Duration::from_secs(30), async || {
        let alerts = replicas[leader].get("/api/v1/alerts?env=acme-prod").await?;
        (alerts[0]["state"] == "pending").then(|| alerts[0].clone())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", replicas[leader].log()));
    assert!(subjects(&smtp).is_empty(), "{:?}", subjects(&smtp));
    // Prometheus scraping the replica that stands by sees it pending too.
    let gauge = alert_gauge(&replicas[other]).await;
    assert!(gauge.contains("{state=\"pending\"} 1"), "{gauge}");
    replicas[leader].kill_hard();

    // The other takes over within the lease and mails it, once.
    wait_for_subject(
        &smtp,
        &replicas[other],
        "[FIRING] cpu-seen",
        1,
        Duration::from_secs(60),
    )
    .await;
    let alerts = replicas[other]
        .get("/api/v1/alerts?env=acme-prod")
        .await
        .unwrap();
    assert_eq!(alerts[0]["state"], "firing", "{alerts}");
    assert_eq!(
        alerts[0]["since"],
        pending["since"],
        "carried on, not begun afresh\n{}\n{}",
        replicas[other].log(),
        replicas[leader].log()
    );
    evaluations(&replicas[other], 5).await;
    assert_eq!(subjects(&smtp).len(), 1, "{:?}", subjects(&smtp));
    // Its de-duplication key, the same from any replica, as its Message-ID.
    let raw = smtp.messages().unwrap().remove(0).data;
    assert!(raw.contains("Message-ID: <aerie.acme-prod."), "{raw}");
    let listed = replicas[other].get("/api/v1/silences").await.unwrap();
    assert_eq!(listed[0]["id"], id.as_str(), "{listed}");
    // The history holds what the killed leader recorded, then the rest.
    let history = replicas[other]
        .get("/api/v1/alerts/history?env=acme-prod")
        .await
        .unwrap();
    let events: Vec<&str> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["rule"] == "cpu-seen")
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["pending", "firing", "notified"], "{history}");
}

/// The index in `urls` of the node that is not the cluster's elected
/// manager (with two nodes, only that one can go without the cluster
/// losing its manager).
async fn not_the_manager(urls: &[String]) -> usize {
    let http = client();
    let get = async |url: String| -> serde_json::Value {
        http.get(url).send().await.unwrap().json().await.unwrap()
    };
    let state = get(format!("{}/_cluster/state/cluster_manager_node", urls[0])).await;
    let manager = state["cluster_manager_node"].as_str().unwrap().to_owned();
    for (index, url) in urls.iter().enumerate() {
        let local = get(format!("{url}/_nodes/_local")).await;
        let id = local["nodes"]
            .as_object()
            .unwrap()
            .keys()
            .next()
            .unwrap()
            .clone();
        if id != manager {
            return index;
        }
    }
    panic!("every node is the manager: {state}");
}

/// How many lines of the test's log file the monitor holds.
async fn lines(monitor: &Monitor) -> Option<u64> {
    let counted = monitor
        .get("/api/v1/logs/count?env=acme-prod&q=ReplicaCheck&from=now-1h")
        .await?;
    counted["total"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_one_opensearch_node_killed_ingest_and_queries_go_on_and_every_acknowledged_line_is_kept()
 {
    use aerie_system_tests::Agent;
    use aerie_testkit::{OpenSearchCluster, wait_until};
    use std::io::Write as _;
    use std::time::Duration;

    let mut cluster = OpenSearchCluster::start(2).await.unwrap();
    let urls = cluster.urls();
    let victim = not_the_manager(&urls).await;
    // The monitor prefers the node that will be killed.
    let nodes = vec![urls[victim].clone(), urls[1 - victim].clone()];
    let monitor = Monitor::start_with(StoreKind::ElasticsearchNodes(nodes)).await;
    let logs = tempfile::tempdir().unwrap();
    let path = logs.path().join("app.log");
    let _agent = Agent::start(&monitor.url(), &logs.path().join("*.log"), "1s");
    let write = |from: usize, to: usize| {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap();
        for n in from..to {
            // The product's own line format, so each line is one event.
            let now = chrono::Local::now().format("%Y-%m-%d %H:%M:%S,%3f");
            writeln!(file, "[{now}]  INFO - ReplicaCheck line {n}").unwrap();
        }
    };
    let held = async |count: u64, what: &str| {
        wait_until(what, Duration::from_secs(90), async || {
            lines(&monitor).await.filter(|n| *n >= count)
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", monitor.log()))
    };
    write(0, 200);
    assert_eq!(held(200, "the first 200 lines").await, 200);

    // Every shard has its copy on the other node before one goes.
    let health: serde_json::Value = client()
        .get(format!(
            "{}/_cluster/health?wait_for_status=green&timeout=60s",
            urls[1 - victim]
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "green", "{health}");
    cluster.node(victim).kill_hard();
    write(200, 400);
    // Every line the agent sent was acknowledged once and is there, once.
    assert_eq!(held(400, "all 400 lines after the kill").await, 400);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(lines(&monitor).await, Some(400), "no line twice");
    assert!(
        monitor.log().contains("does not answer; using another"),
        "{}",
        monitor.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_answers_the_leaders_jobs_usage_and_throttle_and_a_new_leader_mails_no_block_twice()
 {
    use crate::throttle::{calls, decided, gateway_agent, mails, poll, throttling_monitor};
    use aerie_system_tests::ENVIRONMENT;
    use aerie_testkit::{SmtpServer, wait_until};
    use std::time::Duration;

    let node = OpenSearch::start().await.unwrap();
    let smtp = SmtpServer::start("alerts@acme.example", "right")
        .await
        .unwrap();
    let store = || StoreKind::Elasticsearch(node.url().to_owned());
    let mut leader = throttling_monitor(store(), &smtp).await;
    let standby = throttling_monitor(store(), &smtp).await;
    let logs = tempfile::tempdir().unwrap();
    let access = logs.path().join("http_access_2026.log");
    let agent = gateway_agent(&leader, &access);
    calls(&access, 10);
    let (blocked, _) = decided(&leader, &agent, "blocked").await;
    wait_until("the block mail", Duration::from_secs(30), async || {
        mails(&smtp, "[FIRING] quota-blocked on acme.com").pop()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", leader.log()));

    // The standby, which ran none of the jobs, answers what the leader did.
    let (status, tag, body) = poll(&standby, None).await;
    assert_eq!((status, tag.as_str()), (200, blocked.as_str()), "{body}");
    let usage = standby
        .get(&format!("/api/v1/usage?env={ENVIRONMENT}&period=month"))
        .await
        .unwrap();
    assert_eq!(usage[0]["tenant"], "acme.com", "{usage}");
    assert_eq!(usage[0]["requests"], 10, "{usage}");
    let jobs = standby.get("/api/v1/jobs").await.unwrap();
    let throttle = &jobs["throttle"];
    assert_eq!(throttle["standing_by"], true, "{jobs}");
    assert!(
        throttle["last_result"]
            .as_str()
            .is_some_and(|r| r.contains("1 blocked")),
        "{jobs}"
    );
    let led = leader.get("/api/v1/jobs").await.unwrap();
    assert_eq!(led["throttle"]["standing_by"], false, "{led}");
    assert_eq!(
        throttle["ran_by"], led["throttle"]["ran_by"],
        "{jobs}\n{led}"
    );

    // Killed, the leader hands over: the new one decides the same from the
    // cluster's record and does not announce the block again.
    leader.kill_hard();
    let runs_as_leader = async || {
        let jobs = standby.get("/api/v1/jobs").await?;
        let throttle = &jobs["throttle"];
        (throttle["standing_by"] == false).then(|| throttle["runs"].as_u64().unwrap_or(0))
    };
    let first = wait_until(
        "the standby to lead",
        Duration::from_secs(40),
        runs_as_leader,
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", standby.log()));
    wait_until(
        "three throttle runs by the new leader",
        Duration::from_secs(30),
        async || runs_as_leader().await.filter(|runs| *runs >= first + 3),
    )
    .await
    .unwrap();
    let (status, tag, _) = poll(&standby, None).await;
    assert_eq!((status, tag.as_str()), (200, blocked.as_str()));
    assert_eq!(
        mails(&smtp, "[FIRING] quota-").len(),
        1,
        "{:?}\n{}",
        mails(&smtp, ""),
        standby.log()
    );
}

/// The `aerie_monitor_alerts` lines of `monitor`'s `/metrics`.
async fn alert_gauge(monitor: &Monitor) -> String {
    let text = client()
        .get(format!("{}/metrics", monitor.url()))
        .bearer_auth(aerie_system_tests::OPERATOR_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|line| line.starts_with("aerie_monitor_alerts{"))
        .collect::<Vec<_>>()
        .join("\n")
}
