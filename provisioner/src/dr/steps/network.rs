//! `network`: the DR site's network, made by the planner from the
//! environment's own spec moved to the DR region (`dr::site`): the VPC,
//! its subnets in two zones, the gateways, the route tables, the security
//! groups, the bastion's key pair (its private key in the DR region's
//! Secrets Manager) and the DB subnet group. Found by tag like every apply,
//! so running it twice changes nothing.
//!
//! A real recovery's network carries the environment's name; the VPC is
//! claimed with the execution's `aerie:dr-run` tag when no other claimed
//! it, and the undo removes only a network its own execution claimed. A
//! drill's carries the drill's own name, all of it removed by its undo.

use std::time::Duration;

use serde_json::{Map, Value};

use super::{Input, StepKind, Values};
use crate::aws::restores::DR_RUN_TAG;
use crate::dr::converge::{self, Part};
use crate::dr::{Context, DrError};
use crate::model::{Found, Kind};

pub(super) struct Network;

/// What the step makes.
const KINDS: [Kind; 9] = [
    Kind::Vpc,
    Kind::Subnet,
    Kind::InternetGateway,
    Kind::ElasticIp,
    Kind::NatGateway,
    Kind::RouteTable,
    Kind::SecurityGroup,
    Kind::KeyPair,
    Kind::DbSubnetGroup,
];

const PART: Part<'static> = Part {
    make: &KINDS,
    read: &KINDS,
    fit: |_| {},
};

#[async_trait::async_trait]
impl StepKind for Network {
    fn inputs(&self) -> &'static [Input] {
        &[]
    }

    fn outputs(&self) -> &'static [&'static str] {
        &[
            "vpc",
            "subnets",
            "security_groups",
            "database_security_group",
            "db_subnet_group",
        ]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(30 * 60)
    }

    fn retries(&self) -> u32 {
        2
    }

    fn mutating(&self) -> bool {
        true
    }

    fn describe(&self, _inputs: &Values) -> String {
        "make the DR site's network from the spec through the planner: VPC, subnets, gateways, routes, security groups, the bastion's key, the DB subnet group".to_owned()
    }

    async fn run(
        &self,
        context: &Context,
        _step: &str,
        _inputs: &Values,
    ) -> Result<Values, DrError> {
        let site = context.site_spec()?;
        let cloud = context.site_cloud();
        let found = converge::converge(&cloud, &site, PART).await?;
        let vpc = converge::id_of(&found, "vpc")
            .unwrap_or_default()
            .to_owned();
        if !context.isolated && cloud.vpc_tag(&vpc, DR_RUN_TAG).await?.is_none() {
            cloud.tag_vpc(&vpc, DR_RUN_TAG, &context.run).await?;
        }
        let of_kind = |kind: Kind| -> Value {
            Value::Object(
                found
                    .iter()
                    .filter(|f| f.resource.kind == kind)
                    .map(|f| (f.resource.role.clone(), Value::from(f.id.clone())))
                    .collect::<Map<_, _>>(),
            )
        };
        let get = |role: &str| Value::from(converge::id_of(&found, role).unwrap_or_default());
        Ok(Values::from([
            ("vpc".to_owned(), Value::from(vpc.clone())),
            ("subnets".to_owned(), of_kind(Kind::Subnet)),
            ("security_groups".to_owned(), of_kind(Kind::SecurityGroup)),
            ("database_security_group".to_owned(), get("rds-sg")),
            ("db_subnet_group".to_owned(), get("db-subnets")),
        ]))
    }

    async fn undo(&self, context: &Context, _step: &str, _inputs: &Values) -> Result<(), DrError> {
        let site = context.site_spec()?;
        let cloud = context.site_cloud();
        if !context.isolated {
            let found: Vec<Found> = cloud.observe_kinds(&site, &[Kind::Vpc]).await?;
            if let Some(vpc) = converge::id_of(&found, "vpc") {
                let claimed = cloud.vpc_tag(vpc, DR_RUN_TAG).await?;
                if claimed.as_deref() != Some(context.run.as_str()) {
                    return Ok(());
                }
            }
        }
        converge::tear_down(&cloud, &site, &KINDS).await?;
        Ok(())
    }
}
