use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/etc/aerie/agent.toml"), text)
}

const MINIMAL: &str = r#"
environment = "acme-prod"
host = "gw-1"
data_dir = "/var/lib/aerie-agent"
[monitor]
url = "https://monitor.example:8443"
token = "s3cret-token"
"#;

#[test]
fn a_minimal_config_gets_the_defaults() {
    let config = parse(MINIMAL).unwrap();
    assert_eq!(config.interval, Duration::from_secs(10));
    assert_eq!(config.queue.max_bytes, bytesize::ByteSize::mib(256));
    assert!(config.jvm.enabled);
    let SinkConfig::Monitor(monitor) = &config.sink else {
        panic!("monitor sink")
    };
    assert_eq!(
        monitor.compression,
        crate::sinks::monitor::Compression::Zstd
    );
    assert_eq!(monitor.token.expose(), "s3cret-token");
}

#[test]
fn the_printed_config_masks_the_token() {
    let printed = parse(MINIMAL).unwrap().to_masked_toml();
    assert!(!printed.contains("s3cret-token"), "{printed}");
    assert!(printed.contains(Secret::MASK), "{printed}");
    assert!(!format!("{:?}", parse(MINIMAL).unwrap()).contains("s3cret-token"));
}

#[test]
fn an_unknown_field_is_named_with_the_file() {
    let error = parse(&MINIMAL.replace("host = \"gw-1\"", "hots = \"gw-1\""))
        .unwrap_err()
        .to_string();
    assert!(error.starts_with("/etc/aerie/agent.toml: "), "{error}");
    assert!(error.contains("unknown field `hots`"), "{error}");
}

#[test]
fn a_pattern_format_needs_a_pattern_naming_time_and_message() {
    let logs = |extra: &str| {
        format!("{MINIMAL}\n[[logs]]\nname = \"other\"\npaths = [\"/var/log/other.log\"]\n{extra}")
    };
    let good = logs(
        "format = \"pattern\"\npattern = '^(?P<time>\\S+ \\S+) (?P<level>[A-Z]+) (?P<message>.*)'\ntime_format = \"%Y-%m-%d %H:%M:%S\"\n",
    );
    let config = parse(&good).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        config.logs[0].format,
        crate::sources::file::LogFormat::Pattern
    );
    let cases = [
        (logs("format = \"pattern\"\n"), "logs[0].pattern", "missing"),
        (
            logs("format = \"pattern\"\npattern = '(?P<time>.*'\n"),
            "logs[0].pattern",
            "not a regular expression",
        ),
        (
            logs("format = \"pattern\"\npattern = '(?P<time>\\S+) (?P<msg>.*)'\n"),
            "logs[0].pattern",
            "(?P<message>...)",
        ),
        (
            logs("pattern = '(?P<time>\\S+) (?P<message>.*)'\n"),
            "logs[0].pattern",
            "format is not",
        ),
        (
            logs(
                "format = \"pattern\"\npattern = '(?P<time>\\S+) (?P<message>.*)'\ntime_format = \"%Q\"\n",
            ),
            "logs[0].time_format",
            "strftime",
        ),
    ];
    aerie_testkit::assert_refused("/etc/aerie/agent.toml", &cases, parse);
}

#[test]
fn bad_values_name_the_field_and_the_fix() {
    let cases = [
        (
            MINIMAL.replace("https://monitor.example:8443", "monitor.example"),
            "monitor.url",
            "is not a URL",
        ),
        (
            MINIMAL.replace("acme-prod", "Acme Prod"),
            "environment",
            "lowercase",
        ),
        (
            MINIMAL.replace("token = \"s3cret-token\"", ""),
            "monitor.token_file",
            "missing",
        ),
        (
            format!("{MINIMAL}\n[[logs]]\nname = \"product\"\npaths = [\"relative/*.log\"]\n"),
            "logs[0].paths[0]",
            "absolute",
        ),
        (
            format!(
                "{MINIMAL}\n[[logs]]\nname = \"product\"\npaths = [\"/var/log/*.log\"]\ntimezone = \"Mars\"\n"
            ),
            "logs[0].timezone",
            "+00:00",
        ),
        (
            format!("{MINIMAL}\n[access_log]\npaths = [\"/a.log\"]\npattern = \"(?P<time>.*)\"\n"),
            "access_log.pattern",
            "status",
        ),
        (
            MINIMAL.replace("[monitor]", "[queue]\nmax_bytes = \"10 KiB\"\n[monitor]"),
            "queue.max_bytes",
            "at least 1 MiB",
        ),
        (
            format!("{MINIMAL}client_cert_file = \"agent.crt\"\n"),
            "monitor.client_key_file",
            "needs its key",
        ),
        (
            format!("{MINIMAL}client_key_file = \"agent.key\"\n"),
            "monitor.client_cert_file",
            "needs its certificate",
        ),
        (
            format!(
                "{MINIMAL}client_cert_file = \"/nonexistent/agent.crt\"\nclient_key_file = \"/nonexistent/agent.key\"\n"
            ),
            "monitor.client_cert_file",
            "/nonexistent/agent.crt: cannot read it",
        ),
    ];
    aerie_testkit::assert_refused("/etc/aerie/agent.toml", &cases, parse);
}

#[test]
fn a_token_file_is_read_relative_to_the_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agent.token"), "from-file\n").unwrap();
    let text = MINIMAL.replace("token = \"s3cret-token\"", "token_file = \"agent.token\"");
    let config = Config::parse(&dir.path().join("agent.toml"), &text).unwrap();
    let SinkConfig::Monitor(monitor) = &config.sink else {
        panic!("monitor sink")
    };
    assert_eq!(monitor.token.expose(), "from-file");
}

#[test]
fn the_shipped_example_parses() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/agent.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    // The example's token file lives on the host; give it one here.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("agent.token"), "t").unwrap();
    let text = text.replace(
        "/etc/aerie/agent.token",
        &dir.path().join("agent.token").display().to_string(),
    );
    let config = Config::parse(&example, &text).unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(config.environment, "acme-prod");
    assert!(!config.logs.is_empty() && config.access_log.is_some());
}

#[test]
fn metrics_are_off_by_default_and_a_bad_listen_address_is_named_with_its_fix() {
    assert!(parse(MINIMAL).unwrap().metrics.is_none());
    let on = parse(&format!(
        "{MINIMAL}[metrics]\nlisten = \"127.0.0.1:9101\"\n"
    ))
    .unwrap();
    assert_eq!(on.metrics.unwrap().listen.port(), 9101);
    let error = parse(&format!(
        "{MINIMAL}[metrics]\nlisten = \"localhost-9101\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("metrics.listen") && error.contains("127.0.0.1:9101"),
        "{error}"
    );
}
