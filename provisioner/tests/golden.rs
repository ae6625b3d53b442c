//! What the provisioner prints and renders for the shipped example, compared
//! with the files under `tests/output/` without any AWS:
//! `AERIE_UPDATE_GOLDEN=1` rewrites them. The moto system tests check that
//! AWS then holds what these files say.

use aerie_common::toml_file::TomlFile as _;
use std::path::{Path, PathBuf};

use aerie_provisioner::model::desired;
use aerie_provisioner::plan::plan;
use aerie_provisioner::render::bastion_user_data;
use aerie_provisioner::spec::Spec;
use aerie_testkit::assert_golden;

fn here(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn example() -> Spec {
    Spec::load(&here("../examples/acme.toml")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_plan_of_the_example_against_an_empty_account_is_the_golden_plan() {
    let printed = plan(&desired(&example()).unwrap(), &[]).render();
    assert_golden(&here("tests/output/acme-plan.txt"), &printed);
    assert!(
        printed.ends_with("Plan: 40 to add, 0 to change, 0 to destroy.\n"),
        "{printed}"
    );
}

#[test]
fn the_bastions_user_data_is_the_golden_one_and_holds_no_secret() {
    let spec = example();
    let user_data = bastion_user_data(&spec).unwrap_or_else(|e| panic!("{e}"));
    assert_golden(
        &here("tests/output/acme-bastion-user-data.yaml"),
        &user_data,
    );
    assert!(
        user_data.contains(&format!("Port {}", spec.access.ssh_port)),
        "{user_data}"
    );
    for secret_word in ["password", "BEGIN RSA", "PRIVATE KEY"] {
        assert!(
            !user_data.contains(secret_word),
            "{secret_word} in {user_data}"
        );
    }
}

/// Every rendered configuration file of the example's nodes, under
/// `tests/output/nodes/<role>/`.
#[test]
fn every_nodes_rendered_configuration_is_the_golden_one() {
    let bundles = aerie_provisioner::render::bundles(&example()).unwrap_or_else(|e| panic!("{e}"));
    let roles: Vec<&str> = bundles.iter().map(|b| b.role.as_str()).collect();
    assert_eq!(
        roles,
        [
            "traffic-manager-1",
            "traffic-manager-2",
            "gateway-1",
            "gateway-2"
        ]
    );
    let artifacts = aerie_provisioner::render::artifacts(&example()).unwrap();
    for role in roles {
        let user_data = &artifacts.user_data[role];
        assert_golden(
            &here(&format!("tests/output/nodes/{role}/user-data.yaml")),
            user_data,
        );
    }
    for bundle in &bundles {
        for (path, text) in &bundle.files {
            let golden = format!(
                "tests/output/nodes/{}/{}",
                bundle.role,
                path.replace('/', "__")
            );
            assert_golden(&here(&golden), text);
        }
    }
}

#[test]
fn the_dry_run_of_each_shipped_runbook_against_the_example_is_its_golden_file() {
    use aerie_provisioner::dr::{SHIPPED, engine, runbook::Runbook};
    let spec = example();
    for (name, text) in SHIPPED {
        let runbook = Runbook::parse(&here(&format!("../runbooks/{name}.toml")), text)
            .unwrap_or_else(|e| panic!("{e}"));
        let run = "20261202-020000-000";
        let shown = engine::dry_run(&runbook, &spec, run);
        assert_golden(
            &here(&format!("tests/output/dr-{name}-dry-run.txt")),
            &shown,
        );
        assert!(
            !shown.contains("${"),
            "every spec and run value is resolved: {shown}"
        );
    }
}

#[test]
fn every_runbook_in_the_runbooks_folder_is_shipped_and_valid() {
    let folder = here("../runbooks");
    let mut files: Vec<String> = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".toml").map(str::to_owned)
        })
        .collect();
    files.sort();
    let mut shipped: Vec<String> = aerie_provisioner::dr::SHIPPED
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    shipped.sort();
    assert_eq!(files, shipped);
}
