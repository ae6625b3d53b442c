//! The environment spec: one TOML file per customer environment, parsed with
//! unknown fields refused and then validated before any AWS call. Every
//! error names the file, the field, what is wrong and how to fix it. The
//! fields are documented in `examples/acme.toml`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::Deserialize;

/// A spec problem: the file, the field and the fix.
pub use aerie_common::toml_file::FileError as SpecError;
pub use aerie_common::toml_file::TomlFile;
use aerie_common::toml_file::Validate;

/// A validated environment spec.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The environment's name: lowercase letters, digits and '-'; every
    /// resource is tagged `aerie:env=<name>`.
    pub name: String,
    pub customer: String,
    /// The AWS region (e.g. `eu-west-1`); missing is refused by name.
    #[serde(default)]
    pub region: String,
    /// Where backups go (used by the backup work).
    pub dr_region: Option<String>,
    pub network: Network,
    pub access: Access,
    pub bastion: Bastion,
    pub dns: Dns,
    pub email: Email,
    pub ntp: Ntp,
    pub vpn: Option<Vpn>,
    pub database: Database,
    /// The product nodes (API gateways, the traffic-manager pair).
    pub nodes: Option<Nodes>,
    /// The backup policy (`[backup]`; every field has a default).
    #[serde(default)]
    pub backup: backup::Backup,
    /// Where the record of every apply is kept (`[history] dir`).
    #[serde(default)]
    pub history: HistorySection,
    /// A production environment: its database is protected from deletion
    /// (and `env check` requires it). Default false.
    #[serde(default)]
    pub production: bool,
    /// Set only on a DR site (`dr::site`), never read from a file: the
    /// environment it recovers, whose secrets (replicated to the site's
    /// region) its nodes read.
    #[serde(skip)]
    pub recovers: Option<String>,
}

/// `[history]`: the git repository recording every apply.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySection {
    /// The repository's folder, relative to the spec's (default `history`).
    pub dir: Option<PathBuf>,
}

/// `[nodes]`: the machines the environment exists for (seed 000's pattern).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nodes {
    /// The API Manager version the nodes run (e.g. `2.0.0`).
    pub product_version: String,
    /// The product's administrator account name (its password is a secret).
    pub admin_user: String,
    /// The product's distribution: an object in the environment's
    /// artifacts bucket (default `dist/wso2am-<product_version>.zip`).
    pub distribution: Option<String>,
    /// The agent's Debian package (`scripts/package`), an object in the
    /// artifacts bucket (default `dist/aerie-agent_<this aerie's
    /// version>_amd64.deb`).
    pub agent_package: Option<String>,
    /// One or more.
    pub gateways: NodeGroup,
    /// Always two: an active/active pair, one per availability zone.
    pub traffic_managers: NodeGroup,
    pub monitor: NodeMonitor,
}

/// Nodes of one role: how many, on what.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGroup {
    /// Required for the gateways; the traffic managers are always two.
    pub count: Option<u32>,
    pub instance_type: String,
    pub ami: String,
    #[serde(default = "default_node_volume")]
    pub root_volume_gb: i32,
}

/// Where the nodes' agents ship: the operators' central monitor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeMonitor {
    pub url: String,
    /// The customer's HTTP proxy, when the nodes reach out only through it.
    pub proxy: Option<String>,
}

fn default_node_volume() -> i32 {
    40
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub vpc_cidr: Ipv4Net,
    pub availability_zones: Vec<String>,
    pub public_subnets: Vec<Ipv4Net>,
    pub private_subnets: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Access {
    /// Who may reach the bastion's SSH port.
    pub operator_cidrs: Vec<Ipv4Net>,
    /// The bastion's SSH port: anything but 22.
    pub ssh_port: u16,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bastion {
    pub instance_type: String,
    pub ami: String,
    #[serde(default = "default_volume")]
    pub root_volume_gb: i32,
}

fn default_volume() -> i32 {
    20
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DnsMode {
    /// A Route53 private hosted zone associated with the VPC.
    Route53,
    /// The customer runs DNS: Aerie writes the name-to-IP mappings to a file.
    Customer,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    pub mode: DnsMode,
    /// The private zone's name (e.g. `acme.internal`).
    pub zone: String,
    /// With `mode = "customer"`: where the mappings are written, relative
    /// to the spec.
    pub mappings_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Email {
    /// The domain alert mail is sent from, verified in SES with DKIM.
    pub domain: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ntp {
    pub servers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vpn {
    pub customer_gateway_ip: Ipv4Addr,
    pub bgp_asn: i32,
    /// The customer's networks, routed over the VPN; empty means BGP.
    #[serde(default)]
    pub static_routes: Vec<Ipv4Net>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Database {
    pub instance_class: String,
    pub allocated_storage_gb: i32,
    #[serde(default)]
    pub multi_az: bool,
    #[serde(default = "default_engine_version")]
    pub engine_version: String,
    /// Take a final snapshot when the database is deleted (destroy, or
    /// removed from the spec). On by default; off only for throwaway
    /// environments.
    #[serde(default = "yes")]
    pub final_snapshot: bool,
}

fn yes() -> bool {
    true
}

fn default_engine_version() -> String {
    "8.0".into()
}

use aerie_common::toml_file::FieldError;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::new(field, message)
}

/// Where the nodes' agents ship: http(s) URLs for the monitor and proxy.
fn validate_monitor(monitor: &NodeMonitor) -> Result<(), FieldError> {
    let url = &monitor.url;
    if !(url.starts_with("https://") || url.starts_with("http://"))
        || url.contains(char::is_whitespace)
    {
        return Err(invalid(
            "nodes.monitor.url",
            format!("{url:?} is not an http(s) URL (e.g. \"https://monitor.ops.example:8443\")"),
        ));
    }
    if let Some(proxy) = &monitor.proxy
        && !proxy.starts_with("http://")
        && !proxy.starts_with("https://")
    {
        return Err(invalid(
            "nodes.monitor.proxy",
            format!("{proxy:?} is not an http(s) URL (e.g. \"http://proxy.acme.example:3128\")"),
        ));
    }
    Ok(())
}

/// Whether `ami` reads as an AMI id: `ami-` and 8 or 17 hex digits.
fn is_ami(ami: &str) -> bool {
    ami.strip_prefix("ami-").is_some_and(|hex| {
        matches!(hex.len(), 8 | 17)
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_lowercase()))
}

/// Read with the one loader: `Spec::load(file)` and `Spec::parse(file, text)`.
impl TomlFile for Spec {
    type Raw = Spec;
}

impl Validate for Spec {
    type Valid = Spec;

    /// The spec as read, its relative paths taken from the spec's folder, validated.
    fn validate(mut self, base: &Path) -> Result<Self, FieldError> {
        self.history.dir = Some(
            base.join(
                self.history
                    .dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("history")),
            ),
        );
        if let Some(mappings) = &self.dns.mappings_file {
            self.dns.mappings_file = Some(base.join(mappings));
        }
        self.check()?;
        Ok(self)
    }
}

impl Spec {
    /// The environment whose secrets this one's nodes read: its own, or on
    /// a DR site the environment it recovers.
    pub fn secrets_of(&self) -> &str {
        self.recovers.as_deref().unwrap_or(&self.name)
    }

    fn check(&self) -> Result<(), FieldError> {
        self.validate_identity()?;
        self.validate_network()?;
        self.validate_access()?;
        self.validate_bastion()?;
        self.validate_naming()?;
        self.validate_vpn()?;
        self.validate_database()?;
        self.validate_nodes()?;
        self.backup.validate(self.dr_region.as_deref())?;
        Ok(())
    }

    /// The name and the region.
    fn validate_identity(&self) -> Result<(), FieldError> {
        if !valid_name(&self.name) {
            return Err(invalid(
                "name",
                format!(
                    "{:?}: use 1 to 32 lowercase letters, digits and '-' (e.g. \"acme-prod\")",
                    self.name
                ),
            ));
        }
        if self.region.is_empty() {
            return Err(invalid(
                "region",
                "missing: name the AWS region the environment lives in, e.g. region = \"eu-west-1\"",
            ));
        }
        if !regions::is_region(&self.region) {
            return Err(invalid(
                "region",
                format!(
                    "{:?} is not an AWS region (e.g. \"eu-west-1\"; the list is in provisioner/src/spec/regions.rs)",
                    self.region
                ),
            ));
        }
        if let Some(dr_region) = &self.dr_region {
            if !regions::is_region(dr_region) {
                return Err(invalid(
                    "dr_region",
                    format!("{dr_region:?} is not an AWS region (e.g. \"eu-central-1\")"),
                ));
            }
            if *dr_region == self.region {
                return Err(invalid(
                    "dr_region",
                    format!(
                        "is {dr_region:?}, the environment's own region: disaster recovery needs another region (e.g. \"eu-central-1\")"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The VPC, its zones and its subnets: sizes, overlaps, zones of the region.
    fn validate_network(&self) -> Result<(), FieldError> {
        let network = &self.network;
        let vpc = network.vpc_cidr;
        if !(16..=24).contains(&vpc.prefix_len()) {
            return Err(invalid(
                "network.vpc_cidr",
                format!(
                    "{vpc} is /{}: the VPC needs a /16 to /24 (room for four subnets)",
                    vpc.prefix_len()
                ),
            ));
        }
        if vpc.network() != vpc.addr() {
            return Err(invalid(
                "network.vpc_cidr",
                format!("{vpc} has host bits set: write {}", vpc.trunc()),
            ));
        }
        if network.availability_zones.len() != 2 {
            return Err(invalid(
                "network.availability_zones",
                format!(
                    "give exactly two zones of {} (e.g. [\"{0}a\", \"{0}b\"]), not {}",
                    self.region,
                    network.availability_zones.len()
                ),
            ));
        }
        for (index, zone) in network.availability_zones.iter().enumerate() {
            if !regions::is_zone_of(zone, &self.region) {
                return Err(invalid(
                    format!("network.availability_zones[{index}]"),
                    format!(
                        "{zone:?} is not a zone of {} (e.g. \"{}a\")",
                        self.region, self.region
                    ),
                ));
            }
        }
        if network.availability_zones[0] == network.availability_zones[1] {
            return Err(invalid(
                "network.availability_zones",
                "the two zones are the same: the pair must survive the loss of one zone",
            ));
        }
        let mut subnets: Vec<(String, Ipv4Net)> = Vec::new();
        for (kind, list) in [
            ("public_subnets", &network.public_subnets),
            ("private_subnets", &network.private_subnets),
        ] {
            if list.len() != 2 {
                return Err(invalid(
                    format!("network.{kind}"),
                    format!("give two, one per availability zone, not {}", list.len()),
                ));
            }
            for (index, cidr) in list.iter().enumerate() {
                let field = format!("network.{kind}[{index}]");
                if cidr.prefix_len() > 27 {
                    return Err(invalid(
                        field,
                        format!(
                            "{cidr} is too small (/{}): AWS keeps five addresses of every subnet; use /27 or larger",
                            cidr.prefix_len()
                        ),
                    ));
                }
                if cidr.network() != cidr.addr() {
                    return Err(invalid(
                        field,
                        format!("{cidr} has host bits set: write {}", cidr.trunc()),
                    ));
                }
                if !vpc.contains(cidr) {
                    return Err(invalid(
                        field,
                        format!("{cidr} is outside the VPC's {vpc}: pick a range inside it"),
                    ));
                }
                if let Some((other, _)) = subnets
                    .iter()
                    .find(|(_, taken)| taken.contains(cidr) || cidr.contains(taken))
                {
                    return Err(invalid(
                        field,
                        format!("{cidr} overlaps {other}: subnets must not overlap"),
                    ));
                }
                subnets.push((format!("network.{kind}[{index}]"), *cidr));
            }
        }
        Ok(())
    }

    /// Who reaches the bastion, and on which port.
    fn validate_access(&self) -> Result<(), FieldError> {
        if self.access.operator_cidrs.is_empty() {
            return Err(invalid(
                "access.operator_cidrs",
                "empty: list the operators' networks that may reach the bastion",
            ));
        }
        for (index, cidr) in self.access.operator_cidrs.iter().enumerate() {
            if cidr.prefix_len() == 0 {
                return Err(invalid(
                    format!("access.operator_cidrs[{index}]"),
                    "0.0.0.0/0 opens the bastion to the internet: list the operators' networks",
                ));
            }
        }
        match self.access.ssh_port {
            22 => {
                return Err(invalid(
                    "access.ssh_port",
                    "22 is the port every scanner tries: choose a non-standard port (e.g. 2222)",
                ));
            }
            0 => return Err(invalid("access.ssh_port", "0 is not a port")),
            _ => {}
        }
        Ok(())
    }

    /// The product nodes: counts, types, images, disks, the monitor.
    fn validate_nodes(&self) -> Result<(), FieldError> {
        let Some(nodes) = &self.nodes else {
            return Ok(());
        };
        if nodes.product_version.trim().is_empty() {
            return Err(invalid(
                "nodes.product_version",
                "missing: e.g. product_version = \"2.0.0\"",
            ));
        }
        if let Some(key) = &nodes.distribution
            && (key.is_empty() || key.starts_with('/') || key.starts_with("s3://"))
        {
            return Err(invalid(
                "nodes.distribution",
                format!(
                    "{key:?}: name the object's key in the artifacts bucket, e.g. \"dist/wso2am-2.0.0.zip\""
                ),
            ));
        }
        if let Some(key) = &nodes.agent_package
            && (!key.ends_with(".deb") || !key.starts_with("dist/"))
        {
            return Err(invalid(
                "nodes.agent_package",
                format!(
                    "{key:?}: name the .deb's key under dist/ in the artifacts bucket (the nodes may read only there), e.g. \"dist/aerie-agent_0.1.0_amd64.deb\" (scripts/package builds it)"
                ),
            ));
        }
        if !valid_name(&nodes.admin_user) {
            return Err(invalid(
                "nodes.admin_user",
                format!(
                    "{:?}: use lowercase letters, digits and '-' (e.g. \"admin\")",
                    nodes.admin_user
                ),
            ));
        }
        // Each private subnet holds its zone's share of the nodes; AWS keeps
        // five addresses of every subnet.
        let room: u64 = self
            .network
            .private_subnets
            .iter()
            .map(|net| (1u64 << (32 - u32::from(net.prefix_len()))).saturating_sub(5))
            .min()
            .unwrap_or(0);
        let Some(gateways) = nodes.gateways.count else {
            return Err(invalid(
                "nodes.gateways.count",
                "missing: how many gateways, at least one (e.g. count = 2)",
            ));
        };
        let per_zone = u64::from(gateways).div_ceil(2) + 1;
        if gateways == 0 {
            return Err(invalid(
                "nodes.gateways.count",
                "is 0: an environment needs at least one gateway",
            ));
        }
        if per_zone > room {
            return Err(invalid(
                "nodes.gateways.count",
                format!(
                    "{gateways} gateways and a traffic manager per zone need {per_zone} addresses in each private subnet, which hold {room}: use fewer gateways or larger subnets"
                ),
            ));
        }
        if let Some(count) = nodes.traffic_managers.count.filter(|count| *count != 2) {
            return Err(invalid(
                "nodes.traffic_managers.count",
                format!(
                    "is {count}: the traffic managers are always an active/active pair, one per zone (2)"
                ),
            ));
        }
        for (field, kind, ami, volume) in [
            (
                "nodes.gateways",
                &nodes.gateways.instance_type,
                &nodes.gateways.ami,
                nodes.gateways.root_volume_gb,
            ),
            (
                "nodes.traffic_managers",
                &nodes.traffic_managers.instance_type,
                &nodes.traffic_managers.ami,
                nodes.traffic_managers.root_volume_gb,
            ),
        ] {
            if !regions::is_instance_type(kind, false) {
                return Err(invalid(
                    format!("{field}.instance_type"),
                    format!("{kind:?} is not an EC2 instance type (e.g. \"m5.large\")"),
                ));
            }
            if !is_ami(ami) {
                return Err(invalid(
                    format!("{field}.ami"),
                    format!("{ami:?} is not an AMI id (ami- and 8 or 17 hex digits)"),
                ));
            }
            if !(20..=1024).contains(&volume) {
                return Err(invalid(
                    format!("{field}.root_volume_gb"),
                    "use 20 to 1024 GiB",
                ));
            }
        }
        validate_monitor(&nodes.monitor)
    }

    /// The bastion's type, image and disk.
    fn validate_bastion(&self) -> Result<(), FieldError> {
        if !regions::is_instance_type(&self.bastion.instance_type, false) {
            return Err(invalid(
                "bastion.instance_type",
                format!(
                    "{:?} is not an EC2 instance type (e.g. \"t3.micro\")",
                    self.bastion.instance_type
                ),
            ));
        }
        if !is_ami(&self.bastion.ami) {
            return Err(invalid(
                "bastion.ami",
                format!(
                    "{:?} is not an AMI id (ami- and 8 or 17 hex digits)",
                    self.bastion.ami
                ),
            ));
        }
        if !(8..=1024).contains(&self.bastion.root_volume_gb) {
            return Err(invalid("bastion.root_volume_gb", "use 8 to 1024 GiB"));
        }
        Ok(())
    }

    /// DNS, mail and time: the zone, the mail domain, the NTP servers.
    fn validate_naming(&self) -> Result<(), FieldError> {
        if !valid_domain(&self.dns.zone) {
            return Err(invalid(
                "dns.zone",
                format!(
                    "{:?} is not a domain name (e.g. \"acme.internal\")",
                    self.dns.zone
                ),
            ));
        }
        if self.dns.mode == DnsMode::Customer && self.dns.mappings_file.is_none() {
            return Err(invalid(
                "dns.mappings_file",
                "missing: with mode = \"customer\", say where the name-to-IP mappings go",
            ));
        }
        if !valid_domain(&self.email.domain) {
            return Err(invalid(
                "email.domain",
                format!(
                    "{:?} is not a domain name: give the domain alert mail is sent from (e.g. \"mail.acme.example\")",
                    self.email.domain
                ),
            ));
        }
        if self.ntp.servers.is_empty() {
            return Err(invalid(
                "ntp.servers",
                "missing: list the customer's NTP servers, or [\"169.254.169.123\"] for the Amazon Time Sync Service",
            ));
        }
        for (index, server) in self.ntp.servers.iter().enumerate() {
            if server.trim().is_empty() || server.contains(char::is_whitespace) {
                return Err(invalid(
                    format!("ntp.servers[{index}]"),
                    format!("{server:?} is not a host name or address"),
                ));
            }
        }
        Ok(())
    }

    /// The optional VPN.
    fn validate_vpn(&self) -> Result<(), FieldError> {
        let vpc = self.network.vpc_cidr;
        if let Some(vpn) = &self.vpn {
            if !(1..=4_294_967_294_i64).contains(&i64::from(vpn.bgp_asn)) {
                return Err(invalid("vpn.bgp_asn", "must be a positive AS number"));
            }
            for (index, route) in vpn.static_routes.iter().enumerate() {
                if route.contains(&vpc.addr()) || vpc.contains(route) {
                    return Err(invalid(
                        format!("vpn.static_routes[{index}]"),
                        format!("{route} overlaps the VPC's {vpc}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The database.
    fn validate_database(&self) -> Result<(), FieldError> {
        if !regions::is_instance_type(&self.database.instance_class, true) {
            return Err(invalid(
                "database.instance_class",
                format!(
                    "{:?} is not an RDS instance class (e.g. \"db.t3.medium\")",
                    self.database.instance_class
                ),
            ));
        }
        if !(20..=16384).contains(&self.database.allocated_storage_gb) {
            return Err(invalid(
                "database.allocated_storage_gb",
                "MySQL on RDS takes 20 to 16384 GiB",
            ));
        }
        Ok(())
    }
}

pub mod backup;
pub mod regions;

#[cfg(test)]
mod tests;
