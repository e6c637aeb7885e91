//! Tag header values that depend only on the policy, made once per policy
//! (on first use) so tagging a request copies no strings.

use http::HeaderValue;

use crate::CountryCode;
use crate::jurisdiction::{CODE_SPACE, CountryGroups};

/// Every two-letter code, `AA` to `ZZ`, back to back: country header
/// values point into it, so cloning one is free (no reference count).
// Evaluated at compile time: an index out of range fails the build.
#[allow(clippy::indexing_slicing)]
static CODES: [u8; 2 * CODE_SPACE] = {
    let mut codes = [0u8; 2 * CODE_SPACE];
    let mut i = 0;
    while i < CODE_SPACE {
        codes[2 * i] = b'A' + (i / 26) as u8;
        codes[2 * i + 1] = b'A' + (i % 26) as u8;
        i += 1;
    }
    codes
};

/// Per country, its code and the names of its groups; and the policy's
/// digest.
#[derive(Debug)]
pub(crate) struct TagValues {
    pub(crate) policy: HeaderValue,
    country: Vec<HeaderValue>,
    groups: Vec<HeaderValue>,
}

impl TagValues {
    pub(crate) fn new(groups: &CountryGroups, digest: &str) -> Self {
        let unknown = HeaderValue::from_static("unknown");
        let mut country = vec![unknown; CODE_SPACE];
        let mut names = vec![HeaderValue::from_static(""); CODE_SPACE];
        for c in CountryCode::all() {
            let code = CODES
                .get(2 * c.index()..2 * c.index() + 2)
                .and_then(|b| std::str::from_utf8(b).ok());
            if let (Some(slot), Some(code)) = (country.get_mut(c.index()), code) {
                *slot = HeaderValue::from_static(code);
            }
            let joined: Vec<&str> = groups.names(groups.groups_of(c)).collect();
            if let (Some(slot), false) = (names.get_mut(c.index()), joined.is_empty())
                && let Ok(v) = HeaderValue::from_str(&joined.join(","))
            {
                *slot = v;
            }
        }
        Self {
            // A digest is ASCII hex; the fallback never shows.
            policy: HeaderValue::from_str(digest).unwrap_or(HeaderValue::from_static("unknown")),
            country,
            groups: names,
        }
    }

    /// `x-export-country`'s value.
    pub(crate) fn country(&self, c: Option<CountryCode>) -> HeaderValue {
        c.and_then(|c| self.country.get(c.index()))
            .cloned()
            .unwrap_or(HeaderValue::from_static("unknown"))
    }

    /// `x-export-country-groups`' value for one country.
    pub(crate) fn groups(&self, c: Option<CountryCode>) -> HeaderValue {
        c.and_then(|c| self.groups.get(c.index()))
            .cloned()
            .unwrap_or(HeaderValue::from_static(""))
    }
}
