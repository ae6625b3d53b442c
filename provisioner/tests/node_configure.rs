//! A node's boot-time configuration, run for real: the rendered
//! `configure.py` of the example's first gateway and first traffic manager
//! against a product home laid out like the distribution's, with an `aws`
//! command on the PATH that answers secrets the way the AWS CLI does (a
//! stand-in: the test is of the script, not of AWS). The files that come
//! out are read back and parsed.

use aerie_common::toml_file::TomlFile as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use aerie_provisioner::spec::Spec;

fn example() -> Spec {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme.toml");
    Spec::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// Writes `text` to `path`, making its folders.
fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A product home with the files the fragments go into, as the
/// distribution ships them (trimmed to the elements that matter).
fn distribution(home: &Path) {
    write(
        &home.join("repository/conf/api-manager.xml"),
        "<APIManager>\n  <DataSourceName>jdbc/WSO2AM_DB</DataSourceName>\n  <ThrottlingConfigurations><EnableAdvanceThrottling>false</EnableAdvanceThrottling></ThrottlingConfigurations>\n  <APIKeyValidator><ServerURL>https://localhost:9443/services/</ServerURL></APIKeyValidator>\n</APIManager>\n",
    );
    write(
        &home.join("repository/conf/carbon.xml"),
        "<Server xmlns=\"http://wso2.org/projects/carbon/carbon.xml\">\n  <Name>WSO2 API Manager</Name>\n  <Ports><Offset>0</Offset><JMX><RMIRegistryPort>9999</RMIRegistryPort></JMX></Ports>\n</Server>\n",
    );
    write(
        &home.join("repository/conf/axis2/axis2.xml"),
        "<axisconfig name=\"AxisJava2.0\">\n  <parameter name=\"hotdeployment\">true</parameter>\n  <clustering class=\"org.wso2.carbon.core.clustering.hazelcast.HazelcastClusteringAgent\" enable=\"false\"/>\n</axisconfig>\n",
    );
    write(
        &home.join("repository/conf/event-processor.xml"),
        "<eventProcessorConfig>\n  <mode name=\"SingleNode\" enable=\"true\"/>\n</eventProcessorConfig>\n",
    );
}

/// An `aws` that answers `secretsmanager get-secret-value --secret-id N`
/// with `value-of-N` (slashes as dashes), as `--output text` does.
fn fake_aws(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = bin.join("aws");
    std::fs::write(
        &script,
        "#!/bin/sh\nwhile [ $# -gt 0 ]; do\n  if [ \"$1\" = --secret-id ]; then echo \"value-of-$2\" | tr / -; exit 0; fi\n  shift\ndone\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Runs the rendered configure.py of `role` into a fresh home; answers the
/// home.
fn configure(role: &str, dir: &Path) -> PathBuf {
    let bundles = aerie_provisioner::render::bundles(&example()).unwrap();
    let bundle = bundles.iter().find(|b| b.role == role).unwrap();
    let (unpacked, home) = (dir.join("bundle"), dir.join("home"));
    for (path, text) in &bundle.files {
        write(&unpacked.join(path), text);
    }
    distribution(&home);
    let path = format!(
        "{}:{}",
        fake_aws(dir).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // Debian's interpreter, as on a node: a version manager's shim would
    // put its own folders (and perhaps a real `aws`) first on the PATH.
    let run = Command::new("/usr/bin/python3")
        .arg(unpacked.join("configure.py"))
        .arg(&unpacked)
        .arg(&home)
        .env("PATH", path)
        .output()
        .expect("/usr/bin/python3 runs (installed by scripts/install-test-deps: apt-get install python3)");
    assert!(
        run.status.success(),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(run.stdout.is_empty(), "configure.py printed something");
    home
}

fn read(home: &Path, path: &str) -> String {
    std::fs::read_to_string(home.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn a_gateway_s_throttling_is_spliced_in_with_its_secret_and_the_rest_of_the_file_kept() {
    let dir = tempfile::tempdir().unwrap();
    let home = configure("gateway-1", dir.path());
    let text = read(&home, "repository/conf/api-manager.xml");
    let xml = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let named = |name: &str| -> Vec<String> {
        xml.descendants()
            .filter(|n| n.tag_name().name() == name)
            .map(|n| n.text().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(named("ThrottlingConfigurations").len(), 1, "{text}");
    assert_eq!(named("EnableAdvanceThrottling"), ["true"], "{text}");
    assert!(
        named("ReceiverUrlGroup")[0].contains("traffic-manager-2.acme.internal:9613"),
        "{text}"
    );
    assert_eq!(named("DataSourceName"), ["jdbc/WSO2AM_DB"], "kept: {text}");
    assert_eq!(named("ServerURL").len(), 1, "kept: {text}");
    assert!(!text.contains("__SECRET("), "{text}");
    assert!(
        text.contains("value-of-aerie-acme-prod-product-admin"),
        "{text}"
    );
    let datasources = read(&home, "repository/conf/datasources/master-datasources.xml");
    assert!(datasources.contains("value-of-aerie-acme-prod-product-db"));
    let mode = std::fs::metadata(home.join("repository/conf/api-manager.xml"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_traffic_manager_gets_its_offset_its_peer_as_member_and_keeps_the_carbon_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let home = configure("traffic-manager-2", dir.path());
    let carbon = read(&home, "repository/conf/carbon.xml");
    let xml = roxmltree::Document::parse(&carbon).unwrap();
    let offset: Vec<&str> = xml
        .descendants()
        .filter(|n| n.tag_name().name() == "Offset")
        .map(|n| n.text().unwrap_or_default())
        .collect();
    assert_eq!(offset, ["2"], "{carbon}");
    assert_eq!(
        xml.root_element().tag_name().namespace(),
        Some("http://wso2.org/projects/carbon/carbon.xml"),
        "{carbon}"
    );
    assert!(carbon.contains("RMIRegistryPort"), "kept: {carbon}");
    let axis2 = read(&home, "repository/conf/axis2/axis2.xml");
    assert!(axis2.contains("traffic-manager-1.acme.internal"), "{axis2}");
    assert!(axis2.contains("hotdeployment"), "kept: {axis2}");
    let jndi = read(&home, "repository/conf/jndi.properties");
    assert!(
        jndi.contains("value-of-aerie-acme-prod-product-admin"),
        "{jndi}"
    );
    assert!(!jndi.contains("__SECRET("), "{jndi}");
}

#[test]
fn every_node_s_boot_script_is_posix_sh_and_installs_the_agent_from_its_package() {
    for bundle in aerie_provisioner::render::bundles(&example()).unwrap() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("configure.sh");
        std::fs::write(&script, &bundle.files["configure.sh"]).unwrap();
        let checked = Command::new("sh").arg("-n").arg(&script).output().unwrap();
        assert!(
            checked.status.success(),
            "{}: {}",
            bundle.role,
            String::from_utf8_lossy(&checked.stderr)
        );
        let text = &bundle.files["configure.sh"];
        assert!(
            text.contains(&format!(
                "package=\"dist/aerie-agent_{}_amd64.deb\"",
                env!("CARGO_PKG_VERSION")
            )),
            "{}",
            bundle.role
        );
        assert!(text.contains("apt-get install -y -q /var/cache/aerie/aerie-agent.deb"));
        assert!(
            !text.contains("/usr/local/bin/aerie-agent"),
            "no loose binary any more"
        );
    }
}
