//! An error and its causes on one line, for logs, job statuses and the
//! message a binary prints: the detail that matters (a TLS failure, a
//! refused login, the file) is often in a cause, not in the top error.

/// `error: cause: cause of the cause`, leaving out a cause whose text the
/// line already holds (some errors repeat their source in their message).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn every_cause_is_named_once_in_order() {
        let error = Layer(
            "mail not sent",
            Some(Box::new(Layer(
                "tls handshake failed",
                Some(Box::new(Layer("mail not sent", None))),
            ))),
        );
        assert_eq!(error_chain(&error), "mail not sent: tls handshake failed");
    }
}
