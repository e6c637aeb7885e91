//! Finding two values in a JSON body by JSON pointer (RFC 6901) in one
//! streaming pass: only the values pointed at are built; the rest of the
//! document is checked for syntax and skipped. A member that appears twice
//! is an error when it is on the way to a pointed-at value (any object the
//! pointer passes through, or the value itself) or inside one, so the layer
//! never judges one value while a handler whose parser keeps the other
//! provisions something else. Pointers may be of any depth, and one may lie
//! inside the other.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::policy::PointerTokens;

/// Why the body could not be searched.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON.
    Syntax,
    /// A pointed-at member, or one on the way to it or inside it, appears
    /// more than once.
    Duplicate,
}

/// The values at `pointers` in `bytes` (`None` where absent). A pointer
/// that is neither empty nor starts with `/` points at nothing.
#[cfg(test)]
pub(crate) fn find(bytes: &[u8], pointers: [&str; 2]) -> Result<[Option<Value>; 2], JsonError> {
    let tokens = pointers.map(PointerTokens::parse);
    find_tokens(bytes, &tokens)
}

/// The same search without the flat-document shortcut, to check it by.
#[cfg(test)]
pub(crate) fn find_full(
    bytes: &[u8],
    pointers: [&str; 2],
) -> Result<[Option<Value>; 2], JsonError> {
    search(bytes, &pointers.map(PointerTokens::parse))
}

/// The values at the pointers `tokens` in `bytes` (`None` where absent).
pub(crate) fn find_tokens(
    bytes: &[u8],
    tokens: &[PointerTokens; 2],
) -> Result<[Option<Value>; 2], JsonError> {
    match super::json_flat::find(bytes, tokens) {
        Some(found) => Ok(found),
        None => search(bytes, tokens),
    }
}

/// The streaming search through serde_json, for any document.
fn search(bytes: &[u8], tokens: &[PointerTokens; 2]) -> Result<[Option<Value>; 2], JsonError> {
    let paths = tokens
        .each_ref()
        .map(|t| t.tokens().map(|tokens| Path { tokens }));
    let mut found = [None, None];
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let probe = Probe {
        paths: &paths,
        alive: paths.each_ref().map(Option::is_some),
        depth: 0,
        found: &mut found,
    };
    probe.deserialize(&mut de).map_err(|e| {
        if e.to_string().starts_with(DUPLICATE) {
            JsonError::Duplicate
        } else {
            JsonError::Syntax
        }
    })?;
    de.end().map_err(|_| JsonError::Syntax)?;
    Ok(found)
}

const DUPLICATE: &str = "duplicate member at a pointer";

/// A pointer's reference tokens, unescaped (`~1` is `/`, `~0` is `~`).
struct Path<'p> {
    tokens: &'p [Box<str>],
}

impl Path<'_> {
    fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether token `depth` names object member `key`.
    fn names_key(&self, depth: usize, key: &str) -> bool {
        self.tokens.get(depth).is_some_and(|t| **t == *key)
    }

    /// Whether token `depth` is array index `index` (RFC 6901: decimal, no
    /// sign, no leading zeros).
    fn names_index(&self, depth: usize, index: usize) -> bool {
        let Some(token) = self.tokens.get(depth) else {
            return false;
        };
        let canonical = &**token == "0"
            || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()));
        canonical && token.parse::<usize>() == Ok(index)
    }

    /// The value the rest of the path (from `depth`) points at inside `v`,
    /// which holds no duplicate members (see [`Strict`]).
    fn resolve<'v>(&self, v: &'v Value, depth: usize) -> Option<&'v Value> {
        (depth..self.len()).try_fold(v, |v, d| match v {
            Value::Object(m) => m.iter().find(|(k, _)| self.names_key(d, k)).map(|(_, v)| v),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .find(|(i, _)| self.names_index(d, *i))
                .map(|(_, v)| v),
            _ => None,
        })
    }
}

/// The search at one value: which pointers are still on the way (`alive`)
/// and how deep it is. Depth is bounded by serde_json's recursion limit.
struct Probe<'a, 'p> {
    paths: &'a [Option<Path<'p>>; 2],
    alive: [bool; 2],
    depth: usize,
    found: &'a mut [Option<Value>; 2],
}

impl<'a, 'p> Probe<'a, 'p> {
    /// The live pointer `i`.
    fn path(&self, i: usize) -> Option<&'a Path<'p>> {
        let paths: &'a [Option<Path<'p>>; 2] = self.paths;
        match self.alive.get(i) {
            Some(true) => paths.get(i).and_then(Option::as_ref),
            _ => None,
        }
    }

    fn ends_here(&self, i: usize) -> bool {
        self.path(i).is_some_and(|p| p.len() == self.depth)
    }

    /// Which live pointers continue into the child `matches` accepts.
    fn continuing(&self, matches: impl Fn(&Path<'_>, usize) -> bool) -> [bool; 2] {
        [0, 1].map(|i| self.path(i).is_some_and(|p| matches(p, self.depth)))
    }

    /// The search inside a child, for the pointers in `alive`.
    fn child(&mut self, alive: [bool; 2]) -> Option<Probe<'_, 'p>> {
        alive.contains(&true).then(|| Probe {
            paths: self.paths,
            alive,
            depth: self.depth + 1,
            found: &mut *self.found,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Probe<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if !(0..2).any(|i| self.ends_here(i)) {
            return d.deserialize_any(self);
        }
        // A pointer ends here: keep this value (and resolve a longer pointer
        // inside it, should one pointer be a prefix of the other). Built
        // strictly, so what is resolved inside it is unambiguous too.
        let mut value = Some(Strict.deserialize(d)?);
        for i in (0..2).rev() {
            let Some(path) = self.path(i) else {
                continue;
            };
            let found = if path.len() == self.depth {
                // The last user takes the value; an earlier one copies it.
                let shared = i == 1 && self.path(0).is_some();
                if shared { value.clone() } else { value.take() }
            } else {
                value
                    .as_ref()
                    .and_then(|v| path.resolve(v, self.depth))
                    .cloned()
            };
            let Some(slot) = self.found.get_mut(i) else {
                continue;
            };
            if found.is_some() {
                // Unreachable while every member on the way is unique;
                // kept so that a second copy can never replace the first.
                if slot.is_some() {
                    return Err(de::Error::custom(DUPLICATE));
                }
                *slot = found;
            }
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Probe<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        // A member on the way to a pointed-at value must appear once, or a
        // handler may read the value from the copy the layer did not see.
        let mut seen = [false, false];
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let alive = self.continuing(|path, depth| path.names_key(depth, &key));
            for (seen, on_the_way) in seen.iter_mut().zip(alive) {
                if on_the_way && std::mem::replace(seen, true) {
                    return Err(de::Error::custom(DUPLICATE));
                }
            }
            match self.child(alive) {
                Some(child) => map.next_value_seed(child)?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0usize;
        loop {
            let alive = self.continuing(|path, depth| path.names_index(depth, index));
            let next = match self.child(alive) {
                Some(child) => seq.next_element_seed(child)?,
                None => seq.next_element::<IgnoredAny>()?.map(|_| ()),
            };
            if next.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A `Value` in which no object has a member twice (serde_json's own keeps
/// the last copy silently).
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Strict)?;
            if members.insert(key, value).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        let object = Value::Object(members);
        // With serde_json's `arbitrary_precision` (which another crate in a
        // build may turn on) a number arrives as a one-member map that only
        // `Number` recognises; the check looks at the key alone.
        if object.as_object().is_some_and(|m| m.len() == 1)
            && let Ok(n) = Number::deserialize(&object)
        {
            return Ok(Value::Number(n));
        }
        Ok(object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_values_like_value_pointer() {
        let cases: &[(&str, [&str; 2])] = &[
            (
                r#"{"instance_type":"p5.48xlarge","count":2}"#,
                ["/instance_type", "/count"],
            ),
            (
                r#"{"count":2,"other":{"x":[1,2,{"a":1}]},"instance_type":"g5.xlarge"}"#,
                ["/instance_type", "/count"],
            ),
            (
                r#"{"spec":{"type":"p5.48xlarge","n":[3,4]}}"#,
                ["/spec/type", "/spec/n/1"],
            ),
            (r#"{"spec":{"type":"p5"}}"#, ["/spec", "/spec/type"]),
            (r#"{"a/b":{"m~n":"x"}}"#, ["/a~1b/m~0n", "/missing"]),
            (r#"[{"t":"x"},{"t":"y"}]"#, ["/1/t", "/0/t"]),
            (r#"[{"t":"x"},{"t":"y"}]"#, ["/01/t", "/+1/t"]),
            (r#""just a string""#, ["", "/x"]),
            (r#"{"instance_type":null}"#, ["/instance_type", "/count"]),
            (
                r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}"#,
                ["/a/b/c/d/e/f/g/h/i", "/a"],
            ),
            (
                r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":[0,{"k":2}]}}}}}}}}}}"#,
                ["/a/b/c/d/e/f/g/h/i/j/1/k", "/a/b/c/d/e/f/g/h/i/j/0"],
            ),
            (r#"{"spec":{"n":[1,{"t":"x"}]}}"#, ["/spec/n/1/t", "/spec"]),
            (
                r#"{"count":1.5,"instance_type":-3}"#,
                ["/instance_type", "/count"],
            ),
            (r#"{"x":1}"#, ["x", "/x"]),
        ];
        for (body, pointers) in cases {
            let doc: Value = serde_json::from_str(body).unwrap();
            let want = pointers.map(|p| doc.pointer(p).cloned());
            assert_eq!(
                find(body.as_bytes(), *pointers).unwrap(),
                want,
                "{body} {pointers:?}"
            );
        }
    }

    /// A JSON document (no member twice: a `Map` holds each key once) up to
    /// 12 levels deep, with short keys that need escaping now and then.
    fn document() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            "[a-c]{0,3}".prop_map(Value::String),
        ];
        leaf.prop_recursive(12, 64, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[ab/~]{0,2}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Pointers to values in `doc`, some a step past them or into nothing.
    fn pointers(doc: &Value, out: &mut Vec<String>, at: &str) {
        out.push(at.to_owned());
        out.push(format!("{at}/a"));
        match doc {
            Value::Object(m) => {
                for (k, v) in m {
                    let token = k.replace('~', "~0").replace('/', "~1");
                    pointers(v, out, &format!("{at}/{token}"));
                }
            }
            Value::Array(a) => {
                out.push(format!("{at}/0{}", a.len()));
                for (i, v) in a.iter().enumerate() {
                    pointers(v, out, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }

    proptest::proptest! {
        #[test]
        fn agrees_with_value_pointer_at_any_depth(
            inner in document(),
            wrap in 0usize..12,
            picks in proptest::array::uniform2(proptest::prelude::any::<proptest::sample::Index>()),
        ) {
            // Under up to 12 more objects, so pointers run deep.
            let doc = (0..wrap).fold(inner, |v, _| json!({ "d": v }));
            let mut all = Vec::new();
            pointers(&doc, &mut all, "");
            let [a, b] = picks.map(|i| i.get(&all).as_str());
            let bytes = serde_json::to_vec(&doc).unwrap();
            let want = [doc.pointer(a).cloned(), doc.pointer(b).cloned()];
            proptest::prop_assert_eq!(find(&bytes, [a, b]).unwrap(), want);
        }
    }

    #[test]
    fn rejects_bad_json_and_duplicate_targets() {
        let p = ["/instance_type", "/count"];
        assert_eq!(find(b"{\"instance_type\":", p), Err(JsonError::Syntax));
        assert_eq!(find(b"{} trailing", p), Err(JsonError::Syntax));
        assert_eq!(find(b"{\"x\":[1,2,}", p), Err(JsonError::Syntax));
        let dup = br#"{"instance_type":"m7i.large","instance_type":"p5.48xlarge"}"#;
        assert_eq!(find(dup, p), Err(JsonError::Duplicate));
        // Duplicates elsewhere are the handler's business.
        let other = br#"{"x":1,"x":2,"count":3}"#;
        assert_eq!(find(other, p).unwrap(), [None, Some(json!(3))]);
    }

    #[test]
    fn rejects_duplicates_on_the_way_and_inside() {
        let dup = |body: &str, p: [&str; 2]| find(body.as_bytes(), p) == Err(JsonError::Duplicate);
        let p = ["/spec/instance_type", "/count"];
        // An object on the way, whichever copy holds the value.
        assert!(dup(r#"{"spec":{"instance_type":"a"},"spec":{}}"#, p));
        assert!(dup(r#"{"spec":{},"spec":{"instance_type":"b"}}"#, p));
        assert!(dup(r#"{"spec":1,"spec":{"instance_type":"b"}}"#, p));
        assert!(dup(r#"{"count":1,"spec":{},"count":2}"#, p));
        // Deeper than any fixed limit.
        let deep = ["/a/b/c/d/e/f/g/h/i/j/k", "/a/b/c/d/e/f/g/h/i/j/n"];
        let body = r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{"j":{"k":1,"k":2}}}}}}}}}}}"#;
        assert!(dup(body, deep));
        let body = r#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":{},"i":{"j":{}}}}}}}}}}}"#;
        assert!(dup(body, deep));
        // One pointer inside the other: the outer value is built strictly.
        assert!(dup(r#"{"spec":{"t":"a","t":"b"}}"#, ["/spec", "/spec/t"]));
        assert!(dup(
            r#"{"spec":{"t":"a","x":{"y":1,"y":2}}}"#,
            ["/spec/t", "/spec"]
        ));
        assert!(dup(r#"[{"t":"a","t":"b"}]"#, ["", "/0/t"]));
        // Escaped and unescaped spellings of one key are one key.
        assert!(dup(r#"{"a/b":1,"a\/b":2}"#, ["/a~1b", "/x"]));
        // Off the way: the handler's business.
        let fine = r#"{"spec":{"instance_type":"a","x":1,"x":2},"y":{"z":1},"y":2}"#;
        assert_eq!(find(fine.as_bytes(), p).unwrap(), [Some(json!("a")), None]);
    }
}
