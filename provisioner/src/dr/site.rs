//! The DR site: the environment's spec moved to the DR region, under the
//! name its resources carry there. A real recovery keeps the environment's
//! name (so `aerie env` sees the recovered environment in that region); a
//! drill takes `<name>-drill-<run>`, so nothing it makes is shared with the
//! environment or with another execution.
//!
//! Pure: it only derives the spec; the steps make what it describes.

use crate::spec::Spec;

/// The name the DR site's resources carry (`aerie:env`, `Name`, the
/// database's `<site>-db`).
pub fn name(environment: &str, run: &str, isolated: bool) -> String {
    if isolated {
        format!("{environment}-drill-{run}")
    } else {
        environment.to_owned()
    }
}

/// `spec` as the DR site: the DR region (each availability zone moved to
/// the same letter there), named `name`, without the VPN (the tunnel to
/// the customer is theirs to point at the new gateway) and without a DR
/// region of its own, recovering `spec`'s environment (its nodes read that
/// environment's secrets, replicated to the DR region; its IAM names and
/// path carry the region). `None` without a `dr_region`.
pub fn spec(spec: &Spec, name: &str) -> Option<Spec> {
    let region = spec.dr_region.clone()?;
    let mut site = spec.clone();
    for zone in &mut site.network.availability_zones {
        *zone = zone_in(zone, &spec.region, &region);
    }
    site.name = name.to_owned();
    site.region = region;
    site.dr_region = None;
    site.vpn = None;
    site.recovers = Some(spec.name.clone());
    Some(site)
}

/// Availability zone `zone` of `from` as the zone of the same letter in
/// `to` (`eu-west-1a` -> `eu-central-1a`).
pub fn zone_in(zone: &str, from: &str, to: &str) -> String {
    match zone.strip_prefix(from) {
        Some(letter) => format!("{to}{letter}"),
        None => zone.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drill_s_site_has_a_name_of_its_own_and_a_recovery_keeps_the_environment_s() {
        assert_eq!(
            name("acme-prod", "20261202-101500-000", true),
            "acme-prod-drill-20261202-101500-000"
        );
        assert_eq!(name("acme-prod", "20261202-101500-000", false), "acme-prod");
    }

    #[test]
    fn the_dr_site_is_the_spec_in_the_dr_region_without_its_vpn_or_a_dr_region() {
        use aerie_common::toml_file::TomlFile as _;
        let example =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/acme.toml");
        let spec = Spec::load(&example).unwrap();
        assert!(spec.vpn.is_some(), "the example has a VPN");
        let site = super::spec(&spec, "acme-prod-drill-1").unwrap();
        assert_eq!(site.region, "eu-central-1");
        assert_eq!(
            site.network.availability_zones,
            ["eu-central-1a", "eu-central-1b"]
        );
        assert_eq!(site.name, "acme-prod-drill-1");
        assert!(site.vpn.is_none() && site.dr_region.is_none());
        assert_eq!(site.recovers.as_deref(), Some("acme-prod"));
        assert_eq!(site.secrets_of(), "acme-prod");
        assert_eq!(site.network.vpc_cidr, spec.network.vpc_cidr);
        let mut local = spec.clone();
        local.dr_region = None;
        assert!(super::spec(&local, "x").is_none());
    }

    #[test]
    fn zones_keep_their_letter_in_the_dr_region() {
        assert_eq!(
            zone_in("eu-west-1b", "eu-west-1", "eu-central-1"),
            "eu-central-1b"
        );
        assert_eq!(
            zone_in("elsewhere", "eu-west-1", "eu-central-1"),
            "elsewhere"
        );
    }
}
