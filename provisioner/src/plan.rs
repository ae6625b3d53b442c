//! `plan(desired, observed) -> Plan`: pure, and printed as a `+ / ~ / -`
//! diff grouped by resource, then one summary line.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::model::Found;
use crate::model::{Resource, Rule};
use crate::repair::Repair;

/// One thing to do.
#[derive(Debug, Clone)]
pub enum Step {
    Add(Resource),
    Change {
        desired: Resource,
        found: Found,
        add: Vec<Rule>,
        remove: Vec<Rule>,
        /// What observe found undone and the kind repairs in place.
        repairs: Vec<Repair>,
    },
    Remove(Found),
    /// What cannot change in place on an instance: the old one goes, a new
    /// one comes with the same role (and so the same DNS name), in that
    /// order; `reasons` say which field forces it.
    Replace {
        desired: Resource,
        found: Found,
        reasons: Vec<String>,
    },
}

impl Step {
    pub fn role(&self) -> &str {
        match self {
            Self::Add(resource) => &resource.role,
            Self::Change { desired, .. } | Self::Replace { desired, .. } => &desired.role,
            Self::Remove(found) => &found.resource.role,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// Drift in what is set at creation (a CIDR, an instance type): shown,
    /// not repaired, because it cannot change in place.
    pub drift: Vec<String>,
    /// What the plan will not do (replace the database): apply refuses to
    /// run while there is any.
    pub refused: Vec<String>,
}

impl Plan {
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for step in &self.steps {
            match step {
                Step::Add(_) => counts.0 += 1,
                Step::Change { .. } => counts.1 += 1,
                Step::Remove(_) => counts.2 += 1,
                Step::Replace { .. } => {
                    counts.0 += 1;
                    counts.2 += 1;
                }
            }
        }
        counts
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The diff as the operator reads it.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.refused.is_empty() {
            out.push_str("Refused (apply will not run until the spec or the resource changes):\n");
            for line in &self.refused {
                let _ = writeln!(out, "x {line}");
            }
            out.push('\n');
        }
        if !self.drift.is_empty() {
            out.push_str("Changed outside Aerie and not repairable in place (destroy the resource and apply to re-create it):\n");
            for line in &self.drift {
                let _ = writeln!(out, "! {line}");
            }
            out.push('\n');
        }
        if self.steps.is_empty() {
            out.push_str("No changes.\n");
            return out;
        }
        for step in &self.steps {
            match step {
                Step::Add(resource) => {
                    let _ = writeln!(out, "+ {} {}", resource.kind.label(), resource.role);
                    for (key, value) in &resource.props {
                        let _ = writeln!(out, "    {key} = {value}");
                    }
                    for rule in &resource.rules {
                        let _ = writeln!(out, "    + {rule}");
                    }
                }
                Step::Change {
                    desired,
                    found,
                    add,
                    remove,
                    repairs,
                } => {
                    let _ = writeln!(out, "~ {}", named(desired, found));
                    for rule in remove {
                        let _ = writeln!(out, "    - {rule}");
                    }
                    for rule in add {
                        let _ = writeln!(out, "    + {rule}");
                    }
                    for repair in repairs {
                        let _ = writeln!(out, "    ! {repair}");
                    }
                }
                Step::Remove(found) => {
                    let _ = writeln!(out, "- {}", named(&found.resource, found));
                }
                Step::Replace {
                    desired,
                    found,
                    reasons,
                } => {
                    let _ = writeln!(out, "-/+ {}: replaced, because", named(desired, found));
                    for reason in reasons {
                        let _ = writeln!(out, "    {reason}");
                    }
                }
            }
        }
        let (add, change, destroy) = self.counts();
        let _ = writeln!(
            out,
            "\nPlan: {add} to add, {change} to change, {destroy} to destroy."
        );
        out
    }
}

/// A resource as the plan names it: `instance bastion (i-0123…)`.
fn named(resource: &Resource, found: &Found) -> String {
    format!("{} {} ({})", resource.kind.label(), resource.role, found.id)
}

/// What must happen for AWS to match `desired`. Resources tagged for the
/// environment that the spec no longer asks for are removed; a resource in
/// both keeps its id and has its rules brought in line.
pub fn plan(desired: &[Resource], observed: &[Found]) -> Plan {
    let mut steps = Vec::new();
    let mut drift = Vec::new();
    let mut refused = Vec::new();
    let mut replaced: Vec<String> = Vec::new();
    for resource in desired {
        let matches: Vec<&Found> = observed
            .iter()
            .filter(|f| f.resource.kind == resource.kind && f.resource.role == resource.role)
            .collect();
        match matches.first() {
            None => steps.push(Step::Add(resource.clone())),
            Some(found) => {
                let differ: Vec<String> = resource
                    .props
                    .iter()
                    .filter_map(|(key, wanted)| {
                        let actual = found.resource.props.get(key)?;
                        (actual != wanted)
                            .then(|| format!("{key} is {actual} in AWS, {wanted} in the spec"))
                    })
                    .collect();
                let replaceable = matches!(
                    resource.kind,
                    crate::model::Kind::Instance | crate::model::Kind::Object
                );
                if !differ.is_empty() && replaceable {
                    // An instance holds no data of its own, a bundle is
                    // rendered again: either is replaced.
                    replaced.push(resource.role.clone());
                    steps.push(Step::Replace {
                        desired: resource.clone(),
                        found: (*found).clone(),
                        reasons: differ,
                    });
                    continue;
                }
                for difference in differ {
                    let line = format!("{}: {difference}", named(resource, found));
                    if resource.kind == crate::model::Kind::DbInstance {
                        refused.push(format!(
                            "{line}. Aerie never replaces a database: take a snapshot, restore it as a new instance with the new settings, switch the environment to it, then delete the old one; or set the spec back"
                        ));
                    } else {
                        drift.push(line);
                    }
                }
                let add: Vec<Rule> = resource
                    .rules
                    .difference(&found.resource.rules)
                    .cloned()
                    .collect();
                let remove: Vec<Rule> = found
                    .resource
                    .rules
                    .difference(&resource.rules)
                    .cloned()
                    .collect();
                let repairs = found.repairs.clone();
                if !add.is_empty() || !remove.is_empty() || !repairs.is_empty() {
                    steps.push(Step::Change {
                        desired: resource.clone(),
                        found: (*found).clone(),
                        add,
                        remove,
                        repairs,
                    });
                }
                // Duplicates (an interrupted create that left two): the extras go.
                for extra in &matches[1..] {
                    steps.push(Step::Remove((*extra).clone()));
                }
            }
        }
    }
    let wanted: BTreeSet<(crate::model::Kind, &str)> =
        desired.iter().map(|r| (r.kind, r.role.as_str())).collect();
    for found in observed {
        if !wanted.contains(&(found.resource.kind, found.resource.role.as_str())) {
            steps.push(Step::Remove(found.clone()));
        }
    }
    refresh_records(desired, observed, &replaced, &mut steps);
    Plan {
        steps,
        drift,
        refused,
    }
}

/// A replaced instance has a new address: the records that point at it
/// are written again (an upsert), whatever else changes on their zone.
fn refresh_records(
    desired: &[Resource],
    observed: &[Found],
    replaced: &[String],
    steps: &mut Vec<Step>,
) {
    for resource in desired {
        let stale: Vec<Rule> = resource
            .rules
            .iter()
            .filter(|rule| matches!(rule, Rule::Record { target, .. } if replaced.contains(target)))
            .cloned()
            .collect();
        if stale.is_empty() {
            continue;
        }
        let existing = steps.iter_mut().find_map(|step| match step {
            Step::Change { desired, add, .. } if desired.role == resource.role => Some(add),
            _ => None,
        });
        match existing {
            Some(add) => {
                for rule in stale {
                    if !add.contains(&rule) {
                        add.push(rule);
                    }
                }
            }
            None => {
                // A zone still to be made gets its records when it is made.
                let found = observed
                    .iter()
                    .find(|f| f.resource.kind == resource.kind && f.resource.role == resource.role);
                if let Some(found) = found {
                    steps.push(Step::Change {
                        desired: resource.clone(),
                        found: found.clone(),
                        add: stale,
                        remove: Vec::new(),
                        repairs: Vec::new(),
                    });
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::Kind;

    /// A security group's TCP ingress rule from a CIDR, as "port cidr".
    fn ingress(port: u16, cidr: &str) -> Rule {
        Rule::ingress("tcp", port, crate::model::Source::Cidr(cidr.into()))
    }

    fn resource(kind: Kind, role: &str, rules: &[Rule]) -> Resource {
        Resource {
            kind,
            role: role.into(),
            props: BTreeMap::from([("cidr".to_owned(), "10.0.0.0/16".to_owned())]),
            rules: rules.iter().cloned().collect(),
            deps: Vec::new(),
        }
    }

    fn found(resource: Resource, id: &str) -> Found {
        Found {
            resource,
            id: id.into(),
            state: "available".into(),
            address: None,
            notes: Vec::new(),
            repairs: Vec::new(),
        }
    }

    #[test]
    fn a_plan_adds_changes_and_removes_by_role() {
        let desired = vec![
            resource(Kind::Vpc, "vpc", &[]),
            resource(
                Kind::SecurityGroup,
                "bastion-sg",
                &[ingress(2222, "203.0.113.0/24")],
            ),
        ];
        let observed = vec![
            found(
                resource(
                    Kind::SecurityGroup,
                    "bastion-sg",
                    &[ingress(2222, "203.0.113.0/24"), ingress(22, "0.0.0.0/0")],
                ),
                "sg-1",
            ),
            found(resource(Kind::VpnGateway, "vgw", &[]), "vgw-1"),
        ];
        let plan = plan(&desired, &observed);
        assert_eq!(plan.counts(), (1, 1, 1));
        assert_eq!(
            plan.render(),
            "+ vpc vpc\n    cidr = 10.0.0.0/16\n~ security-group bastion-sg (sg-1)\n    - tcp 22 from 0.0.0.0/0\n- vpn-gateway vgw (vgw-1)\n\nPlan: 1 to add, 1 to change, 1 to destroy.\n"
        );
        assert_eq!(
            super::plan(
                &desired[..1],
                &[found(resource(Kind::Vpc, "vpc", &[]), "vpc-1")]
            )
            .render(),
            "No changes.\n"
        );
    }

    #[test]
    fn drift_in_what_is_set_at_creation_is_shown_not_acted_on() {
        let desired = vec![resource(Kind::Vpc, "vpc", &[])];
        let mut changed = resource(Kind::Vpc, "vpc", &[]);
        changed.props.insert("cidr".into(), "10.9.0.0/16".into());
        let plan = plan(&desired, &[found(changed, "vpc-1")]);
        assert!(plan.steps.is_empty());
        assert_eq!(
            plan.render(),
            "Changed outside Aerie and not repairable in place (destroy the resource and apply to re-create it):\n! vpc vpc (vpc-1): cidr is 10.9.0.0/16 in AWS, 10.0.0.0/16 in the spec\n\nNo changes.\n"
        );
    }

    #[test]
    fn a_duplicate_left_by_a_crash_is_removed() {
        let desired = vec![resource(Kind::Vpc, "vpc", &[])];
        let observed = vec![
            found(resource(Kind::Vpc, "vpc", &[]), "vpc-1"),
            found(resource(Kind::Vpc, "vpc", &[]), "vpc-2"),
        ];
        let plan = plan(&desired, &observed);
        assert_eq!(plan.counts(), (0, 0, 1));
        assert!(plan.render().contains("- vpc vpc (vpc-2)"));
    }
}
