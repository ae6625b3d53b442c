//! Route tables: routes and subnet associations are rules that change in place.

use super::RouteTable;
use super::prelude::*;
use aws_sdk_ec2::types::ResourceType;

#[async_trait::async_trait]
impl ResourceKind for RouteTable {
    async fn observe(&self, cloud: &Cloud, seen: &mut Seen<'_>) -> Result<(), AwsError> {
        let request = cloud
            .ec2
            .describe_route_tables()
            .filters(cloud.env_filter());
        let tables = send("DescribeRouteTables", || request.clone().send());
        let tables = tables.await?;
        for (role, table) in cloud.ours(tables.route_tables(), |t| t.tags(), "routes") {
            let id = table.route_table_id().unwrap_or_default();
            let mut f = found(Kind::RouteTable, role, id, "available");
            for route in table.routes() {
                let local = route.gateway_id().filter(|g| *g != "local");
                let target = local.or(route.nat_gateway_id());
                if let (Some(cidr), Some(target)) = (route.destination_cidr_block(), target) {
                    let (cidr, via) = (cidr.to_owned(), seen.role_of(target));
                    f.resource.rules.insert(Rule::Route { cidr, via });
                }
            }
            let subnets = table.associations().iter().filter_map(|a| a.subnet_id());
            let associations = subnets.map(|subnet| Rule::Associate {
                subnet: seen.role_of(subnet),
            });
            f.resource.rules.extend(associations);
            seen.add(f);
        }
        Ok(())
    }

    async fn create(&self, cloud: &Cloud, need: &Need<'_>) -> Result<Made, AwsError> {
        let vpc = need.id_of("vpc");
        let tags = cloud.tags(ResourceType::RouteTable, need.role());
        let request = cloud.ec2.create_route_table().tag_specifications(tags);
        let request = request.vpc_id(vpc);
        let created = send("CreateRouteTable", || request.clone().send());
        let table = created.await?.route_table().cloned();
        Made::id(
            "CreateRouteTable",
            table.as_ref().and_then(|t| t.route_table_id()),
        )
    }

    async fn change(&self, cloud: &Cloud, change: &Change<'_>) -> Result<(), AwsError> {
        for (add, rule) in change.each() {
            match rule {
                Rule::Route { cidr, via } => route(cloud, change, add, cidr, via).await?,
                Rule::Associate { subnet } if add => {
                    let associate = cloud.ec2.associate_route_table().route_table_id(change.id);
                    let request = associate.subnet_id(change.known.id(subnet)?);
                    send("AssociateRouteTable", || request.clone().send()).await?;
                }
                Rule::Associate { subnet } => {
                    let subnet = change.known.ids.get(subnet).unwrap_or(subnet);
                    let policy = Policy::standard();
                    disassociate(cloud, change.id, Some(subnet), policy).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn delete(&self, cloud: &Cloud, gone: &Gone<'_>) -> Result<Option<String>, AwsError> {
        match disassociate(cloud, gone.id(), None, Policy::destroying()).await {
            // A table that is gone has nothing to disassociate.
            Err(error) if !error.code.contains("NotFound") => return Err(error),
            _ => {}
        }
        let request = cloud.ec2.delete_route_table().route_table_id(gone.id());
        gone.by("DeleteRouteTable", || request.clone().send()).await
    }
}

/// Adds or removes the route to `cidr` through `via` (a NAT gateway or a gateway).
async fn route(
    cloud: &Cloud,
    change: &Change<'_>,
    add: bool,
    cidr: &str,
    via: &str,
) -> Result<(), AwsError> {
    let policy = Policy::standard();
    if !add {
        let delete = cloud.ec2.delete_route().route_table_id(change.id);
        let request = delete.destination_cidr_block(cidr);
        return call("DeleteRoute", policy, || request.clone().send())
            .await
            .map(drop);
    }
    let target = change.known.id(via)?;
    let create = cloud.ec2.create_route().route_table_id(change.id);
    let request = create.destination_cidr_block(cidr);
    let request = if target.starts_with("nat-") {
        request.nat_gateway_id(target)
    } else {
        request.gateway_id(target)
    };
    call("CreateRoute", policy, || request.clone().send())
        .await
        .map(drop)
}

/// Removes table `id`'s associations with `subnet` (an id), or with every
/// subnet when `None` (never the VPC's main association).
async fn disassociate(
    cloud: &Cloud,
    id: &str,
    subnet: Option<&str>,
    policy: Policy,
) -> Result<(), AwsError> {
    let request = cloud.ec2.describe_route_tables().route_table_ids(id);
    let tables = call("DescribeRouteTables", policy, || request.clone().send()).await?;
    let associations = tables.route_tables().iter().flat_map(|t| t.associations());
    for association in associations {
        let wanted = subnet.is_none_or(|s| association.subnet_id() == Some(s));
        if !wanted || association.main().unwrap_or(false) {
            continue;
        }
        if let Some(association) = association.route_table_association_id() {
            let request = cloud
                .ec2
                .disassociate_route_table()
                .association_id(association);
            removed("DisassociateRouteTable", policy, || request.clone().send()).await?;
        }
    }
    Ok(())
}
