//! `dns`: the environment's names pointed at the DR site. The private
//! zone's records (`bastion`, `db` and every node under the spec's zone)
//! are made by the planner from the addresses found in the DR region. A
//! real recovery repoints the environment's own zone (and associates it
//! with the recovered VPC); a drill makes a zone of the same name of its
//! own, on its own VPC only, so nothing the environment resolves changes.
//! Records are upserts: running it twice changes nothing.
//!
//! The undo removes a drill's zone; a real recovery's points the records
//! back at the environment's primary region (as `aerie env apply` would),
//! which fails, saying so, while that region's resources are gone. With
//! `[dns] mode = "customer"` nothing is called: the records the customer
//! must change are the step's outputs.

use std::time::Duration;

use serde_json::Value;

use super::{Input, StepKind, Values};
use crate::dr::converge::{self, Part};
use crate::dr::{Context, DrError};
use crate::model::{Found, Kind};
use crate::spec::DnsMode;

pub(super) struct Dns;

const INPUTS: &[Input] = &[Input {
    name: "vpc",
    required: true,
    doc: "the DR site's VPC (`${network.vpc}`), which the zone is associated with",
}];

const PART: Part<'static> = Part {
    make: &[Kind::HostedZone],
    read: &[
        Kind::Vpc,
        Kind::Instance,
        Kind::DbInstance,
        Kind::HostedZone,
    ],
    fit: |_| {},
};

#[async_trait::async_trait]
impl StepKind for Dns {
    fn inputs(&self) -> &'static [Input] {
        INPUTS
    }

    fn outputs(&self) -> &'static [&'static str] {
        &["zone", "records"]
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(10 * 60)
    }

    fn retries(&self) -> u32 {
        2
    }

    fn mutating(&self) -> bool {
        true
    }

    fn describe(&self, _inputs: &Values) -> String {
        "point the private zone's records (bastion, db, every node) at the DR site".to_owned()
    }

    async fn run(&self, context: &Context, step: &str, inputs: &Values) -> Result<Values, DrError> {
        let site = context.site_spec()?;
        let cloud = context.site_cloud();
        if site.dns.mode == DnsMode::Customer {
            let found = cloud.observe_kinds(&site, PART.read).await?;
            let records = desired_records(&site, &found);
            return Ok(outputs("customer's DNS", records));
        }
        let vpc = super::text(inputs, step, "vpc")?;
        let mut found = converge::converge(&cloud, &site, PART).await?;
        let zone = converge::id_of(&found, "private-zone")
            .unwrap_or_default()
            .to_owned();
        if !context.isolated {
            cloud.associate_zone(&zone, vpc).await?;
            found = cloud.observe_kinds(&site, PART.read).await?;
        }
        let records = records_of(&found);
        Ok(outputs(&zone, records))
    }

    async fn undo(&self, context: &Context, _step: &str, _inputs: &Values) -> Result<(), DrError> {
        let site = context.site_spec()?;
        if site.dns.mode == DnsMode::Customer {
            return Ok(());
        }
        if context.isolated {
            let cloud = context.site_cloud();
            converge::tear_down(&cloud, &site, &[Kind::HostedZone]).await?;
        } else {
            converge::converge(&context.primary, &context.spec, PART).await?;
        }
        Ok(())
    }
}

fn outputs(zone: &str, records: Vec<String>) -> Values {
    Values::from([
        ("zone".to_owned(), Value::from(zone)),
        (
            "records".to_owned(),
            Value::Array(records.into_iter().map(Value::from).collect()),
        ),
    ])
}

/// The zone's records as found: `A gateway-1.acme.internal -> 10.1.2.3`.
fn records_of(found: &[Found]) -> Vec<String> {
    let addresses = crate::apply::known_from(found).addresses;
    found
        .iter()
        .filter(|f| f.resource.kind == Kind::HostedZone)
        .flat_map(|f| f.resource.rules.iter())
        .filter_map(|rule| crate::model::resolve_record(rule, &addresses))
        .map(|(kind, name, value)| format!("{kind} {name} -> {value}"))
        .collect()
}

/// The records the spec's hosts need, with the addresses found (the
/// customer's DNS: what they must change).
fn desired_records(site: &crate::spec::Spec, found: &[Found]) -> Vec<String> {
    let addresses = crate::apply::known_from(found).addresses;
    crate::model::host_records(site)
        .iter()
        .filter_map(|rule| crate::model::resolve_record(rule, &addresses))
        .map(|(kind, name, value)| format!("{kind} {name} -> {value}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Resource, Rule};

    fn found(kind: Kind, role: &str, address: Option<&str>) -> Found {
        Found {
            resource: Resource::new(kind, role),
            id: format!("{role}-id"),
            state: "available".into(),
            address: address.map(str::to_owned),
            notes: Vec::new(),
            repairs: Vec::new(),
        }
    }

    #[test]
    fn the_records_read_with_the_addresses_found_and_one_without_an_address_is_left_out() {
        let mut zone = found(Kind::HostedZone, "private-zone", None);
        for (kind, host) in [("A", "gateway-1"), ("CNAME", "db"), ("A", "gone")] {
            zone.resource.rules.insert(Rule::Record {
                kind: kind.into(),
                name: format!("{host}.acme.internal"),
                target: host.into(),
            });
        }
        let found = [
            zone,
            found(Kind::Instance, "gateway-1", Some("10.20.3.7")),
            found(
                Kind::DbInstance,
                "db",
                Some("acme-prod-db.x.eu-central-1.rds.amazonaws.com"),
            ),
        ];
        assert_eq!(
            records_of(&found),
            [
                "A gateway-1.acme.internal -> 10.20.3.7",
                "CNAME db.acme.internal -> acme-prod-db.x.eu-central-1.rds.amazonaws.com",
            ]
        );
    }
}
