//! The log search syntax (words, "phrases", AND, OR, NOT, parentheses) as
//! tantivy's query parser needs it. Its parser reads `a AND NOT b` as "a, and
//! a clause holding only NOT b", which matches nothing, and a query of only
//! negations matches nothing either; users mean "a but not b" and
//! "everything but b".

/// Rewrites `AND NOT` to `NOT` outside quotes, and puts `*` (everything)
/// before a query that starts with a negation.
pub(super) fn normalize(text: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    let mut quoted = false;
    for word in text.split_whitespace() {
        let opens_or_closes = word.matches('"').count() % 2 == 1;
        if !quoted && word == "NOT" && words.last() == Some(&"AND") {
            words.pop();
        }
        words.push(word);
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
    fn a_purely_negative_query_means_everything_but() {
        assert_eq!(normalize("NOT debug"), "* NOT debug");
        assert_eq!(normalize("-debug"), "* -debug");
    }
}
