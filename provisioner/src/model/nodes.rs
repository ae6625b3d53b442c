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
pub fn secrets(spec: &Spec) -> Vec<(&'static str, String)> {
    let mut out = vec![("rds-master-password", rds_secret_name(&spec.name))];
    if spec.nodes.is_some() {
        use crate::topology::{admin_secret_name, ingest_token_secret_name, product_secret_name};
        out.extend([
            ("product-db-password", product_secret_name(&spec.name)),
            ("admin-password", admin_secret_name(&spec.name)),
            ("ingest-token", ingest_token_secret_name(&spec.name)),
        ]);
    }
    out
}

/// The name of the environment's artifacts bucket (S3 names are global:
/// the environment and its region make it the environment's own).
pub fn artifacts_bucket(spec: &Spec) -> String {
    format!("aerie-{}-{}-artifacts", spec.name, spec.region)
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
            .prop("name", format!("aerie-{}-{kind}", spec.name))
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
                .prop("name", format!("aerie-{}-{kind}", spec.name))
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
