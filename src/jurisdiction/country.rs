//! ISO 3166-1 alpha-2 country codes.

use std::fmt;
use std::str::FromStr;

/// Every officially assigned ISO 3166-1 alpha-2 code (249), as one string of
/// two-letter pairs, sorted.
const ASSIGNED: &str = "\
ADAEAFAGAIALAMAOAQARASATAUAWAXAZ\
BABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ\
CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZ\
DEDJDKDMDODZ\
ECEEEGEHERESET\
FIFJFKFMFOFR\
GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY\
HKHMHNHRHTHU\
IDIEILIMINIOIQIRISIT\
JEJMJOJP\
KEKGKHKIKMKNKPKRKWKYKZ\
LALBLCLILKLRLSLTLULVLY\
MAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ\
NANCNENFNGNINLNONPNRNUNZ\
OM\
PAPEPFPGPHPKPLPMPNPRPSPTPWPY\
QA\
RERORSRURW\
SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ\
TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZ\
UAUGUMUSUYUZ\
VAVCVEVGVIVNVU\
WFWS\
YEYT\
ZAZMZW";

/// Number of distinct two-letter codes (`AA`..=`ZZ`); the size of tables
/// indexed by [`CountryCode::index`].
pub const CODE_SPACE: usize = 26 * 26;

/// Whether each code of the code space is assigned: a lookup instead of a
/// scan of [`ASSIGNED`].
// Evaluated at compile time: an index out of range fails the build.
#[allow(clippy::indexing_slicing)]
static IS_ASSIGNED: [bool; CODE_SPACE] = {
    let codes = ASSIGNED.as_bytes();
    let mut table = [false; CODE_SPACE];
    let mut i = 0;
    while i + 1 < codes.len() {
        table[(codes[i] - b'A') as usize * 26 + (codes[i + 1] - b'A') as usize] = true;
        i += 2;
    }
    table
};

/// An officially assigned ISO 3166-1 alpha-2 country code, stored upper-case.
///
/// Parsing is case-insensitive and rejects codes that are well-formed but not
/// assigned (`XK`, `EU`, `ZZ`, withdrawn `AN`).
///
/// ```
/// use tower_export_control::CountryCode;
/// let cn: CountryCode = "cn".parse().unwrap();
/// assert_eq!(cn.as_str(), "CN");
/// assert!("XK".parse::<CountryCode>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

/// The error for a string that is not an assigned ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an assigned ISO 3166-1 alpha-2 country code")]
pub struct InvalidCountryCode(pub String);

impl CountryCode {
    /// Parses a code, ignoring ASCII case.
    ///
    /// # Errors
    /// [`InvalidCountryCode`] when the input is not two letters forming an
    /// assigned code.
    pub fn parse(s: &str) -> Result<Self, InvalidCountryCode> {
        Self::from_bytes(s.as_bytes()).ok_or_else(|| InvalidCountryCode(s.to_owned()))
    }

    /// Parses a code from raw bytes (for example a header value), ignoring
    /// ASCII case; `None` unless it is an assigned code.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let [a, b] = *bytes else { return None };
        let code = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
        if !code.iter().all(u8::is_ascii_uppercase) {
            return None;
        }
        let index = usize::from(code[0] - b'A') * 26 + usize::from(code[1] - b'A');
        let assigned = IS_ASSIGNED.get(index).copied().unwrap_or(false);
        assigned.then_some(Self(code))
    }

    /// The upper-case code, e.g. `"CN"`.
    pub fn as_str(&self) -> &str {
        // Both bytes are ASCII upper-case letters by construction.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    /// A dense index in `0..CODE_SPACE`, for table lookups.
    pub fn index(self) -> usize {
        let [a, b] = self.0;
        usize::from(a - b'A') * 26 + usize::from(b - b'A')
    }

    /// All assigned codes, in alphabetical order.
    pub fn all() -> impl Iterator<Item = CountryCode> {
        ASSIGNED
            .as_bytes()
            .chunks_exact(2)
            .filter_map(CountryCode::from_bytes)
    }
}

impl FromStr for CountryCode {
    type Err = InvalidCountryCode;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for CountryCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for CountryCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        CountryCode::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_table_is_sorted_and_complete() {
        let all: Vec<_> = CountryCode::all().collect();
        assert_eq!(all.len(), 249);
        assert!(all.is_sorted_by(|a, b| a < b));
    }

    #[test]
    fn exactly_the_listed_codes_parse_in_either_case() {
        let listed: Vec<&[u8]> = ASSIGNED.as_bytes().chunks_exact(2).collect();
        for a in b'A'..=b'Z' {
            for b in b'A'..=b'Z' {
                let want = listed.contains(&&[a, b][..]);
                assert_eq!(CountryCode::from_bytes(&[a, b]).is_some(), want, "{a}{b}");
                let lower = [a.to_ascii_lowercase(), b.to_ascii_lowercase()];
                assert_eq!(CountryCode::from_bytes(&lower).is_some(), want);
            }
        }
        for bad in [&b"U"[..], b"USA", b"U1", b"\xffS", b""] {
            assert_eq!(CountryCode::from_bytes(bad), None);
        }
    }
}
