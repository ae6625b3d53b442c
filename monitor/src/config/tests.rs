use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/aerie/monitor.toml"), text)
}

const GOOD: &str = r#"
data_dir = "/var/lib/aerie-monitor"
[[environment]]
name = "acme-prod"
ingest_token = "acme-ingest"
[[environment]]
name = "globex-prod"
ingest_token = "globex-ingest"
[[user]]
name = "ops"
role = "operator"
token = "ops-token"
[[user]]
name = "acme-viewer"
role = "viewer"
token = "acme-view-token"
environments = ["acme-prod"]
"#;

#[test]
fn a_good_config_gets_defaults_and_masks_tokens() {
    let config = parse(GOOD).unwrap();
    assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.retention.logs, Duration::from_secs(14 * 86400));
    assert_eq!(
        config.store.log_memory(),
        aerie_store::embedded::LogMemory::default()
    );
    assert!(config.users[1].can_read("acme-prod") && !config.users[1].can_read("globex-prod"));
    assert!(config.users[0].can_read("globex-prod"));
    let printed = config.to_masked_toml();
    for token in [
        "acme-ingest",
        "globex-ingest",
        "ops-token",
        "acme-view-token",
    ] {
        assert!(!printed.contains(token), "{printed}");
    }
}

#[test]
fn the_logs_memory_is_what_the_store_section_says() {
    let config = parse(&format!(
        "{GOOD}\n[store]\nkind = \"embedded\"\nlog_head_lines = 65536\nlog_id_lists = 2\n\
         log_index_cache = \"8 MiB\"\nlog_merge_segments = 0\n"
    ))
    .unwrap();
    let memory = config.store.log_memory();
    assert_eq!(
        (
            memory.head_lines,
            memory.id_lists,
            memory.index_cache,
            memory.merge_segments
        ),
        (65536, 2, 8 << 20, 0)
    );
    let printed = config.to_masked_toml();
    assert!(
        printed.contains("log_head_lines = 65536") && printed.contains("log_id_lists = 2"),
        "{printed}"
    );
}

#[test]
fn bad_configs_name_the_field() {
    let cases = [
        (
            GOOD.replace("globex-ingest", "acme-ingest"),
            "environment[1].ingest_token",
            "unique",
        ),
        (
            GOOD.replace(
                "environments = [\"acme-prod\"]",
                "environments = [\"initech\"]",
            ),
            "user[1].environments",
            "not a configured environment",
        ),
        (
            GOOD.replace("environments = [\"acme-prod\"]", ""),
            "user[1].environments",
            "must list",
        ),
        (
            GOOD.replace("name = \"globex-prod\"", "name = \"Globex Prod\""),
            "environment[1].name",
            "lowercase",
        ),
        (
            GOOD.replace("ingest_token = \"globex-ingest\"", ""),
            "environment[1].ingest_token_file",
            "missing",
        ),
        (
            format!("{GOOD}\n[retention]\nlogs = \"0s\"\n"),
            "retention.logs",
            "at least 1s",
        ),
        (
            with_webhook("url = \"hooks.acme.example/aerie\"\nsecret = \"s\""),
            "environment[1].webhook[0].url",
            "not a URL",
        ),
        (
            with_webhook("url = \"ftp://hooks.acme.example/\"\nsecret = \"s\""),
            "environment[1].webhook[0].url",
            "http:// or https://",
        ),
        (
            with_webhook("url = \"https://hooks.acme.example/aerie\""),
            "environment[1].webhook[0].secret_file",
            "missing",
        ),
        (
            with_quota("tenant = \"acme.com\""),
            "environment[1].quota[0].requests_per_month",
            "needs requests_per_month, bandwidth_per_month or both",
        ),
        (
            with_quota("tenant = \"acme.com\"\nrequests_per_month = 10\nwarn_at_percent = 100"),
            "environment[1].quota[0].warn_at_percent",
            "from 1 to 99",
        ),
        (
            with_quota("tenant = \"\"\nrequests_per_month = 10"),
            "environment[1].quota[0].tenant",
            "as the gateway logs it",
        ),
        (
            format!(
                "{}\n[[environment.quota]]\ntenant = \"acme.com\"\nrequests_per_month = 5",
                with_quota("tenant = \"acme.com\"\nrequests_per_month = 10")
            ),
            "environment[1].quota[1].tenant",
            "has a quota already",
        ),
        (
            format!("{GOOD}\n[store]\nkind = \"embedded\"\nlog_head_lines = 100\n"),
            "store.log_head_lines",
            "at least one granule",
        ),
        (
            format!("{GOOD}\n[store]\nkind = \"embedded\"\nlog_id_lists = 0\n"),
            "store.log_id_lists",
            "at least the newest segment",
        ),
        (
            format!("{GOOD}\n[store]\nkind = \"embedded\"\nlog_merge_segments = 1\n"),
            "store.log_merge_segments",
            "a merge takes at least two segments",
        ),
    ];
    aerie_testkit::assert_refused("/etc/aerie/monitor.toml", &cases, parse);
    let unknown = parse(&GOOD.replace("data_dir", "datadir"))
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("unknown field `datadir`"), "{unknown}");
}

/// GOOD with a webhook of the second environment whose fields are `fields`.
fn with_webhook(fields: &str) -> String {
    GOOD.replace(
        "ingest_token = \"globex-ingest\"",
        &format!("ingest_token = \"globex-ingest\"\n[[environment.webhook]]\n{fields}"),
    )
}

/// GOOD with a quota of the second environment whose fields are `fields`.
fn with_quota(fields: &str) -> String {
    GOOD.replace(
        "ingest_token = \"globex-ingest\"",
        &format!("ingest_token = \"globex-ingest\"\n[[environment.quota]]\n{fields}"),
    )
}

#[test]
fn a_quota_reads_its_limits_with_a_warning_at_80_percent_by_default() {
    let config = parse(&with_quota(
        "tenant = \"*\"\nrequests_per_month = 1000000\nbandwidth_per_month = \"50 GB\"",
    ))
    .unwrap();
    let quota = &config.environments[1].quotas[0];
    assert_eq!(quota.tenant, "*");
    assert_eq!(quota.requests_per_month, Some(1_000_000));
    assert_eq!(quota.bandwidth_per_month, Some(bytesize::ByteSize::gb(50)));
    assert_eq!(quota.warn_at_percent, 80);
}

#[test]
fn a_webhook_is_read_with_its_secret_and_never_printed() {
    let config = parse(&with_webhook(
        "url = \"https://hooks.globex.example/aerie\"\nsecret = \"hook-secret\"",
    ))
    .unwrap();
    let hook = &config.environments[1].webhooks[0];
    assert_eq!(hook.url, "https://hooks.globex.example/aerie");
    assert_eq!(hook.secret.expose(), "hook-secret");
    assert!(config.environments[0].webhooks.is_empty());
    assert!(!config.to_masked_toml().contains("hook-secret"));
}

#[test]
fn the_shipped_example_parses() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/monitor.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let config = Config::parse(&example, &text).unwrap_or_else(|error| panic!("{error}"));
    assert!(!config.environments.is_empty() && !config.users.is_empty());
}

#[test]
fn with_both_channels_one_is_named_and_the_other_is_the_fallback() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.toml"), "").unwrap();
    let path = dir.path().join("monitor.toml");
    let with = |extra: &str| {
        let text = format!(
            "{GOOD}\n[alerting]\nrules_file = \"rules.toml\"\nfrom = \"aerie@ops.example\"\ndashboard_url = \"http://monitor.example\"\n{extra}\n[alerting.smtp]\nhost = \"mail.acme.example\"\nport = 587\n[alerting.ses]\n"
        );
        Config::parse(&path, &text)
    };
    let error = with("").unwrap_err().to_string();
    assert!(
        error.contains("alerting.channel: ") && error.contains("channel = \"smtp\" or \"ses\""),
        "{error}"
    );
    let error = with("channel = \"pigeon\"").unwrap_err().to_string();
    assert!(
        error.contains("\"pigeon\" is not a configured channel"),
        "{error}"
    );
    let config = with("channel = \"smtp\"").unwrap();
    let alerting = config.alerting.unwrap();
    assert!(matches!(alerting.channel, ChannelConfig::Smtp { .. }));
    assert!(matches!(alerting.fallback, Some(ChannelConfig::Ses)));
    assert_eq!(alerting.group_wait, Duration::from_secs(10));
    assert_eq!(alerting.channel_failing_after, Duration::from_secs(600));
}
