//! Which rows of a part a search can match, read from the part's term index
//! (`terms`): its words and fields as sets of rows, joined as the query
//! joins them. The answer may hold rows that do not match (a phrase's words
//! in another order, a word cut at the index's length) unless it is called
//! exact; it never leaves out a row that matches.

use roaring::RoaringBitmap;

use super::Search;
use super::query::Expr;
use super::terms::{Field, Terms, field_term, whole};
use crate::embedded::error::EmbeddedError;

/// The rows a search can match.
#[derive(Debug)]
pub(super) struct Candidates {
    /// `None`: any row (the index rules none out).
    pub rows: Option<RoaringBitmap>,
    /// Whether every row in `rows` matches, so that rows need not be read
    /// to be counted.
    pub exact: bool,
}

/// Every term [`candidates`] looks up for `search`: so that they can be
/// looked up ahead, in many indexes at once.
pub(super) fn terms(search: &Search<'_>) -> Vec<Vec<u8>> {
    let mut terms = fields(search);
    of_terms(search.expr, &mut terms);
    terms
}

/// The terms of the fields `search` asks for, its environment first.
fn fields(search: &Search<'_>) -> Vec<Vec<u8>> {
    let mut fields = vec![field_term(Field::Environment, search.environment)];
    fields.extend(search.host.map(|host| field_term(Field::Host, host)));
    fields.extend(search.level.map(|level| field_term(Field::Level, level)));
    fields.extend(search.file.map(|file| field_term(Field::File, file)));
    fields
}

/// The terms [`of`] looks up for `expr`, added to `terms`.
fn of_terms(expr: &Expr, terms: &mut Vec<Vec<u8>>) {
    match expr {
        Expr::All => {}
        Expr::Phrase(finder) | Expr::Logger(finder) => {
            terms.extend(words(finder.needle()).map(<[u8]>::to_vec));
        }
        Expr::Level(level) => terms.push(field_term(Field::Level, level)),
        Expr::Host(host) => terms.push(field_term(Field::Host, host)),
        Expr::And(exprs) | Expr::Or(exprs) => {
            for expr in exprs {
                of_terms(expr, terms);
            }
        }
        Expr::Not(inner) => of_terms(inner, terms),
    }
}

/// The words of a phrase, as the index holds them.
fn words(needle: &[u8]) -> impl Iterator<Item = &[u8]> {
    needle.split(|b| *b == b' ').filter(|word| !word.is_empty())
}

/// The rows of the part indexed by `terms` that can match `search`.
pub(super) fn candidates(
    terms: &Terms<'_>,
    search: &Search<'_>,
) -> Result<Candidates, EmbeddedError> {
    let fields = fields(search);
    let mut exact = true;
    let mut rows: Option<RoaringBitmap> = None;
    for term in &fields {
        exact &= whole(term);
        if let Some(found) = terms.rows_unless_every(term)? {
            rows = Some(intersect(rows, found));
        }
    }
    let (of_expr, expr_exact) = of(search.expr, terms)?;
    let rows = match (rows, of_expr) {
        (rows, Some(of_expr)) => intersect(rows, of_expr),
        (Some(rows), None) => rows,
        (None, None) => terms.every_row(),
    };
    Ok(Candidates {
        rows: Some(rows),
        exact: exact && expr_exact,
    })
}

fn intersect(rows: Option<RoaringBitmap>, with: RoaringBitmap) -> RoaringBitmap {
    match rows {
        Some(mut rows) => {
            rows &= with;
            rows
        }
        None => with,
    }
}

/// The rows `expr` can match (`None`: any), and whether exactly those.
fn of(expr: &Expr, terms: &Terms<'_>) -> Result<(Option<RoaringBitmap>, bool), EmbeddedError> {
    Ok(match expr {
        Expr::All => (None, true),
        Expr::Phrase(finder) | Expr::Logger(finder) => {
            let words: Vec<&[u8]> = words(finder.needle()).collect();
            let mut rows = None;
            for word in &words {
                rows = Some(intersect(rows, terms.rows_of(word)?));
            }
            // One whole word in the message or the logger is what the
            // index holds; the words of a phrase may stand in another
            // order, and a logger's words may be in the message instead.
            let exact = matches!(expr, Expr::Phrase(_)) && words.len() == 1 && whole(words[0]);
            (rows, exact)
        }
        Expr::Level(level) => {
            let term = field_term(Field::Level, level);
            (Some(terms.rows_of(&term)?), whole(&term))
        }
        Expr::Host(host) => {
            let term = field_term(Field::Host, host);
            (Some(terms.rows_of(&term)?), whole(&term))
        }
        Expr::And(all) => {
            let (mut rows, mut exact) = (None, true);
            for expr in all {
                let (of_expr, of_exact) = of(expr, terms)?;
                exact &= of_exact;
                if let Some(of_expr) = of_expr {
                    rows = Some(intersect(rows, of_expr));
                }
            }
            (rows, exact)
        }
        Expr::Or(any) => {
            let (mut rows, mut exact) = (Some(RoaringBitmap::new()), true);
            for expr in any {
                let (of_expr, of_exact) = of(expr, terms)?;
                exact &= of_exact;
                rows = match (rows, of_expr) {
                    (Some(mut rows), Some(of_expr)) => {
                        rows |= of_expr;
                        Some(rows)
                    }
                    _ => None,
                };
            }
            (rows, exact)
        }
        Expr::Not(inner) => match of(inner, terms)? {
            (rows, true) => {
                let mut every = terms.every_row();
                if let Some(rows) = rows {
                    every -= rows;
                } else {
                    every.clear();
                }
                (Some(every), true)
            }
            (_, false) => (None, false),
        },
    })
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::*;
    use crate::embedded::logs::query;
    use crate::embedded::logs::terms::tests::{chunk_of, index_of};
    use crate::embedded::logs::terms::{IndexBytes, Table};
    use crate::embedded::logs::tests::everything;

    /// An index of these (host, level, message) rows, row n the n-th.
    fn index(rows: &[(&str, &str, &str)]) -> Vec<u8> {
        let rows: Vec<(&str, &str, Option<&str>)> = rows
            .iter()
            .map(|(host, level, message)| (*host, *message, Some(*level)))
            .collect();
        index_of(&[chunk_of(&rows)])
    }

    fn plan(bytes: &Vec<u8>, q: &str, level: Option<&str>) -> (Option<Vec<u32>>, bool) {
        let terms = Terms::open(bytes).unwrap();
        let expr = query::parse(q).unwrap();
        let search = Search {
            level,
            ..everything(&expr)
        };
        let found = candidates(&terms, &search).unwrap();
        (found.rows.map(|r| r.into_iter().collect()), found.exact)
    }

    const ROWS: &[(&str, &str, &str)] = &[
        ("gw-1", "ERROR", "heap space exhausted"),
        ("gw-2", "INFO", "space heap"),
        ("gw-1", "INFO", "request handled"),
    ];

    /// An index's bytes that remember what was read of them and what was
    /// asked to be read ahead.
    struct Watched<'a> {
        bytes: &'a Vec<u8>,
        read: RefCell<Vec<(u64, usize)>>,
        ahead: RefCell<Vec<(u64, usize)>>,
    }

    impl IndexBytes for Watched<'_> {
        fn len(&self) -> u64 {
            IndexBytes::len(self.bytes)
        }

        fn read(&self, at: u64, len: usize) -> Result<Cow<'_, [u8]>, EmbeddedError> {
            self.read.borrow_mut().push((at, len));
            self.bytes.read(at, len)
        }

        fn describe(&self) -> String {
            "a watched index".into()
        }

        fn form(&self) -> crate::embedded::logs::blocks::BlockForm {
            self.bytes.form()
        }

        fn gaps(&self) -> crate::embedded::logs::gaps::GapsForm {
            self.bytes.gaps()
        }

        fn read_ahead(&self, at: u64, len: usize) {
            self.ahead.borrow_mut().push((at, len));
        }
    }

    impl Watched<'_> {
        /// The reads since the last call that no read ahead covered.
        fn not_read_ahead(&self) -> Vec<(u64, usize)> {
            let ahead = self.ahead.borrow();
            let covered = |&(at, len): &(u64, usize)| {
                (ahead.iter()).any(|&(from, n)| from <= at && at + len as u64 <= from + n as u64)
            };
            let read = std::mem::take(&mut *self.read.borrow_mut());
            read.into_iter().filter(|read| !covered(read)).collect()
        }
    }

    #[test]
    fn a_search_looked_up_ahead_reads_only_what_was_read_ahead_and_finds_the_same_rows() {
        // Enough terms for many blocks; words in one row, in a few (gaps)
        // and in every other row (a bitmap).
        let rows: Vec<(String, &str, String)> = (0..900)
            .map(|n| {
                let host = format!("gw-{}", n % 3);
                let level = ["ERROR", "INFO"][n % 2];
                let often = if n % 2 == 0 { "heap space" } else { "handled" };
                (host, level, format!("{often} w{n} k{} request", n % 40))
            })
            .collect();
        let rows: Vec<(&str, &str, &str)> = (rows.iter())
            .map(|(host, level, message)| (host.as_str(), *level, message.as_str()))
            .collect();
        let bytes = index(&rows);
        let queries = [
            ("heap", None),
            ("w17 OR w899 OR k3", None),
            ("-heap k7", Some("error")),
            ("\"heap space\" host:gw-1", None),
            ("logger:throttlehandler w5", None),
            ("level:info NOT (k1 OR k2)", None),
            ("missing", None),
            ("*", Some("info")),
        ];
        for (q, level) in queries {
            let expr = query::parse(q).unwrap();
            let search = Search {
                level,
                ..everything(&expr)
            };
            let plain = candidates(&Terms::open(&bytes).unwrap(), &search).unwrap();

            let watched = Watched {
                bytes: &bytes,
                read: RefCell::default(),
                ahead: RefCell::default(),
            };
            let table = Arc::new(Table::read(&watched).unwrap());
            watched.read.borrow_mut().clear();
            let index = Terms::with_table(&watched, table);
            let wanted = terms(&search);
            index.read_blocks_ahead(&wanted);
            let found = index.look_up(&wanted).unwrap();
            assert_eq!(watched.not_read_ahead(), [], "{q}: its blocks");
            let ahead = candidates(&index.with_found(&found), &search).unwrap();
            assert_eq!(watched.not_read_ahead(), [], "{q}: its rows");
            assert_eq!((ahead.rows, ahead.exact), (plain.rows, plain.exact), "{q}");
        }
    }

    #[test]
    fn words_and_fields_are_exact_and_phrases_are_not() {
        let bytes = index(ROWS);
        assert_eq!(plan(&bytes, "heap", None), (Some(vec![0, 1]), true));
        assert_eq!(plan(&bytes, "heap", Some("error")), (Some(vec![0]), true));
        assert_eq!(
            plan(&bytes, "\"heap space\"", None),
            (Some(vec![0, 1]), false)
        );
        assert_eq!(
            plan(&bytes, "heap OR handled", None),
            (Some(vec![0, 1, 2]), true)
        );
        assert_eq!(plan(&bytes, "-heap", None), (Some(vec![2]), true));
        assert_eq!(plan(&bytes, "host:gw-1 heap", None), (Some(vec![0]), true));
        assert_eq!(plan(&bytes, "missing", None), (Some(vec![]), true));
        assert_eq!(plan(&bytes, "*", None), (Some(vec![0, 1, 2]), true));
        assert!(!plan(&bytes, "logger:throttlehandler", None).1);
        assert_eq!(
            plan(&bytes, "NOT \"heap space\"", None),
            (Some(vec![0, 1, 2]), false)
        );
    }
}
