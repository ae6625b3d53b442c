//! The log search syntax: words, "phrases", AND, OR, NOT (or `-word`),
//! parentheses, and the fields `level:`, `host:`, `logger:` (also by their
//! ECS names `log.level:`, `host.name:`, `log.logger:`). Words are matched
//! case-insensitively against the message or the logger's name; a word with
//! punctuation in it (`acme.com`) is the phrase of its parts. Juxtaposed
//! terms are joined by AND, which binds tighter than OR.

use memchr::memmem::Finder;

/// A query that does not parse: what is wrong, in a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct QuerySyntax(pub(crate) String);

/// A parsed query.
#[derive(Debug)]
pub(crate) enum Expr {
    /// Matches every line (`*`, or an empty query).
    All,
    /// These tokens, in this order, in the message or in the logger.
    Phrase(Finder<'static>),
    /// These tokens in the logger only.
    Logger(Finder<'static>),
    /// The level, exactly (case-insensitive).
    Level(String),
    /// The host, exactly.
    Host(String),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
}

/// What a line offers a query.
pub(super) struct Line<'a> {
    /// ` tok tok \n tok ` : the message's tokens, then the logger's, each
    /// lower-cased and surrounded by single spaces (see [`normalize_into`]).
    pub text: &'a [u8],
    /// Where the logger's tokens start in `text`.
    pub logger_at: usize,
    pub level: Option<&'a str>,
    pub host: &'a str,
}

impl Expr {
    pub(super) fn matches(&self, line: &Line<'_>) -> bool {
        match self {
            Expr::All => true,
            Expr::Phrase(finder) => finder.find(line.text).is_some(),
            Expr::Logger(finder) => finder.find(&line.text[line.logger_at..]).is_some(),
            Expr::Level(level) => line
                .level
                .is_some_and(|have| have.eq_ignore_ascii_case(level)),
            Expr::Host(host) => line.host == host,
            Expr::And(all) => all.iter().all(|expr| expr.matches(line)),
            Expr::Or(any) => any.iter().any(|expr| expr.matches(line)),
            Expr::Not(expr) => !expr.matches(line),
        }
    }

    /// Whether matching needs the line's text (else it is never built).
    pub(super) fn needs_text(&self) -> bool {
        match self {
            Expr::Phrase(_) | Expr::Logger(_) => true,
            Expr::All | Expr::Level(_) | Expr::Host(_) => false,
            Expr::And(all) | Expr::Or(all) => all.iter().any(Expr::needs_text),
            Expr::Not(expr) => expr.needs_text(),
        }
    }
}

/// Whether a line with these parts matches `expr`, read as the embedded
/// store reads its rows (for a store that keeps lines another way).
pub(crate) fn line_matches(
    expr: &Expr,
    message: &str,
    logger: Option<&str>,
    level: Option<&str>,
    host: &str,
) -> bool {
    let mut text = vec![b' '];
    normalize_into(message.as_bytes(), &mut text);
    text.extend_from_slice(b"\n ");
    let logger_at = text.len() - 1;
    if let Some(logger) = logger {
        normalize_into(logger.as_bytes(), &mut text);
    }
    expr.matches(&Line {
        text: &text,
        logger_at,
        level,
        host,
    })
}

/// Each ASCII byte as a token holds it (letters lower-cased), or 0 for a
/// byte that separates tokens.
const TOKEN_BYTE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 128 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() {
            table[byte] = b.to_ascii_lowercase();
        }
        byte += 1;
    }
    table
};

/// Appends the tokens of `text` to `out`: runs of letters and digits,
/// lower-cased, each followed by one space (the caller writes the first).
/// Text that is not UTF-8 is read with replacement characters.
pub(super) fn normalize_into(text: &[u8], out: &mut Vec<u8>) {
    let mut in_token = false;
    if text.is_ascii() {
        // Without a branch per byte (this runs over every line stored and
        // every line a search reads): each byte writes its token byte or a
        // space, and the space is kept only after a token.
        let start = out.len();
        out.resize(start + text.len() + 1, 0);
        let written = &mut out[start..];
        let mut at = 0;
        for &byte in text {
            let token = TOKEN_BYTE[byte as usize];
            let is_token = token != 0;
            written[at] = if is_token { token } else { b' ' };
            at += usize::from(is_token | in_token);
            in_token = is_token;
        }
        out.truncate(start + at);
    } else {
        let mut buffer = [0u8; 4];
        for c in String::from_utf8_lossy(text).chars() {
            if c.is_alphanumeric() {
                for lower in c.to_lowercase() {
                    out.extend_from_slice(lower.encode_utf8(&mut buffer).as_bytes());
                }
                in_token = true;
            } else if in_token {
                out.push(b' ');
                in_token = false;
            }
        }
    }
    if in_token {
        out.push(b' ');
    }
}

/// ` tok tok ` for a word or phrase; `None` when it has no token at all.
fn needle(text: &str) -> Option<Finder<'static>> {
    let mut out = vec![b' '];
    normalize_into(text.as_bytes(), &mut out);
    (out.len() > 1).then(|| Finder::new(&out).into_owned())
}

#[derive(Debug, PartialEq)]
enum Token {
    Open,
    Close,
    And,
    Or,
    Not,
    Minus,
    Quoted(String),
    Word(String),
}

fn lex(text: &str) -> Result<Vec<Token>, QuerySyntax> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            '"' => {
                chars.next();
                let mut phrase = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, c)) => phrase.push(c),
                        None => {
                            return Err(QuerySyntax(format!(
                                "the quote at character {} is never closed",
                                text[..at].chars().count() + 1
                            )));
                        }
                    }
                }
                tokens.push(Token::Quoted(phrase));
            }
            '-' => {
                chars.next();
                tokens.push(Token::Minus);
            }
            '+' => {
                chars.next();
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, c)) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '"' {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(match word.as_str() {
                    "AND" | "&&" => Token::And,
                    "OR" | "||" => Token::Or,
                    "NOT" => Token::Not,
                    _ => Token::Word(word),
                });
            }
        }
    }
    Ok(tokens)
}

/// Parses a query; the error says what is wrong in words a user can act on.
pub(crate) fn parse(text: &str) -> Result<Expr, QuerySyntax> {
    let tokens = lex(text)?;
    if tokens.is_empty() {
        return Ok(Expr::All);
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    match parser.tokens.get(parser.at) {
        None => Ok(expr),
        Some(Token::Close) => Err(QuerySyntax("a ')' closes nothing".into())),
        Some(token) => Err(QuerySyntax(format!("unexpected {token:?}"))),
    }
}

/// How deep groups and NOTs may nest. Parsing, matching and dropping a
/// query recurse once per level: a query of thousands of `(` (found by
/// fuzzing) overflowed the stack and took the monitor down with it.
const MAX_DEPTH: usize = 32;

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// How many groups and NOTs enclose the current token.
    depth: usize,
}

impl Parser {
    /// One level deeper, or the error that says the query nests too deep.
    fn deeper(&mut self) -> Result<(), QuerySyntax> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QuerySyntax(format!(
                "the query nests groups and NOTs more than {MAX_DEPTH} deep: write it flatter"
            )));
        }
        Ok(())
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn or(&mut self) -> Result<Expr, QuerySyntax> {
        let mut any = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.at += 1;
            any.push(self.and()?);
        }
        Ok(if any.len() == 1 {
            any.pop().expect("one")
        } else {
            Expr::Or(any)
        })
    }

    fn and(&mut self) -> Result<Expr, QuerySyntax> {
        let mut all = vec![self.unary()?];
        loop {
            match self.peek() {
                Some(Token::And) => {
                    self.at += 1;
                    all.push(self.unary()?);
                }
                Some(Token::Or | Token::Close) | None => break,
                Some(_) => all.push(self.unary()?),
            }
        }
        Ok(if all.len() == 1 {
            all.pop().expect("one")
        } else {
            Expr::And(all)
        })
    }

    fn unary(&mut self) -> Result<Expr, QuerySyntax> {
        match self.peek() {
            Some(Token::Not | Token::Minus) => {
                self.at += 1;
                self.deeper()?;
                let inner = self.unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(inner)))
            }
            _ => self.atom(),
        }
    }

    fn atom(&mut self) -> Result<Expr, QuerySyntax> {
        let token = self.tokens.get(self.at);
        self.at += 1;
        match token {
            Some(Token::Open) => {
                if self.peek() == Some(&Token::Close) {
                    return Err(QuerySyntax("empty parentheses".into()));
                }
                self.deeper()?;
                let inner = self.or()?;
                if self.peek() != Some(&Token::Close) {
                    return Err(QuerySyntax("a '(' is never closed".into()));
                }
                self.at += 1;
                self.depth -= 1;
                Ok(inner)
            }
            Some(Token::Quoted(phrase)) => Ok(needle(phrase).map_or(Expr::All, Expr::Phrase)),
            Some(Token::Word(word)) => Ok(word_expr(word)),
            Some(Token::Close) => Err(QuerySyntax("a ')' closes nothing".into())),
            Some(Token::And | Token::Or | Token::Not | Token::Minus) | None => {
                let after = match self.tokens.get(self.at.wrapping_sub(2)) {
                    Some(Token::And) => "AND",
                    Some(Token::Or) => "OR",
                    Some(Token::Not) => "NOT",
                    _ => "the query",
                };
                Err(QuerySyntax(format!(
                    "{after} needs a word, a \"phrase\" or a (group) after it"
                )))
            }
        }
    }
}

fn word_expr(word: &str) -> Expr {
    if word == "*" {
        return Expr::All;
    }
    let field = |names: &[&str]| {
        names
            .iter()
            .find_map(|name| word.strip_prefix(name).filter(|value| !value.is_empty()))
    };
    if let Some(level) = field(&["level:", "log.level:"]) {
        return Expr::Level(level.to_owned());
    }
    if let Some(host) = field(&["host:", "host.name:"]) {
        return Expr::Host(host.to_owned());
    }
    if let Some(logger) = field(&["logger:", "log.logger:"]) {
        return needle(logger).map_or(Expr::All, Expr::Logger);
    }
    needle(word).map_or(Expr::All, Expr::Phrase)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_matches(query: &str, message: &str, logger: &str) -> bool {
        let mut text = vec![b' '];
        normalize_into(message.as_bytes(), &mut text);
        text.extend_from_slice(b"\n ");
        let logger_at = text.len() - 1;
        normalize_into(logger.as_bytes(), &mut text);
        parse(query).unwrap().matches(&Line {
            text: &text,
            logger_at,
            level: Some("ERROR"),
            host: "gw-1",
        })
    }

    #[test]
    fn words_phrases_and_operators() {
        let m = "java.lang.OutOfMemoryError: Java heap space for tenant acme.com";
        assert!(line_matches("outofmemoryerror", m, "X"));
        assert!(line_matches("\"heap space\"", m, "X"));
        assert!(!line_matches("\"space heap\"", m, "X"));
        assert!(!line_matches("heap AND globex.com", m, "X"));
        assert!(line_matches("heap AND acme.com", m, "X"));
        assert!(line_matches("globex OR acme", m, "X"));
        assert!(line_matches("tenant AND NOT globex.com", m, "X"));
        assert!(!line_matches("NOT tenant", m, "X"));
        assert!(line_matches("-globex heap", m, "X"));
        assert!(line_matches("(globex OR heap) AND java", m, "X"));
        assert!(!line_matches("globex OR heap AND missing", m, "X"));
        assert!(
            !line_matches("acme com", "acmecom", "X"),
            "words, not substrings"
        );
        assert!(!line_matches("eap", m, "X"), "whole words only");
    }

    #[test]
    fn the_logger_and_fields() {
        let m = "throttle decision delayed";
        assert!(line_matches(
            "throttlehandler AND delayed",
            m,
            "ThrottleHandler"
        ));
        assert!(line_matches("logger:throttlehandler", m, "ThrottleHandler"));
        assert!(!line_matches("logger:throttle", m, "ThrottleHandler"));
        assert!(
            !line_matches("\"delayed throttlehandler\"", m, "ThrottleHandler"),
            "a phrase never spans message and logger"
        );
        assert!(line_matches("log.level:error AND delayed", m, "X"));
        assert!(!line_matches("level:WARN", m, "X"));
        assert!(line_matches("host.name:gw-1", m, "X"));
        assert!(line_matches("*", m, "X"));
        assert!(line_matches("", m, "X"));
    }

    #[test]
    fn a_query_nested_deeper_than_the_limit_is_refused_not_a_crash() {
        let nested = |levels: usize| format!("{}heap{}", "(".repeat(levels), ")".repeat(levels));
        assert!(line_matches(&nested(MAX_DEPTH), "heap space", "X"));
        let deep = parse(&nested(100_000)).unwrap_err().to_string();
        assert!(deep.contains("more than 32 deep"), "{deep}");
        let nots = parse(&"NOT ".repeat(100_000)).unwrap_err().to_string();
        assert!(nots.contains("more than 32 deep"), "{nots}");
        assert!(line_matches("NOT NOT heap", "heap", "X"));
    }

    #[test]
    fn tokens_are_runs_of_letters_and_digits_lower_cased_each_followed_by_one_space() {
        let tokens = |text: &str| {
            let mut out = b"before ".to_vec();
            normalize_into(text.as_bytes(), &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(
            tokens("GET /api/v1?X=42 -- ok"),
            "before get api v1 x 42 ok "
        );
        assert_eq!(tokens("  Tail"), "before tail ");
        assert_eq!(tokens("Head.  "), "before head ");
        assert_eq!(tokens("...;;"), "before ");
        assert_eq!(tokens(""), "before ");
        assert_eq!(tokens("a"), "before a ");
        // Every ASCII byte: only letters and digits make tokens.
        let all: String = (0u8..128).map(char::from).collect();
        assert_eq!(
            tokens(&all),
            "before 0123456789 abcdefghijklmnopqrstuvwxyz abcdefghijklmnopqrstuvwxyz "
        );
    }

    #[test]
    fn non_ascii_text_is_lower_cased_too() {
        assert!(line_matches("größe", "Die GRÖSSE und Größe", "X"));
    }

    #[test]
    fn malformed_queries_say_what_is_wrong() {
        let error = |q: &str| parse(q).unwrap_err().0;
        assert_eq!(error("tenant AND (unclosed"), "a '(' is never closed");
        assert!(error("\"open phrase").contains("never closed"));
        assert_eq!(error("a )"), "a ')' closes nothing");
        assert_eq!(error("()"), "empty parentheses");
        assert!(error("tenant AND").starts_with("AND needs"));
        assert!(error("NOT").starts_with("NOT needs"));
    }
}
