//! The instance checks: IMDSv2 required, every volume encrypted, and no
//! secret in any user-data (every value the environment keeps in Secrets
//! Manager is searched for, and the common shapes of secrets).

use super::Finding;
use super::facts::Facts;
use super::network::role_of;

pub(super) fn findings(facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    for instance in &facts.instances {
        let id = instance.instance_id().unwrap_or_default();
        let name = format!("instance {} ({id})", role_of(instance.tags()));
        let tokens = instance
            .metadata_options()
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str());
        let imds: Vec<String> = if tokens == Some("required") {
            Vec::new()
        } else {
            vec![format!(
                "instance metadata answers without a session token (HttpTokens {}): require IMDSv2 (aws ec2 modify-instance-metadata-options --http-tokens required), or replace it (aerie env apply)",
                tokens.unwrap_or("unset")
            )]
        };
        out.push(Finding::of("ec2-imdsv2-required", name.clone(), &imds));
        let user_data = facts.user_data.get(id).map_or("", String::as_str);
        out.push(Finding::of(
            "ec2-no-secret-in-user-data",
            name,
            &secrets_in(user_data, &facts.secrets),
        ));
    }
    for volume in &facts.volumes {
        let attached = volume
            .attachments()
            .iter()
            .filter_map(|a| a.instance_id())
            .collect::<Vec<_>>()
            .join(", ");
        let name = format!(
            "volume {} (of {attached})",
            volume.volume_id().unwrap_or_default()
        );
        let problems: Vec<String> = if volume.encrypted() == Some(true) {
            Vec::new()
        } else {
            vec!["it is not encrypted: snapshot it, copy the snapshot encrypted, and replace the volume from the copy".to_owned()]
        };
        out.push(Finding::of("ebs-encrypted", name, &problems));
    }
    out
}

/// What in `text` is a secret: a value the environment keeps (named,
/// never shown), a private key, an AWS access key, a password written out.
pub(crate) fn secrets_in(text: &str, secrets: &[(String, String)]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, value) in secrets {
        if value.len() >= 8 && text.contains(value.as_str()) {
            found.push(format!(
                "it holds the value of the secret {name}: rotate that secret and replace the instance with user-data that reads it at boot"
            ));
        }
    }
    if text.contains("PRIVATE KEY-----") {
        found.push("it holds a private key: rotate the key and replace the instance".to_owned());
    }
    if access_key(text) {
        found.push("it holds an AWS access key id: deactivate the key and give the instance a role instead".to_owned());
    }
    for line in text.lines() {
        if written_password(line) {
            found.push(format!(
                "a password is written out ({}=...): read it from Secrets Manager at boot",
                line.split(['=', ':']).next().unwrap_or_default().trim()
            ));
        }
    }
    found
}

/// `AKIA` or `ASIA` and 16 more capitals or digits.
fn access_key(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(19)).any(|i| {
        (bytes[i..].starts_with(b"AKIA") || bytes[i..].starts_with(b"ASIA"))
            && bytes[i + 4..i + 20]
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    })
}

/// `password = value` or `password: value` with a literal value (not a
/// reference, a variable or a template).
fn written_password(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let Some(at) = lower.find("password") else {
        return false;
    };
    let rest = lower[at + "password".len()..].trim_start();
    let Some(value) = rest.strip_prefix(['=', ':']) else {
        return false;
    };
    let value = value.trim().trim_matches(['"', '\'']);
    !value.is_empty()
        && !value.starts_with('$')
        && !value.starts_with("__secret(")
        && !value.starts_with("{{")
        && !matches!(value, "yes" | "no" | "true" | "false")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_value_a_key_or_a_written_password_is_found_and_references_are_not() {
        let secrets = [(
            "aerie/acme/rds-master".to_owned(),
            "s3cr3t-value-123".to_owned(),
        )];
        assert!(
            secrets_in(
                "PasswordAuthentication no\npassword = __SECRET(x)__\nPASSWORD=$pw",
                &secrets
            )
            .is_empty()
        );
        for text in [
            "x s3cr3t-value-123 y",
            "-----BEGIN RSA PRIVATE KEY-----",
            "key AKIAABCDEFGHIJKLMNOP",
            "db_password: hunter22",
        ] {
            assert_eq!(secrets_in(text, &secrets).len(), 1, "{text}");
        }
    }
}
