//! Finding two values in a JSON body by JSON pointer (RFC 6901) in one
//! streaming pass: only the values pointed at are built; the rest of the
//! document is checked for syntax and skipped. A pointed-at key that
//! appears twice is an error, so the layer never judges one value while a
//! handler whose parser keeps the other provisions something else.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// Pointers deeper than this fall back to a full parse.
const MAX_DEPTH: usize = 8;

/// Why the body could not be searched.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON.
    Syntax,
    /// A pointed-at member appears more than once.
    Duplicate,
}

/// The values at `pointers` in `bytes` (`None` where absent).
pub(crate) fn find(bytes: &[u8], pointers: [&str; 2]) -> Result<[Option<Value>; 2], JsonError> {
    let paths = pointers.map(Path::parse);
    let mut found = [None, None];
    let (Some(a), Some(b)) = (paths[0], paths[1]) else {
        return find_slow(bytes, pointers);
    };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let probe = Probe {
        paths: [a, b],
        alive: [true, true],
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

/// Deep pointers: parse the whole document.
fn find_slow(bytes: &[u8], pointers: [&str; 2]) -> Result<[Option<Value>; 2], JsonError> {
    let json: Value = serde_json::from_slice(bytes).map_err(|_| JsonError::Syntax)?;
    Ok(pointers.map(|p| json.pointer(p).cloned()))
}

const DUPLICATE: &str = "duplicate member at a pointer";

/// A parsed pointer: up to `MAX_DEPTH` reference tokens, each with whether
/// it holds an escape (`~0`, `~1`).
#[derive(Clone, Copy)]
struct Path<'p> {
    tokens: [(&'p str, bool); MAX_DEPTH],
    len: usize,
}

impl<'p> Path<'p> {
    fn parse(pointer: &'p str) -> Option<Self> {
        let mut path = Path {
            tokens: [("", false); MAX_DEPTH],
            len: 0,
        };
        let Some(rest) = pointer.strip_prefix('/') else {
            return pointer.is_empty().then_some(path);
        };
        for token in rest.split('/') {
            *path.tokens.get_mut(path.len)? = (token, token.as_bytes().contains(&b'~'));
            path.len += 1;
        }
        Some(path)
    }

    fn token(&self, depth: usize) -> Option<(&'p str, bool)> {
        self.tokens.get(depth).copied().filter(|_| depth < self.len)
    }

    /// Whether token `depth` names object member `key` (`~1` is `/`, `~0`
    /// is `~`).
    fn names_key(&self, depth: usize, key: &str) -> bool {
        match self.token(depth) {
            Some((token, false)) => token == key,
            Some((token, true)) => token.replace("~1", "/").replace("~0", "~") == key,
            None => false,
        }
    }

    /// Whether token `depth` is array index `index` (RFC 6901: decimal, no
    /// sign, no leading zeros).
    fn names_index(&self, depth: usize, index: usize) -> bool {
        let Some((token, _)) = self.token(depth) else {
            return false;
        };
        let canonical =
            token == "0" || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()));
        canonical && token.parse::<usize>() == Ok(index)
    }

    /// The value the rest of the path (from `depth`) points at inside `v`.
    fn resolve<'v>(&self, v: &'v Value, depth: usize) -> Option<&'v Value> {
        (depth..self.len).try_fold(v, |v, d| match v {
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

struct Probe<'p, 'f> {
    paths: [Path<'p>; 2],
    alive: [bool; 2],
    depth: usize,
    found: &'f mut [Option<Value>; 2],
}

impl Probe<'_, '_> {
    fn ends_here(&self, i: usize) -> bool {
        self.alive.get(i).copied().unwrap_or(false)
            && self.paths.get(i).is_some_and(|p| p.len == self.depth)
    }

    /// The targets that continue into the child `matches` accepts.
    fn child(&mut self, matches: impl Fn(&Path<'_>, usize) -> bool) -> Option<Probe<'_, '_>> {
        let mut alive = [false; 2];
        for (i, slot) in alive.iter_mut().enumerate() {
            let live = self.alive.get(i).copied().unwrap_or(false);
            *slot = live && self.paths.get(i).is_some_and(|p| matches(p, self.depth));
        }
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
        // inside it, should one pointer be a prefix of the other).
        let mut value = Some(Value::deserialize(d)?);
        for i in (0..2).rev() {
            if !self.alive.get(i).copied().unwrap_or(false) {
                continue;
            }
            let (Some(path), Some(slot)) = (self.paths.get(i), self.found.get_mut(i)) else {
                continue;
            };
            let found = if path.len == self.depth {
                // The last user takes the value; an earlier one copies it.
                let shared = i == 1 && self.alive.first() == Some(&true);
                if shared { value.clone() } else { value.take() }
            } else {
                value
                    .as_ref()
                    .and_then(|v| path.resolve(v, self.depth))
                    .cloned()
            };
            if found.is_some() {
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
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.child(|path, depth| path.names_key(depth, &key)) {
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
            let next = match self.child(|path, depth| path.names_index(depth, index)) {
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
}
