//! Where a TOML error points: the entry and the field of a policy file
//! that a parser error's position falls in, found from a best-effort parse
//! so that it works on invalid TOML too.

use std::ops::Range;

use super::error::{Diagnostic, Location, Problem};
use super::suggest;

/// A TOML error (bad syntax, unknown key, wrong type, missing field) as a
/// diagnostic naming the entry and the field it points into, as validation
/// problems do: `rules[1] (id = "x"): `prority`: unknown field ...`.
pub(super) fn diagnostic(file: &str, text: &str, e: &toml::de::Error) -> Diagnostic {
    let span = e.span().unwrap_or(0..0);
    let message = e.message().trim();
    let (entry, field) = toml_context(text, span.start);
    Diagnostic::new(
        Location::at(file, text, span),
        entry,
        field,
        Problem::Syntax(message.to_owned()),
        unknown_field_help(message),
    )
}

/// ``did you mean `x`?`` for serde's ``unknown field `y`, expected one of
/// `x`, `z` ``.
fn unknown_field_help(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let (_, expected) = rest.split_once("expected")?;
    suggest::did_you_mean(field, expected.split('`').skip(1).step_by(2))
}

/// The top-level tables of a policy file; any other top-level key is a
/// field of the top level.
const SECTIONS: [&str; 10] = [
    "policy",
    "defaults",
    "country_groups",
    "country_aliases",
    "rules",
    "chips",
    "instance_types",
    "license",
    "network",
    "http",
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A key or value of the document, with where it is.
struct Node {
    path: Vec<Seg>,
    key: Range<usize>,
    value: Range<usize>,
    is_table: bool,
    /// ` (id = "x")` or ` (name = "x")` for tables that have one.
    label: String,
}

fn collect(
    v: &toml::de::DeValue<'_>,
    path: &mut Vec<Seg>,
    key: Range<usize>,
    value: Range<usize>,
    out: &mut Vec<Node>,
) {
    use toml::de::DeValue;
    let label = match v {
        DeValue::Table(t) => ["id", "name"]
            .into_iter()
            .find_map(|k| match t.get(k).map(|v| v.get_ref()) {
                Some(DeValue::String(s)) => Some(format!(" ({k} = {s:?})")),
                _ => None,
            })
            .unwrap_or_default(),
        _ => String::new(),
    };
    out.push(Node {
        path: path.clone(),
        key,
        value,
        is_table: matches!(v, DeValue::Table(_)),
        label,
    });
    match v {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                path.push(Seg::Key(k.get_ref().to_string()));
                collect(v.get_ref(), path, k.span(), v.span(), out);
                path.pop();
            }
        }
        DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                path.push(Seg::Index(i));
                collect(v.get_ref(), path, 0..0, v.span(), out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn render(segs: &[Seg]) -> String {
    let mut out = String::new();
    for seg in segs {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The entry and field at byte `at` of a policy text, read from a
/// best-effort parse so it works on invalid TOML too.
fn toml_context(text: &str, at: usize) -> (String, Option<String>) {
    let (root, _) = toml::de::DeTable::parse_recoverable(text);
    let mut nodes = Vec::new();
    let mut path = Vec::new();
    for (k, v) in root.get_ref().iter() {
        path.push(Seg::Key(k.get_ref().to_string()));
        collect(v.get_ref(), &mut path, k.span(), v.span(), &mut nodes);
        path.pop();
    }
    let contains = |r: &Range<usize>| r.start <= at && at < r.end;
    let line_start = text
        .get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let line_end = text
        .get(at..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| at + i);
    let line = text.get(line_start..line_end).unwrap_or("");
    let is_header = |n: &&Node| {
        n.is_table
            && text
                .get(n.value.clone())
                .is_some_and(|t| t.starts_with('['))
    };

    // The innermost key or value the position is in; else, on a broken
    // table header, the header's text; else the table whose header comes
    // last before the position, and the key its line assigns.
    let (path, line_key) = if let Some(n) = nodes
        .iter()
        .filter(|n| contains(&n.key) || contains(&n.value))
        .max_by_key(|n| n.path.len())
    {
        (n.path.as_slice(), None)
    } else if line.trim_start().starts_with('[') {
        return (line.trim().to_owned(), None);
    } else {
        let header = nodes
            .iter()
            .filter(is_header)
            .filter(|n| n.value.start <= at)
            .max_by_key(|n| n.value.start);
        let key = line
            .find('=')
            .filter(|eq| line_start + eq < at)
            .and_then(|eq| line.get(..eq))
            .map(|k| k.trim().trim_matches('"').to_owned())
            .filter(|k| !k.is_empty());
        (header.map_or(&[][..], |n| n.path.as_slice()), key)
    };

    // The entry ends at the last element of an array of tables, else it is
    // the top-level table.
    let node_at = |p: &[Seg]| nodes.iter().find(|n| n.path == p);
    let split = (1..=path.len())
        .rev()
        .find(|&i| {
            matches!(path.get(i - 1), Some(Seg::Index(_)))
                && path.get(..i).and_then(node_at).is_some_and(|n| n.is_table)
        })
        .or_else(|| match path.first() {
            Some(Seg::Key(k)) if SECTIONS.contains(&k.as_str()) => Some(1),
            _ => None,
        });
    let (entry, field) = match split {
        Some(i) => {
            let (e, f) = path.split_at(i);
            let label = match e.last() {
                Some(Seg::Index(_)) => node_at(e).map_or("", |n| n.label.as_str()),
                _ => "",
            };
            (format!("{}{label}", render(e)), render(f))
        }
        None => ("top level".to_owned(), render(path)),
    };
    let field = Some(field).filter(|f| !f.is_empty()).or(line_key);
    (entry, field)
}
