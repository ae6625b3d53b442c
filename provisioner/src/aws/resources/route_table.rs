//! Route tables: routes and subnet associations are rules that change in place.

use super::{Need, ResourceKind, Seen, found};
use crate::aws::retry::{AwsError, Policy, call, removed};
use crate::aws::{Cloud, Known};
use crate::model::{Found, Kind, Resource, Rule};
use aws_sdk_ec2::types::ResourceType;

/// RouteTable resources.
#[derive(Debug)]
pub(super) struct RouteTable;

#[async_trait::async_trait]
impl ResourceKind for RouteTable {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let tables = call("DescribeRouteTables", policy, || {
            ec2.describe_route_tables()
                .filters(cloud.env_filter())
                .send()
        })
        .await?;
        for table in tables.route_tables() {
            let Some(role) = cloud.role_if_ours(table.tags(), "routes") else {
                continue;
            };
            let id = table.route_table_id().unwrap_or_default();
            let mut f = found(Kind::RouteTable, role, id, "available");
            for route in table.routes() {
                let target = route
                    .gateway_id()
                    .filter(|g| *g != "local")
                    .or(route.nat_gateway_id());
                if let (Some(destination), Some(target)) = (route.destination_cidr_block(), target)
                {
                    let via = seen
                        .roles
                        .get(target)
                        .cloned()
                        .unwrap_or_else(|| target.to_owned());
                    f.resource.rules.insert(Rule::Route {
                        cidr: destination.to_owned(),
                        via,
                    });
                }
            }
            for association in table.associations() {
                if let Some(subnet) = association.subnet_id() {
                    let subnet = seen
                        .roles
                        .get(subnet)
                        .cloned()
                        .unwrap_or_else(|| subnet.to_owned());
                    f.resource.rules.insert(Rule::Associate { subnet });
                }
            }
            seen.add(f);
        }
        Ok(())
    }

    async fn create(
        &self,
        cloud: &Cloud,
        need: &Need<'_>,
    ) -> Result<(String, Option<String>), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        let role = need.role();
        let known = need.known;
        let id = call("CreateRouteTable", policy, || {
            ec2.create_route_table()
                .vpc_id(known.ids.get("vpc").cloned().unwrap_or_default())
                .tag_specifications(cloud.tags(ResourceType::RouteTable, role))
                .send()
        })
        .await?
        .route_table()
        .and_then(|t| t.route_table_id())
        .unwrap_or_default()
        .to_owned();
        Ok((id, None))
    }

    async fn change(
        &self,
        cloud: &Cloud,
        _resource: &Resource,
        id: &str,
        add: &[Rule],
        remove: &[Rule],
        known: &Known,
    ) -> Result<(), AwsError> {
        let policy = Policy::standard();
        let ec2 = &cloud.ec2;
        for rule in remove {
            if let Rule::Route {
                cidr: destination, ..
            } = rule
            {
                call("DeleteRoute", policy, || {
                    ec2.delete_route()
                        .route_table_id(id)
                        .destination_cidr_block(destination)
                        .send()
                })
                .await?;
            } else if let Rule::Associate { subnet } = rule {
                let subnet_id = known
                    .ids
                    .get(subnet)
                    .cloned()
                    .unwrap_or_else(|| subnet.to_owned());
                let tables = call("DescribeRouteTables", policy, || {
                    ec2.describe_route_tables().route_table_ids(id).send()
                })
                .await?;
                for association in tables.route_tables().iter().flat_map(|t| t.associations()) {
                    if association.subnet_id() == Some(subnet_id.as_str())
                        && let Some(association_id) = association.route_table_association_id()
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
            if let Rule::Route {
                cidr: destination,
                via,
            } = rule
            {
                let target = known.id(via)?;
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
            } else if let Rule::Associate { subnet } = rule {
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
        Ok(())
    }

    async fn delete(
        &self,
        cloud: &Cloud,
        found: &Found,
        _known: &Known,
    ) -> Result<Option<String>, AwsError> {
        let policy = Policy::destroying();
        let ec2 = &cloud.ec2;
        let id = found.id.as_str();
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
        .await?;
        Ok(None)
    }
}
