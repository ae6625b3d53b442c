//! What can change in place on a resource, typed: security-group ingress,
//! routes, subnet associations, gateway attachments, DNS records and VPN
//! routes. Their `Display` is the plan's text (`+ tcp 22 from bastion-sg`),
//! and they sort by that text, so the plan reads as it always has; the
//! executor takes them as values and never parses text back.

use std::cmp::Ordering;
use std::fmt;

/// Where ingress comes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// An address range: `203.0.113.0/24`.
    Cidr(String),
    /// Another security group of the environment, by role: `bastion-sg`.
    Group(String),
    /// A group that is not the environment's (its id as AWS gives it).
    Foreign(String),
}

/// One thing a resource holds that can be added or removed in place.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Rule {
    /// Security-group ingress: `tcp 2222 from 203.0.113.0/24`; `ports` is
    /// `None` for every port (protocol `-1`).
    Ingress {
        protocol: String,
        ports: Option<(i32, i32)>,
        from: Source,
    },
    /// A route of a route table: `route 0.0.0.0/0 via igw` (`via` a role,
    /// or an id that is not the environment's).
    Route { cidr: String, via: String },
    /// A route table's subnet: `associate public-a`.
    Associate { subnet: String },
    /// A gateway's VPC: `attached to vpc`.
    Attached { vpc: String },
    /// A record of a private zone: `A bastion.acme.internal -> bastion`
    /// (`target` a role whose address the record holds).
    Record {
        kind: String,
        name: String,
        target: String,
    },
    /// A static route of a VPN connection: `route 10.8.0.0/16`.
    VpnRoute { cidr: String },
    /// What an instance role may do: `allow secretsmanager:GetSecretValue
    /// on product-db-password`; `on` is a role of the environment (a
    /// secret) or `<bucket role>/<key pattern>` (`artifacts/bundles/gateway-*`).
    Grant { action: String, on: String },
    /// The IAM role an instance profile carries: `carries gateway-role`.
    Carries { role: String },
    /// A setting of a bucket: `versioning on`, `encrypted`, `public
    /// access blocked`.
    Bucket(BucketSetting),
    /// The database refuses to be deleted: `deletion protection on`.
    DeletionProtection,
    /// A secret kept in another region too (the DR region), with the same
    /// name and value: `replicated to eu-central-1`.
    Replica { region: String },
}

/// What every bucket of the environment is set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BucketSetting {
    /// Every overwrite and delete keeps the version before it.
    Versioning,
    /// Encrypted at rest by default (SSE-S3).
    Encryption,
    /// All four public-access blocks on.
    PublicAccessBlocked,
}

impl BucketSetting {
    pub const ALL: [Self; 3] = [
        Self::Versioning,
        Self::Encryption,
        Self::PublicAccessBlocked,
    ];
}

impl Rule {
    /// Ingress on one port.
    pub fn ingress(protocol: &str, port: u16, from: Source) -> Self {
        Self::Ingress {
            protocol: protocol.to_owned(),
            ports: Some((i32::from(port), i32::from(port))),
            from,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cidr(text) | Self::Group(text) | Self::Foreign(text) => f.write_str(text),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ingress {
                protocol,
                ports,
                from,
            } => {
                let ports = match ports {
                    Some((low, high)) if low == high => low.to_string(),
                    Some((low, high)) => format!("{low}-{high}"),
                    None => "all".to_owned(),
                };
                write!(f, "{protocol} {ports} from {from}")
            }
            Self::Route { cidr, via } => write!(f, "route {cidr} via {via}"),
            Self::Associate { subnet } => write!(f, "associate {subnet}"),
            Self::Attached { vpc } => write!(f, "attached to {vpc}"),
            Self::Record { kind, name, target } => write!(f, "{kind} {name} -> {target}"),
            Self::VpnRoute { cidr } => write!(f, "route {cidr}"),
            Self::Grant { action, on } => write!(f, "allow {action} on {on}"),
            Self::Carries { role } => write!(f, "carries {role}"),
            Self::DeletionProtection => f.write_str("deletion protection on"),
            Self::Replica { region } => write!(f, "replicated to {region}"),
            Self::Bucket(BucketSetting::Versioning) => f.write_str("versioning on"),
            Self::Bucket(BucketSetting::Encryption) => f.write_str("encrypted at rest"),
            Self::Bucket(BucketSetting::PublicAccessBlocked) => {
                f.write_str("public access blocked")
            }
        }
    }
}

/// Rules sort as their text, so the plan lists them as it always has.
impl Ord for Rule {
    fn cmp(&self, other: &Self) -> Ordering {
        self.to_string()
            .cmp(&other.to_string())
            .then_with(|| format!("{self:?}").cmp(&format!("{other:?}")))
    }
}

impl PartialOrd for Rule {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rule_reads_as_the_plan_prints_it() {
        let cases = [
            (
                Rule::ingress("tcp", 2222, Source::Cidr("203.0.113.0/24".into())),
                "tcp 2222 from 203.0.113.0/24",
            ),
            (
                Rule::Ingress {
                    protocol: "-1".into(),
                    ports: None,
                    from: Source::Group("bastion-sg".into()),
                },
                "-1 all from bastion-sg",
            ),
            (
                Rule::Route {
                    cidr: "0.0.0.0/0".into(),
                    via: "nat".into(),
                },
                "route 0.0.0.0/0 via nat",
            ),
            (
                Rule::Associate {
                    subnet: "public-a".into(),
                },
                "associate public-a",
            ),
            (Rule::Attached { vpc: "vpc".into() }, "attached to vpc"),
            (
                Rule::Record {
                    kind: "A".into(),
                    name: "bastion.acme.internal".into(),
                    target: "bastion".into(),
                },
                "A bastion.acme.internal -> bastion",
            ),
            (
                Rule::VpnRoute {
                    cidr: "10.8.0.0/16".into(),
                },
                "route 10.8.0.0/16",
            ),
            (
                Rule::Grant {
                    action: "s3:GetObject".into(),
                    on: "artifacts/bundles/gateway-*".into(),
                },
                "allow s3:GetObject on artifacts/bundles/gateway-*",
            ),
            (
                Rule::Carries {
                    role: "gateway-role".into(),
                },
                "carries gateway-role",
            ),
            (Rule::Bucket(BucketSetting::Versioning), "versioning on"),
        ];
        for (rule, text) in cases {
            assert_eq!(rule.to_string(), text);
        }
    }

    #[test]
    fn rules_sort_by_their_text() {
        let mut rules = [
            Rule::Route {
                cidr: "0.0.0.0/0".into(),
                via: "igw".into(),
            },
            Rule::Associate {
                subnet: "public-b".into(),
            },
            Rule::Associate {
                subnet: "public-a".into(),
            },
        ];
        rules.sort();
        let texts: Vec<String> = rules.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "associate public-a",
                "associate public-b",
                "route 0.0.0.0/0 via igw"
            ]
        );
    }
}
