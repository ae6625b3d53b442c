//! The environment as AWS has it: read by tag (`aerie:env`, `aerie:role`),
//! never from a state file, and changed one resource at a time.

pub mod retry;

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_ec2::types::{
    AttributeBooleanValue, BlockDeviceMapping, DomainType, EbsBlockDevice, Filter, GatewayType,
    HttpTokensState, InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    InstanceNetworkInterfaceSpecification, IpPermission, IpRange, ResourceType, Tag,
    TagSpecification, UserIdGroupPair, VolumeType, VpnConnectionOptionsSpecification,
};

use crate::model::{Kind, Resource};
use retry::{AwsError, Policy, call, removed};

pub const ENV_TAG: &str = "aerie:env";
pub const ROLE_TAG: &str = "aerie:role";

/// A resource as found in AWS.
#[derive(Debug, Clone)]
pub struct Found {
    pub resource: Resource,
    pub id: String,
    pub state: String,
    /// The address others point at (a private IP, an endpoint).
    pub address: Option<String>,
    /// Things to tell the operator (DNS records the customer must add).
    pub notes: Vec<String>,
}

/// The AWS clients of one region, for one environment.
#[derive(Debug, Clone)]
pub struct Cloud {
    pub ec2: aws_sdk_ec2::Client,
    pub rds: aws_sdk_rds::Client,
    pub route53: aws_sdk_route53::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ses: aws_sdk_ses::Client,
    pub environment: String,
    pub region: String,
    /// Whether deleting the database first takes a final snapshot (kept).
    pub final_snapshot: bool,
}

fn tag_of<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

fn env_filter(environment: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{ENV_TAG}"))
        .values(environment)
        .build()
}

fn found(kind: Kind, role: &str, id: &str, state: &str) -> Found {
    Found {
        resource: Resource {
            kind,
            role: role.to_owned(),
            props: BTreeMap::new(),
            rules: BTreeSet::new(),
            deps: Vec::new(),
        },
        id: id.to_owned(),
        state: state.to_owned(),
        address: None,
        notes: Vec::new(),
    }
}

impl Cloud {
    pub async fn connect(environment: &str, region: &str) -> Self {
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled())
            .load()
            .await;
        Self {
            ec2: aws_sdk_ec2::Client::new(&sdk),
            rds: aws_sdk_rds::Client::new(&sdk),
            route53: aws_sdk_route53::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            ses: aws_sdk_ses::Client::new(&sdk),
            environment: environment.to_owned(),
            region: region.to_owned(),
            final_snapshot: true,
        }
    }

    /// Tagged for this environment: the filters say so, and this checks it.
    fn ours(&self, tags: &[Tag]) -> bool {
        tag_of(tags, ENV_TAG) == Some(self.environment.as_str())
    }

    fn tags(&self, kind: ResourceType, role: &str) -> TagSpecification {
        TagSpecification::builder()
            .resource_type(kind)
            .tags(Tag::builder().key(ENV_TAG).value(&self.environment).build())
            .tags(Tag::builder().key(ROLE_TAG).value(role).build())
            .tags(
                Tag::builder()
                    .key("Name")
                    .value(format!("{}-{role}", self.environment))
                    .build(),
            )
            .build()
    }

    /// Everything tagged for the environment (and, for the resources AWS
    /// cannot tag or find by tag, what the spec names).
    pub async fn observe(&self, spec: &crate::spec::Spec) -> Result<Vec<Found>, AwsError> {
        let policy = Policy::standard();
        let ec2 = &self.ec2;
        let filter = || env_filter(&self.environment);
        let mut out: Vec<Found> = Vec::new();
        let mut roles: BTreeMap<String, String> = BTreeMap::new();

        let vpcs = call("DescribeVpcs", policy, || {
            ec2.describe_vpcs().filters(filter()).send()
        })
        .await?;
        for vpc in vpcs.vpcs() {
            let role = tag_of(vpc.tags(), ROLE_TAG).unwrap_or("vpc");
            if !self.ours(vpc.tags()) {
                continue;
            }
            let id = vpc.vpc_id().unwrap_or_default();
            let mut f = found(
                Kind::Vpc,
                role,
                id,
                vpc.state().map_or("unknown", |s| s.as_str()),
            );
            f.resource
                .props
                .insert("cidr".into(), vpc.cidr_block().unwrap_or_default().into());
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let subnets = call("DescribeSubnets", policy, || {
            ec2.describe_subnets().filters(filter()).send()
        })
        .await?;
        for subnet in subnets.subnets() {
            let role = tag_of(subnet.tags(), ROLE_TAG).unwrap_or("subnet");
            if !self.ours(subnet.tags()) {
                continue;
            }
            let id = subnet.subnet_id().unwrap_or_default();
            let mut f = found(Kind::Subnet, role, id, "available");
            f.resource.props.insert(
                "cidr".into(),
                subnet.cidr_block().unwrap_or_default().into(),
            );
            f.resource.props.insert(
                "zone".into(),
                subnet.availability_zone().unwrap_or_default().into(),
            );
            f.resource
                .props
                .insert("public".into(), role.starts_with("public").to_string());
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let gateways = call("DescribeInternetGateways", policy, || {
            ec2.describe_internet_gateways().filters(filter()).send()
        })
        .await?;
        for gateway in gateways.internet_gateways() {
            let role = tag_of(gateway.tags(), ROLE_TAG).unwrap_or("igw");
            if !self.ours(gateway.tags()) {
                continue;
            }
            let id = gateway.internet_gateway_id().unwrap_or_default();
            let mut f = found(Kind::InternetGateway, role, id, "available");
            for attachment in gateway.attachments() {
                if let Some(vpc) = attachment.vpc_id().and_then(|v| roles.get(v)) {
                    f.resource.rules.insert(format!("attached to {vpc}"));
                }
            }
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let addresses = call("DescribeAddresses", policy, || {
            ec2.describe_addresses().filters(filter()).send()
        })
        .await?;
        for address in addresses.addresses() {
            let role = tag_of(address.tags(), ROLE_TAG).unwrap_or("eip");
            if !self.ours(address.tags()) {
                continue;
            }
            let id = address.allocation_id().unwrap_or_default();
            let mut f = found(Kind::ElasticIp, role, id, "allocated");
            f.address = address.public_ip().map(str::to_owned);
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let nats = call("DescribeNatGateways", policy, || {
            ec2.describe_nat_gateways()
                .filter(filter())
                .filter(
                    Filter::builder()
                        .name("state")
                        .values("pending")
                        .values("available")
                        .values("failed")
                        .build(),
                )
                .send()
        })
        .await?;
        for nat in nats.nat_gateways() {
            let role = tag_of(nat.tags(), ROLE_TAG).unwrap_or("nat");
            if !self.ours(nat.tags()) {
                continue;
            }
            let id = nat.nat_gateway_id().unwrap_or_default();
            let state = nat
                .state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            if state == "failed" {
                continue;
            }
            let mut f = found(Kind::NatGateway, role, id, &state);
            if let Some(subnet) = nat.subnet_id().and_then(|s| roles.get(s)) {
                f.resource.props.insert("subnet".into(), subnet.clone());
            }
            if let Some(address) = nat
                .nat_gateway_addresses()
                .first()
                .and_then(|a| a.allocation_id())
                .and_then(|a| roles.get(a))
            {
                f.resource.props.insert("address".into(), address.clone());
            }
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let vgws = call("DescribeVpnGateways", policy, || {
            ec2.describe_vpn_gateways()
                .filters(filter())
                .filters(
                    Filter::builder()
                        .name("state")
                        .values("pending")
                        .values("available")
                        .build(),
                )
                .send()
        })
        .await?;
        for vgw in vgws.vpn_gateways() {
            let role = tag_of(vgw.tags(), ROLE_TAG).unwrap_or("vgw");
            if !self.ours(vgw.tags()) {
                continue;
            }
            let id = vgw.vpn_gateway_id().unwrap_or_default();
            if vgw
                .state()
                .is_some_and(|s| matches!(s.as_str(), "deleted" | "deleting"))
            {
                continue;
            }
            let mut f = found(Kind::VpnGateway, role, id, "available");
            for attachment in vgw.vpc_attachments() {
                let attached = attachment
                    .state()
                    .is_some_and(|s| matches!(s.as_str(), "attached" | "attaching"));
                if attached && let Some(vpc) = attachment.vpc_id().and_then(|v| roles.get(v)) {
                    f.resource.rules.insert(format!("attached to {vpc}"));
                }
            }
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let tables = call("DescribeRouteTables", policy, || {
            ec2.describe_route_tables().filters(filter()).send()
        })
        .await?;
        for table in tables.route_tables() {
            let role = tag_of(table.tags(), ROLE_TAG).unwrap_or("routes");
            if !self.ours(table.tags()) {
                continue;
            }
            let id = table.route_table_id().unwrap_or_default();
            let mut f = found(Kind::RouteTable, role, id, "available");
            for route in table.routes() {
                let target = route
                    .gateway_id()
                    .filter(|g| *g != "local")
                    .or(route.nat_gateway_id());
                if let (Some(destination), Some(target)) = (route.destination_cidr_block(), target)
                {
                    let target = roles
                        .get(target)
                        .cloned()
                        .unwrap_or_else(|| target.to_owned());
                    f.resource
                        .rules
                        .insert(format!("route {destination} via {target}"));
                }
            }
            for association in table.associations() {
                if let Some(subnet) = association.subnet_id() {
                    let subnet = roles
                        .get(subnet)
                        .cloned()
                        .unwrap_or_else(|| subnet.to_owned());
                    f.resource.rules.insert(format!("associate {subnet}"));
                }
            }
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let groups = call("DescribeSecurityGroups", policy, || {
            ec2.describe_security_groups().filters(filter()).send()
        })
        .await?;
        for group in groups.security_groups() {
            let role = tag_of(group.tags(), ROLE_TAG).unwrap_or("sg");
            if !self.ours(group.tags()) {
                continue;
            }
            roles.insert(group.group_id().unwrap_or_default().into(), role.into());
        }
        for group in groups.security_groups() {
            let role = tag_of(group.tags(), ROLE_TAG).unwrap_or("sg");
            if !self.ours(group.tags()) {
                continue;
            }
            let id = group.group_id().unwrap_or_default();
            let mut f = found(Kind::SecurityGroup, role, id, "available");
            f.resource.props.insert(
                "description".into(),
                group.description().unwrap_or_default().into(),
            );
            for permission in group.ip_permissions() {
                let protocol = permission.ip_protocol().unwrap_or("-1");
                let ports = match (permission.from_port(), permission.to_port()) {
                    (Some(from), Some(to)) if from == to => from.to_string(),
                    (Some(from), Some(to)) => format!("{from}-{to}"),
                    _ => "all".to_owned(),
                };
                for range in permission.ip_ranges() {
                    f.resource.rules.insert(format!(
                        "{protocol} {ports} from {}",
                        range.cidr_ip().unwrap_or_default()
                    ));
                }
                for pair in permission.user_id_group_pairs() {
                    let source = pair.group_id().unwrap_or_default();
                    let source = roles
                        .get(source)
                        .cloned()
                        .unwrap_or_else(|| source.to_owned());
                    f.resource
                        .rules
                        .insert(format!("{protocol} {ports} from {source}"));
                }
            }
            out.push(f);
        }
        let keys = call("DescribeKeyPairs", policy, || {
            ec2.describe_key_pairs().filters(filter()).send()
        })
        .await?;
        for key in keys.key_pairs() {
            let role = tag_of(key.tags(), ROLE_TAG).unwrap_or("key");
            if !self.ours(key.tags()) {
                continue;
            }
            let mut f = found(
                Kind::KeyPair,
                role,
                key.key_name().unwrap_or_default(),
                "available",
            );
            f.resource.props.insert(
                "secret".into(),
                crate::model::ssh_key_secret_name(&self.environment),
            );
            out.push(f);
        }
        let reservations = call("DescribeInstances", policy, || {
            ec2.describe_instances()
                .filters(filter())
                .filters(
                    Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .values("stopping")
                        .values("stopped")
                        .build(),
                )
                .send()
        })
        .await?;
        for instance in reservations
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
        {
            let role = tag_of(instance.tags(), ROLE_TAG).unwrap_or("instance");
            if !self.ours(instance.tags()) {
                continue;
            }
            let id = instance.instance_id().unwrap_or_default();
            let state = instance
                .state()
                .and_then(|s| s.name())
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default();
            let mut f = found(Kind::Instance, role, id, &state);
            let props = &mut f.resource.props;
            props.insert(
                "type".into(),
                instance
                    .instance_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
            );
            props.insert("ami".into(), instance.image_id().unwrap_or_default().into());
            if let Some(subnet) = instance.subnet_id().and_then(|s| roles.get(s)) {
                props.insert("subnet".into(), subnet.clone());
            }
            props.insert(
                "public_ip".into(),
                instance.public_ip_address().is_some().to_string(),
            );
            props.insert(
                "imdsv2".into(),
                instance
                    .metadata_options()
                    .and_then(|m| m.http_tokens())
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
            );
            f.address = instance.private_ip_address().map(str::to_owned);
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let cgws = call("DescribeCustomerGateways", policy, || {
            ec2.describe_customer_gateways()
                .filters(filter())
                .filters(
                    Filter::builder()
                        .name("state")
                        .values("pending")
                        .values("available")
                        .build(),
                )
                .send()
        })
        .await?;
        for cgw in cgws.customer_gateways() {
            let role = tag_of(cgw.tags(), ROLE_TAG).unwrap_or("cgw");
            if !self.ours(cgw.tags()) {
                continue;
            }
            let id = cgw.customer_gateway_id().unwrap_or_default();
            if cgw
                .state()
                .is_some_and(|s| matches!(s, "deleted" | "deleting"))
            {
                continue;
            }
            let mut f = found(Kind::CustomerGateway, role, id, "available");
            f.resource
                .props
                .insert("ip".into(), cgw.ip_address().unwrap_or_default().into());
            f.resource
                .props
                .insert("bgp_asn".into(), cgw.bgp_asn().unwrap_or_default().into());
            roles.insert(id.into(), role.into());
            out.push(f);
        }
        let connections = call("DescribeVpnConnections", policy, || {
            ec2.describe_vpn_connections()
                .filters(filter())
                .filters(
                    Filter::builder()
                        .name("state")
                        .values("pending")
                        .values("available")
                        .build(),
                )
                .send()
        })
        .await?;
        for connection in connections.vpn_connections() {
            let role = tag_of(connection.tags(), ROLE_TAG).unwrap_or("vpn");
            if !self.ours(connection.tags()) {
                continue;
            }
            let id = connection.vpn_connection_id().unwrap_or_default();
            if connection
                .state()
                .is_some_and(|s| matches!(s.as_str(), "deleted" | "deleting"))
            {
                continue;
            }
            let mut f = found(Kind::VpnConnection, role, id, "available");
            for route in connection.routes() {
                if let Some(cidr) = route.destination_cidr_block() {
                    f.resource.rules.insert(format!("route {cidr}"));
                }
            }
            out.push(f);
        }

        // Secrets Manager, RDS, Route53 and SES: looked up by the names the
        // spec gives, and Aerie's only when tagged for this environment.
        let secret_name = crate::model::rds_secret_name(&self.environment);
        match self
            .secrets
            .describe_secret()
            .secret_id(&secret_name)
            .send()
            .await
        {
            Ok(secret) if secret.deleted_date().is_none() => {
                let ours = secret.tags().iter().any(|t| {
                    t.key() == Some(ENV_TAG) && t.value() == Some(self.environment.as_str())
                });
                if ours {
                    let mut f = found(
                        Kind::Secret,
                        "rds-master-password",
                        secret.arn().unwrap_or_default(),
                        "available",
                    );
                    f.resource.props.insert("name".into(), secret_name.clone());
                    out.push(f);
                }
            }
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_not_found_exception()) => {}
            Err(error) => {
                return Err(AwsError::other(
                    "DescribeSecret",
                    aws_smithy_types::error::display::DisplayErrorContext(&error).to_string(),
                ));
            }
        }
        let group_name = format!("{}-db", self.environment);
        if let Ok(groups) = self
            .rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&group_name)
            .send()
            .await
        {
            for group in groups.db_subnet_groups() {
                let mut f = found(
                    Kind::DbSubnetGroup,
                    "db-subnets",
                    group.db_subnet_group_name().unwrap_or_default(),
                    "available",
                );
                f.resource.props.insert("name".into(), group_name.clone());
                let mut subnets: Vec<String> = group
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier())
                    .map(|s| roles.get(s).cloned().unwrap_or_else(|| s.to_owned()))
                    .collect();
                subnets.sort();
                f.resource
                    .props
                    .insert("subnets".into(), subnets.join(", "));
                out.push(f);
            }
        }
        let identifier = format!("{}-db", self.environment);
        if let Ok(instances) = self
            .rds
            .describe_db_instances()
            .db_instance_identifier(&identifier)
            .send()
            .await
        {
            for db in instances.db_instances() {
                let ours = db.tag_list().iter().any(|t| {
                    t.key() == Some(ENV_TAG) && t.value() == Some(self.environment.as_str())
                });
                let status = db.db_instance_status().unwrap_or_default();
                if !ours || status == "deleting" {
                    continue;
                }
                let mut f = found(Kind::DbInstance, "db", &identifier, status);
                let props = &mut f.resource.props;
                props.insert("identifier".into(), identifier.clone());
                props.insert(
                    "engine".into(),
                    format!(
                        "{} {}",
                        db.engine().unwrap_or_default(),
                        db.engine_version()
                            .unwrap_or_default()
                            .split('.')
                            .take(2)
                            .collect::<Vec<_>>()
                            .join(".")
                    ),
                );
                props.insert(
                    "class".into(),
                    db.db_instance_class().unwrap_or_default().into(),
                );
                props.insert(
                    "storage".into(),
                    format!(
                        "{} GiB {}",
                        db.allocated_storage().unwrap_or_default(),
                        if db.storage_encrypted() == Some(true) {
                            "encrypted"
                        } else {
                            "NOT encrypted"
                        }
                    ),
                );
                props.insert(
                    "multi_az".into(),
                    db.multi_az().unwrap_or_default().to_string(),
                );
                props.insert(
                    "public".into(),
                    db.publicly_accessible().unwrap_or_default().to_string(),
                );
                f.address = db.endpoint().and_then(|e| e.address()).map(str::to_owned);
                out.push(f);
            }
        }
        if spec.dns.mode == crate::spec::DnsMode::Route53 {
            let addresses: BTreeMap<String, String> = out
                .iter()
                .filter_map(|f| Some((f.resource.role.clone(), f.address.clone()?)))
                .collect();
            if let Some(zone) = self.find_zone(&spec.dns.zone).await? {
                let mut f = found(Kind::HostedZone, "private-zone", &zone, "available");
                f.resource
                    .props
                    .insert("name".into(), spec.dns.zone.clone());
                f.resource.props.insert("vpc".into(), "vpc".into());
                let records = call("ListResourceRecordSets", policy, || {
                    self.route53
                        .list_resource_record_sets()
                        .hosted_zone_id(&zone)
                        .send()
                })
                .await?;
                for set in records.resource_record_sets() {
                    let kind = set.r#type().as_str();
                    if kind == "SOA" || kind == "NS" {
                        continue;
                    }
                    let name = set.name().trim_end_matches('.');
                    let value = set
                        .resource_records()
                        .first()
                        .map(|r| r.value())
                        .unwrap_or_default();
                    let target = addresses
                        .iter()
                        .find(|(_, address)| address.as_str() == value)
                        .map(|(role, _)| role.clone())
                        .unwrap_or_else(|| format!("{value} (unknown)"));
                    f.resource
                        .rules
                        .insert(format!("{kind} {name} -> {target}"));
                }
                out.push(f);
            }
        }
        let domain = &spec.email.domain;
        let verification = call("GetIdentityVerificationAttributes", policy, || {
            self.ses
                .get_identity_verification_attributes()
                .identities(domain)
                .send()
        })
        .await?;
        if let Some(attributes) = verification.verification_attributes().get(domain) {
            let mut f = found(
                Kind::SesIdentity,
                "email",
                domain,
                attributes.verification_status().as_str(),
            );
            f.resource.props.insert("domain".into(), domain.clone());
            if let Some(token) = attributes.verification_token() {
                f.notes
                    .push(format!("TXT   _amazonses.{domain}  \"{token}\""));
            }
            let dkim = call("GetIdentityDkimAttributes", policy, || {
                self.ses
                    .get_identity_dkim_attributes()
                    .identities(domain)
                    .send()
            })
            .await?;
            if let Some(dkim) = dkim.dkim_attributes().get(domain) {
                for token in dkim.dkim_tokens() {
                    f.notes.push(format!(
                        "CNAME {token}._domainkey.{domain}  {token}.dkim.amazonses.com"
                    ));
                }
            }
            out.push(f);
        }
        Ok(out)
    }

    async fn find_zone(&self, name: &str) -> Result<Option<String>, AwsError> {
        let policy = Policy::standard();
        let zones = call("ListHostedZonesByName", policy, || {
            self.route53
                .list_hosted_zones_by_name()
                .dns_name(name)
                .send()
        })
        .await?;
        for zone in zones.hosted_zones() {
            if zone.name().trim_end_matches('.') != name {
                continue;
            }
            let id = zone.id().trim_start_matches("/hostedzone/").to_owned();
            let tags = call("ListTagsForResource", policy, || {
                self.route53
                    .list_tags_for_resource()
                    .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
                    .resource_id(&id)
                    .send()
            })
            .await?;
            let ours = tags.resource_tag_set().is_some_and(|set| {
                set.tags().iter().any(|t| {
                    t.key() == Some(ENV_TAG) && t.value() == Some(self.environment.as_str())
                })
            });
            if ours {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }
}

/// What a step needs to know of the others: ids and addresses by role.
#[derive(Debug, Default, Clone)]
pub struct Known {
    pub ids: BTreeMap<String, String>,
    pub addresses: BTreeMap<String, String>,
}

impl Known {
    pub fn id(&self, role: &str) -> Result<String, AwsError> {
        self.ids
            .get(role)
            .cloned()
            .ok_or_else(|| AwsError::other("resolve", format!("{role} does not exist yet")))
    }
}

/// The name of the snapshot taken when database `instance` is deleted at `at`.
pub fn final_snapshot_name(instance: &str, at: chrono::DateTime<chrono::Utc>) -> String {
    format!("{instance}-final-{}", at.format("%Y%m%d-%H%M%S"))
}

fn random_password() -> String {
    aerie_common::secret::password(32)
}

fn ingress(rule: &str, known: &Known) -> Result<IpPermission, AwsError> {
    // "tcp 2222 from 203.0.113.0/24" or "tcp 22 from bastion-sg"
    let parts: Vec<&str> = rule.split(' ').collect();
    let [protocol, port, "from", source] = parts[..] else {
        return Err(AwsError::other(
            "ingress",
            format!("cannot read rule {rule:?}"),
        ));
    };
    let port: i32 = port
        .parse()
        .map_err(|_| AwsError::other("ingress", format!("cannot read port in {rule:?}")))?;
    let permission = IpPermission::builder()
        .ip_protocol(protocol)
        .from_port(port)
        .to_port(port);
    Ok(if source.contains('/') {
        permission
            .ip_ranges(IpRange::builder().cidr_ip(source).build())
            .build()
    } else {
        let group = known
            .ids
            .get(source)
            .cloned()
            .unwrap_or_else(|| source.to_owned());
        permission
            .user_id_group_pairs(UserIdGroupPair::builder().group_id(group).build())
            .build()
    })
}

impl Cloud {
    /// Creates `resource`; answers its id (and address, when it has one).
    pub async fn create(
        &self,
        resource: &Resource,
        known: &Known,
        user_data: &str,
        spec: &crate::spec::Spec,
    ) -> Result<(String, Option<String>), AwsError> {
        let policy = Policy::standard();
        let ec2 = &self.ec2;
        let role = resource.role.as_str();
        let prop = |key: &str| resource.props.get(key).cloned().unwrap_or_default();
        // Every id looked up below is of a dependency: all must exist.
        if let Some(missing) = resource.deps.iter().find(|d| !known.ids.contains_key(*d)) {
            return Err(AwsError::other(
                "resolve",
                format!("{role} needs {missing}, which does not exist yet"),
            ));
        }
        let id = match resource.kind {
            Kind::Vpc => {
                let created = call("CreateVpc", policy, || {
                    ec2.create_vpc()
                        .cidr_block(prop("cidr"))
                        .tag_specifications(self.tags(ResourceType::Vpc, role))
                        .send()
                })
                .await?;
                let id = created
                    .vpc()
                    .and_then(|v| v.vpc_id())
                    .unwrap_or_default()
                    .to_owned();
                for (name, hostnames) in [("support", false), ("hostnames", true)] {
                    call("ModifyVpcAttribute", policy, || {
                        let request = ec2.modify_vpc_attribute().vpc_id(&id);
                        let on = AttributeBooleanValue::builder().value(true).build();
                        if hostnames {
                            request.enable_dns_hostnames(on).send()
                        } else {
                            request.enable_dns_support(on).send()
                        }
                    })
                    .await
                    .map_err(|e| AwsError {
                        message: format!("DNS {name}: {}", e.message),
                        ..e
                    })?;
                }
                id
            }
            Kind::Subnet => call("CreateSubnet", policy, || {
                ec2.create_subnet()
                    .vpc_id(known.ids.get("vpc").cloned().unwrap_or_default())
                    .cidr_block(prop("cidr"))
                    .availability_zone(prop("zone"))
                    .tag_specifications(self.tags(ResourceType::Subnet, role))
                    .send()
            })
            .await?
            .subnet()
            .and_then(|s| s.subnet_id())
            .unwrap_or_default()
            .to_owned(),
            Kind::InternetGateway => call("CreateInternetGateway", policy, || {
                ec2.create_internet_gateway()
                    .tag_specifications(self.tags(ResourceType::InternetGateway, role))
                    .send()
            })
            .await?
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_owned(),
            Kind::ElasticIp => call("AllocateAddress", policy, || {
                ec2.allocate_address()
                    .domain(DomainType::Vpc)
                    .tag_specifications(self.tags(ResourceType::ElasticIp, role))
                    .send()
            })
            .await?
            .allocation_id()
            .unwrap_or_default()
            .to_owned(),
            Kind::NatGateway => {
                let id = call("CreateNatGateway", policy, || {
                    ec2.create_nat_gateway()
                        .subnet_id(known.ids.get(&prop("subnet")).cloned().unwrap_or_default())
                        .allocation_id(known.ids.get(&prop("address")).cloned().unwrap_or_default())
                        .tag_specifications(self.tags(ResourceType::Natgateway, role))
                        .send()
                })
                .await?
                .nat_gateway()
                .and_then(|n| n.nat_gateway_id())
                .unwrap_or_default()
                .to_owned();
                self.wait_nat_available(&id).await?;
                id
            }
            Kind::RouteTable => call("CreateRouteTable", policy, || {
                ec2.create_route_table()
                    .vpc_id(known.ids.get("vpc").cloned().unwrap_or_default())
                    .tag_specifications(self.tags(ResourceType::RouteTable, role))
                    .send()
            })
            .await?
            .route_table()
            .and_then(|t| t.route_table_id())
            .unwrap_or_default()
            .to_owned(),
            Kind::SecurityGroup => call("CreateSecurityGroup", policy, || {
                ec2.create_security_group()
                    .group_name(format!("{}-{role}", self.environment))
                    .description(prop("description"))
                    .vpc_id(known.ids.get("vpc").cloned().unwrap_or_default())
                    .tag_specifications(self.tags(ResourceType::SecurityGroup, role))
                    .send()
            })
            .await?
            .group_id()
            .unwrap_or_default()
            .to_owned(),
            Kind::KeyPair => {
                let name = format!("{}-{role}", self.environment);
                let created = call("CreateKeyPair", policy, || {
                    ec2.create_key_pair()
                        .key_name(&name)
                        .tag_specifications(self.tags(ResourceType::KeyPair, role))
                        .send()
                })
                .await?;
                // The private key goes to Secrets Manager and nowhere else.
                let material = created.key_material().unwrap_or_default().to_owned();
                self.put_secret(&prop("secret"), &material, role).await?;
                name
            }
            Kind::Instance => {
                use base64::Engine;
                let encoded = base64::engine::general_purpose::STANDARD.encode(user_data);
                let created = call("RunInstances", policy, || {
                    ec2.run_instances()
                        .image_id(prop("ami"))
                        .instance_type(aws_sdk_ec2::types::InstanceType::from(
                            prop("type").as_str(),
                        ))
                        .min_count(1)
                        .max_count(1)
                        .key_name(format!("{}-bastion-key", self.environment))
                        .user_data(&encoded)
                        .metadata_options(
                            InstanceMetadataOptionsRequest::builder()
                                .http_tokens(HttpTokensState::Required)
                                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                                .build(),
                        )
                        .block_device_mappings(
                            BlockDeviceMapping::builder()
                                .device_name("/dev/xvda")
                                .ebs(
                                    EbsBlockDevice::builder()
                                        .volume_size(spec.bastion.root_volume_gb)
                                        .volume_type(VolumeType::Gp3)
                                        .encrypted(true)
                                        .delete_on_termination(true)
                                        .build(),
                                )
                                .build(),
                        )
                        .network_interfaces(
                            InstanceNetworkInterfaceSpecification::builder()
                                .device_index(0)
                                .subnet_id(
                                    known.ids.get(&prop("subnet")).cloned().unwrap_or_default(),
                                )
                                .groups(known.ids.get("bastion-sg").cloned().unwrap_or_default())
                                .associate_public_ip_address(true)
                                .build(),
                        )
                        .tag_specifications(self.tags(ResourceType::Instance, role))
                        .send()
                })
                .await?;
                let instance = created.instances().first();
                let id = instance
                    .and_then(|i| i.instance_id())
                    .unwrap_or_default()
                    .to_owned();
                let address = instance
                    .and_then(|i| i.private_ip_address())
                    .map(str::to_owned);
                return Ok((id, address));
            }
            Kind::Secret => {
                let name = prop("name");
                self.put_secret(&name, &random_password(), role).await?
            }
            Kind::DbSubnetGroup => {
                let name = prop("name");
                call("CreateDBSubnetGroup", policy, || {
                    self.rds
                        .create_db_subnet_group()
                        .db_subnet_group_name(&name)
                        .db_subnet_group_description(format!(
                            "{} private subnets",
                            self.environment
                        ))
                        .subnet_ids(known.ids.get("private-a").cloned().unwrap_or_default())
                        .subnet_ids(known.ids.get("private-b").cloned().unwrap_or_default())
                        .tags(self.rds_tag(ENV_TAG, &self.environment))
                        .tags(self.rds_tag(ROLE_TAG, role))
                        .tags(self.rds_tag("Name", &format!("{}-{role}", self.environment)))
                        .send()
                })
                .await?;
                name
            }
            Kind::DbInstance => {
                let identifier = prop("identifier");
                let password = call("GetSecretValue", policy, || {
                    self.secrets
                        .get_secret_value()
                        .secret_id(crate::model::rds_secret_name(&self.environment))
                        .send()
                })
                .await?
                .secret_string()
                .unwrap_or_default()
                .to_owned();
                let created = call("CreateDBInstance", policy, || {
                    self.rds
                        .create_db_instance()
                        .db_instance_identifier(&identifier)
                        .engine("mysql")
                        .engine_version(&spec.database.engine_version)
                        .db_instance_class(&spec.database.instance_class)
                        .allocated_storage(spec.database.allocated_storage_gb)
                        .master_username("aerieadmin")
                        .master_user_password(&password)
                        .db_subnet_group_name(format!("{}-db", self.environment))
                        .vpc_security_group_ids(
                            known.ids.get("rds-sg").cloned().unwrap_or_default(),
                        )
                        .storage_encrypted(true)
                        .publicly_accessible(false)
                        .multi_az(spec.database.multi_az)
                        .backup_retention_period(7)
                        .tags(self.rds_tag(ENV_TAG, &self.environment))
                        .tags(self.rds_tag(ROLE_TAG, role))
                        .tags(self.rds_tag("Name", &format!("{}-{role}", self.environment)))
                        .send()
                })
                .await?;
                let address = created
                    .db_instance()
                    .and_then(|d| d.endpoint())
                    .and_then(|e| e.address())
                    .map(str::to_owned);
                return Ok((identifier, address));
            }
            Kind::HostedZone => {
                let name = prop("name");
                let zone = call("CreateHostedZone", policy, || {
                    self.route53
                        .create_hosted_zone()
                        .name(&name)
                        .caller_reference(format!(
                            "aerie-{}-{}",
                            self.environment,
                            random_password()
                        ))
                        .vpc(
                            aws_sdk_route53::types::Vpc::builder()
                                .vpc_id(known.ids.get("vpc").cloned().unwrap_or_default())
                                .vpc_region(aws_sdk_route53::types::VpcRegion::from(
                                    self.region.as_str(),
                                ))
                                .build(),
                        )
                        .hosted_zone_config(
                            aws_sdk_route53::types::HostedZoneConfig::builder()
                                .private_zone(true)
                                .comment(format!("aerie:env={}", self.environment))
                                .build(),
                        )
                        .send()
                })
                .await?;
                let id = zone
                    .hosted_zone()
                    .map(|z| z.id().trim_start_matches("/hostedzone/").to_owned())
                    .unwrap_or_default();
                call("ChangeTagsForResource", policy, || {
                    self.route53
                        .change_tags_for_resource()
                        .resource_type(aws_sdk_route53::types::TagResourceType::Hostedzone)
                        .resource_id(&id)
                        .add_tags(
                            aws_sdk_route53::types::Tag::builder()
                                .key(ENV_TAG)
                                .value(&self.environment)
                                .build(),
                        )
                        .add_tags(
                            aws_sdk_route53::types::Tag::builder()
                                .key(ROLE_TAG)
                                .value(role)
                                .build(),
                        )
                        .add_tags(
                            aws_sdk_route53::types::Tag::builder()
                                .key("Name")
                                .value(format!("{}-{role}", self.environment))
                                .build(),
                        )
                        .send()
                })
                .await?;
                id
            }
            Kind::SesIdentity => {
                let domain = prop("domain");
                call("VerifyDomainIdentity", policy, || {
                    self.ses.verify_domain_identity().domain(&domain).send()
                })
                .await?;
                call("VerifyDomainDkim", policy, || {
                    self.ses.verify_domain_dkim().domain(&domain).send()
                })
                .await?;
                domain
            }
            Kind::CustomerGateway => call("CreateCustomerGateway", policy, || {
                ec2.create_customer_gateway()
                    .bgp_asn(prop("bgp_asn").parse().unwrap_or(65000))
                    .ip_address(prop("ip"))
                    .r#type(GatewayType::Ipsec1)
                    .tag_specifications(self.tags(ResourceType::CustomerGateway, role))
                    .send()
            })
            .await?
            .customer_gateway()
            .and_then(|g| g.customer_gateway_id())
            .unwrap_or_default()
            .to_owned(),
            Kind::VpnGateway => call("CreateVpnGateway", policy, || {
                ec2.create_vpn_gateway()
                    .r#type(GatewayType::Ipsec1)
                    .tag_specifications(self.tags(ResourceType::VpnGateway, role))
                    .send()
            })
            .await?
            .vpn_gateway()
            .and_then(|g| g.vpn_gateway_id())
            .unwrap_or_default()
            .to_owned(),
            Kind::VpnConnection => call("CreateVpnConnection", policy, || {
                ec2.create_vpn_connection()
                    .customer_gateway_id(known.ids.get("cgw").cloned().unwrap_or_default())
                    .vpn_gateway_id(known.ids.get("vgw").cloned().unwrap_or_default())
                    .r#type("ipsec.1")
                    .options(
                        VpnConnectionOptionsSpecification::builder()
                            .static_routes_only(prop("static_routes_only") == "true")
                            .build(),
                    )
                    .tag_specifications(self.tags(ResourceType::VpnConnection, role))
                    .send()
            })
            .await?
            .vpn_connection()
            .and_then(|c| c.vpn_connection_id())
            .unwrap_or_default()
            .to_owned(),
        };
        Ok((id, None))
    }

    fn rds_tag(&self, key: &str, value: &str) -> aws_sdk_rds::types::Tag {
        aws_sdk_rds::types::Tag::builder()
            .key(key)
            .value(value)
            .build()
    }

    async fn put_secret(&self, name: &str, value: &str, role: &str) -> Result<String, AwsError> {
        let policy = Policy::standard();
        let created = call("CreateSecret", policy, || {
            self.secrets
                .create_secret()
                .name(name)
                .secret_string(value)
                .tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(ENV_TAG)
                        .value(&self.environment)
                        .build(),
                )
                .tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key(ROLE_TAG)
                        .value(role)
                        .build(),
                )
                .tags(
                    aws_sdk_secretsmanager::types::Tag::builder()
                        .key("Name")
                        .value(format!("{}-{role}", self.environment))
                        .build(),
                )
                .send()
        })
        .await;
        match created {
            Ok(created) => Ok(created.arn().unwrap_or_default().to_owned()),
            // Left by an interrupted run: keep it (its value may be in use).
            Err(error) if error.is("ResourceExistsException") => Ok(name.to_owned()),
            Err(error) => Err(error),
        }
    }

    async fn wait_nat_available(&self, id: &str) -> Result<(), AwsError> {
        for _ in 0..120 {
            let nats = call("DescribeNatGateways", Policy::standard(), || {
                self.ec2.describe_nat_gateways().nat_gateway_ids(id).send()
            })
            .await?;
            match nats
                .nat_gateways()
                .first()
                .and_then(|n| n.state())
                .map(|s| s.as_str())
            {
                Some("available") => return Ok(()),
                Some("failed") => {
                    return Err(AwsError::other("CreateNatGateway", format!("{id} failed")));
                }
                _ => tokio::time::sleep(std::time::Duration::from_secs(2)).await,
            }
        }
        Err(AwsError::other(
            "CreateNatGateway",
            format!("{id} was not available after 4 minutes"),
        ))
    }

    /// Adds and removes rules of an existing resource.
    pub async fn change_rules(
        &self,
        resource: &Resource,
        id: &str,
        add: &[String],
        remove: &[String],
        known: &Known,
    ) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &self.ec2;
        match resource.kind {
            Kind::SecurityGroup => {
                for rule in remove {
                    let permission = ingress(rule, known)?;
                    call("RevokeSecurityGroupIngress", policy, || {
                        ec2.revoke_security_group_ingress()
                            .group_id(id)
                            .ip_permissions(permission.clone())
                            .send()
                    })
                    .await?;
                }
                for rule in add {
                    let permission = ingress(rule, known)?;
                    call("AuthorizeSecurityGroupIngress", policy, || {
                        ec2.authorize_security_group_ingress()
                            .group_id(id)
                            .ip_permissions(permission.clone())
                            .send()
                    })
                    .await?;
                }
            }
            Kind::RouteTable => {
                for rule in remove {
                    if let Some(route) = rule.strip_prefix("route ") {
                        let destination = route.split(' ').next().unwrap_or_default();
                        call("DeleteRoute", policy, || {
                            ec2.delete_route()
                                .route_table_id(id)
                                .destination_cidr_block(destination)
                                .send()
                        })
                        .await?;
                    } else if let Some(subnet) = rule.strip_prefix("associate ") {
                        let subnet_id = known
                            .ids
                            .get(subnet)
                            .cloned()
                            .unwrap_or_else(|| subnet.to_owned());
                        let tables = call("DescribeRouteTables", policy, || {
                            ec2.describe_route_tables().route_table_ids(id).send()
                        })
                        .await?;
                        for association in
                            tables.route_tables().iter().flat_map(|t| t.associations())
                        {
                            if association.subnet_id() == Some(subnet_id.as_str())
                                && let Some(association_id) =
                                    association.route_table_association_id()
                            {
                                call("DisassociateRouteTable", policy, || {
                                    ec2.disassociate_route_table()
                                        .association_id(association_id)
                                        .send()
                                })
                                .await?;
                            }
                        }
                    }
                }
                for rule in add {
                    if let Some(route) = rule.strip_prefix("route ") {
                        let (destination, target) =
                            route.split_once(" via ").unwrap_or((route, ""));
                        let target = known.id(target)?;
                        call("CreateRoute", policy, || {
                            let request = ec2
                                .create_route()
                                .route_table_id(id)
                                .destination_cidr_block(destination);
                            if target.starts_with("nat-") {
                                request.nat_gateway_id(&target).send()
                            } else {
                                request.gateway_id(&target).send()
                            }
                        })
                        .await?;
                    } else if let Some(subnet) = rule.strip_prefix("associate ") {
                        let subnet_id = known.id(subnet)?;
                        call("AssociateRouteTable", policy, || {
                            ec2.associate_route_table()
                                .route_table_id(id)
                                .subnet_id(&subnet_id)
                                .send()
                        })
                        .await?;
                    }
                }
            }
            Kind::InternetGateway | Kind::VpnGateway => {
                for rule in add {
                    let vpc = known.id(rule.trim_start_matches("attached to "))?;
                    if resource.kind == Kind::InternetGateway {
                        call("AttachInternetGateway", policy, || {
                            ec2.attach_internet_gateway()
                                .internet_gateway_id(id)
                                .vpc_id(&vpc)
                                .send()
                        })
                        .await?;
                    } else {
                        call("AttachVpnGateway", policy, || {
                            ec2.attach_vpn_gateway()
                                .vpn_gateway_id(id)
                                .vpc_id(&vpc)
                                .send()
                        })
                        .await?;
                    }
                }
            }
            Kind::VpnConnection => {
                for rule in remove {
                    let cidr = rule.trim_start_matches("route ");
                    call("DeleteVpnConnectionRoute", policy, || {
                        ec2.delete_vpn_connection_route()
                            .vpn_connection_id(id)
                            .destination_cidr_block(cidr)
                            .send()
                    })
                    .await?;
                }
                for rule in add {
                    let cidr = rule.trim_start_matches("route ");
                    call("CreateVpnConnectionRoute", policy, || {
                        ec2.create_vpn_connection_route()
                            .vpn_connection_id(id)
                            .destination_cidr_block(cidr)
                            .send()
                    })
                    .await?;
                }
            }
            Kind::HostedZone => {
                use aws_sdk_route53::types::{
                    Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType,
                };
                let mut changes = Vec::new();
                for rule in add {
                    let Some((kind, name, value)) =
                        crate::model::resolve_record(rule, &known.addresses)
                    else {
                        return Err(AwsError::other(
                            "ChangeResourceRecordSets",
                            format!("no address yet for {rule:?}"),
                        ));
                    };
                    let set = ResourceRecordSet::builder()
                        .name(&name)
                        .r#type(RrType::from(kind.as_str()))
                        .ttl(300)
                        .resource_records(
                            ResourceRecord::builder()
                                .value(value)
                                .build()
                                .map_err(|e| AwsError::other("record", e.to_string()))?,
                        )
                        .build()
                        .map_err(|e| AwsError::other("record", e.to_string()))?;
                    changes.push(
                        Change::builder()
                            .action(ChangeAction::Upsert)
                            .resource_record_set(set)
                            .build()
                            .map_err(|e| AwsError::other("record", e.to_string()))?,
                    );
                }
                if !changes.is_empty() {
                    let batch = ChangeBatch::builder()
                        .set_changes(Some(changes))
                        .build()
                        .map_err(|e| AwsError::other("record", e.to_string()))?;
                    call("ChangeResourceRecordSets", policy, || {
                        self.route53
                            .change_resource_record_sets()
                            .hosted_zone_id(id)
                            .change_batch(batch.clone())
                            .send()
                    })
                    .await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Deletes a resource found in AWS; answers what it kept, if anything
    /// (the database's final snapshot).
    pub async fn delete(&self, found: &Found, known: &Known) -> Result<Option<String>, AwsError> {
        let policy = Policy::destroying();
        let ec2 = &self.ec2;
        let id = found.id.as_str();
        let mut kept = None;
        let outcome = match found.resource.kind {
            Kind::Vpc => removed("DeleteVpc", policy, || ec2.delete_vpc().vpc_id(id).send()).await,
            Kind::Subnet => {
                removed("DeleteSubnet", policy, || {
                    ec2.delete_subnet().subnet_id(id).send()
                })
                .await
            }
            Kind::InternetGateway => {
                for rule in &found.resource.rules {
                    if let Some(vpc) = known.ids.get(rule.trim_start_matches("attached to ")) {
                        removed("DetachInternetGateway", policy, || {
                            ec2.detach_internet_gateway()
                                .internet_gateway_id(id)
                                .vpc_id(vpc)
                                .send()
                        })
                        .await?;
                    }
                }
                removed("DeleteInternetGateway", policy, || {
                    ec2.delete_internet_gateway().internet_gateway_id(id).send()
                })
                .await
            }
            Kind::ElasticIp => {
                removed("ReleaseAddress", policy, || {
                    ec2.release_address().allocation_id(id).send()
                })
                .await
            }
            Kind::NatGateway => {
                removed("DeleteNatGateway", policy, || {
                    ec2.delete_nat_gateway().nat_gateway_id(id).send()
                })
                .await?;
                for _ in 0..150 {
                    let nats = call("DescribeNatGateways", Policy::standard(), || {
                        ec2.describe_nat_gateways().nat_gateway_ids(id).send()
                    })
                    .await;
                    match nats {
                        Ok(nats)
                            if nats
                                .nat_gateways()
                                .first()
                                .and_then(|n| n.state())
                                .is_some_and(|s| s.as_str() != "deleted") =>
                        {
                            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                        }
                        _ => return Ok(None),
                    }
                }
                Ok(())
            }
            Kind::RouteTable => {
                let tables = call("DescribeRouteTables", policy, || {
                    ec2.describe_route_tables().route_table_ids(id).send()
                })
                .await;
                if let Ok(tables) = tables {
                    for association in tables.route_tables().iter().flat_map(|t| t.associations()) {
                        if let (Some(association_id), false) = (
                            association.route_table_association_id(),
                            association.main().unwrap_or(false),
                        ) {
                            removed("DisassociateRouteTable", policy, || {
                                ec2.disassociate_route_table()
                                    .association_id(association_id)
                                    .send()
                            })
                            .await?;
                        }
                    }
                }
                removed("DeleteRouteTable", policy, || {
                    ec2.delete_route_table().route_table_id(id).send()
                })
                .await
            }
            Kind::SecurityGroup => {
                // Rules naming other groups must go first, or neither group can.
                let groups = call("DescribeSecurityGroups", policy, || {
                    ec2.describe_security_groups().group_ids(id).send()
                })
                .await;
                if let Ok(groups) = groups {
                    let referencing: Vec<IpPermission> = groups
                        .security_groups()
                        .iter()
                        .flat_map(|g| g.ip_permissions())
                        .filter(|p| !p.user_id_group_pairs().is_empty())
                        .cloned()
                        .collect();
                    if !referencing.is_empty() {
                        removed("RevokeSecurityGroupIngress", policy, || {
                            ec2.revoke_security_group_ingress()
                                .group_id(id)
                                .set_ip_permissions(Some(referencing.clone()))
                                .send()
                        })
                        .await?;
                    }
                }
                removed("DeleteSecurityGroup", policy, || {
                    ec2.delete_security_group().group_id(id).send()
                })
                .await
            }
            Kind::KeyPair => {
                removed("DeleteKeyPair", policy, || {
                    ec2.delete_key_pair().key_name(id).send()
                })
                .await?;
                let secret = crate::model::ssh_key_secret_name(&self.environment);
                removed("DeleteSecret", policy, || {
                    self.secrets
                        .delete_secret()
                        .secret_id(&secret)
                        .force_delete_without_recovery(true)
                        .send()
                })
                .await
            }
            Kind::Instance => {
                removed("TerminateInstances", policy, || {
                    ec2.terminate_instances().instance_ids(id).send()
                })
                .await
            }
            Kind::Secret => {
                removed("DeleteSecret", policy, || {
                    self.secrets
                        .delete_secret()
                        .secret_id(id)
                        .force_delete_without_recovery(true)
                        .send()
                })
                .await
            }
            Kind::DbSubnetGroup => {
                removed("DeleteDBSubnetGroup", policy, || {
                    self.rds
                        .delete_db_subnet_group()
                        .db_subnet_group_name(id)
                        .send()
                })
                .await
            }
            Kind::DbInstance => {
                // The snapshot outlives the environment: it is how its data
                // comes back (`aerie:env` tags are copied onto it).
                let snapshot = self
                    .final_snapshot
                    .then(|| final_snapshot_name(id, chrono::Utc::now()));
                kept = snapshot
                    .as_ref()
                    .map(|name| format!("final snapshot {name}"));
                removed("DeleteDBInstance", policy, || {
                    self.rds
                        .delete_db_instance()
                        .db_instance_identifier(id)
                        .skip_final_snapshot(snapshot.is_none())
                        .set_final_db_snapshot_identifier(snapshot.clone())
                        .delete_automated_backups(false)
                        .send()
                })
                .await
            }
            Kind::HostedZone => {
                use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch};
                let records = call("ListResourceRecordSets", policy, || {
                    self.route53
                        .list_resource_record_sets()
                        .hosted_zone_id(id)
                        .send()
                })
                .await?;
                let changes: Vec<Change> = records
                    .resource_record_sets()
                    .iter()
                    .filter(|s| !matches!(s.r#type().as_str(), "SOA" | "NS"))
                    .filter_map(|s| {
                        Change::builder()
                            .action(ChangeAction::Delete)
                            .resource_record_set(s.clone())
                            .build()
                            .ok()
                    })
                    .collect();
                if !changes.is_empty() {
                    let batch = ChangeBatch::builder()
                        .set_changes(Some(changes))
                        .build()
                        .map_err(|e| AwsError::other("record", e.to_string()))?;
                    call("ChangeResourceRecordSets", policy, || {
                        self.route53
                            .change_resource_record_sets()
                            .hosted_zone_id(id)
                            .change_batch(batch.clone())
                            .send()
                    })
                    .await?;
                }
                call("DeleteHostedZone", policy, || {
                    self.route53.delete_hosted_zone().id(id).send()
                })
                .await
                .map(|_| ())
            }
            Kind::SesIdentity => call("DeleteIdentity", policy, || {
                self.ses.delete_identity().identity(id).send()
            })
            .await
            .map(|_| ()),
            Kind::CustomerGateway => {
                removed("DeleteCustomerGateway", policy, || {
                    ec2.delete_customer_gateway().customer_gateway_id(id).send()
                })
                .await
            }
            Kind::VpnGateway => {
                for rule in &found.resource.rules {
                    if let Some(vpc) = known.ids.get(rule.trim_start_matches("attached to ")) {
                        removed("DetachVpnGateway", policy, || {
                            ec2.detach_vpn_gateway()
                                .vpn_gateway_id(id)
                                .vpc_id(vpc)
                                .send()
                        })
                        .await?;
                    }
                }
                removed("DeleteVpnGateway", policy, || {
                    ec2.delete_vpn_gateway().vpn_gateway_id(id).send()
                })
                .await
            }
            Kind::VpnConnection => {
                removed("DeleteVpnConnection", policy, || {
                    ec2.delete_vpn_connection().vpn_connection_id(id).send()
                })
                .await
            }
        };
        outcome.map(|()| kept)
    }
}
