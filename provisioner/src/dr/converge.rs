//! The planner run on part of the DR site: the resources of some kinds
//! that the site's spec asks for, made by `apply` (find by tag, else make)
//! and read back; and the same part torn down. The network, the nodes and
//! the private zone of a recovery are made this way, so a recovered
//! environment is made exactly as `aerie env apply` makes one.
//!
//! It never removes in [`converge`]: what is found and not asked for (the
//! restored database, another part of the site) is left alone.

use crate::aws::Cloud;
use crate::model::{Found, Kind, Resource};
use crate::plan::Step;
use crate::progress::Progress;
use crate::spec::Spec;

use super::DrError;

/// What part of the site to converge.
#[derive(Debug, Clone, Copy)]
pub struct Part<'a> {
    /// The kinds made.
    pub make: &'a [Kind],
    /// The kinds read (those made and what they refer to).
    pub read: &'a [Kind],
    /// Fits a desired resource to the recovery (drops what the DR site
    /// does not have).
    pub fit: fn(&mut Resource),
}

/// Makes what `part` of `site` lacks in `cloud`; answers what is there
/// afterwards (of the kinds read).
pub async fn converge(cloud: &Cloud, site: &Spec, part: Part<'_>) -> Result<Vec<Found>, DrError> {
    let desired: Vec<Resource> = crate::model::desired(site)?
        .into_iter()
        .filter(|r| part.make.contains(&r.kind))
        .map(|mut r| {
            (part.fit)(&mut r);
            r
        })
        .collect();
    let observed = cloud.observe_kinds(site, part.read).await?;
    let mut plan = crate::plan::plan(&desired, &observed);
    plan.steps.retain(|s| !matches!(s, Step::Remove(_)));
    if !plan.steps.is_empty() {
        crate::apply::apply(cloud, site, &plan, &observed, &log, None).await?;
    }
    Ok(cloud.observe_kinds(site, part.read).await?)
}

/// Removes the resources of `kinds` of `site` in `cloud`, newest kind
/// first; answers how many.
pub async fn tear_down(cloud: &Cloud, site: &Spec, kinds: &[Kind]) -> Result<usize, DrError> {
    let observed: Vec<Found> = cloud
        .observe_kinds(site, kinds)
        .await?
        .into_iter()
        .filter(|f| kinds.contains(&f.resource.kind))
        .collect();
    Ok(crate::apply::destroy(cloud, &observed, &log).await?)
}

/// The id of the resource of `role` in `found`.
pub fn id_of<'a>(found: &'a [Found], role: &str) -> Option<&'a str> {
    found
        .iter()
        .find(|f| f.resource.role == role)
        .map(|f| f.id.as_str())
}

/// The planner's progress, as log lines (a step reports to the engine).
fn log(progress: Progress) {
    if let Progress::Done(line) = progress {
        tracing::info!("{line}");
    }
}
