//! `aerie env handover` for the example environment against moto: every
//! fact checked against the AWS APIs, the HTML opened in a real headless
//! Chromium (a screenshot kept), and no secret value anywhere in it.

use aerie_testkit::Chromium;

use crate::provisioner::{Account, REGION, env_filter, example, text};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handover_names_every_fact_as_aws_has_it_and_no_secret() {
    let account = Account::start().await;
    let spec = example();
    let apply = account.aerie(&["env", "apply", "--yes"], &spec);
    assert!(apply.status.success(), "{}", text(&apply));
    let out = tempfile::tempdir().unwrap();
    let run = account.aerie(
        &["env", "handover", "--out", out.path().to_str().unwrap()],
        &spec,
    );
    assert!(run.status.success(), "{}", text(&run));
    let markdown = std::fs::read_to_string(out.path().join("handover.md")).unwrap();
    let html = std::fs::read_to_string(out.path().join("handover.html")).unwrap();
    let config = account.moto.sdk_config(REGION).await;

    // Each node and the bastion by the addresses EC2 gives them.
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let instances = ec2
        .describe_instances()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    for instance in instances.reservations().iter().flat_map(|r| r.instances()) {
        let role = instance
            .tags()
            .iter()
            .find(|t| t.key() == Some("aerie:role"))
            .and_then(|t| t.value())
            .unwrap();
        if role == "bastion" {
            let ip = instance.public_ip_address().unwrap();
            assert!(markdown.contains(ip), "the bastion's {ip}:\n{markdown}");
        } else {
            let row = format!(
                "| {role} | {role}.acme.internal | {} |",
                instance.private_ip_address().unwrap()
            );
            assert!(markdown.contains(&row), "{row}:\n{markdown}");
        }
    }
    // Each credential by its name and ARN, as Secrets Manager has them,
    // and never its value.
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let listed = secrets.list_secrets().send().await.unwrap();
    let mut named = 0;
    for secret in listed.secret_list() {
        let (name, arn) = (secret.name().unwrap(), secret.arn().unwrap());
        assert!(
            markdown.contains(&format!("| `{name}` | `{arn}` |")),
            "{name}:\n{markdown}"
        );
        let value = secrets
            .get_secret_value()
            .secret_id(name)
            .send()
            .await
            .unwrap();
        let value = value.secret_string().unwrap();
        for (form, text) in [("markdown", &markdown), ("HTML", &html)] {
            assert!(
                !text.contains(value),
                "secret {name}'s value is in the {form}"
            );
        }
        named += 1;
    }
    assert_eq!(named, 5, "the five secrets of the environment");
    // The VPN's tunnels and the customer gateway, as EC2 has them.
    let vpns = ec2
        .describe_vpn_connections()
        .filters(env_filter("acme-prod"))
        .send()
        .await
        .unwrap();
    let vpn = &vpns.vpn_connections()[0];
    assert!(
        markdown.contains(vpn.vpn_connection_id().unwrap()),
        "{markdown}"
    );
    for tunnel in vpn.vgw_telemetry() {
        if let Some(ip) = tunnel.outside_ip_address() {
            assert!(markdown.contains(ip), "tunnel {ip}:\n{markdown}");
        }
    }
    // The SES records the customer adds, as SES has them.
    let ses = aws_sdk_ses::Client::new(&config);
    let dkim = ses
        .get_identity_dkim_attributes()
        .identities("mail.acme.example")
        .send()
        .await
        .unwrap();
    for token in dkim.dkim_attributes()["mail.acme.example"].dkim_tokens() {
        assert!(markdown.contains(token), "DKIM {token}:\n{markdown}");
    }
    // The database's backups as RDS has them.
    let rds = aws_sdk_rds::Client::new(&config);
    let db = rds
        .describe_db_instances()
        .db_instance_identifier("acme-prod-db")
        .send()
        .await
        .unwrap();
    let days = db.db_instances()[0].backup_retention_period().unwrap();
    assert!(
        markdown.contains(&format!("automated backups kept {days} days")),
        "{markdown}"
    );
    assert!(
        markdown.contains("Disaster-recovery region: eu-central-1"),
        "{markdown}"
    );

    // Self-contained: nothing fetched from elsewhere.
    for outside in ["src=", "href=\"http", "@import", "url("] {
        assert!(!html.contains(outside), "the page loads {outside}");
    }
    // As the customer's browser shows it.
    let chromium = Chromium::start().await.unwrap();
    let browser = chromium.session().await.unwrap();
    let url = format!("file://{}", out.path().join("handover.html").display());
    browser.goto(&url).await.unwrap();
    let title = browser.find(fantoccini::Locator::Css("h1")).await.unwrap();
    assert_eq!(
        title.text().await.unwrap(),
        "Handover: acme-prod for Acme Corporation"
    );
    let rows = browser
        .find_all(fantoccini::Locator::Css("table tr"))
        .await
        .unwrap();
    // Two header rows, four nodes, five credentials.
    assert_eq!(rows.len(), 2 + 4 + 5, "table rows");
    aerie_testkit::screenshot(&browser, "handover")
        .await
        .unwrap();
    browser.close().await.unwrap();
}
