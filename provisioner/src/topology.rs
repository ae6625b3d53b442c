//! The product deployment of seed 000, computed from the spec alone: which
//! nodes exist (the gateways, the traffic-manager pair), in which zone and
//! subnet, by which name in the environment's DNS, and the ports each
//! traffic manager listens on (its port offset, 1 or 2). Every rendered
//! configuration file is a view of this one value; nothing here talks to
//! AWS or knows a secret.

use serde::Serialize;

use crate::spec::{Nodes, Spec};

/// The ports a traffic manager serves, before its offset (seed 000).
pub const BINARY_RECEIVER: u16 = 9611;
pub const BINARY_AUTH: u16 = 9711;
pub const JMS_BROKER: u16 = 5672;
pub const SERVICES: u16 = 9443;
/// Hazelcast's member port of traffic manager 1 (the next one's is one more).
pub const CLUSTER: u16 = 4000;

/// The three product databases of seed 000.
pub const DATABASES: [(&str, &str); 3] = [
    ("WSO2AM_DB", "apimgt"),
    ("WSO2UM_DB", "usermgt"),
    ("WSO2REG_DB", "registry"),
];

/// The product's database user (its password is the product secret).
pub const DATABASE_USER: &str = "wso2";

/// The RDS master user (its password is the master secret).
pub const MASTER_USER: &str = "aerieadmin";

/// The Secrets Manager name of the product's database password.
pub fn product_secret_name(environment: &str) -> String {
    format!("aerie/{environment}/product-db")
}

/// The Secrets Manager name of the product administrator's password.
pub fn admin_secret_name(environment: &str) -> String {
    format!("aerie/{environment}/product-admin")
}

/// The Secrets Manager name of the environment's ingest token (the agents
/// present it to the monitor).
pub fn ingest_token_secret_name(environment: &str) -> String {
    format!("aerie/{environment}/ingest-token")
}

/// One product node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// `gateway-1`, `traffic-manager-2`, ...: its `aerie:role`.
    pub role: String,
    /// 1, 2, ...
    pub index: u32,
    /// Its name in the environment's DNS (`gateway-1.acme.internal`).
    pub host: String,
    pub availability_zone: String,
    /// `private-a` or `private-b`.
    pub subnet: String,
    /// The product's port offset (the traffic managers': 1 and 2).
    pub offset: u16,
}

impl Node {
    /// Its binary receiver, auth, JMS broker and services ports, and its
    /// Hazelcast member port.
    pub fn ports(&self) -> Ports {
        Ports {
            receiver: BINARY_RECEIVER + self.offset,
            auth: BINARY_AUTH + self.offset,
            broker: JMS_BROKER + self.offset,
            services: SERVICES + self.offset,
            cluster: CLUSTER + u16::try_from(self.index).unwrap_or(1) - 1,
        }
    }
}

/// A node's ports, its offset applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ports {
    pub receiver: u16,
    pub auth: u16,
    pub broker: u16,
    pub services: u16,
    pub cluster: u16,
}

/// The whole deployment.
#[derive(Debug, Clone, Serialize)]
pub struct Topology {
    pub environment: String,
    pub gateways: Vec<Node>,
    pub traffic_managers: [Node; 2],
    /// The database's name in the environment's DNS (`db.acme.internal`).
    pub database_host: String,
    pub product_version: String,
    /// The distribution's key in the artifacts bucket.
    pub distribution: String,
    /// The agent package's key in the artifacts bucket.
    pub agent_package: String,
    pub admin_user: String,
    pub monitor_url: String,
    pub monitor_proxy: Option<String>,
}

impl Topology {
    /// The deployment `spec` asks for; `None` without a `[nodes]` section.
    pub fn of(spec: &Spec) -> Option<Self> {
        let nodes: &Nodes = spec.nodes.as_ref()?;
        let zones = &spec.network.availability_zones;
        let node = |kind: &str, index: u32, offset: u16| {
            // Spread over both zones: odd in the first, even in the second.
            let second = index.is_multiple_of(2);
            let role = format!("{kind}-{index}");
            Node {
                host: format!("{role}.{}", spec.dns.zone),
                role,
                index,
                availability_zone: zones[usize::from(second)].clone(),
                subnet: if second { "private-b" } else { "private-a" }.to_owned(),
                offset,
            }
        };
        Some(Self {
            environment: spec.name.clone(),
            gateways: (1..=nodes.gateways.count.unwrap_or(1))
                .map(|i| node("gateway", i, 0))
                .collect(),
            traffic_managers: [node("traffic-manager", 1, 1), node("traffic-manager", 2, 2)],
            database_host: format!("db.{}", spec.dns.zone),
            product_version: nodes.product_version.clone(),
            distribution: nodes
                .distribution
                .clone()
                .unwrap_or_else(|| format!("dist/wso2am-{}.zip", nodes.product_version)),
            agent_package: nodes.agent_package.clone().unwrap_or_else(|| {
                format!("dist/aerie-agent_{}_amd64.deb", env!("CARGO_PKG_VERSION"))
            }),
            admin_user: nodes.admin_user.clone(),
            monitor_url: nodes.monitor.url.clone(),
            monitor_proxy: nodes.monitor.proxy.clone(),
        })
    }

    /// Where the product is installed on every node.
    pub fn home(&self) -> String {
        format!("/opt/wso2am-{}", self.product_version)
    }

    /// Every node, traffic managers first.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.traffic_managers.iter().chain(&self.gateways)
    }

    /// The other traffic manager of the pair.
    pub fn peer_of(&self, traffic_manager: &Node) -> &Node {
        if traffic_manager.index == 1 {
            &self.traffic_managers[1]
        } else {
            &self.traffic_managers[0]
        }
    }
}
