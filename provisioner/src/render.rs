//! Every template the provisioner renders, from `templates/` at the root of
//! the repository (built into the binary), registered once by name in one
//! strict Handlebars registry: a value a template names but the data lacks
//! is an error, never an empty string in a node's configuration.
//!
//! Rendering is pure: no AWS, no files, no secrets (those are fetched by the
//! node at boot, never written into what is rendered here).

use std::sync::LazyLock;

use serde::Serialize;

use crate::spec::Spec;

mod artifacts;

pub use artifacts::{
    Archive, Artifacts, USER_DATA_LIMIT, artifacts, bundle_key, pack, pack_files, sha256_file,
    sha256_hex, unpack_files,
};

/// Every template, by the name it is rendered with.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "bastion/user-data",
        include_str!("../../templates/bastion/user-data.hbs"),
    ),
    (
        "handover/handover.md",
        include_str!("../../templates/handover/handover.md.hbs"),
    ),
    (
        "handover/page.html",
        include_str!("../../templates/handover/page.html.hbs"),
    ),
    (
        "cloud-init/node",
        include_str!("../../templates/cloud-init/node.hbs"),
    ),
    (
        "product/common/configure.sh",
        include_str!("../../templates/product/common/configure.sh.hbs"),
    ),
    (
        "product/common/configure.py",
        include_str!("../../templates/product/common/configure.py.hbs"),
    ),
    (
        "product/traffic-manager/carbon-offset.xml",
        include_str!("../../templates/product/traffic-manager/carbon-offset.xml.hbs"),
    ),
    (
        "product/traffic-manager/axis2-clustering.xml",
        include_str!("../../templates/product/traffic-manager/axis2-clustering.xml.hbs"),
    ),
    (
        "product/traffic-manager/event-processor-mode.xml",
        include_str!("../../templates/product/traffic-manager/event-processor-mode.xml.hbs"),
    ),
    (
        "product/traffic-manager/jndi.properties",
        include_str!("../../templates/product/traffic-manager/jndi.properties.hbs"),
    ),
    (
        "product/traffic-manager/jms-event-publisher.xml",
        include_str!("../../templates/product/traffic-manager/jms-event-publisher.xml.hbs"),
    ),
    (
        "product/gateway/api-manager-throttling.xml",
        include_str!("../../templates/product/gateway/api-manager-throttling.xml.hbs"),
    ),
    (
        "product/common/master-datasources.xml",
        include_str!("../../templates/product/common/master-datasources.xml.hbs"),
    ),
    (
        "product/common/aerie-agent.toml",
        include_str!("../../templates/product/common/aerie-agent.toml.hbs"),
    ),
    (
        "product/common/db-bootstrap.sql",
        include_str!("../../templates/product/common/db-bootstrap.sql.hbs"),
    ),
    (
        "product/common/db-bootstrap.sh",
        include_str!("../../templates/product/common/db-bootstrap.sh.hbs"),
    ),
];

/// A template that would not render, by name.
#[derive(Debug, thiserror::Error)]
#[error("template {template} does not render")]
pub struct RenderError {
    pub template: String,
    #[source]
    pub source: Box<handlebars::RenderError>,
}

/// The registry of every provisioner template.
#[derive(Debug)]
pub struct Templates {
    registry: handlebars::Handlebars<'static>,
}

static BUILT_IN: LazyLock<Templates> = LazyLock::new(Templates::built_in);

impl Templates {
    /// The templates built into the binary (compiled once).
    pub fn get() -> &'static Self {
        &BUILT_IN
    }

    fn built_in() -> Self {
        let mut registry = handlebars::Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        for (name, text) in TEMPLATES {
            registry
                .register_template_string(name, text)
                .unwrap_or_else(|e| panic!("template {name} does not compile: {e}"));
        }
        Self { registry }
    }

    /// The names of every registered template.
    pub fn names(&self) -> Vec<&str> {
        TEMPLATES.iter().map(|(name, _)| *name).collect()
    }

    /// Renders template `name` with `data`.
    pub fn render(&self, name: &str, data: &impl Serialize) -> Result<String, RenderError> {
        self.registry
            .render(name, data)
            .map_err(|source| RenderError {
                template: name.to_owned(),
                source: Box::new(source),
            })
    }
}

/// The bastion's cloud-init user-data: sshd on the spec's port, chrony on
/// its NTP servers.
pub fn bastion_user_data(spec: &Spec) -> Result<String, RenderError> {
    Templates::get().render(
        "bastion/user-data",
        &serde_json::json!({
            "environment": spec.name,
            "ssh_port": spec.access.ssh_port,
            "ntp_servers": spec.ntp.servers,
        }),
    )
}

/// One node role's configuration bundle: file paths (relative to the
/// product's home; `.fragment` files are spliced into the distribution's
/// file of that name at boot) and their contents. Passwords and tokens
/// appear only as `__SECRET(name)__` references the node resolves at boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub role: String,
    pub files: std::collections::BTreeMap<String, String>,
}

/// Every node's bundle, traffic managers first; none without `[nodes]`.
pub fn bundles(spec: &Spec) -> Result<Vec<Bundle>, RenderError> {
    let Some(topology) = crate::topology::Topology::of(spec) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for node in topology.nodes() {
        let gateway = node.role.starts_with("gateway");
        let mut bundle = BundleWriter {
            data: node_data(spec, &topology, node, gateway),
            files: std::collections::BTreeMap::new(),
        };
        bundle.add(
            "repository/conf/datasources/master-datasources.xml",
            "product/common/master-datasources.xml",
            serde_json::Value::Null,
        )?;
        bundle.add(
            "aerie-agent.toml",
            "product/common/aerie-agent.toml",
            serde_json::Value::Null,
        )?;
        bundle.add(
            "configure.sh",
            "product/common/configure.sh",
            serde_json::json!({ "bootstrap": node.role == "traffic-manager-1" }),
        )?;
        bundle.add(
            "configure.py",
            "product/common/configure.py",
            serde_json::Value::Null,
        )?;
        if gateway {
            gateway_files(&mut bundle, &topology)?;
        } else {
            traffic_manager_files(&mut bundle, &topology, node)?;
        }
        out.push(Bundle {
            role: node.role.clone(),
            files: bundle.files,
        });
    }
    Ok(out)
}

/// What every template of `node` may use.
fn node_data(
    spec: &Spec,
    topology: &crate::topology::Topology,
    node: &crate::topology::Node,
    gateway: bool,
) -> serde_json::Value {
    serde_json::json!({
        "environment": topology.environment,
        "node": node,
        "ports": node.ports(),
        "admin_user": topology.admin_user,
        "product_version": topology.product_version,
        "home": topology.home(),
        "bucket": crate::model::artifacts_bucket(spec),
        "agent_package": topology.agent_package,
        "ingest_token_secret": crate::topology::ingest_token_secret_name(spec.secrets_of()),
        "secrets": crate::model::secrets(spec)
            .into_iter()
            .map(|(role, name)| serde_json::json!({ "role": role, "name": name }))
            .collect::<Vec<_>>(),
        "monitor_url": topology.monitor_url,
        "monitor_proxy": topology.monitor_proxy,
        "gateway": gateway,
        "services_port": node.ports().services,
        "database_host": topology.database_host,
        "database_user": crate::topology::DATABASE_USER,
        "region": spec.region,
        "master_user": crate::topology::MASTER_USER,
        "master_secret": crate::model::rds_secret_name(spec.secrets_of()),
        "product_secret": crate::topology::product_secret_name(spec.secrets_of()),
        "databases": crate::topology::DATABASES
            .iter()
            .map(|(name, database)| serde_json::json!({ "name": name, "database": database }))
            .collect::<Vec<_>>(),
    })
}

/// One node's files as they are rendered.
struct BundleWriter {
    /// The node's data (`node_data`).
    data: serde_json::Value,
    files: std::collections::BTreeMap<String, String>,
}

impl BundleWriter {
    /// Renders `template` into `path` with the node's data and `extra`.
    fn add(
        &mut self,
        path: &str,
        template: &str,
        extra: serde_json::Value,
    ) -> Result<(), RenderError> {
        let mut data = self.data.clone();
        if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        let text = Templates::get().render(template, &data)?;
        self.files.insert(path.to_owned(), text);
        Ok(())
    }
}

/// A gateway's throttling configuration: it publishes to, and hears from,
/// both traffic managers.
fn gateway_files(
    bundle: &mut BundleWriter,
    topology: &crate::topology::Topology,
) -> Result<(), RenderError> {
    let (first, second) = (&topology.traffic_managers[0], &topology.traffic_managers[1]);
    let (one, two) = (first.ports(), second.ports());
    bundle.add(
        "repository/conf/api-manager.xml.fragment",
        "product/gateway/api-manager-throttling.xml",
        serde_json::json!({
            "receiver_urls": format!("{{tcp://{}:{}, tcp://{}:{}}}", first.host, one.receiver, second.host, two.receiver),
            "auth_urls": format!("{{ssl://{}:{}, ssl://{}:{}}}", first.host, one.auth, second.host, two.auth),
            "broker_list": format!("tcp://{}:{};tcp://{}:{}", first.host, one.broker, second.host, two.broker),
            "first": first,
            "first_ports": one,
        }),
    )
}

/// A traffic manager's offset, clustering, HA mode and throttle-decision
/// publishing; the first one also carries the database bootstrap.
fn traffic_manager_files(
    bundle: &mut BundleWriter,
    topology: &crate::topology::Topology,
    node: &crate::topology::Node,
) -> Result<(), RenderError> {
    if node.index == 1 {
        // The product databases are made once, from the first traffic
        // manager (it has the mysql client).
        for file in ["db-bootstrap.sql", "db-bootstrap.sh"] {
            bundle.add(
                file,
                &format!("product/common/{file}"),
                serde_json::Value::Null,
            )?;
        }
    }
    let peer = topology.peer_of(node);
    let peer_ports = peer.ports();
    let own = serde_json::json!({ "peer": peer, "peer_ports": peer_ports,
        "management_port": 10005, "presentation_port": 11000 });
    for (path, template) in [
        ("carbon.xml.fragment", "carbon-offset.xml"),
        ("axis2/axis2.xml.fragment", "axis2-clustering.xml"),
        ("event-processor.xml.fragment", "event-processor-mode.xml"),
    ] {
        bundle.add(
            &format!("repository/conf/{path}"),
            &format!("product/traffic-manager/{template}"),
            own.clone(),
        )?;
    }
    // Each publishes throttle decisions to its own broker and to its
    // peer's, for either may be the active one.
    for (file, host, port, owner) in [
        (
            "jndi.properties",
            &node.host,
            node.ports().broker,
            &node.role,
        ),
        (
            "jndi2.properties",
            &peer.host,
            peer_ports.broker,
            &peer.role,
        ),
    ] {
        bundle.add(
            &format!("repository/conf/{file}"),
            "product/traffic-manager/jndi.properties",
            serde_json::json!({ "broker_host": host, "broker_port": port, "broker_owner": owner }),
        )?;
    }
    for (name, jndi) in [
        ("jmsEventPublisher", "jndi.properties"),
        ("jmsEventPublisher2", "jndi2.properties"),
    ] {
        bundle.add(
            &format!("repository/deployment/server/eventpublishers/{name}.xml"),
            "product/traffic-manager/jms-event-publisher.xml",
            serde_json::json!({ "name": name, "jndi_file": jndi }),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_under_templates_that_the_provisioner_renders_is_registered() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates");
        let mut on_disk: Vec<String> = Vec::new();
        for folder in [
            "bastion",
            "product/traffic-manager",
            "product/gateway",
            "product/common",
        ] {
            on_disk.extend(
                std::fs::read_dir(root.join(folder))
                    .unwrap()
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .filter_map(|name| name.strip_suffix(".hbs").map(|n| format!("{folder}/{n}"))),
            );
        }
        assert!(on_disk.len() >= 9, "{on_disk:?}");
        let names = Templates::get().names();
        for name in on_disk {
            assert!(names.contains(&name.as_str()), "{name} is not registered");
        }
    }

    #[test]
    fn a_value_the_template_needs_but_the_data_lacks_is_an_error_naming_the_template() {
        let error = Templates::get()
            .render(
                "bastion/user-data",
                &serde_json::json!({ "environment": "x" }),
            )
            .unwrap_err();
        assert_eq!(error.template, "bastion/user-data");
    }

    /// The head of the example's gateways section.
    const GATEWAYS: &str = "[nodes.gateways]\n# One or more; spread over both zones' private subnets.\ncount = 2\ninstance_type = \"m5.large\"\nami = \"ami-0c1bc246476a5572b\"";

    fn spec_with_gateways(count: u32) -> Spec {
        use aerie_common::toml_file::TomlFile as _;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme.toml");
        let text = std::fs::read_to_string(&path).unwrap().replace(
            GATEWAYS,
            &GATEWAYS.replace("count = 2", &format!("count = {count}")),
        );
        assert!(
            text.contains(&format!("count = {count}\ninstance_type")),
            "the gateways section moved"
        );
        Spec::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The value of element `name` in `xml`.
    fn element<'a>(xml: &'a roxmltree::Document<'a>, name: &str) -> Vec<&'a str> {
        xml.descendants()
            .filter(|n| n.tag_name().name() == name)
            .filter_map(|n| n.text())
            .collect()
    }

    /// Cross-file invariants of the pair and the gateways, for `count` gateways.
    fn check_invariants(count: u32) {
        let spec = spec_with_gateways(count);
        let bundles = bundles(&spec).unwrap();
        let topology = crate::topology::Topology::of(&spec).unwrap();
        assert_eq!(bundles.len() as u32, count + 2);
        let [one, two] = &topology.traffic_managers;
        let (p1, p2) = (one.ports(), two.ports());
        for bundle in &bundles {
            for (path, text) in &bundle.files {
                if path.contains(".xml") {
                    roxmltree::Document::parse(text)
                        .unwrap_or_else(|e| panic!("{}/{path}: {e}\n{text}", bundle.role));
                }
                assert!(
                    !text.contains("{{") && !text.contains("}}"),
                    "{path} holds template text"
                );
                for line in text
                    .lines()
                    // Configuration files hold references only; the bootstrap
                    // script reads the passwords into variables at run time.
                    // The boot scripts read them at run time.
                    .filter(|_| {
                        !path.ends_with(".sh") && !path.ends_with(".sql") && !path.ends_with(".py")
                    })
                    .filter(|l| l.to_lowercase().contains("password"))
                {
                    assert!(
                        line.contains("__SECRET(")
                            || line.trim_start().starts_with('#')
                            || line.contains("<!--"),
                        "{}/{path}: a password that is not a reference: {line}",
                        bundle.role
                    );
                }
            }
            let datasources = roxmltree::Document::parse(
                &bundle.files["repository/conf/datasources/master-datasources.xml"],
            )
            .unwrap();
            let urls = element(&datasources, "url");
            assert_eq!(urls.len(), 3);
            for ((_, database), url) in crate::topology::DATABASES.iter().zip(&urls) {
                assert_eq!(
                    *url,
                    format!(
                        "jdbc:mysql://{}:3306/{database}?autoReconnect=true",
                        topology.database_host
                    )
                );
            }
            if bundle.role.starts_with("gateway") {
                let throttling = roxmltree::Document::parse(
                    &bundle.files["repository/conf/api-manager.xml.fragment"],
                )
                .unwrap();
                assert_eq!(
                    element(&throttling, "ReceiverUrlGroup"),
                    [format!(
                        "{{tcp://{}:{}, tcp://{}:{}}}",
                        one.host, p1.receiver, two.host, p2.receiver
                    )
                    .as_str()]
                );
                assert_eq!(
                    element(&throttling, "AuthUrlGroup"),
                    [format!(
                        "{{ssl://{}:{}, ssl://{}:{}}}",
                        one.host, p1.auth, two.host, p2.auth
                    )
                    .as_str()]
                );
                let jms = element(&throttling, "connectionfactory.TopicConnectionFactory").concat();
                assert!(
                    jms.contains(&format!(
                        "tcp://{}:{};tcp://{}:{}",
                        one.host, p1.broker, two.host, p2.broker
                    )),
                    "{jms}"
                );
            } else {
                let me = topology
                    .traffic_managers
                    .iter()
                    .find(|n| n.role == bundle.role)
                    .unwrap();
                let peer = topology.peer_of(me);
                let clustering = roxmltree::Document::parse(
                    &bundle.files["repository/conf/axis2/axis2.xml.fragment"],
                )
                .unwrap();
                assert_eq!(
                    element(&clustering, "hostName"),
                    [peer.host.as_str()],
                    "the other one is its member"
                );
                assert_eq!(
                    element(&clustering, "port"),
                    [peer.ports().cluster.to_string().as_str()]
                );
                let offset = roxmltree::Document::parse(
                    &bundle.files["repository/conf/carbon.xml.fragment"],
                )
                .unwrap();
                assert_eq!(element(&offset, "Offset"), [me.offset.to_string().as_str()]);
                assert!(
                    bundle.files["repository/conf/jndi.properties"].contains(&format!(
                        "tcp://{}:{}'",
                        me.host,
                        me.ports().broker
                    ))
                );
                assert!(
                    bundle.files["repository/conf/jndi2.properties"].contains(&format!(
                        "tcp://{}:{}'",
                        peer.host,
                        peer.ports().broker
                    ))
                );
            }
        }
        // The pair is spread over both zones; so are the gateways.
        assert_ne!(one.availability_zone, two.availability_zone);
        assert_eq!(
            (p1.receiver, p2.receiver, p1.broker, p2.broker),
            (9612, 9613, 5673, 5674)
        );
        if count > 1 {
            let zones: std::collections::BTreeSet<&str> = topology
                .gateways
                .iter()
                .map(|g| g.availability_zone.as_str())
                .collect();
            assert_eq!(zones.len(), 2);
        }
    }

    #[test]
    fn the_pair_and_one_two_or_five_gateways_name_each_other_at_the_ports_their_offsets_give() {
        for count in [1, 2, 5] {
            check_invariants(count);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]
        #[test]
        fn any_valid_gateway_count_keeps_the_invariants(count in 1u32..40) {
            check_invariants(count);
        }
    }

    #[test]
    fn bad_node_sections_name_the_field_and_the_fix() {
        use aerie_common::toml_file::TomlFile as _;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme.toml");
        let good = std::fs::read_to_string(&path).unwrap();
        let gateways = |from: &str, to: &str| good.replace(GATEWAYS, &GATEWAYS.replace(from, to));
        let cases = [
            (
                gateways("count = 2", "count = 0"),
                "nodes.gateways.count",
                "at least one gateway",
            ),
            (
                good.replace("other's.\ncount = 2", "other's.\ncount = 3"),
                "nodes.traffic_managers.count",
                "always an active/active pair",
            ),
            (
                gateways("ami-0c1bc246476a5572b", "ami-xyz"),
                "nodes.gateways.ami",
                "not an AMI id",
            ),
            (
                gateways("count = 2", "count = 600"),
                "nodes.gateways.count",
                "use fewer gateways or larger subnets",
            ),
            (
                good.replace(
                    "url = \"https://monitor.ops.example:8443\"",
                    "url = \"monitor.ops.example\"",
                ),
                "nodes.monitor.url",
                "not an http(s) URL",
            ),
        ];
        for (text, _, _) in &cases {
            assert_ne!(text, &good, "a case did not change the example");
        }
        aerie_testkit::assert_refused(&path.display().to_string(), &cases, |text| {
            Spec::parse(&path, text)
        });
    }
}
