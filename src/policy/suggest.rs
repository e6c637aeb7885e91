//! Suggestions for names and values a policy gets wrong: the closest
//! defined names by edit distance, and a few well-known slips.

use crate::CountryCode;

/// Longer values are not compared: nobody misspells a name that long, and
/// the comparison is quadratic.
const MAX_LEN: usize = 64;

/// ``did you mean `x`?`` naming the candidates closest to `value` in edit
/// distance (ignoring ASCII case), if they are close: at most a third of
/// `value`'s length away, and at least one edit. Ties go to the longest
/// common prefix (`E:3` is `E:1` rather than `D:3`); up to three equally
/// close candidates are named, in sorted order, and more suggest nothing.
pub(crate) fn did_you_mean<'a>(
    value: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let v: Vec<char> = value.chars().map(|c| c.to_ascii_lowercase()).collect();
    if v.is_empty() || v.len() > MAX_LEN {
        return None;
    }
    let limit = (v.len() / 3).max(1);
    // (distance, minus the common prefix): smaller is closer.
    let mut best_key = (usize::MAX, 0);
    let mut best: Vec<&str> = Vec::new();
    for name in candidates {
        let c: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
        if name == value || c.len() > MAX_LEN || c.len().abs_diff(v.len()) > limit {
            continue;
        }
        let distance = edit_distance(&v, &c);
        if distance > limit {
            continue;
        }
        let prefix = v.iter().zip(&c).take_while(|(a, b)| a == b).count();
        let key = (distance, usize::MAX - prefix);
        if key < best_key {
            best_key = key;
            best.clear();
            best.push(name);
        } else if key == best_key && !best.contains(&name) {
            best.push(name);
        }
    }
    // Candidates may come in any order (a hash map's keys).
    best.sort_unstable();
    match best.as_slice() {
        [a] => Some(format!("did you mean `{a}`?")),
        [a, b] => Some(format!("did you mean `{a}` or `{b}`?")),
        [a, b, c] => Some(format!("did you mean `{a}`, `{b}` or `{c}`?")),
        _ => None,
    }
}

/// The number of single-character insertions, deletions, substitutions and
/// swaps of neighbours that turn `a` into `b` (optimal string alignment:
/// `dney` is one edit from `deny`).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Out of range reads as too far to matter.
    let get = |row: &[usize], j: usize| row.get(j).copied().unwrap_or(usize::MAX / 2);
    // Rows of the table for the prefixes of `a` one and two shorter.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut before: Vec<usize> = Vec::new();
    for (i, ca) in a.iter().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let mut d = (get(&prev, j) + usize::from(ca != cb))
                .min(get(&prev, j + 1) + 1)
                .min(get(&row, j) + 1);
            if i > 0 && j > 0 && a.get(i - 1) == Some(cb) && b.get(j - 1) == Some(ca) {
                d = d.min(get(&before, j - 1) + 1);
            }
            row.push(d);
        }
        before = std::mem::replace(&mut prev, row);
    }
    get(&prev, b.len())
}

/// A suggestion for a string that is not an assigned country code: the
/// code without the spaces around it, or the ISO code for a common
/// non-ISO one.
pub(crate) fn country(value: &str) -> Option<String> {
    let trimmed = value.trim();
    if trimmed != value && CountryCode::parse(trimmed).is_ok() {
        return Some(format!("did you mean `{trimmed}`?"));
    }
    let iso = match trimmed.to_ascii_uppercase().as_str() {
        "UK" => "GB",
        "EL" => "GR",
        _ => return None,
    };
    Some(format!("the ISO 3166-1 code is `{iso}`"))
}

#[cfg(test)]
mod tests {
    use super::{country, did_you_mean, edit_distance};

    fn lev(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        edit_distance(&a, &b)
    }

    #[test]
    fn distances() {
        assert_eq!(lev("", ""), 0);
        assert_eq!(lev("abc", ""), 3);
        assert_eq!(lev("", "abc"), 3);
        assert_eq!(lev("kitten", "sitting"), 3);
        assert_eq!(lev("flaw", "lawn"), 2);
        assert_eq!(lev("E:3", "E:1"), 1);
        assert_eq!(lev("Zürich", "Zurich"), 1);
        assert_eq!(lev("dney", "deny"), 1);
        assert_eq!(lev("ab", "ba"), 1);
        assert_eq!(lev("abcd", "badc"), 2);
        // Optimal string alignment edits no substring twice.
        assert_eq!(lev("ca", "abc"), 3);
    }

    #[test]
    fn suggestions() {
        let groups = ["A:5", "A:6", "D:1", "D:3", "E:1", "E:2"];
        assert_eq!(
            did_you_mean("E:3", groups).as_deref(),
            Some("did you mean `E:1` or `E:2`?")
        );
        assert_eq!(
            did_you_mean("E:3", ["D:3", "E:1"]).as_deref(),
            Some("did you mean `E:1`?")
        );
        // Five equally close: no suggestion.
        assert_eq!(
            did_you_mean("D:9", ["D:1", "D:2", "D:3", "D:4", "D:5"]),
            None
        );
        assert_eq!(
            did_you_mean("Deny", ["allow", "require-license", "deny"]).as_deref(),
            Some("did you mean `deny`?")
        );
        assert_eq!(
            did_you_mean("require_licence", ["allow", "require-license", "deny"]).as_deref(),
            Some("did you mean `require-license`?")
        );
        assert_eq!(
            did_you_mean("block", ["allow", "require-license", "deny"]),
            None
        );
        assert_eq!(did_you_mean("", ["a"]), None);
        assert_eq!(
            did_you_mean(&"x".repeat(65), ["x".repeat(64).as_str()]),
            None
        );
    }

    #[test]
    fn countries() {
        assert_eq!(country(" CN").as_deref(), Some("did you mean `CN`?"));
        assert_eq!(
            country("uk").as_deref(),
            Some("the ISO 3166-1 code is `GB`")
        );
        assert_eq!(country("XK"), None);
    }
}
