//! The claims of a license token.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

use crate::{AcceleratorClass, CountryCode};

/// The claims of an export-license token (a JWT).
///
/// Standard claims keep their RFC 7519 names; the license scope is carried
/// in `countries`, `accelerator_classes`, `instance_types` and
/// `max_accelerators`. A claim of the wrong JSON type (say `countries` as a
/// string), an unassigned country code, an unknown accelerator class or a
/// repeated claim makes the whole token invalid. Unknown claims are ignored.
///
/// ```
/// use tower_export_control::license::LicenseClaims;
/// let claims: LicenseClaims = serde_json::from_str(r#"{
///     "iss": "https://licensing.example.com", "sub": "cust-42",
///     "jti": "LIC-2026-0001", "exp": 1900000000,
///     "countries": ["CN", "MO"], "accelerator_classes": ["3A090.a"],
///     "max_accelerators": 512
/// }"#).unwrap();
/// assert_eq!(claims.countries.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LicenseClaims {
    /// Issuer (`iss`); must be a configured issuer whose key signed the token.
    pub iss: String,
    /// Customer id (`sub`) the license was issued to.
    pub sub: String,
    /// Audience (`aud`), a string or an array in the token; checked when the
    /// configuration names an audience.
    #[serde(
        default,
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<String>,
    /// Expiry (`exp`), seconds since the Unix epoch. Required.
    #[serde(deserialize_with = "numeric_date")]
    pub exp: u64,
    /// Not-before (`nbf`), seconds since the Unix epoch.
    #[serde(
        default,
        deserialize_with = "opt_numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<u64>,
    /// Issued-at (`iat`), seconds since the Unix epoch; informational.
    #[serde(
        default,
        deserialize_with = "opt_numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<u64>,
    /// License number (`jti`). Required and non-empty; revocation is by `jti`.
    pub jti: String,
    /// Countries the license covers (ISO 3166-1 alpha-2).
    pub countries: Vec<CountryCode>,
    /// Accelerator classes the license covers; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accelerator_classes: Option<Vec<AcceleratorClass>>,
    /// Instance types the license covers; absent means all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_types: Option<Vec<String>>,
    /// Most accelerators one request may ask for; absent means no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_accelerators: Option<u64>,
}

impl LicenseClaims {
    /// Claims with the required fields set and no optional scope limits.
    pub fn new(
        iss: impl Into<String>,
        sub: impl Into<String>,
        jti: impl Into<String>,
        exp: u64,
        countries: Vec<CountryCode>,
    ) -> Self {
        Self {
            iss: iss.into(),
            sub: sub.into(),
            aud: Vec::new(),
            exp,
            nbf: None,
            iat: None,
            jti: jti.into(),
            countries,
            accelerator_classes: None,
            instance_types: None,
            max_accelerators: None,
        }
    }

    /// `exp` as a duration since the Unix epoch.
    pub(crate) fn expires(&self) -> Duration {
        Duration::from_secs(self.exp)
    }
}

/// A JSON string or array of strings (RFC 7519 `aud`).
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// A NumericDate (RFC 7519 §2): non-negative seconds, possibly fractional
/// (truncated). Strings, negatives and non-finite numbers are rejected.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    d.deserialize_any(NumericDateVisitor)
}

fn opt_numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Date(u64);
    impl<'de> Deserialize<'de> for Date {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            numeric_date(d).map(Date)
        }
    }
    Ok(Option::<Date>::deserialize(d)?.map(|date| date.0))
}

struct NumericDateVisitor;

impl Visitor<'_> for NumericDateVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative number of seconds since the Unix epoch")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<u64, E> {
        // 2^64 as f64; `as` saturates, so bound explicitly to reject rather
        // than clamp absurd values.
        const LIMIT: f64 = 18_446_744_073_709_551_616.0;
        if v.is_finite() && (0.0..LIMIT).contains(&v) {
            Ok(v.trunc() as u64)
        } else {
            Err(E::invalid_value(de::Unexpected::Float(v), &self))
        }
    }
}
