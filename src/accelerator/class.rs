//! Accelerator export classes.

use std::fmt;
use std::str::FromStr;

/// The export classification of an instance type's accelerators.
///
/// Ordered by how controlled the class is: `None < BelowThreshold <
/// Eccn3A090b < Eccn3A090a`. [`AcceleratorClass::Unknown`] (an instance type
/// the catalog does not know) sorts last; the policy decides what it is
/// treated as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AcceleratorClass {
    /// No accelerator (a CPU-only instance).
    None,
    /// An accelerator outside ECCN 3A090 under the policy's regime.
    BelowThreshold,
    /// ECCN 3A090.b.
    Eccn3A090b,
    /// ECCN 3A090.a.
    Eccn3A090a,
    /// The instance type is not in the catalog.
    Unknown,
}

impl AcceleratorClass {
    /// Every class, in order.
    pub const ALL: [AcceleratorClass; 5] = [
        Self::None,
        Self::BelowThreshold,
        Self::Eccn3A090b,
        Self::Eccn3A090a,
        Self::Unknown,
    ];

    /// The stable string form: `none`, `below-threshold`, `3A090.b`,
    /// `3A090.a`, `unknown`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::BelowThreshold => "below-threshold",
            Self::Eccn3A090b => "3A090.b",
            Self::Eccn3A090a => "3A090.a",
            Self::Unknown => "unknown",
        }
    }

    /// A bit for this class, for compact class sets.
    pub(crate) const fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The error for a string that names no accelerator class.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an accelerator class (expected none, below-threshold, 3A090.b, 3A090.a or unknown)"
)]
pub struct InvalidAcceleratorClass(pub String);

impl FromStr for AcceleratorClass {
    type Err = InvalidAcceleratorClass;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| InvalidAcceleratorClass(s.to_owned()))
    }
}

impl fmt::Display for AcceleratorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for AcceleratorClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for AcceleratorClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
