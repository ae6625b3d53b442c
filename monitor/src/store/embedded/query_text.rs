//! The log search syntax (words, "phrases", AND, OR, NOT, parentheses) as
//! tantivy's query parser needs it. Its parser reads `a AND NOT b` as "a, and
//! a clause holding only NOT b", which matches nothing, and a query of only
//! negations matches nothing either; users mean "a but not b" and
//! "everything but b".

/// ECS field names a query may use, and the embedded index's names for them.
const FIELDS: [(&str, &str); 3] = [
    ("log.level:", "level:"),
    ("host.name:", "host:"),
    ("log.logger:", "logger:"),
];

/// Rewrites `AND NOT` to `NOT` outside quotes, puts `*` (everything) before a
/// query that starts with a negation, and maps ECS field names
/// (`log.level:ERROR`) to the index's.
pub(super) fn normalize(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut quoted = false;
    for word in text.split_whitespace() {
        let word = FIELDS
            .iter()
            .find_map(|(ecs, ours)| {
                (!quoted)
                    .then(|| word.strip_prefix(ecs).map(|rest| format!("{ours}{rest}")))
                    .flatten()
            })
            .unwrap_or_else(|| word.to_owned());
        let word = word.as_str();
        let opens_or_closes = word.matches('"').count() % 2 == 1;
        if !quoted && word == "NOT" && words.last().is_some_and(|last| last == "AND") {
            words.pop();
        }
        words.push(word.to_owned());
        if opens_or_closes {
            quoted = !quoted;
        }
    }
    let negative = words
        .first()
        .is_some_and(|first| *first == "NOT" || first.starts_with('-'));
    let joined = words.join(" ");
    if negative {
        format!("* {joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn and_not_becomes_not_outside_quotes() {
        assert_eq!(normalize("tenant AND NOT acme.com"), "tenant NOT acme.com");
        assert_eq!(
            normalize("\"x AND NOT y\" AND NOT z"),
            "\"x AND NOT y\" NOT z"
        );
        assert_eq!(normalize("a OR b"), "a OR b");
    }

    #[test]
    fn ecs_field_names_map_to_the_index() {
        assert_eq!(
            normalize("log.level:ERROR AND OutOfMemoryError"),
            "level:ERROR AND OutOfMemoryError"
        );
        assert_eq!(normalize("\"log.level:ERROR\""), "\"log.level:ERROR\"");
    }

    #[test]
    fn a_purely_negative_query_means_everything_but() {
        assert_eq!(normalize("NOT debug"), "* NOT debug");
        assert_eq!(normalize("-debug"), "* -debug");
    }
}
