//! Policy loading errors: each names the file, the line and column, the
//! entry and the field.

use std::fmt;
use std::ops::Range;

use crate::accelerator::InvalidAcceleratorClass;
use crate::jurisdiction::{CountryCode, InvalidCountryCode, IpTableError};
use crate::license::LicenseConfigError;

/// Why a policy failed to load. A policy that fails never half-loads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{file}: cannot read policy: {source}")]
    Read {
        /// The policy file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the
    /// wrong type.
    #[error("{location}: {message}")]
    Syntax {
        /// Where.
        location: Location,
        /// What the TOML parser said.
        message: String,
    },
    /// A value is well-formed but invalid.
    #[error("{location}: {entry}: `{field}`: {problem}")]
    Invalid {
        /// Where.
        location: Location,
        /// The entry, e.g. `rules[2] (id = "embargo")`.
        entry: String,
        /// The field within it, e.g. `groups[1]`.
        field: String,
        /// What is wrong.
        problem: Box<Problem>,
    },
}

impl PolicyError {
    /// Where in which file the error is, when it points into the file.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Read { .. } => None,
            Self::Syntax { location, .. } | Self::Invalid { location, .. } => Some(location),
        }
    }
}

/// A place in a policy file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file (or `<embedded default policy>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Location {
    pub(crate) fn at(file: &str, text: &str, span: Range<usize>) -> Self {
        let before = text.get(..span.start).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Self {
            file: file.to_owned(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What is wrong with a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// Not an assigned ISO 3166-1 alpha-2 code.
    #[error(transparent)]
    Country(#[from] InvalidCountryCode),
    /// Not an accelerator class.
    #[error(transparent)]
    Class(#[from] InvalidAcceleratorClass),
    /// A group name no `[country_groups]` entry defines.
    #[error("no country group named `{0}`")]
    UnknownGroup(String),
    /// A chip name no `[[chips]]` entry defines.
    #[error("no chip named `{0}`")]
    UnknownChip(String),
    /// A name defined twice.
    #[error("`{0}` is defined more than once")]
    Duplicate(String),
    /// A number that must be finite and positive.
    #[error("{0} is not a finite number greater than zero")]
    NotPositive(f64),
    /// An integer outside its range.
    #[error("{value} is outside {min}..={max}")]
    OutOfRange {
        /// The value.
        value: i64,
        /// The least allowed.
        min: i64,
        /// The most allowed.
        max: i64,
    },
    /// A keyword outside its allowed set.
    #[error("`{value}` is not one of {allowed}")]
    NotOneOf {
        /// The value.
        value: String,
        /// The allowed values.
        allowed: &'static str,
    },
    /// More groups than [`MAX_GROUPS`](crate::jurisdiction::MAX_GROUPS).
    #[error("at most {max} country groups are supported")]
    TooManyGroups {
        /// The limit.
        max: usize,
    },
    /// More rules than the engine supports.
    #[error("at most {max} rules are supported")]
    TooManyRules {
        /// The limit.
        max: usize,
    },
    /// A date that is not `YYYY-MM-DD`.
    #[error("`{0}` is not a date in the form YYYY-MM-DD")]
    Date(String),
    /// A value that must not be empty.
    #[error("must not be empty")]
    Empty,
    /// A CIDR network that does not parse.
    #[error("`{0}` is not a CIDR network")]
    Network(String),
    /// A header name that HTTP does not allow.
    #[error("`{0}` is not a valid HTTP header name")]
    HeaderName(String),
    /// `unknown` as the class to assume for unknown instance types.
    #[error("`unknown` cannot be assumed; name a class or `deny`")]
    AssumedUnknownClass,
    /// An alias of the country itself.
    #[error("a country cannot be an alias of itself")]
    AliasOfItself,
    /// An alias naming a country that is itself an alias, a chain that would
    /// make membership depend on resolution order.
    #[error(
        "`{target}` is an alias of `{alias_of}`; an alias must name a country that is not itself an alias"
    )]
    AliasOfAlias {
        /// The country the alias names.
        target: CountryCode,
        /// The country `target` is an alias of.
        alias_of: CountryCode,
    },
    /// A `reason` on a rule whose action is not `deny`.
    #[error("`reason` is only for rules whose action is `deny`")]
    ReasonWithoutDeny,
    /// A rule whose `effective_until` is not after its `effective_from`.
    #[error("`effective_until` must be after `effective_from`")]
    EffectiveUntilNotAfterFrom,
    /// An instance type name that is empty or too long.
    #[error("must be 1 to 128 bytes long, not {length}")]
    InstanceTypeNameLength {
        /// Its length in bytes.
        length: usize,
    },
    /// An instance type with a `chip` but no `chips` count.
    #[error("`chip` needs `chips`, the number per instance")]
    ChipWithoutCount,
    /// An instance type with a `chips` count but no `chip`.
    #[error("`chips` needs `chip`")]
    CountWithoutChip,
    /// A provisioning route path that does not start with `/`.
    #[error("`{0}` must start with `/`")]
    PathWithoutSlash(String),
    /// A JSON pointer that is neither empty nor starts with `/`.
    #[error("`{0}` is not a JSON pointer: it must be empty or start with `/`")]
    InvalidJsonPointer(String),
    /// A license key or revocation file named by `[license]` could not be
    /// loaded.
    #[error("{0}")]
    LicenseFile(#[source] LicenseConfigError),
    /// An IP-to-country file named by `[network]` could not be loaded.
    #[error("{0}")]
    IpTableFile(#[source] IpTableError),
}
