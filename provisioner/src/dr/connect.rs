//! `--connect-to FROM=TO`: where a verification step really connects when
//! an endpoint is not reachable from the operator's machine (a database
//! private to the VPC, reached through an SSH port forward on the bastion).
//! `FROM` is `host:port`, with `*` or `*.suffix` as the host; `TO` is
//! `host:port`. The first rule that matches wins; with none, the endpoint
//! is used as it is.

/// The rules, in the order given.
#[derive(Debug, Clone, Default)]
pub struct ConnectTo {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    host: String,
    port: u16,
    to: (String, u16),
}

/// A rule that is not `host:port=host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--connect-to {0:?}: write FROM=TO, each host:port (FROM's host may be * or *.suffix)")]
pub struct BadRule(pub String);

impl ConnectTo {
    /// Adds the rule `text`.
    pub fn add(&mut self, text: &str) -> Result<(), BadRule> {
        let bad = || BadRule(text.to_owned());
        let (from, to) = text.split_once('=').ok_or_else(bad)?;
        let (host, port) = split(from).ok_or_else(bad)?;
        let to = split(to).ok_or_else(bad)?;
        self.rules.push(Rule {
            host: host.to_owned(),
            port,
            to: (to.0.to_owned(), to.1),
        });
        Ok(())
    }

    /// Where to connect for `endpoint` (`host:port`, 3306 when no port).
    pub fn route(&self, endpoint: &str) -> (String, u16) {
        let (host, port) = split(endpoint).unwrap_or((endpoint, 3306));
        for rule in &self.rules {
            let matches = match rule.host.strip_prefix('*') {
                Some(suffix) => host.ends_with(suffix),
                None => rule.host == host,
            };
            if matches && rule.port == port {
                return rule.to.clone();
            }
        }
        (host.to_owned(), port)
    }
}

/// The host of a `host:port` endpoint (the whole text when it has no port).
pub fn host_of(endpoint: &str) -> &str {
    split(endpoint).map_or(endpoint, |(host, _)| host)
}

fn split(text: &str) -> Option<(&str, u16)> {
    let (host, port) = text.rsplit_once(':')?;
    Some((host, port.parse().ok()?)).filter(|(host, _)| !host.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_rule_routes_an_endpoint_and_others_go_as_they_are() {
        let mut to = ConnectTo::default();
        to.add("*.rds.amazonaws.com:3306=127.0.0.1:13306").unwrap();
        to.add("db.example:3306=10.0.0.1:3307").unwrap();
        assert_eq!(
            to.route("x.abc.eu-central-1.rds.amazonaws.com:3306"),
            ("127.0.0.1".to_owned(), 13306)
        );
        assert_eq!(to.route("db.example:3306"), ("10.0.0.1".to_owned(), 3307));
        assert_eq!(to.route("other:5432"), ("other".to_owned(), 5432));
        assert!(to.add("no-port=127.0.0.1:1").is_err());
    }
}
