//! Every template the provisioner renders, from `templates/` at the root of
//! the repository (built into the binary), registered once by name in one
//! strict Handlebars registry: a value a template names but the data lacks
//! is an error, never an empty string in a node's configuration.
//!
//! Rendering is pure: no AWS, no files, no secrets (those are fetched by the
//! node at boot, never written into what is rendered here).

use std::sync::LazyLock;

use serde::Serialize;

use crate::spec::Spec;

/// Every template, by the name it is rendered with.
const TEMPLATES: &[(&str, &str)] = &[(
    "bastion/user-data",
    include_str!("../../templates/bastion/user-data.hbs"),
)];

/// A template that would not render, by name.
#[derive(Debug, thiserror::Error)]
#[error("template {template} does not render")]
pub struct RenderError {
    pub template: String,
    #[source]
    pub source: Box<handlebars::RenderError>,
}

/// The registry of every provisioner template.
#[derive(Debug)]
pub struct Templates {
    registry: handlebars::Handlebars<'static>,
}

static BUILT_IN: LazyLock<Templates> = LazyLock::new(Templates::built_in);

impl Templates {
    /// The templates built into the binary (compiled once).
    pub fn get() -> &'static Self {
        &BUILT_IN
    }

    fn built_in() -> Self {
        let mut registry = handlebars::Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        for (name, text) in TEMPLATES {
            registry
                .register_template_string(name, text)
                .unwrap_or_else(|e| panic!("template {name} does not compile: {e}"));
        }
        Self { registry }
    }

    /// The names of every registered template.
    pub fn names(&self) -> Vec<&str> {
        TEMPLATES.iter().map(|(name, _)| *name).collect()
    }

    /// Renders template `name` with `data`.
    pub fn render(&self, name: &str, data: &impl Serialize) -> Result<String, RenderError> {
        self.registry
            .render(name, data)
            .map_err(|source| RenderError {
                template: name.to_owned(),
                source: Box::new(source),
            })
    }
}

/// The bastion's cloud-init user-data: sshd on the spec's port, chrony on
/// its NTP servers.
pub fn bastion_user_data(spec: &Spec) -> Result<String, RenderError> {
    Templates::get().render(
        "bastion/user-data",
        &serde_json::json!({
            "environment": spec.name,
            "ssh_port": spec.access.ssh_port,
            "ntp_servers": spec.ntp.servers,
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_under_templates_that_the_provisioner_renders_is_registered() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../templates/bastion");
        let on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|name| name.strip_suffix(".hbs").map(|n| format!("bastion/{n}")))
            .collect();
        let names = Templates::get().names();
        for name in on_disk {
            assert!(names.contains(&name.as_str()), "{name} is not registered");
        }
    }

    #[test]
    fn a_value_the_template_needs_but_the_data_lacks_is_an_error_naming_the_template() {
        let error = Templates::get()
            .render(
                "bastion/user-data",
                &serde_json::json!({ "environment": "x" }),
            )
            .unwrap_err();
        assert_eq!(error.template, "bastion/user-data");
    }
}
