//! One file per kind of resource, each behind [`ResourceKind`]: how AWS is
//! asked what exists (observe), how one is made (create), changed in place
//! (change: rules such as ingress, routes, attachments, records) and removed
//! (delete).
//!
//! Adding a kind of resource is one new file here and one entry in
//! [`TABLE`] (plus its [`Kind`] in the model). Nothing here decides *what*
//! to do: the plan does; these only do it, each call through `retry`.

mod attachment;
mod bucket;
mod customer_gateway;
mod db_instance;
mod db_subnet_group;
mod elastic_ip;
mod hosted_zone;
mod iam_role;
mod instance;
mod instance_profile;
mod internet_gateway;
mod key_pair;
mod nat_gateway;
mod object;
mod route_table;
mod secret;
mod security_group;
mod ses_identity;
mod subnet;
mod vpc;
mod vpn_connection;
mod vpn_gateway;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;

use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_smithy_runtime_api::http::Response as HttpResponse;

use crate::aws::retry::{AwsError, Policy, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind, Resource, Rule};
use crate::spec::Spec;

pub(in crate::aws) use bucket::{secure as secure_bucket, settings as bucket_settings};

// The kinds: one unit type each, implemented in the file of its name.

/// An S3 bucket of the environment.
pub(super) struct Bucket;
/// The customer's end of the VPN, as AWS knows it.
pub(super) struct CustomerGateway;
/// The environment's database.
pub(super) struct DbInstance;
/// The subnets the database may live in.
pub(super) struct DbSubnetGroup;
/// An Elastic IP address of the environment.
pub(super) struct ElasticIp;
/// The environment's private DNS zone.
pub(super) struct HostedZone;
/// An IAM role of the environment.
pub(super) struct IamRole;
/// An EC2 instance.
pub(super) struct Instance;
/// An instance profile of the environment.
pub(super) struct InstanceProfile;
/// The VPC's way out to the internet.
pub(super) struct InternetGateway;
/// The key pair instances are launched with (its name is its id).
pub(super) struct KeyPair;
/// The NAT gateway of the private subnets.
pub(super) struct NatGateway;
/// An object in one of the environment's buckets.
pub(super) struct Object;
/// A route table with its routes and subnet associations.
pub(super) struct RouteTable;
/// A secret in Secrets Manager (the database master password, the
/// product's passwords, the ingest token).
pub(super) struct Secret;
/// A security group and its ingress rules.
pub(super) struct SecurityGroup;
/// The mail domain the environment sends from.
pub(super) struct SesIdentity;
/// A subnet in one availability zone.
pub(super) struct Subnet;
/// The environment's VPC.
pub(super) struct Vpc;
/// The site-to-site VPN between the VPN gateway and the customer gateway.
pub(super) struct VpnConnection;
/// The VPC's end of the customer's VPN.
pub(super) struct VpnGateway;

/// What every kind's file uses, imported at once.
mod prelude {
    pub(super) use super::{Change, Gone, Made, Need, ResourceKind, Seen, found};
    pub(super) use crate::aws::Cloud;
    pub(super) use crate::aws::retry::{AwsError, Policy, call, lookup, removed, send};
    pub(super) use crate::model::{Kind, Rule};
}

/// What observing has found so far: kinds are observed in [`TABLE`] order,
/// so a resource can name those it refers to by role (`roles`: id to role).
#[derive(Debug)]
pub(super) struct Seen<'a> {
    pub(super) spec: &'a Spec,
    pub(super) out: Vec<Found>,
    pub(super) roles: BTreeMap<String, String>,
}

impl Seen<'_> {
    /// Keeps `found`, and its role under its id so that what refers to it
    /// by id can name its role.
    pub(super) fn add(&mut self, found: Found) {
        self.roles
            .insert(found.id.clone(), found.resource.role.clone());
        self.out.push(found);
    }

    /// The role of the resource with `id`, or the id itself when it is not
    /// the environment's.
    pub(super) fn role_of(&self, id: &str) -> String {
        self.roles.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    /// The rule saying a gateway is attached to the VPC with `vpc` as its
    /// id, when that VPC is the environment's.
    pub(super) fn attached(&self, vpc: &str) -> Option<Rule> {
        let vpc = self.roles.get(vpc)?.clone();
        Some(Rule::Attached { vpc })
    }
}

/// What creating a resource needs: the resource as planned, the ids and
/// addresses of what exists already, what the instances boot with.
#[derive(Debug)]
pub(super) struct Need<'a> {
    pub(super) resource: &'a Resource,
    pub(super) known: &'a Known,
    pub(super) artifacts: &'a crate::render::Artifacts,
    pub(super) spec: &'a Spec,
}

impl Need<'_> {
    /// The role of the resource to create.
    pub(super) fn role(&self) -> &str {
        &self.resource.role
    }

    /// A property of the resource to create ("" when it has none).
    pub(super) fn prop(&self, key: &str) -> String {
        self.resource.props.get(key).cloned().unwrap_or_default()
    }

    /// The id of the resource of `role` (a dependency: it exists).
    pub(super) fn id_of(&self, role: &str) -> String {
        self.known.ids.get(role).cloned().unwrap_or_default()
    }
}

/// What a create made: the id, and the address when it has one.
#[derive(Debug)]
pub struct Made {
    pub id: String,
    pub address: Option<String>,
}

impl Made {
    /// The id `call` answered; an answer without one is an error, never an
    /// empty id that later calls would trip over.
    pub(super) fn id(call: &str, id: Option<&str>) -> Result<Self, AwsError> {
        match id {
            Some(id) if !id.is_empty() => Ok(Self::named(id)),
            _ => Err(AwsError::other(call, "the answer named no id")),
        }
    }

    /// A resource whose id Aerie chose (a name).
    pub(super) fn named(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            address: None,
        }
    }
}

/// The rules to add to and remove from an existing resource.
#[derive(Debug)]
pub(super) struct Change<'a> {
    pub(super) id: &'a str,
    pub(super) add: &'a [Rule],
    pub(super) remove: &'a [Rule],
    /// Every rule the resource is to have (a kind that writes them all
    /// at once, such as an IAM policy, needs the whole set).
    pub(super) rules: &'a BTreeSet<Rule>,
    /// What observe found undone on it.
    pub(super) repairs: &'a [crate::repair::Repair],
    pub(super) known: &'a Known,
}

impl Change<'_> {
    /// The rules to add, then those to remove, each with whether it is added.
    pub(super) fn each(&self) -> impl Iterator<Item = (bool, &Rule)> {
        let add = self.add.iter().map(|rule| (true, rule));
        self.remove.iter().map(|rule| (false, rule)).chain(add)
    }
}

/// A resource found in AWS that is to go, with what is known of the others.
#[derive(Debug)]
pub(super) struct Gone<'a> {
    pub(super) found: &'a Found,
    pub(super) known: &'a Known,
}

impl Gone<'_> {
    /// The id of the resource to delete.
    pub(super) fn id(&self) -> &str {
        &self.found.id
    }

    /// Deletes it with the one call `request` makes; gone already is done.
    pub(super) async fn by<T, E, F, Fut>(&self, call: &str, request: F) -> Result<Kept, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, aws_sdk_ec2::error::SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        removed(call, Policy::destroying(), request).await?;
        Ok(None)
    }
}

/// What a delete kept, if anything (the database's final snapshot).
pub(super) type Kept = Option<String>;

/// One kind of AWS resource.
#[async_trait::async_trait]
pub(super) trait ResourceKind: Send + Sync {
    /// Adds this kind's resources of the environment to `seen`.
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError>;

    /// Creates the resource.
    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError>;

    /// Adds and removes rules of an existing resource; kinds without
    /// rules have nothing to change in place.
    async fn change(&self, _cloud: &Cloud, _change: &Change<'_>) -> Result<(), AwsError> {
        Ok(())
    }

    /// Deletes a resource found in AWS; answers what it kept, if anything.
    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Kept, AwsError>;
}

/// Every kind, in the order they are observed (what refers to another comes after it).
pub(super) const TABLE: &[(Kind, &dyn ResourceKind)] = &[
    (Kind::Vpc, &Vpc),
    (Kind::Subnet, &Subnet),
    (Kind::InternetGateway, &InternetGateway),
    (Kind::ElasticIp, &ElasticIp),
    (Kind::NatGateway, &NatGateway),
    (Kind::VpnGateway, &VpnGateway),
    (Kind::RouteTable, &RouteTable),
    (Kind::SecurityGroup, &SecurityGroup),
    (Kind::KeyPair, &KeyPair),
    (Kind::CustomerGateway, &CustomerGateway),
    (Kind::VpnConnection, &VpnConnection),
    (Kind::Secret, &Secret),
    (Kind::Bucket, &Bucket),
    (Kind::Object, &Object),
    (Kind::IamRole, &IamRole),
    (Kind::InstanceProfile, &InstanceProfile),
    (Kind::Instance, &Instance),
    (Kind::DbSubnetGroup, &DbSubnetGroup),
    (Kind::DbInstance, &DbInstance),
    (Kind::HostedZone, &HostedZone),
    (Kind::SesIdentity, &SesIdentity),
];

/// The implementation of `kind`.
pub(super) fn of(kind: Kind) -> &'static dyn ResourceKind {
    TABLE
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, implementation)| *implementation)
        .expect("every kind has an entry in TABLE")
}

/// A resource found in AWS, with no properties or rules yet.
pub(super) fn found(kind: Kind, role: &str, id: &str, state: &str) -> Found {
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
        repairs: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_exactly_one_entry() {
        let mut kinds: Vec<Kind> = TABLE.iter().map(|(k, _)| *k).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds.len(), TABLE.len(), "a kind is listed twice");
        assert_eq!(kinds.len(), 21, "a kind of the model has no implementation");
    }
}
