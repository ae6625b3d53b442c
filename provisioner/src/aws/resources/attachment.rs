//! What the internet gateway and the VPN gateway share: each is attached to
//! the VPC, an attachment being an `Attached` rule. The loops live here;
//! each kind gives only its own attach and detach call.

use std::future::Future;

use crate::aws::Known;
use crate::aws::retry::AwsError;
use crate::model::{Found, Rule};

/// Calls `attach` with the id of the VPC of each `Attached` rule in `add`
/// (the VPC is a dependency: it exists).
pub(super) async fn attach_each<F, Fut>(
    add: &[Rule],
    known: &Known,
    mut attach: F,
) -> Result<(), AwsError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), AwsError>>,
{
    for rule in add {
        if let Rule::Attached { vpc } = rule {
            attach(known.id(vpc)?).await?;
        }
    }
    Ok(())
}

/// Calls `detach` with the id of each VPC `found` is attached to (one
/// already gone is skipped).
pub(super) async fn detach_each<F, Fut>(
    found: &Found,
    known: &Known,
    mut detach: F,
) -> Result<(), AwsError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(), AwsError>>,
{
    for rule in &found.resource.rules {
        if let Rule::Attached { vpc } = rule
            && let Some(vpc) = known.ids.get(vpc)
        {
            detach(vpc.clone()).await?;
        }
    }
    Ok(())
}
