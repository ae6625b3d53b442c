//! The summary and description of each rule, compiled once per rules file
//! (at load and at every reload) rather than at every evaluation, and
//! rendered for an observation when an alert is created.

use super::model::format_value;
use super::observe::Observation;
use super::rules::Rule;
use super::transition::Texts;

/// The compiled templates of one set of rules, by the rule's position.
#[derive(Debug)]
pub(crate) struct RuleTexts {
    registry: handlebars::Handlebars<'static>,
}

impl RuleTexts {
    /// Compiles every rule's templates. A template that does not compile
    /// (the rules loader refuses those) renders as its error.
    pub(crate) fn new(rules: &[Rule]) -> Self {
        let mut registry = handlebars::Handlebars::new();
        registry.register_escape_fn(handlebars::no_escape);
        for (index, rule) in rules.iter().enumerate() {
            for (field, text) in [
                ("summary", &rule.summary),
                ("description", &rule.description),
            ] {
                if let Err(error) = registry.register_template_string(&name(index, field), text) {
                    tracing::error!(rule = %rule.name, field, %error, "rule template not compiled");
                }
            }
        }
        Self { registry }
    }

    /// The texts of rule `index` (of the set this was built from) for `observation`.
    pub(crate) fn render(
        &self,
        index: usize,
        rule: &Rule,
        observation: &Observation,
        environment: &str,
    ) -> Texts {
        let values = serde_json::json!({
            "host": observation.host, "value": format_value(observation.value),
            "environment": environment, "rule": rule.name, "labels": observation.labels,
        });
        let render = |field: &str, text: &str| {
            self.registry
                .render(&name(index, field), &values)
                .unwrap_or_else(|e| format!("({text}: {e})"))
        };
        Texts {
            summary: render("summary", &rule.summary),
            description: render("description", &rule.description),
        }
    }
}

fn name(index: usize, field: &str) -> String {
    format!("{index}.{field}")
}
