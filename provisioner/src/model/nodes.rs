//! The product nodes as resources: the environment's secrets, the
//! artifacts bucket and each node's configuration bundle in it, an IAM
//! role and instance profile per node role (gateway, traffic manager) that
//! may read exactly that role's secrets and bundles, and the instances.
//!
//! Pure like the rest of the model: what each node boots with is rendered
//! (`render::artifacts`) and appears here only as digests.

use super::{Kind, Resource, Rule, rds_secret_name, user_data_print};
use crate::render::Artifacts;
use crate::rule::BucketSetting;
use crate::spec::Spec;
use crate::topology::Topology;

/// The environment's secrets in Secrets Manager, by role: the database
/// master password always; with `[nodes]` the product's database password,
/// its administrator password and the agents' ingest token.
///
/// On a DR site they are the recovered environment's, replicated to the
/// site's region under the same names.
pub fn secrets(spec: &Spec) -> Vec<(&'static str, String)> {
    let owner = spec.secrets_of();
    let mut out = vec![("rds-master-password", rds_secret_name(owner))];
    if spec.nodes.is_some() {
        use crate::topology::{admin_secret_name, ingest_token_secret_name, product_secret_name};
        out.extend([
            ("product-db-password", product_secret_name(owner)),
            ("admin-password", admin_secret_name(owner)),
            ("ingest-token", ingest_token_secret_name(owner)),
        ]);
    }
    out
}

/// The name of the environment's artifacts bucket (S3 names are global:
/// the environment and its region make it the environment's own). A
/// drill's site, whose name carries the run, can pass S3's 63 characters:
/// its name is then shortened with a digest of the whole ([`bounded`]).
pub fn artifacts_bucket(spec: &Spec) -> String {
    bounded(
        &format!("aerie-{}-{}", spec.name, spec.region),
        "-artifacts",
        63,
    )
}

/// The IAM name of node role `kind`'s role and instance profile. IAM names
/// are global, so a DR site's carry its region too: a recovery keeps the
/// environment's name, and its roles must not be the primary's, whose
/// policies name the primary region's bucket and secrets. Bounded by the
/// 64 characters IAM allows a role's name.
pub fn iam_name(spec: &Spec, kind: &str) -> String {
    let stem = match spec.recovers {
        Some(_) => format!("aerie-{}-{}", spec.name, spec.region),
        None => format!("aerie-{}", spec.name),
    };
    bounded(&stem, &format!("-{kind}"), 64)
}

/// The IAM path the environment's roles and profiles live under:
/// `/aerie/<env>/`, and on a DR site `/aerie/<env>/<region>/`, so neither
/// side ever finds the other's.
pub fn iam_path(spec: &Spec) -> String {
    match spec.recovers {
        Some(_) => format!("/aerie/{}/{}/", spec.name, spec.region),
        None => format!("/aerie/{}/", spec.name),
    }
}

/// `stem` + `suffix` when it fits in `max` characters; otherwise the
/// stem cut short, then `-` and eight hex digits of the whole name's
/// SHA-256, then the suffix: still the same for the same name, and two
/// names that differ only past the cut still differ.
fn bounded(stem: &str, suffix: &str, max: usize) -> String {
    let whole = format!("{stem}{suffix}");
    if whole.len() <= max {
        return whole;
    }
    let digest = &crate::render::sha256_hex(whole.as_bytes())[..8];
    let keep = max.saturating_sub(suffix.len() + 1 + digest.len());
    let cut = stem[..keep.min(stem.len())].trim_end_matches('-');
    format!("{cut}-{digest}{suffix}")
}

/// The node roles and the secrets each may read.
const NODE_ROLES: [(&str, &[&str]); 2] = [
    (
        "gateway",
        &["product-db-password", "admin-password", "ingest-token"],
    ),
    (
        // The first traffic manager creates the product databases: it
        // reads the master password too.
        "traffic-manager",
        &[
            "product-db-password",
            "admin-password",
            "ingest-token",
            "rds-master-password",
        ],
    ),
];

/// Every secret, the bucket, the bundles, the roles, the profiles and the
/// nodes; nothing without `[nodes]` but the secrets.
pub(super) fn nodes(spec: &Spec, artifacts: &Artifacts, out: &mut Vec<Resource>) {
    for (role, name) in secrets(spec).into_iter().skip(1) {
        out.push(
            Resource::new(Kind::Secret, role)
                .prop("name", name)
                .rules(super::replicas(spec)),
        );
    }
    let Some(topology) = Topology::of(spec) else {
        return;
    };
    let mut bucket = Resource::new(Kind::Bucket, "artifacts").prop("name", artifacts_bucket(spec));
    for setting in BucketSetting::ALL {
        bucket = bucket.rule(Rule::Bucket(setting));
    }
    out.push(bucket);
    for (role, bundle) in &artifacts.bundles {
        out.push(
            Resource::new(Kind::Object, &format!("bundle-{role}"))
                .prop("bucket", "artifacts")
                .prop("key", crate::render::bundle_key(role))
                .prop("sha256", &bundle.sha256)
                .needs(&["artifacts"]),
        );
    }
    for (kind, readable) in NODE_ROLES {
        let iam_role = format!("{kind}-role");
        let mut role = Resource::new(Kind::IamRole, &iam_role)
            .prop("name", iam_name(spec, kind))
            .rule(grant(
                "s3:GetObject",
                &format!("artifacts/bundles/{kind}-*"),
            ))
            .rule(grant("s3:GetObject", "artifacts/dist/*"))
            .needs(&["artifacts"]);
        for secret in readable {
            role = role
                .rule(grant("secretsmanager:GetSecretValue", secret))
                .needs(&[secret]);
        }
        out.push(role);
        out.push(
            Resource::new(Kind::InstanceProfile, &format!("{kind}-profile"))
                .prop("name", iam_name(spec, kind))
                .rule(Rule::Carries {
                    role: iam_role.clone(),
                })
                .needs(&[&iam_role]),
        );
    }
    let nodes = spec.nodes.as_ref().expect("a topology comes from [nodes]");
    for node in topology.nodes() {
        let (kind, group) = if node.role.starts_with("gateway") {
            ("gateway", &nodes.gateways)
        } else {
            ("traffic-manager", &nodes.traffic_managers)
        };
        let (profile, sg, bundle) = (
            format!("{kind}-profile"),
            format!("{kind}-sg"),
            format!("bundle-{}", node.role),
        );
        out.push(
            Resource::new(Kind::Instance, &node.role)
                .prop("type", &group.instance_type)
                .prop("ami", &group.ami)
                .prop("subnet", &node.subnet)
                .prop("public_ip", "false")
                .prop("key", "bastion-key")
                .prop("security_groups", &sg)
                .prop("profile", &profile)
                .prop("imdsv2", "required")
                .prop(
                    "user_data",
                    user_data_print(&artifacts.user_data[&node.role]),
                )
                .prop(
                    "root_volume",
                    format!("{} GiB encrypted", group.root_volume_gb),
                )
                .needs(&[
                    &node.subnet,
                    &sg,
                    "bastion-key",
                    &profile,
                    "private-routes",
                    &bundle,
                ]),
        );
    }
}

fn grant(action: &str, on: &str) -> Rule {
    Rule::Grant {
        action: action.to_owned(),
        on: on.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Spec {
        use aerie_common::toml_file::TomlFile as _;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme.toml");
        Spec::load(&path).unwrap()
    }

    #[test]
    fn a_name_past_aws_s_limit_is_cut_short_with_a_digest_and_stays_the_same() {
        assert_eq!(
            bounded("aerie-acme", "-artifacts", 63),
            "aerie-acme-artifacts"
        );
        let long = "aerie-acme-prod-drill-20261203-101500-000-eu-central-1";
        let short = bounded(long, "-artifacts", 63);
        assert!(short.len() <= 63, "{short}");
        assert!(short.starts_with("aerie-acme-prod-drill-20261203-101500-000-"));
        assert!(
            short.ends_with("-artifacts") && !short.contains("--"),
            "{short}"
        );
        assert_eq!(short, bounded(long, "-artifacts", 63));
        let other = bounded(&long.replace("000", "001"), "-artifacts", 63);
        assert_ne!(short, other);
    }

    #[test]
    fn a_dr_site_s_iam_names_and_path_carry_its_region_and_the_environment_s_do_not() {
        let spec = example();
        assert_eq!(iam_name(&spec, "gateway"), "aerie-acme-prod-gateway");
        assert_eq!(iam_path(&spec), "/aerie/acme-prod/");
        let site = crate::dr::site::spec(&spec, "acme-prod").unwrap();
        assert_eq!(
            iam_name(&site, "gateway"),
            "aerie-acme-prod-eu-central-1-gateway"
        );
        assert_eq!(iam_path(&site), "/aerie/acme-prod/eu-central-1/");
        let drill = crate::dr::site::spec(&spec, "acme-prod-drill-20261203-101500-000").unwrap();
        let name = iam_name(&drill, "traffic-manager");
        assert!(
            name.len() <= 64 && name.ends_with("-traffic-manager"),
            "{name}"
        );
        let bucket = artifacts_bucket(&drill);
        assert!(bucket.len() <= 63, "{bucket}");
        assert_ne!(bucket, artifacts_bucket(&spec));
    }

    #[test]
    fn a_dr_site_s_nodes_read_the_recovered_environment_s_secrets() {
        let spec = example();
        let drill = crate::dr::site::spec(&spec, "acme-prod-drill-1").unwrap();
        assert_eq!(secrets(&drill), secrets(&spec));
        assert!(
            secrets(&drill)
                .iter()
                .all(|(_, name)| name.starts_with("aerie/acme-prod/"))
        );
    }
}
