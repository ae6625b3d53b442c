//! What only AWS can tell about a spec, asked with read-only calls before
//! `plan` or `apply` creates anything: do the availability zones exist in
//! this account's region, is the bastion's instance type offered in both,
//! does its image exist. A spec that fails here would leave half an
//! environment behind if apply found out on the way.
//!
//! Never changes anything in the account.

use aws_sdk_ec2::types::{Filter, LocationType};

use super::Cloud;
use super::retry::{AwsError, send};
use crate::spec::Spec;

/// A field of the spec that this account's region cannot give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Unavailable {
    pub field: String,
    pub message: String,
}

/// Why the preflight could not finish, or what it found.
#[derive(Debug, thiserror::Error)]
pub enum PreflightError {
    #[error("the spec asks for what {region} does not have")]
    Unavailable {
        region: String,
        /// Every problem found, in the spec's order.
        problems: Vec<Unavailable>,
    },
    #[error("the preflight checks could not ask AWS")]
    Aws(#[from] AwsError),
}

/// Checks `spec` against the account's region; every problem at once.
pub async fn check(cloud: &Cloud, spec: &Spec) -> Result<(), PreflightError> {
    let mut problems = Vec::new();
    let request = cloud.ec2.describe_availability_zones();
    let answer = send("DescribeAvailabilityZones", || request.clone().send()).await?;
    let zones: Vec<&str> = answer
        .availability_zones()
        .iter()
        .filter(|zone| zone.state().is_some_and(|s| s.as_str() == "available"))
        .filter_map(|zone| zone.zone_name())
        .collect();
    for (index, zone) in spec.network.availability_zones.iter().enumerate() {
        if !zones.contains(&zone.as_str()) {
            problems.push(Unavailable {
                field: format!("network.availability_zones[{index}]"),
                message: format!(
                    "{zone} is not an available zone of {} in this account (it has {}): pick two of those",
                    spec.region,
                    zones.join(", ")
                ),
            });
        }
    }
    // The bastion's, and the product nodes' (gateways, traffic managers).
    let mut machines = vec![(
        "bastion",
        spec.bastion.instance_type.as_str(),
        spec.bastion.ami.as_str(),
    )];
    if let Some(nodes) = &spec.nodes {
        machines.push((
            "nodes.gateways",
            &nodes.gateways.instance_type,
            &nodes.gateways.ami,
        ));
        machines.push((
            "nodes.traffic_managers",
            &nodes.traffic_managers.instance_type,
            &nodes.traffic_managers.ami,
        ));
    }
    for (field, instance_type, ami) in machines {
        problems.extend(offered(cloud, spec, &zones, field, instance_type).await?);
        problems.extend(image(cloud, spec, field, ami).await?);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(PreflightError::Unavailable {
            region: spec.region.clone(),
            problems,
        })
    }
}

/// Whether `instance_type` is offered in both of the spec's zones.
async fn offered(
    cloud: &Cloud,
    spec: &Spec,
    zones: &[&str],
    field: &str,
    instance_type: &str,
) -> Result<Option<Unavailable>, AwsError> {
    let offered = Filter::builder()
        .name("instance-type")
        .values(instance_type)
        .build();
    let request = cloud
        .ec2
        .describe_instance_type_offerings()
        .location_type(LocationType::AvailabilityZone)
        .filters(offered);
    let answer = send("DescribeInstanceTypeOfferings", || request.clone().send()).await?;
    let offered_in: Vec<&str> = answer
        .instance_type_offerings()
        .iter()
        .filter_map(|offering| offering.location())
        .collect();
    let missing: Vec<&str> = spec
        .network
        .availability_zones
        .iter()
        .map(String::as_str)
        .filter(|zone| zones.contains(zone) && !offered_in.contains(zone))
        .collect();
    Ok((!missing.is_empty()).then(|| Unavailable {
        field: format!("{field}.instance_type"),
        message: format!(
            "{instance_type} is not offered in {} of {}: pick a type offered there (e.g. t3.micro)",
            missing.join(" and "),
            spec.region
        ),
    }))
}

/// Whether image `ami` exists in the region (for this account).
async fn image(
    cloud: &Cloud,
    spec: &Spec,
    field: &str,
    ami: &str,
) -> Result<Option<Unavailable>, AwsError> {
    let request = cloud.ec2.describe_images().image_ids(ami);
    let missing = match send("DescribeImages", || request.clone().send()).await {
        Ok(answer) => answer.images().is_empty(),
        Err(error) if error.code.starts_with("InvalidAMIID") => true,
        Err(error) => return Err(error),
    };
    Ok(missing.then(|| Unavailable {
        field: format!("{field}.ami"),
        message: format!(
            "{ami} does not exist in {} (or this account may not use it): give an image of that region",
            spec.region
        ),
    }))
}
