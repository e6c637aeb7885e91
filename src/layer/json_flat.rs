//! The common provisioning body, read without serde: one flat JSON object
//! whose pointed-at members are top-level (`/instance_type`, `/count`),
//! with scalar values, no escapes and each pointed-at member once. Anything
//! else (nesting, escapes, fractions, negative or huge numbers, a repeated
//! pointed-at member, any syntax error) is left to the full search in
//! [`body_json`](super::body_json), which decides it; so this path only
//! ever answers for documents on which both agree.

use serde_json::Value;

use crate::policy::PointerTokens;

/// The values at the two top-level pointers, or `None` when the document
/// is not of the simple shape this reads.
pub(crate) fn find(bytes: &[u8], tokens: &[PointerTokens; 2]) -> Option<[Option<Value>; 2]> {
    let [a, b] = tokens;
    let keys = [top_level(a)?, top_level(b)?];
    let mut r = Reader { bytes, at: 0 };
    let mut found: [Option<Value>; 2] = [None, None];
    r.skip_ws();
    r.eat(b'{')?;
    r.skip_ws();
    if !r.eat_if(b'}') {
        loop {
            let key = r.string()?;
            r.skip_ws();
            r.eat(b':')?;
            r.skip_ws();
            let value = r.scalar()?;
            for (slot, want) in found.iter_mut().zip(keys) {
                if key == want.as_bytes() {
                    if slot.is_some() {
                        // A repeated pointed-at member: the full search
                        // answers with its error.
                        return None;
                    }
                    *slot = Some(value.to_value()?);
                }
            }
            r.skip_ws();
            if r.eat_if(b',') {
                r.skip_ws();
                continue;
            }
            r.eat(b'}')?;
            break;
        }
    }
    r.skip_ws();
    (r.at == bytes.len()).then_some(found)
}

/// The member name of a one-token pointer.
fn top_level(tokens: &PointerTokens) -> Option<&str> {
    match tokens.tokens()? {
        [one] => Some(one),
        _ => None,
    }
}

/// A scalar as it appears in the text.
enum Scalar<'a> {
    Str(&'a [u8]),
    /// A non-negative integer without fraction or exponent.
    Int(u64),
    Bool(bool),
    Null,
}

impl Scalar<'_> {
    fn to_value(&self) -> Option<Value> {
        Some(match self {
            Self::Str(s) => Value::String(std::str::from_utf8(s).ok()?.to_owned()),
            Self::Int(n) => Value::from(*n),
            Self::Bool(b) => Value::Bool(*b),
            Self::Null => Value::Null,
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat_if(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.at += 1;
        }
        hit
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.eat_if(b).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.at.checked_add(word.len())?;
        (self.bytes.get(self.at..end)? == word).then(|| self.at = end)
    }

    /// A string without escapes or control characters: its bytes.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        let s = self.bytes.get(start..self.at)?;
        self.at += 1;
        Some(s)
    }

    fn scalar(&mut self) -> Option<Scalar<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Scalar::Str),
            b't' => self.literal(b"true").map(|()| Scalar::Bool(true)),
            b'f' => self.literal(b"false").map(|()| Scalar::Bool(false)),
            b'n' => self.literal(b"null").map(|()| Scalar::Null),
            b'0'..=b'9' => self.integer().map(Scalar::Int),
            _ => None,
        }
    }

    /// `0` or a digit 1–9 and more digits, fitting a `u64`, and not the
    /// start of a fraction or exponent.
    fn integer(&mut self) -> Option<u64> {
        let first = self.peek()?;
        self.at += 1;
        let mut n = u64::from(first - b'0');
        if first != b'0' {
            while let Some(d @ b'0'..=b'9') = self.peek() {
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                self.at += 1;
            }
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E' | b'0'..=b'9') => None,
            _ => Some(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::body_json;

    fn tokens(p: [&str; 2]) -> [PointerTokens; 2] {
        p.map(PointerTokens::parse)
    }

    const P: [&str; 2] = ["/instance_type", "/count"];

    #[test]
    fn reads_the_usual_bodies() {
        let cases: &[(&str, [Option<Value>; 2])] = &[
            (
                r#"{"instance_type":"m7i.large","count":1}"#,
                [Some("m7i.large".into()), Some(1.into())],
            ),
            (
                " {\n \"count\" : 8 ,\t\"x\":null,\"y\":true,\"instance_type\":\"p5.48xlarge\"}\r\n",
                [Some("p5.48xlarge".into()), Some(8.into())],
            ),
            (r#"{}"#, [None, None]),
            (r#"{"instance_type":null}"#, [Some(Value::Null), None]),
            (r#"{"count":0,"x":"a","x":"b"}"#, [None, Some(0.into())]),
            (
                r#"{"count":18446744073709551615}"#,
                [None, Some(u64::MAX.into())],
            ),
            (r#"{"instance_type":"é✓"}"#, [Some("é✓".into()), None]),
        ];
        for (body, want) in cases {
            let got = find(body.as_bytes(), &tokens(P));
            assert_eq!(got.as_ref(), Some(want), "{body}");
            let full = body_json::find_full(body.as_bytes(), P).unwrap();
            assert_eq!(&full, want, "{body}");
        }
    }

    #[test]
    fn leaves_everything_else_to_the_full_search() {
        for body in [
            r#"{"instance_type":"a","instance_type":"b"}"#,
            r#"{"count":1,"count":1}"#,
            r#"{"instance_type":"m7i\u002elarge"}"#,
            r#"{"spec":{"instance_type":"a"}}"#,
            r#"{"x":[1]}"#,
            r#"{"count":1.0}"#,
            r#"{"count":1e2}"#,
            r#"{"count":-1}"#,
            r#"{"count":01}"#,
            r#"{"count":18446744073709551616}"#,
            r#"{"count":1,}"#,
            r#"{"count" 1}"#,
            r#"{"count":1} x"#,
            r#"{"count":tru}"#,
            "{\"instance_type\":\"a\u{1}\"}",
            r#"[]"#,
            r#""#,
            r#"{"#,
        ] {
            assert_eq!(find(body.as_bytes(), &tokens(P)), None, "{body}");
        }
        // Pointers that are not one token deep.
        let body = br#"{"instance_type":"a","count":1}"#;
        assert_eq!(find(body, &tokens(["", "/count"])), None);
        assert_eq!(find(body, &tokens(["/spec/instance_type", "/count"])), None);
        assert_eq!(find(body, &tokens(["instance_type", "/count"])), None);
    }

    proptest::proptest! {
        /// Wherever this path answers, the full search gives the same.
        #[test]
        fn answers_only_as_the_full_search_does(
            body in r#"[ {}\[\]":,\\a-c0-9.eE+-]{0,40}"#,
            a in "/[abc]{0,2}",
            b in "/[abc]{0,2}",
        ) {
            let pointers = [a.as_str(), b.as_str()];
            if let Some(fast) = find(body.as_bytes(), &tokens(pointers)) {
                proptest::prop_assert_eq!(
                    body_json::find_full(body.as_bytes(), pointers),
                    Ok(fast),
                    "{}", body
                );
            }
        }

        #[test]
        fn answers_for_flat_documents_as_the_full_search_does(
            members in proptest::collection::vec(("[abc]{1,2}", 0u8..5, "[a-z.]{0,6}", proptest::prelude::any::<u64>()), 0..6),
            a in "/[abc]{1,2}",
            b in "/[abc]{1,2}",
        ) {
            let parts: Vec<String> = members
                .iter()
                .map(|(k, kind, s, n)| {
                    let v = match kind {
                        0 => format!("\"{s}\""),
                        1 => n.to_string(),
                        2 => "true".into(),
                        3 => "false".into(),
                        _ => "null".into(),
                    };
                    format!("\"{k}\" : {v}")
                })
                .collect();
            let body = format!("{{ {} }}", parts.join(" ,\n"));
            let pointers = [a.as_str(), b.as_str()];
            let full = body_json::find_full(body.as_bytes(), pointers);
            let fast = find(body.as_bytes(), &tokens(pointers));
            match (full, fast) {
                (Ok(full), Some(fast)) => proptest::prop_assert_eq!(full, fast),
                (Ok(_), None) => proptest::prop_assert!(false, "{} left to the full search", body),
                (Err(_), Some(_)) => proptest::prop_assert!(false, "{} answered, full search failed", body),
                (Err(_), None) => {}
            }
        }
    }
}
