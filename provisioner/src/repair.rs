//! What observe found half done or undone on a resource that is still the
//! right one, and that apply repairs in place: tags a crash left off, VPC
//! DNS attributes turned off, a stopped instance, a secret scheduled for
//! deletion. Their `Display` is the plan's text (`! DNS hostnames are off`);
//! each kind's `change` does its own.

use std::fmt;

/// One repair of a resource that exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Repair {
    /// Created, but the crash came before it was tagged: tag it.
    Tags,
    /// The VPC's DNS support is off (instances cannot resolve names).
    DnsSupport,
    /// The VPC's DNS hostnames are off (instances get no DNS names).
    DnsHostnames,
    /// The VPC's default security group allows traffic (as AWS makes it).
    DefaultGroupOpen,
    /// The instance is stopped: start it.
    Start,
    /// The secret is scheduled for deletion: restore it.
    Restore,
    /// The key pair's private key is lost with its secret: a new key pair
    /// of the same name, its private key in a new secret.
    NewKey,
}

impl fmt::Display for Repair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tags => "not tagged (created, then interrupted): tag it",
            Self::DnsSupport => "DNS support is off: turn it on",
            Self::DnsHostnames => "DNS hostnames are off: turn them on",
            Self::DefaultGroupOpen => {
                "its default security group allows traffic: remove every rule (CIS 5.4)"
            }
            Self::Start => "stopped: start it",
            Self::Restore => "scheduled for deletion: restore it",
            Self::NewKey => {
                "its private key is lost with its secret: make a new key pair of the same name (instances launched with the old one keep it until they are replaced)"
            }
        })
    }
}
