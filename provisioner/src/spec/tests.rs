use super::*;

fn example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme.toml"))
        .unwrap()
}

fn parse(text: &str) -> Result<Spec, SpecError> {
    Spec::parse(Path::new("/specs/acme.toml"), text)
}

#[test]
fn the_shipped_example_parses() {
    let spec = parse(&example()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(spec.name, "acme-prod");
    assert_eq!(spec.access.ssh_port, 2222);
    assert!(spec.vpn.is_some());
}

#[test]
fn a_bad_backup_policy_names_the_field_and_the_fix() {
    let good = example();
    for (from, to, field, fix) in [
        (
            "daily_at = \"02:00\"",
            "daily_at = \"2am\"",
            "backup.daily_at",
            "HH:MM",
        ),
        (
            "daily_at = \"02:00\"",
            "daily_at = \"24:00\"",
            "backup.daily_at",
            "HH:MM",
        ),
        (
            "keep_days = 7",
            "keep_days = 0",
            "backup.keep_days",
            "1 to 3650",
        ),
        (
            "expire_after_days = 90",
            "expire_after_days = 30",
            "backup.expire_after_days",
            "after they move to Glacier",
        ),
        (
            "expire_after_days = 90",
            "expire_after_days = 60",
            "backup.expire_after_days",
            "three months",
        ),
        ("rpo = \"24h\"", "rpo = \"10m\"", "backup.rpo", "1h to 7d"),
        (
            "dr_region = \"eu-central-1\"\n",
            "",
            "backup.copy_to_dr",
            "set dr_region",
        ),
    ] {
        assert!(good.contains(from), "{from} is not in the example");
        let error = parse(&good.replacen(from, to, 1)).unwrap_err().to_string();
        assert!(
            error.contains(field) && error.contains(fix),
            "{to}: {error}"
        );
        assert!(error.contains("/specs/acme.toml"), "{error}");
    }
    // Without the section, the defaults.
    let start = good.find("[backup]").unwrap();
    let end = good.find("[history]").unwrap();
    let without = format!("{}{}", &good[..start], &good[end..]);
    let spec = parse(&without).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (
            spec.backup.daily_time(),
            spec.backup.keep_days,
            spec.backup.expire_after_days
        ),
        (Some((2, 0)), 7, 90)
    );
}

#[test]
fn bad_specs_name_the_file_the_field_and_the_fix() {
    let good = example();
    let cases = [
        (
            good.replace("ssh_port = 2222", "ssh_port = 22"),
            "access.ssh_port",
            "non-standard port",
        ),
        (
            good.replace("vpc_cidr = \"10.20.0.0/16\"", "vpc_cidr = \"10.20.0.0/26\""),
            "network.vpc_cidr",
            "/16 to /24",
        ),
        (
            good.replace("\"10.20.1.0/24\"", "\"10.20.0.128/25\""),
            "network.public_subnets[1]",
            "overlaps network.public_subnets[0]",
        ),
        (
            good.replace("\"10.20.11.0/24\"", "\"10.20.11.0/29\""),
            "network.private_subnets[1]",
            "too small",
        ),
        (
            good.replace("\"10.20.11.0/24\"", "\"10.30.11.0/24\""),
            "network.private_subnets[1]",
            "outside the VPC",
        ),
        (
            good.replace(
                "servers = [\"ntp1.acme.example\", \"ntp2.acme.example\"]",
                "servers = []",
            ),
            "ntp.servers",
            "Amazon Time Sync",
        ),
        (
            good.replace("domain = \"mail.acme.example\"", "domain = \"mail acme\""),
            "email.domain",
            "not a domain name",
        ),
        (
            good.replace("\"203.0.113.0/24\", ", "\"0.0.0.0/0\", "),
            "access.operator_cidrs[0]",
            "opens the bastion to the internet",
        ),
        (
            good.replace("eu-west-1b", "eu-west-1a"),
            "network.availability_zones",
            "the same",
        ),
        (
            good.replace("eu-west-1b", "eu-west-1z"),
            "network.availability_zones[1]",
            "is not a zone of eu-west-1",
        ),
        (
            good.replace("region = \"eu-west-1\"", "region = \"mars\""),
            "region",
            "not an AWS region",
        ),
        (
            good.replace("region = \"eu-west-1\"\n", ""),
            "region",
            "missing: name the AWS region",
        ),
        (
            good.replace("dr_region = \"eu-central-1\"", "dr_region = \"eu-west-1\""),
            "dr_region",
            "another region",
        ),
        (
            good.replace("dr_region = \"eu-central-1\"", "dr_region = \"mars\""),
            "dr_region",
            "not an AWS region",
        ),
        (
            good.replace("instance_type = \"t3.micro\"", "instance_type = \"\""),
            "bastion.instance_type",
            "not an EC2 instance type",
        ),
        (
            good.replace(
                "# agent_package = \"dist/aerie-agent_0.1.0_amd64.deb\"",
                "agent_package = \"packages/aerie-agent.deb\"",
            ),
            "nodes.agent_package",
            "under dist/",
        ),
    ];
    aerie_testkit::assert_refused("/specs/acme.toml", &cases, parse);
    let unknown = parse(&good.replace("ssh_port", "ssh_prot"))
        .unwrap_err()
        .to_string();
    assert!(
        unknown.starts_with("/specs/acme.toml: ") && unknown.contains("unknown field `ssh_prot`"),
        "{unknown}"
    );
}
