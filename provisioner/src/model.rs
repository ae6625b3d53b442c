//! What an environment is made of: every resource the spec asks for, named
//! by its role, with the properties set when it is created, the rules that
//! can change in place (security group ingress, routes, route table
//! associations, DNS records, VPN routes) and the roles it needs first.
//!
//! Desired and observed resources have the same shape, references between
//! them written as roles, so that the plan is a plain comparison.

use std::collections::{BTreeMap, BTreeSet};

mod nodes;

use crate::spec::{DnsMode, Spec};

pub use crate::rule::{BucketSetting, Rule, Source};
pub use nodes::{artifacts_bucket, iam_name, iam_path, secrets};

/// The kinds of resources, in the order they are created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Vpc,
    Subnet,
    InternetGateway,
    ElasticIp,
    NatGateway,
    RouteTable,
    SecurityGroup,
    KeyPair,
    Instance,
    Secret,
    DbSubnetGroup,
    DbInstance,
    HostedZone,
    SesIdentity,
    CustomerGateway,
    VpnGateway,
    VpnConnection,
    Bucket,
    Object,
    IamRole,
    InstanceProfile,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Vpc => "vpc",
            Self::Subnet => "subnet",
            Self::InternetGateway => "internet-gateway",
            Self::ElasticIp => "elastic-ip",
            Self::NatGateway => "nat-gateway",
            Self::RouteTable => "route-table",
            Self::SecurityGroup => "security-group",
            Self::KeyPair => "key-pair",
            Self::Instance => "instance",
            Self::Secret => "secret",
            Self::DbSubnetGroup => "db-subnet-group",
            Self::DbInstance => "db-instance",
            Self::HostedZone => "hosted-zone",
            Self::SesIdentity => "ses-identity",
            Self::CustomerGateway => "customer-gateway",
            Self::VpnGateway => "vpn-gateway",
            Self::VpnConnection => "vpn-connection",
            Self::Bucket => "bucket",
            Self::Object => "object",
            Self::IamRole => "iam-role",
            Self::InstanceProfile => "instance-profile",
        }
    }
}

/// One resource, desired or observed.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub kind: Kind,
    pub role: String,
    /// Set at creation and shown in the plan.
    pub props: BTreeMap<String, String>,
    /// What can change in place; each rule one line of text.
    pub rules: BTreeSet<Rule>,
    /// Roles that must exist first.
    pub deps: Vec<String>,
}

/// A resource as found in AWS: what the plan compares with what is desired.
#[derive(Debug, Clone)]
pub struct Found {
    pub resource: Resource,
    pub id: String,
    pub state: String,
    /// The address others point at (a private IP, an endpoint).
    pub address: Option<String>,
    /// Things to tell the operator (DNS records the customer must add).
    pub notes: Vec<String>,
    /// What apply repairs in place (tags left off by a crash, a stopped
    /// instance, ...).
    pub repairs: Vec<crate::repair::Repair>,
}

impl Found {
    /// Sets property `key` of the resource found.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.resource.props.insert(key.to_owned(), value.into());
    }
}

impl Resource {
    pub(crate) fn new(kind: Kind, role: &str) -> Self {
        Self {
            kind,
            role: role.to_owned(),
            props: BTreeMap::new(),
            rules: BTreeSet::new(),
            deps: Vec::new(),
        }
    }

    pub(crate) fn prop(mut self, key: &str, value: impl Into<String>) -> Self {
        self.props.insert(key.to_owned(), value.into());
        self
    }

    pub(crate) fn rule(mut self, rule: Rule) -> Self {
        self.rules.insert(rule);
        self
    }

    pub(crate) fn rules(mut self, rules: impl IntoIterator<Item = Rule>) -> Self {
        self.rules.extend(rules);
        self
    }

    pub(crate) fn needs(mut self, roles: &[&str]) -> Self {
        self.deps.extend(roles.iter().map(|r| (*r).to_owned()));
        self
    }
}

/// The traffic manager ports open to the gateways: binary receiver, auth,
/// JMS and services, for the pair's port offsets 1 and 2 (seed 000).
pub fn traffic_manager_ports() -> Vec<u16> {
    let mut ports = Vec::new();
    for base in [9611, 9711, 5672, 9443] {
        for offset in [1, 2] {
            ports.push(base + offset);
        }
    }
    ports
}

/// Where a secret of the environment is kept besides its region: the DR
/// region, so that a recovery there finds every secret with its value.
pub fn replicas(spec: &Spec) -> Option<Rule> {
    spec.dr_region.as_ref().map(|region| Rule::Replica {
        region: region.clone(),
    })
}

/// The Secrets Manager name of the RDS master password.
pub fn rds_secret_name(environment: &str) -> String {
    format!("aerie/{environment}/rds-master")
}

/// The Secrets Manager name of the bastion's SSH private key.
pub fn ssh_key_secret_name(environment: &str) -> String {
    format!("aerie/{environment}/bastion-ssh-key")
}

/// TCP ingress on `port` from the security group of `role`.
fn from_group(port: u16, role: &str) -> Rule {
    Rule::ingress("tcp", port, Source::Group(role.to_owned()))
}

fn route(cidr: &str, via: &str) -> Rule {
    Rule::Route {
        cidr: cidr.to_owned(),
        via: via.to_owned(),
    }
}

fn associate(subnet: &str) -> Rule {
    Rule::Associate {
        subnet: subnet.to_owned(),
    }
}

fn attached(vpc: &str) -> Rule {
    Rule::Attached {
        vpc: vpc.to_owned(),
    }
}

fn record(kind: &str, name: &str, target: &str) -> Rule {
    Rule::Record {
        kind: kind.to_owned(),
        name: name.to_owned(),
        target: target.to_owned(),
    }
}

/// Everything the spec asks for, in the order the plan shows it.
pub fn desired(spec: &Spec) -> Result<Vec<Resource>, crate::render::RenderError> {
    let artifacts = crate::render::artifacts(spec)?;
    let mut out = Vec::new();
    network(spec, &mut out);
    security_groups(spec, &mut out);
    bastion(
        spec,
        &user_data_print(&artifacts.user_data["bastion"]),
        &mut out,
    );
    database(spec, &mut out);
    nodes::nodes(spec, &artifacts, &mut out);
    naming(spec, &mut out);
    vpn(spec, &mut out);
    Ok(out)
}

/// The roles named in the environment's DNS (`<role>.<zone>`): the
/// bastion, the database and every product node.
pub fn named_hosts(spec: &Spec) -> Vec<String> {
    let mut hosts = vec!["bastion".to_owned(), "db".to_owned()];
    if let Some(topology) = crate::topology::Topology::of(spec) {
        hosts.extend(topology.nodes().map(|node| node.role.clone()));
    }
    hosts
}

/// The DNS record of each named host (`<role>.<zone>`), pointing at its
/// role: `A` for an instance's IP, `CNAME` for the database's endpoint.
pub fn host_records(spec: &Spec) -> Vec<Rule> {
    named_hosts(spec)
        .into_iter()
        .map(|host| {
            let kind = if host == "db" { "CNAME" } else { "A" };
            record(kind, &format!("{host}.{}", spec.dns.zone), &host)
        })
        .collect()
}

/// What stands for an instance's user-data in the plan: a hash of it, so
/// that a change of what boots the instance (the sshd port, say) shows, and
/// the user-data itself (long, and the operator's business only) does not.
pub fn user_data_print(user_data: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(user_data.as_bytes()))
}

/// The VPC, its subnets in two zones, the gateways and the route tables.
fn network(spec: &Spec, out: &mut Vec<Resource>) {
    let network = &spec.network;
    let zones = &network.availability_zones;
    out.push(Resource::new(Kind::Vpc, "vpc").prop("cidr", network.vpc_cidr.to_string()));
    for (index, letter) in ["a", "b"].iter().enumerate() {
        out.push(
            Resource::new(Kind::Subnet, &format!("public-{letter}"))
                .prop("cidr", network.public_subnets[index].to_string())
                .prop("zone", &zones[index])
                .prop("public", "true")
                .needs(&["vpc"]),
        );
        out.push(
            Resource::new(Kind::Subnet, &format!("private-{letter}"))
                .prop("cidr", network.private_subnets[index].to_string())
                .prop("zone", &zones[index])
                .prop("public", "false")
                .needs(&["vpc"]),
        );
    }
    out.push(
        Resource::new(Kind::InternetGateway, "igw")
            .rule(attached("vpc"))
            .needs(&["vpc"]),
    );
    out.push(Resource::new(Kind::ElasticIp, "nat-ip"));
    out.push(
        Resource::new(Kind::NatGateway, "nat")
            .prop("subnet", "public-a")
            .prop("address", "nat-ip")
            .needs(&["public-a", "nat-ip", "igw"]),
    );
    out.push(
        Resource::new(Kind::RouteTable, "public-routes")
            .rule(route("0.0.0.0/0", "igw"))
            .rule(associate("public-a"))
            .rule(associate("public-b"))
            .needs(&["vpc", "igw", "public-a", "public-b"]),
    );
    let mut private = Resource::new(Kind::RouteTable, "private-routes")
        .rule(route("0.0.0.0/0", "nat"))
        .rule(associate("private-a"))
        .rule(associate("private-b"))
        .needs(&["vpc", "nat", "private-a", "private-b"]);
    if let Some(vpn) = &spec.vpn {
        for cidr in &vpn.static_routes {
            private = private.rule(route(&cidr.to_string(), "vgw"));
        }
        private = private.needs(&["vgw"]);
    }
    out.push(private);
}

/// The security groups: SSH to the bastion from the operators only, to every other node from the bastion only; the traffic-manager ports from the gateways; MySQL from the nodes.
fn security_groups(spec: &Spec, out: &mut Vec<Resource>) {
    let mut bastion = Resource::new(Kind::SecurityGroup, "bastion-sg")
        .prop("description", "SSH to the bastion from the operators")
        .needs(&["vpc"]);
    for cidr in &spec.access.operator_cidrs {
        bastion = bastion.rule(Rule::ingress(
            "tcp",
            spec.access.ssh_port,
            Source::Cidr(cidr.to_string()),
        ));
    }
    out.push(bastion);
    out.push(
        Resource::new(Kind::SecurityGroup, "gateway-sg")
            .prop("description", "API gateways: SSH from the bastion")
            .rule(from_group(22, "bastion-sg"))
            .needs(&["vpc", "bastion-sg"]),
    );
    let mut traffic = Resource::new(Kind::SecurityGroup, "traffic-manager-sg")
        .prop(
            "description",
            "Traffic managers: SSH from the bastion, throttling ports from the gateways",
        )
        .rule(from_group(22, "bastion-sg"))
        .needs(&["vpc", "bastion-sg", "gateway-sg"]);
    for port in traffic_manager_ports() {
        traffic = traffic.rule(from_group(port, "gateway-sg"));
    }
    out.push(traffic);
    out.push(
        Resource::new(Kind::SecurityGroup, "rds-sg")
            .prop("description", "MySQL from the product nodes")
            .rule(from_group(3306, "gateway-sg"))
            .rule(from_group(3306, "traffic-manager-sg"))
            .needs(&["vpc", "gateway-sg", "traffic-manager-sg"]),
    );
}

/// The bastion: its key pair (the private key in Secrets Manager) and the instance, the only one with a public IP.
fn bastion(spec: &Spec, user_data: &str, out: &mut Vec<Resource>) {
    out.push(
        Resource::new(Kind::KeyPair, "bastion-key").prop("secret", ssh_key_secret_name(&spec.name)),
    );
    out.push(
        Resource::new(Kind::Instance, "bastion")
            .prop("type", &spec.bastion.instance_type)
            .prop("ami", &spec.bastion.ami)
            .prop("subnet", "public-a")
            .prop("public_ip", "true")
            .prop("key", "bastion-key")
            .prop("security_groups", "bastion-sg")
            .prop("imdsv2", "required")
            .prop("user_data", user_data)
            .prop(
                "root_volume",
                format!("{} GiB encrypted", spec.bastion.root_volume_gb),
            )
            .needs(&["public-a", "bastion-sg", "bastion-key", "public-routes"]),
    );
}

/// The database: its master password in Secrets Manager, its subnet group and the RDS instance.
fn database(spec: &Spec, out: &mut Vec<Resource>) {
    out.push(
        Resource::new(Kind::Secret, "rds-master-password")
            .prop("name", rds_secret_name(spec.secrets_of()))
            .rules(replicas(spec)),
    );
    out.push(
        Resource::new(Kind::DbSubnetGroup, "db-subnets")
            .prop("name", format!("{}-db", spec.name))
            .prop("subnets", "private-a, private-b")
            .needs(&["private-a", "private-b"]),
    );
    let database = &spec.database;
    let mut db = Resource::new(Kind::DbInstance, "db");
    if spec.production {
        db = db.rule(Rule::DeletionProtection);
    }
    out.push(
        db.prop("identifier", format!("{}-db", spec.name))
            .prop("engine", format!("mysql {}", database.engine_version))
            .prop("class", &database.instance_class)
            .prop(
                "storage",
                format!("{} GiB encrypted", database.allocated_storage_gb),
            )
            .prop("multi_az", database.multi_az.to_string())
            .prop("public", "false")
            .needs(&["db-subnets", "rds-sg", "rds-master-password"]),
    );
}

/// The private zone (when Aerie runs DNS) and the SES identity.
fn naming(spec: &Spec, out: &mut Vec<Resource>) {
    if spec.dns.mode == DnsMode::Route53 {
        let mut zone = Resource::new(Kind::HostedZone, "private-zone")
            .prop("name", &spec.dns.zone)
            .prop("vpc", "vpc")
            .needs(&["vpc"]);
        for record in host_records(spec) {
            if let Rule::Record { target, .. } = &record {
                zone = zone.needs(&[target.as_str()]);
            }
            zone = zone.rule(record);
        }
        out.push(zone);
    }
    // Claimed on the VPC (see aws/resources/ses_identity.rs): it comes after it.
    out.push(
        Resource::new(Kind::SesIdentity, "email")
            .prop("domain", &spec.email.domain)
            .needs(&["vpc"]),
    );
}

/// The optional VPN: customer gateway, VPN gateway and connection.
fn vpn(spec: &Spec, out: &mut Vec<Resource>) {
    if let Some(vpn) = &spec.vpn {
        out.push(
            Resource::new(Kind::CustomerGateway, "cgw")
                .prop("ip", vpn.customer_gateway_ip.to_string())
                .prop("bgp_asn", vpn.bgp_asn.to_string()),
        );
        out.push(
            Resource::new(Kind::VpnGateway, "vgw")
                .rule(attached("vpc"))
                .needs(&["vpc"]),
        );
        let mut connection = Resource::new(Kind::VpnConnection, "vpn")
            .prop("customer_gateway", "cgw")
            .prop("vpn_gateway", "vgw")
            .prop(
                "static_routes_only",
                (!vpn.static_routes.is_empty()).to_string(),
            )
            .needs(&["cgw", "vgw"]);
        for route in &vpn.static_routes {
            connection = connection.rule(Rule::VpnRoute {
                cidr: route.to_string(),
            });
        }
        out.push(connection);
    }
}

/// The DNS records a private zone holds, from the observed resources:
/// `A bastion.zone -> <ip>` as AWS has it.
pub fn resolve_record(
    rule: &Rule,
    addresses: &BTreeMap<String, String>,
) -> Option<(String, String, String)> {
    let Rule::Record { kind, name, target } = rule else {
        return None;
    };
    let value = addresses.get(target)?;
    Some((kind.clone(), name.clone(), value.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_s_ports_follow_the_offsets() {
        assert_eq!(
            traffic_manager_ports(),
            [9612, 9613, 9712, 9713, 5673, 5674, 9444, 9445]
        );
    }
}
