//! The handover package of seed 004: what the customer's team needs to
//! take the environment over, read from AWS (never from the spec's
//! wishes): the nodes and their consoles, where each credential lives (the
//! Secrets Manager name and ARN, never the value), the DNS records still to
//! add, the VPN, the monitor and the backups. Rendered from
//! `templates/handover/` as Markdown and as one self-contained HTML page.
//!
//! It reads only; it never reads a secret's value.

use serde::Serialize;

use crate::aws::Cloud;
use crate::aws::retry::{AwsError, send};
use crate::model::Found;
use crate::render::{RenderError, Templates};
use crate::spec::Spec;
use crate::topology::Topology;

/// The package, in both forms.
#[derive(Debug, Clone)]
pub struct Handover {
    pub markdown: String,
    pub html: String,
}

#[derive(Debug, Serialize)]
struct Node {
    role: String,
    host: String,
    address: String,
    console: String,
}

#[derive(Debug, Serialize)]
struct Secret {
    what: &'static str,
    name: String,
    arn: String,
}

#[derive(Debug, Serialize)]
struct Vpn {
    id: String,
    customer_gateway: String,
    bgp_asn: String,
    tunnels: Vec<String>,
    static_routes: String,
}

/// What each secret of the environment is for.
fn what(role: &str) -> &'static str {
    match role {
        "rds-master-password" => "Database master password",
        "product-db-password" => "Product database user's password",
        "admin-password" => "Product administrator's password",
        "ingest-token" => "Monitoring ingest token",
        _ => "Bastion SSH private key",
    }
}

/// Reads the package's facts from AWS (`observed`: the environment as
/// `Cloud::observe` found it) and renders it.
pub async fn build(
    cloud: &Cloud,
    spec: &Spec,
    observed: &[Found],
) -> Result<Handover, HandoverError> {
    let address = |role: &str| {
        observed
            .iter()
            .find(|f| f.resource.role == role)
            .and_then(|f| f.address.clone())
            .unwrap_or_else(|| "not running".to_owned())
    };
    let topology = Topology::of(spec);
    let mut nodes = Vec::new();
    let mut gateways = Vec::new();
    if let Some(topology) = &topology {
        for node in topology.nodes() {
            nodes.push(Node {
                role: node.role.clone(),
                host: node.host.clone(),
                address: address(&node.role),
                console: format!("https://{}:{}/carbon", node.host, node.ports().services),
            });
        }
        gateways = topology
            .gateways
            .iter()
            .map(|g| format!("https://{}:{}/", g.host, 8243 + g.offset))
            .collect();
    }
    let mut names = crate::model::secrets(spec);
    names.push((
        "bastion-ssh-key",
        crate::model::ssh_key_secret_name(&spec.name),
    ));
    let mut secrets = Vec::new();
    for (role, name) in names {
        let request = cloud.secrets.describe_secret().secret_id(&name);
        let arn = match send("DescribeSecret", || request.clone().send()).await {
            Ok(secret) => secret.arn().unwrap_or_default().to_owned(),
            Err(error) if error.is("ResourceNotFoundException") => {
                "missing: run aerie env apply".to_owned()
            }
            Err(error) => return Err(error.into()),
        };
        secrets.push(Secret {
            what: what(role),
            name,
            arn,
        });
    }
    let bastion = observed.iter().find(|f| f.resource.role == "bastion");
    let bastion_ip = match bastion {
        Some(found) => public_ip(cloud, &found.id).await?,
        None => "not running".to_owned(),
    };
    let mut records = crate::apply::customer_records(observed);
    if spec.dns.mode == crate::spec::DnsMode::Customer {
        for host in crate::model::named_hosts(spec) {
            records.push(format!("{host}.{}  {}", spec.dns.zone, address(&host)));
        }
    }
    let database = observed
        .iter()
        .find(|f| f.resource.kind == crate::model::Kind::DbInstance);
    let retention = match database {
        Some(db) => retention(cloud, &db.id).await?,
        None => "no database yet".to_owned(),
    };
    let data = serde_json::json!({
        "environment": spec.name,
        "customer": spec.customer,
        "region": spec.region,
        "dr_region": spec.dr_region.clone().unwrap_or_else(|| "none set".to_owned()),
        "date": chrono::Utc::now().format("%Y-%m-%d").to_string(),
        "nodes": nodes,
        "gateways": gateways,
        "secrets": secrets,
        "admin_user": spec.nodes.as_ref().map(|n| n.admin_user.clone()).unwrap_or_default(),
        "bastion": {
            "address": bastion_ip,
            "key_secret": crate::model::ssh_key_secret_name(&spec.name),
        },
        "ssh_port": spec.access.ssh_port,
        "operator_networks": spec.access.operator_cidrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
        "records": records,
        "vpn": vpn(cloud, observed).await?,
        "monitor": spec.nodes.as_ref().map(|n| n.monitor.url.clone()),
        "database": {
            "id": database.map(|d| d.id.clone()).unwrap_or_default(),
            "retention": retention,
            "final_snapshot": if spec.database.final_snapshot { "yes" } else { "no" },
        },
    });
    let markdown = Templates::get().render("handover/handover.md", &data)?;
    let mut body = String::new();
    let parser = pulldown_cmark::Parser::new_ext(&markdown, pulldown_cmark::Options::ENABLE_TABLES);
    pulldown_cmark::html::push_html(&mut body, parser);
    let html = Templates::get().render(
        "handover/page.html",
        &serde_json::json!({ "environment": spec.name, "body": body }),
    )?;
    Ok(Handover { markdown, html })
}

/// Why the package could not be made.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Render(#[from] RenderError),
}

async fn public_ip(cloud: &Cloud, id: &str) -> Result<String, AwsError> {
    let request = cloud.ec2.describe_instances().instance_ids(id);
    let answer = send("DescribeInstances", || request.clone().send()).await?;
    Ok(answer
        .reservations()
        .iter()
        .flat_map(|r| r.instances())
        .find_map(|i| i.public_ip_address())
        .unwrap_or("none")
        .to_owned())
}

async fn retention(cloud: &Cloud, id: &str) -> Result<String, AwsError> {
    let request = cloud.rds.describe_db_instances().db_instance_identifier(id);
    let answer = send("DescribeDBInstances", || request.clone().send()).await?;
    Ok(answer
        .db_instances()
        .first()
        .and_then(|d| d.backup_retention_period())
        .unwrap_or(0)
        .to_string())
}

async fn vpn(cloud: &Cloud, observed: &[Found]) -> Result<Option<Vpn>, AwsError> {
    let Some(found) = observed
        .iter()
        .find(|f| f.resource.kind == crate::model::Kind::VpnConnection)
    else {
        return Ok(None);
    };
    let request = cloud
        .ec2
        .describe_vpn_connections()
        .vpn_connection_ids(&found.id);
    let answer = send("DescribeVpnConnections", || request.clone().send()).await?;
    let Some(connection) = answer.vpn_connections().first() else {
        return Ok(None);
    };
    let mut tunnels: Vec<String> = connection
        .vgw_telemetry()
        .iter()
        .filter_map(|t| t.outside_ip_address().map(str::to_owned))
        .collect();
    if tunnels.is_empty() {
        tunnels = connection
            .options()
            .map(|o| {
                o.tunnel_options()
                    .iter()
                    .filter_map(|t| t.outside_ip_address().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
    }
    let customer_gateway = connection
        .customer_gateway_id()
        .unwrap_or_default()
        .to_owned();
    let request = cloud
        .ec2
        .describe_customer_gateways()
        .customer_gateway_ids(&customer_gateway);
    let gateways = send("DescribeCustomerGateways", || request.clone().send()).await?;
    let gateway = gateways.customer_gateways().first();
    let routes: Vec<&str> = connection
        .routes()
        .iter()
        .filter_map(|r| r.destination_cidr_block())
        .collect();
    Ok(Some(Vpn {
        id: found.id.clone(),
        customer_gateway: gateway
            .and_then(|g| g.ip_address())
            .unwrap_or(&customer_gateway)
            .to_owned(),
        bgp_asn: gateway
            .and_then(|g| g.bgp_asn())
            .unwrap_or("none")
            .to_owned(),
        tunnels,
        static_routes: routes.join(", "),
    }))
}
