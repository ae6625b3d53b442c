//! The AWS regions a spec may name, and what an availability zone and an
//! instance type look like. Checked before any AWS call; whether a zone or
//! an instance type really exists in the account is asked of AWS by `plan`
//! (`crate::preflight`).

/// The commercial AWS regions (2026), by their code.
pub const REGIONS: &[&str] = &[
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
];

/// Whether `region` is one of [`REGIONS`].
pub fn is_region(region: &str) -> bool {
    REGIONS.contains(&region)
}

/// Whether `zone` is an availability zone name of `region`: the region and
/// one letter from a to f (no region has more zones than that).
pub fn is_zone_of(zone: &str, region: &str) -> bool {
    zone.strip_prefix(region)
        .is_some_and(|suffix| matches!(suffix.as_bytes(), [b'a'..=b'f']))
}

/// Whether `name` reads as an EC2 or RDS instance type: `family.size`
/// (`t3.micro`, `m7g.2xlarge`), with `db.` in front for RDS.
pub fn is_instance_type(name: &str, rds: bool) -> bool {
    let name = match (rds, name.strip_prefix("db.")) {
        (true, Some(rest)) => rest,
        (true, None) => return false,
        (false, _) => name,
    };
    let Some((family, size)) = name.split_once('.') else {
        return false;
    };
    let family_ok = family.starts_with(|c: char| c.is_ascii_lowercase())
        && family
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    let size_ok = !size.is_empty()
        && size
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    family_ok && size_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_zones_and_instance_types_read_as_aws_writes_them() {
        assert!(is_region("eu-west-1") && !is_region("mars") && !is_region("eu-west-9"));
        assert!(is_zone_of("eu-west-1a", "eu-west-1") && is_zone_of("eu-west-1c", "eu-west-1"));
        assert!(!is_zone_of("eu-west-1z", "eu-west-1") && !is_zone_of("eu-west-1", "eu-west-1"));
        assert!(!is_zone_of("eu-west-2a", "eu-west-1") && !is_zone_of("eu-west-1ab", "eu-west-1"));
        assert!(is_instance_type("t3.micro", false) && is_instance_type("m7g.2xlarge", false));
        assert!(is_instance_type("db.t3.micro", true) && !is_instance_type("t3.micro", true));
        for bad in ["", "t3", ".micro", "t3.", "T3.MICRO", "t3 micro"] {
            assert!(!is_instance_type(bad, false), "{bad:?}");
        }
    }
}
