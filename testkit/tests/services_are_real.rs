//! Proof that each service the harness starts is the real thing, spoken to with
//! the client library Aerie itself uses for it.

use std::time::Duration;

use aerie_testkit::{
    Chromium, MotoServer, OpenSearch, OpenSearchCluster, SmtpServer, screenshot, wait_until,
};
use anyhow::{Context, ensure};
use serde_json::json;

#[tokio::test]
async fn moto_keeps_each_regions_vpcs_apart() -> anyhow::Result<()> {
    let moto = MotoServer::start().await?;
    let us = aws_sdk_ec2::Client::new(&moto.sdk_config("us-east-1").await);
    let eu = aws_sdk_ec2::Client::new(&moto.sdk_config("eu-west-1").await);

    let create = async |client: &aws_sdk_ec2::Client, cidr: &str| -> anyhow::Result<String> {
        let vpc = client
            .create_vpc()
            .cidr_block(cidr)
            .send()
            .await?
            .vpc
            .context("no vpc in answer")?;
        vpc.vpc_id.context("vpc without id")
    };
    let list = async |client: &aws_sdk_ec2::Client| -> anyhow::Result<Vec<(String, String)>> {
        let vpcs = client
            .describe_vpcs()
            .send()
            .await?
            .vpcs
            .unwrap_or_default();
        Ok(vpcs
            .into_iter()
            .map(|vpc| {
                (
                    vpc.vpc_id.unwrap_or_default(),
                    vpc.cidr_block.unwrap_or_default(),
                )
            })
            .collect())
    };

    let us_vpc = create(&us, "10.10.0.0/16").await?;
    let eu_vpc = create(&eu, "10.20.0.0/16").await?;
    let in_us = list(&us).await?;
    let in_eu = list(&eu).await?;

    assert!(
        in_us.contains(&(us_vpc.clone(), "10.10.0.0/16".into())),
        "us-east-1 lists {in_us:?}"
    );
    assert!(
        in_eu.contains(&(eu_vpc.clone(), "10.20.0.0/16".into())),
        "eu-west-1 lists {in_eu:?}"
    );
    assert!(
        !in_us.iter().any(|(id, _)| *id == eu_vpc),
        "eu-west-1's VPC leaked into us-east-1: {in_us:?}"
    );
    assert!(
        !in_eu.iter().any(|(id, _)| *id == us_vpc),
        "us-east-1's VPC leaked into eu-west-1: {in_eu:?}"
    );

    moto.reset().await?;
    let after_reset = list(&us).await?;
    assert!(
        !after_reset.iter().any(|(id, _)| *id == us_vpc),
        "reset kept {us_vpc}"
    );
    Ok(())
}

#[tokio::test]
async fn an_opensearch_node_bulk_indexes_aggregates_by_date_and_deletes_by_query()
-> anyhow::Result<()> {
    use elasticsearch::{DeleteByQueryParts, Elasticsearch, http::transport::Transport};

    let node = OpenSearch::start().await?;
    bulk_indexes_and_aggregates_by_date(node.url()).await?;
    let root: serde_json::Value = reqwest::get(node.url()).await?.json().await?;
    assert_eq!(
        root["version"]["distribution"], "opensearch",
        "GET / answered {root}"
    );

    // delete-by-query comes from the reindex module: the launcher loads it.
    let client = Elasticsearch::new(Transport::single_node(node.url())?);
    let deleted: serde_json::Value = client
        .delete_by_query(DeleteByQueryParts::Index(&["aerie-logs-test"]))
        .refresh(true)
        .body(json!({ "query": { "term": { "host.name": "gw-1" } } }))
        .send()
        .await?
        .error_for_status_code()?
        .json()
        .await?;
    assert_eq!(deleted["deleted"], 2, "delete_by_query answered {deleted}");
    Ok(())
}

#[tokio::test]
async fn an_opensearch_cluster_of_two_keeps_a_replicated_document_when_one_node_is_killed()
-> anyhow::Result<()> {
    let mut cluster = OpenSearchCluster::start(2).await?;
    let urls = cluster.urls();
    let http = reqwest::Client::new();
    let health: serde_json::Value = http
        .get(format!("{}/_cluster/health", urls[1]))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(health["number_of_nodes"], 2, "health: {health}");

    http.put(format!("{}/shared", urls[0]))
        .json(&json!({ "settings": { "number_of_shards": 1, "number_of_replicas": 1 } }))
        .send()
        .await?
        .error_for_status()?;
    http.put(format!("{}/shared/_doc/1?refresh=true", urls[0]))
        .json(&json!({ "message": "kept on both nodes" }))
        .send()
        .await?
        .error_for_status()?;
    let green = format!(
        "{}/_cluster/health/shared?wait_for_status=green&timeout=60s",
        urls[0]
    );
    let health: serde_json::Value = http.get(green).send().await?.json().await?;
    assert_eq!(
        health["status"], "green",
        "the replica was never assigned: {health}"
    );

    cluster.node(0).kill_hard();
    let read = async || {
        let response = http
            .get(format!("{}/shared/_doc/1", urls[1]))
            .send()
            .await
            .ok()?;
        let document: serde_json::Value = response.json().await.ok()?;
        document["found"].as_bool()?.then_some(document)
    };
    let document = wait_until(
        "the document from the surviving node",
        Duration::from_secs(60),
        read,
    )
    .await?;
    assert_eq!(document["_source"]["message"], "kept on both nodes");
    Ok(())
}

/// Creates an index on the search engine at `url`, bulk loads three lines,
/// and reads them back sorted and bucketed by the hour.
async fn bulk_indexes_and_aggregates_by_date(url: &str) -> anyhow::Result<()> {
    use elasticsearch::http::request::JsonBody;
    use elasticsearch::http::transport::Transport;
    use elasticsearch::indices::IndicesCreateParts;
    use elasticsearch::params::Refresh;
    use elasticsearch::{BulkParts, Elasticsearch, SearchParts};

    let client = Elasticsearch::new(Transport::single_node(url)?);

    client
        .indices()
        .create(IndicesCreateParts::Index("aerie-logs-test"))
        .body(json!({
            "mappings": { "properties": {
                "@timestamp": { "type": "date" },
                "host.name": { "type": "keyword" },
                "message": { "type": "text" }
            }}
        }))
        .send()
        .await?
        .error_for_status_code()?;

    let documents = [
        ("2026-11-21T10:05:00Z", "gw-1", "gateway started"),
        ("2026-11-21T10:40:00Z", "gw-1", "throttle decision received"),
        (
            "2026-11-21T11:15:00Z",
            "tm-1",
            "traffic manager joined cluster",
        ),
    ];
    let mut body: Vec<JsonBody<serde_json::Value>> = Vec::new();
    for (number, (timestamp, host, message)) in documents.iter().enumerate() {
        body.push(json!({ "index": { "_id": format!("doc-{number}") } }).into());
        body.push(json!({ "@timestamp": timestamp, "host.name": host, "message": message }).into());
    }
    let bulk: serde_json::Value = client
        .bulk(BulkParts::Index("aerie-logs-test"))
        .body(body)
        .refresh(Refresh::True)
        .send()
        .await?
        .error_for_status_code()?
        .json()
        .await?;
    ensure!(bulk["errors"] == false, "bulk reported errors: {bulk}");

    let found: serde_json::Value = client
        .search(SearchParts::Index(&["aerie-logs-test"]))
        .body(json!({
            "size": 10,
            "sort": [{ "@timestamp": "asc" }],
            "aggs": { "per_hour": { "date_histogram": { "field": "@timestamp", "fixed_interval": "1h" } } }
        }))
        .send()
        .await?
        .error_for_status_code()?
        .json()
        .await?;

    let messages: Vec<&str> = found["hits"]["hits"]
        .as_array()
        .context("no hits array")?
        .iter()
        .filter_map(|hit| hit["_source"]["message"].as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "gateway started",
            "throttle decision received",
            "traffic manager joined cluster"
        ],
        "search answered {found}"
    );
    let buckets: Vec<(String, u64)> = found["aggregations"]["per_hour"]["buckets"]
        .as_array()
        .context("no date_histogram buckets")?
        .iter()
        .map(|bucket| {
            (
                bucket["key_as_string"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                bucket["doc_count"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        buckets.iter().map(|(_, count)| *count).collect::<Vec<_>>(),
        [2, 1],
        "buckets: {buckets:?}"
    );
    assert!(
        buckets[0].0.starts_with("2026-11-21T10:00:00"),
        "first bucket {buckets:?}"
    );
    Ok(())
}

#[tokio::test]
async fn smtp_delivers_authenticated_mail_and_refuses_a_wrong_password() -> anyhow::Result<()> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let smtp = SmtpServer::start("alerts@acme.example", "correct horse battery").await?;
    let tls = TlsParameters::builder("localhost".to_owned())
        .add_root_certificate(Certificate::from_pem(smtp.certificate_pem().as_bytes())?)
        .build_rustls()?;
    let transport = |password: &str| {
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.host())
            .port(smtp.port())
            .tls(Tls::Required(tls.clone()))
            .credentials(Credentials::new(
                smtp.user().to_owned(),
                password.to_owned(),
            ))
            .timeout(Some(Duration::from_secs(10)))
            .build()
    };
    let mail = |subject: &str| {
        Message::builder()
            .from("Aerie <aerie@ops.example>".parse().expect("valid from"))
            .to("On call <oncall@acme.example>".parse().expect("valid to"))
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body("gw-1: heap above 90% for 5m".to_owned())
    };

    transport(smtp.password())
        .send(mail("[FIRING] heap high on gw-1")?)
        .await?;
    let received = smtp.messages()?;
    assert_eq!(received.len(), 1, "received: {received:?}");
    assert_eq!(received[0].mail_from, "aerie@ops.example");
    assert_eq!(received[0].rcpt_tos, ["oncall@acme.example"]);
    assert!(
        received[0].authenticated && received[0].tls,
        "{:?}",
        received[0]
    );
    assert!(
        received[0]
            .data
            .contains("Subject: [FIRING] heap high on gw-1"),
        "{}",
        received[0].data
    );

    let refused = transport("wrong password")
        .send(mail("must not arrive")?)
        .await;
    let error = refused.expect_err("a wrong password must be refused");
    assert!(
        error.is_permanent(),
        "expected a permanent 5xx refusal, got {error}"
    );
    assert!(
        error.to_string().contains("535"),
        "expected 535, got {error}"
    );
    assert_eq!(
        smtp.messages()?.len(),
        1,
        "the refused mail must not be stored"
    );
    assert_eq!(smtp.auth_failures().len(), 1, "{:?}", smtp.auth_failures());
    Ok(())
}

#[tokio::test]
async fn browser_reads_a_local_pages_title() -> anyhow::Result<()> {
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async {
            axum::response::Html(
                "<!doctype html><html><head><title>Aerie harness check</title></head>\
                 <body><h1 id=\"greeting\">Hello from axum</h1></body></html>",
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let chromium = Chromium::start().await?;
    let browser = chromium.session().await?;
    browser.goto(&format!("http://{address}/")).await?;
    let title = browser.title().await?;
    let heading = browser
        .find(fantoccini::Locator::Css("#greeting"))
        .await?
        .text()
        .await?;
    screenshot(&browser, "browser_reads_a_local_pages_title").await?;
    browser.close().await?;
    server.abort();

    assert_eq!(title, "Aerie harness check");
    assert_eq!(heading, "Hello from axum");
    Ok(())
}
