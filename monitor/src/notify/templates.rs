//! Alert emails rendered with handlebars: `templates/alert/subject.hbs`,
//! `body.txt.hbs` and `body.html.hbs`. The copies in the repository are built
//! into the binary; a deployment may point at its own folder instead. Strict
//! mode: a template that names a value the mail does not have fails to
//! render, loudly, rather than sending a mail with a hole in it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use handlebars::Handlebars;
use serde::{Deserialize, Serialize};

use super::Mail;

/// A mail template that does not read, compile or render; each names the
/// file or template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("{}: cannot read it", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: does not compile", path.display())]
    Compile {
        path: PathBuf,
        #[source]
        source: Box<handlebars::TemplateError>,
    },
    #[error("template {name} does not render")]
    Render {
        name: String,
        #[source]
        source: handlebars::RenderError,
    },
    #[error("{}: the templates do not render a sample alert", dir.display())]
    Sample {
        dir: PathBuf,
        #[source]
        source: Box<TemplateError>,
    },
}

const BUILT_IN: [(&str, &str); 3] = [
    (
        "subject",
        include_str!("../../../templates/alert/subject.hbs"),
    ),
    (
        "text",
        include_str!("../../../templates/alert/body.txt.hbs"),
    ),
    (
        "html",
        include_str!("../../../templates/alert/body.html.hbs"),
    ),
];

/// What an alert mail says. It is kept in the outbox with the rendered
/// mail, so it reads back too (an outbox saved before a field existed reads
/// it empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AlertMail {
    /// `FIRING` or `RESOLVED`: firing while any alert of the mail fires.
    pub status: String,
    pub resolved: bool,
    /// The mail tells about more than one alert (a group).
    pub many: bool,
    /// How many alerts are firing (or, in a resolved mail, resolved).
    pub count: usize,
    pub environment: String,
    /// The host, or the hosts of a group joined with ", ".
    pub host: String,
    pub rule: String,
    pub severity: String,
    pub value: String,
    /// When the condition began (RFC 3339).
    pub since: String,
    pub summary: String,
    pub description: String,
    /// For log rules, the newest matching line.
    pub detail: String,
    /// Every alert of the mail: firing ones first, then resolved ones.
    pub alerts: Vec<MailItem>,
    /// The dashboard page of the alert.
    pub link: String,
}

/// One alert of a group's mail.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailItem {
    pub status: String,
    pub host: String,
    /// `mount=/, core=1`, or empty.
    pub labels: String,
    /// The same labels as pairs.
    pub label_set: BTreeMap<String, String>,
    pub value: String,
    pub since: String,
    /// When it resolved (RFC 3339), or empty while it fires.
    pub ended: String,
    pub summary: String,
    pub detail: String,
}

/// Plain-text parts (subject, text body) are rendered as written; the HTML
/// body escapes every value.
#[derive(Debug)]
pub struct Templates {
    plain: Handlebars<'static>,
    html: Handlebars<'static>,
}

fn registries() -> (Handlebars<'static>, Handlebars<'static>) {
    let mut plain = Handlebars::new();
    plain.set_strict_mode(true);
    plain.register_escape_fn(handlebars::no_escape);
    let mut html = Handlebars::new();
    html.set_strict_mode(true);
    (plain, html)
}

fn registry_for<'a>(
    name: &str,
    plain: &'a mut Handlebars<'static>,
    html: &'a mut Handlebars<'static>,
) -> &'a mut Handlebars<'static> {
    if name == "html" { html } else { plain }
}

impl Templates {
    /// The built-in templates.
    pub fn built_in() -> Self {
        let (mut plain, mut html) = registries();
        for (name, text) in BUILT_IN {
            registry_for(name, &mut plain, &mut html)
                .register_template_string(name, text)
                .expect("the built-in templates compile");
        }
        Self { plain, html }
    }

    /// Templates from `dir` (`subject.hbs`, `body.txt.hbs`, `body.html.hbs`);
    /// an error names the file and what is wrong with it.
    pub fn from_dir(dir: &Path) -> Result<Self, TemplateError> {
        let (mut plain, mut html) = registries();
        for (name, file) in [
            ("subject", "subject.hbs"),
            ("text", "body.txt.hbs"),
            ("html", "body.html.hbs"),
        ] {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
                path: path.clone(),
                source,
            })?;
            registry_for(name, &mut plain, &mut html)
                .register_template_string(name, text)
                .map_err(|source| TemplateError::Compile {
                    path,
                    source: Box::new(source),
                })?;
        }
        let templates = Self { plain, html };
        templates
            .render(&sample(), "ops@example.com", &["oncall@example.com".into()])
            .map_err(|source| TemplateError::Sample {
                dir: dir.to_owned(),
                source: Box::new(source),
            })?;
        Ok(templates)
    }

    /// The mail for `alert`, from `from` to `to`.
    pub fn render(
        &self,
        alert: &AlertMail,
        from: &str,
        to: &[String],
    ) -> Result<Mail, TemplateError> {
        let render = |name: &str| {
            let registry = if name == "html" {
                &self.html
            } else {
                &self.plain
            };
            registry
                .render(name, alert)
                .map_err(|source| TemplateError::Render {
                    name: name.to_owned(),
                    source,
                })
        };
        Ok(Mail {
            from: from.to_owned(),
            to: to.to_vec(),
            subject: render("subject")?.trim().to_owned(),
            text: render("text")?,
            html: render("html")?,
            alert: alert.clone(),
            key: String::new(),
        })
    }
}

/// A mail with every value set, to check templates with.
pub fn sample() -> AlertMail {
    AlertMail {
        status: "FIRING".into(),
        resolved: false,
        many: false,
        count: 1,
        environment: "acme-prod".into(),
        host: "gw-1".into(),
        rule: "heap-high".into(),
        severity: "critical".into(),
        value: "93.5".into(),
        since: "2026-11-21T10:00:00Z".into(),
        summary: "JVM heap above 90% for 5m".into(),
        description: "The gateway's heap has been above 90% for five minutes.".into(),
        detail: String::new(),
        alerts: vec![MailItem {
            status: "FIRING".into(),
            host: "gw-1".into(),
            labels: String::new(),
            label_set: BTreeMap::new(),
            value: "93.5".into(),
            since: "2026-11-21T10:00:00Z".into(),
            ended: String::new(),
            summary: "JVM heap above 90% for 5m".into(),
            detail: String::new(),
        }],
        link: "https://monitor.example/alerts?env=acme-prod".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_templates_render_every_value_and_escape_html() {
        let mut alert = sample();
        alert.description = "<script>alert(1)</script>".into();
        let mail = Templates::built_in()
            .render(
                &alert,
                "Aerie <aerie@ops.example>",
                &["oncall@acme.example".into()],
            )
            .unwrap();
        assert_eq!(mail.subject, "[FIRING] heap-high on gw-1 (acme-prod)");
        for value in [
            "acme-prod",
            "gw-1",
            "heap-high",
            "critical",
            "93.5",
            "2026-11-21T10:00:00Z",
            "https://monitor.example/alerts?env=acme-prod",
        ] {
            assert!(
                mail.text.contains(value),
                "text lacks {value}: {}",
                mail.text
            );
            assert!(
                mail.html.contains(value) || mail.html.contains(&value.replace('=', "&#x3D;")),
                "html lacks {value}: {}",
                mail.html
            );
        }
        assert!(!mail.html.contains("<script>"), "{}", mail.html);
    }

    #[test]
    fn a_group_mail_lists_every_alert_with_its_host_and_line() {
        let mut alert = sample();
        let item = alert.alerts[0].clone();
        alert.many = true;
        alert.count = 2;
        alert.host = "gw-1, gw-2".into();
        alert.summary = "2 firing, 1 resolved".into();
        alert.alerts = vec![
            item.clone(),
            MailItem {
                host: "gw-2".into(),
                detail: "ERROR <b>OutOfMemoryError</b>".into(),
                ..item.clone()
            },
            MailItem {
                status: "RESOLVED".into(),
                host: "tm-1".into(),
                labels: "mount=/".into(),
                ..item
            },
        ];
        let mail = Templates::built_in()
            .render(&alert, "aerie@ops.example", &["oncall@acme.example".into()])
            .unwrap();
        assert_eq!(
            mail.subject,
            "[FIRING:2] heap-high on gw-1, gw-2 (acme-prod)"
        );
        for line in [
            "FIRING: 2 firing, 1 resolved",
            "[FIRING] gw-1: JVM heap above 90% for 5m",
            "[FIRING] gw-2: JVM heap above 90% for 5m",
            "Line: ERROR <b>OutOfMemoryError</b>",
            "[RESOLVED] tm-1 (mount=/): JVM heap above 90% for 5m",
        ] {
            assert!(
                mail.text.contains(line),
                "text lacks {line:?}: {}",
                mail.text
            );
        }
        assert!(
            mail.html.contains("&lt;b&gt;OutOfMemoryError"),
            "{}",
            mail.html
        );
        assert_eq!(mail.html.matches("<tr><td").count(), 3, "{}", mail.html);
    }

    #[test]
    fn a_template_naming_an_unknown_value_is_refused_with_its_file() {
        let dir = tempfile::tempdir().unwrap();
        for (_, file) in [
            ("subject", "subject.hbs"),
            ("text", "body.txt.hbs"),
            ("html", "body.html.hbs"),
        ] {
            std::fs::write(dir.path().join(file), "{{status}}").unwrap();
        }
        std::fs::write(dir.path().join("body.txt.hbs"), "{{status}} {{hostname}}").unwrap();
        let error = aerie_common::error_chain(&Templates::from_dir(dir.path()).unwrap_err());
        assert!(error.contains("hostname"), "{error}");
        std::fs::write(dir.path().join("body.txt.hbs"), "{{#if status}}unclosed").unwrap();
        let error = aerie_common::error_chain(&Templates::from_dir(dir.path()).unwrap_err());
        assert!(error.contains("body.txt.hbs"), "{error}");
    }
}
