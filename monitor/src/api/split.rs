//! A batch whose events do not all parse, cut into its events without
//! judging them: the bytes of each element of the top-level `events` array,
//! found by following strings and brackets only, so that invalid UTF-8 or
//! an invalid escape inside one event costs that event alone. The envelope
//! is what is left with the array emptied.
//!
//! Never decides whether an event is good: the caller parses each one.

/// The envelope with `"events": []`, and each event's bytes; `None` when
/// the body is not an object with an `events` array at all.
pub(super) fn split_events(json: &[u8]) -> Option<(Vec<u8>, Vec<&[u8]>)> {
    let mut scan = Scanner { json, at: 0 };
    scan.skip_space();
    if scan.next()? != b'{' {
        return None;
    }
    loop {
        scan.skip_space();
        let key_start = scan.at;
        scan.string()?;
        let key = &json[key_start..scan.at];
        scan.skip_space();
        if scan.next()? != b':' {
            return None;
        }
        scan.skip_space();
        if key == b"\"events\"" && scan.peek()? == b'[' {
            let array_start = scan.at;
            let events = scan.elements()?;
            let mut envelope = json[..array_start].to_vec();
            envelope.extend_from_slice(b"[]");
            envelope.extend_from_slice(&json[scan.at..]);
            return Some((envelope, events));
        }
        scan.value()?;
        scan.skip_space();
        match scan.next()? {
            b',' => continue,
            _ => return None,
        }
    }
}

struct Scanner<'a> {
    json: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.json.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    /// A string, its contents unchecked: only `\` and the closing quote count.
    fn string(&mut self) -> Option<()> {
        if self.next()? != b'"' {
            return None;
        }
        loop {
            match self.next()? {
                b'\\' => {
                    self.next()?;
                }
                b'"' => return Some(()),
                _ => {}
            }
        }
    }

    /// Any value: a string, or everything up to where its brackets close,
    /// or a bare word (number, true, false, null).
    fn value(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string(),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    match self.peek()? {
                        b'"' => self.string()?,
                        b'{' | b'[' => {
                            depth += 1;
                            self.at += 1;
                        }
                        b'}' | b']' => {
                            depth -= 1;
                            self.at += 1;
                            if depth == 0 {
                                return Some(());
                            }
                        }
                        _ => self.at += 1,
                    }
                }
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace())
                {
                    self.at += 1;
                }
                Some(())
            }
        }
    }

    /// The elements of the array at the cursor, as bytes.
    fn elements(&mut self) -> Option<Vec<&'a [u8]>> {
        self.next()?; // '['
        let mut elements = Vec::new();
        self.skip_space();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(elements);
        }
        loop {
            self.skip_space();
            let start = self.at;
            self.value()?;
            elements.push(&self.json[start..self.at]);
            self.skip_space();
            match self.next()? {
                b',' => continue,
                b']' => return Some(elements),
                _ => return None,
            }
        }
    }
}

/// The id of an event that does not parse, when one can still be read:
/// the first `"id": "..."` in it, as text.
pub(super) fn id_of(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let at = text.find("\"id\"")?;
    let rest = text[at + 4..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find(['"', '\\'])?;
    Some(rest[..end].to_owned())
}

/// Why an event's bytes are refused before parsing, in words.
pub(super) fn not_utf8(raw: &[u8]) -> Option<String> {
    std::str::from_utf8(raw).err().map(|error| {
        format!(
            "the event is not UTF-8 (an invalid byte at offset {}): send text as UTF-8",
            error.valid_up_to()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_cut_out_whatever_their_strings_hold() {
        let json = b"{\"environment\":\"acme\",\"events\":[{\"id\":\"a\",\"m\":\"ok\"}, {\"id\":\"b\",\"m\":\"\xff\\x\"} ,{\"id\":\"c\",\"n\":[1,{\"d\":\"]\"}]}],\"host\":\"gw\"}";
        let (envelope, events) = split_events(json).unwrap();
        assert_eq!(
            String::from_utf8(envelope).unwrap(),
            "{\"environment\":\"acme\",\"events\":[],\"host\":\"gw\"}"
        );
        assert_eq!(events.len(), 3);
        assert_eq!(events[0], b"{\"id\":\"a\",\"m\":\"ok\"}");
        assert_eq!(id_of(events[1]).as_deref(), Some("b"));
        assert!(not_utf8(events[1]).unwrap().contains("offset 15"));
        assert_eq!(events[2], b"{\"id\":\"c\",\"n\":[1,{\"d\":\"]\"}]}");
    }

    #[test]
    fn a_body_without_an_events_array_or_cut_short_is_not_split() {
        assert!(split_events(b"{\"events\":{}}").is_none());
        assert!(split_events(b"[1,2]").is_none());
        assert!(split_events(b"{\"events\":[{\"id\":\"a\"").is_none());
        assert!(split_events(b"{\"host\":\"gw\"}").is_none());
    }
}
