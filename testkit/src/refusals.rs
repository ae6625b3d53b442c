//! The one check every file loader's tests make: each bad file is refused
//! with an error that names the file, the field and the fix.

use std::fmt::{Debug, Display};

/// Panics unless `parse` refuses the text of every case, its error
/// starting `<file>: <field>: ` and holding the fix.
#[track_caller]
pub fn assert_refused<T: Debug, E: Display>(
    file: &str,
    cases: &[(String, &str, &str)],
    parse: impl Fn(&str) -> Result<T, E>,
) {
    for (text, field, fix) in cases {
        let error = match parse(text) {
            Ok(accepted) => panic!("expected {field} to be refused, got {accepted:?}"),
            Err(error) => error.to_string(),
        };
        assert!(
            error.starts_with(&format!("{file}: {field}: ")),
            "expected {file}: {field}: at the start of {error}"
        );
        assert!(error.contains(fix), "expected {fix:?} in {error}");
    }
}
