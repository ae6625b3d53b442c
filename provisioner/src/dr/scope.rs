//! What a step's `${...}` references resolve to: the spec's values, the
//! execution's own (`run.id`, `run.site`) and the outputs of the steps
//! that ran before it. A dry run resolves what it can and shows the rest as
//! `<step.output>`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::spec::Spec;

/// The `${spec.*}` values a runbook may use.
pub const SPEC_VALUES: [&str; 6] = [
    "name",
    "region",
    "dr_region",
    "database_instance_class",
    "database_engine_version",
    "dns_zone",
];

/// The values known at one point of an execution.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    values: BTreeMap<String, String>,
}

/// A reference with no value yet (a dry run's later outputs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("${{{0}}} has no value yet")]
pub struct Unresolved(pub String);

impl Scope {
    /// The spec's and the run's values.
    pub fn new(spec: &Spec, run: &str, site: &str) -> Self {
        let mut values = BTreeMap::new();
        let mut put = |key: &str, value: String| {
            values.insert(key.to_owned(), value);
        };
        put("spec.name", spec.name.clone());
        put("spec.region", spec.region.clone());
        put("spec.dr_region", spec.dr_region.clone().unwrap_or_default());
        put(
            "spec.database_instance_class",
            spec.database.instance_class.clone(),
        );
        put(
            "spec.database_engine_version",
            spec.database.engine_version.clone(),
        );
        put("spec.dns_zone", spec.dns.zone.clone());
        put("run.id", run.to_owned());
        put("run.site", site.to_owned());
        Self { values }
    }

    /// Step `step`'s outputs become known.
    pub fn add(&mut self, step: &str, outputs: &BTreeMap<String, Value>) {
        for (name, value) in outputs {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            self.values.insert(format!("{step}.{name}"), text);
        }
    }

    /// `value` with every reference replaced.
    pub fn resolve(&self, value: &toml::Value) -> Result<Value, Unresolved> {
        self.resolve_with(value, &mut |reference| {
            Err(Unresolved(reference.to_owned()))
        })
    }

    /// `value` with what is known replaced and the rest shown as
    /// `<step.output>`.
    pub fn resolve_shown(&self, value: &toml::Value) -> Value {
        self.resolve_with(value, &mut |reference| Ok(format!("<{reference}>")))
            .unwrap_or(Value::Null)
    }

    fn resolve_with(
        &self,
        value: &toml::Value,
        missing: &mut dyn FnMut(&str) -> Result<String, Unresolved>,
    ) -> Result<Value, Unresolved> {
        Ok(match value {
            toml::Value::String(text) => Value::String(self.interpolate(text, missing)?),
            toml::Value::Integer(n) => Value::from(*n),
            toml::Value::Float(n) => Value::from(*n),
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Datetime(d) => Value::String(d.to_string()),
            toml::Value::Array(values) => Value::Array(
                values
                    .iter()
                    .map(|v| self.resolve_with(v, missing))
                    .collect::<Result<_, _>>()?,
            ),
            toml::Value::Table(table) => Value::Object(
                table
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), self.resolve_with(v, missing)?)))
                    .collect::<Result<_, Unresolved>>()?,
            ),
        })
    }

    fn interpolate(
        &self,
        text: &str,
        missing: &mut dyn FnMut(&str) -> Result<String, Unresolved>,
    ) -> Result<String, Unresolved> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').unwrap_or(after.len());
            let reference = &after[..end];
            match self.values.get(reference) {
                Some(value) => out.push_str(value),
                None => out.push_str(&missing(reference)?),
            }
            rest = after.get(end + 1..).unwrap_or("");
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_resolve_inside_text_and_unknown_ones_are_shown_in_a_dry_run() {
        let mut scope = Scope::default();
        scope
            .values
            .insert("run.site".into(), "acme-drill-1".into());
        scope.add(
            "point",
            &BTreeMap::from([("snapshot".to_owned(), Value::from("snap-9"))]),
        );
        let text = toml::Value::String("${run.site}-db from ${point.snapshot}".into());
        assert_eq!(
            scope.resolve(&text).unwrap(),
            Value::from("acme-drill-1-db from snap-9")
        );
        let later = toml::Value::String("${database.endpoint}".into());
        assert_eq!(
            scope.resolve(&later),
            Err(Unresolved("database.endpoint".into()))
        );
        assert_eq!(
            scope.resolve_shown(&later),
            Value::from("<database.endpoint>")
        );
    }
}
