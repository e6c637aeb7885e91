//! Policy loading errors.
//!
//! A policy that fails to load never half-loads. [`PolicyError`] says why:
//! the file could not be read; it is not valid TOML or does not fit the
//! schema (parsing stops there, so that is one [`Diagnostic`]); or values
//! are invalid, and then every problem in the file is listed, one
//! [`Diagnostic`] each, in file order. A diagnostic names the file, line and
//! column, the entry and the field, the [`Problem`] and, where one helps, a
//! suggestion:
//!
//! ```text
//! policy.toml:7:11: rules[0] (id = "embargo"): `groups[0]`: no country group named `E:3` (help: did you mean `E:1`?)
//! policy.toml:12:10: rules[1] (id = "dest"): `action`: `dney` is not one of allow, require-license, deny (help: did you mean `deny`?)
//! ```
//!
//! [`PolicyError::diagnostics`] lists them for programs; `Display` prints
//! them one a line.

use std::error::Error;
use std::fmt;
use std::ops::{Deref, Range};

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
    /// The file is not valid TOML, has an unknown key, a value of the
    /// wrong type or a missing one. Parsing stops at the first, so this is
    /// one diagnostic, whose problem is [`Problem::Syntax`].
    #[error(transparent)]
    Syntax(Box<Diagnostic>),
    /// Values are well-formed but invalid: every problem found.
    #[error(transparent)]
    Invalid(Diagnostics),
}

impl PolicyError {
    /// Every problem found, in file order: none when the file could not be
    /// read, one for a syntax error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            Self::Read { .. } => &[],
            Self::Syntax(d) => std::slice::from_ref(&**d),
            Self::Invalid(ds) => ds,
        }
    }

    /// Where in which file the (first) problem is, when it points into the
    /// file.
    pub fn location(&self) -> Option<&Location> {
        self.diagnostics().first().map(Diagnostic::location)
    }
}

/// One problem in a policy file, and where it is.
#[derive(Debug)]
#[non_exhaustive]
pub struct Diagnostic {
    location: Location,
    entry: String,
    field: Option<String>,
    problem: Problem,
    help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(
        location: Location,
        entry: String,
        field: Option<String>,
        problem: Problem,
        help: Option<String>,
    ) -> Self {
        Self {
            location,
            entry,
            field,
            problem,
            help,
        }
    }

    /// Where.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The entry, e.g. `rules[2] (id = "embargo")`, `http`, `top level`.
    pub fn entry(&self) -> &str {
        &self.entry
    }

    /// The field within it, e.g. `groups[1]`; `None` when the problem is
    /// the entry itself (a broken table header).
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// What is wrong.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// A suggestion, e.g. ``did you mean `E:1`?``.
    pub fn help(&self) -> Option<&str> {
        self.help.as_deref()
    }
}

/// `file:line:col: entry: `field`: problem (help: …)`, on one line.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: ", self.location, self.entry)?;
        if let Some(field) = &self.field {
            write!(f, "`{field}`: ")?;
        }
        write!(f, "{}", self.problem)?;
        if let Some(help) = &self.help {
            write!(f, " (help: {help})")?;
        }
        Ok(())
    }
}

/// The source is the problem's: the error of a file the policy names.
impl Error for Diagnostic {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.problem.source()
    }
}

/// The diagnostics of an invalid policy, at least one, in file order.
#[derive(Debug)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// Sorts into file order (a stable sort: problems at one place keep
    /// the order they were found in).
    pub(crate) fn new(mut list: Vec<Diagnostic>) -> Self {
        list.sort_by_key(|d| (d.location.line, d.location.column));
        Self(list)
    }
}

impl Deref for Diagnostics {
    type Target = [Diagnostic];

    fn deref(&self) -> &[Diagnostic] {
        &self.0
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// One diagnostic a line.
impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// The source is the first diagnostic's that has one (a key file or IP
/// table that could not be loaded); every diagnostic's is on
/// [`Diagnostic`].
impl Error for Diagnostics {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.0.iter().find_map(|d| d.problem.source())
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
    /// What the TOML parser said: bad syntax, an unknown key, a value of the
    /// wrong type, a missing field.
    #[error("{0}")]
    Syntax(String),
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
    /// Not a date, `YYYY-MM-DD`, or a date that does not exist.
    #[error("`{0}` is not a date (YYYY-MM-DD)")]
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
    /// A route path segment the layer would never match as a router does:
    /// a `{param}` or `:param` placeholder, an empty segment or a trailing
    /// `/`.
    #[error(
        "`{0}` can never match a request path: use `*` for a segment that varies, \
         and no empty segments or trailing `/`"
    )]
    RoutePathSegment(String),
    /// A JSON pointer that is neither empty nor starts with `/`.
    #[error("`{0}` is not a JSON pointer: it must be empty or start with `/`")]
    InvalidJsonPointer(String),
    /// `[license] audience` in a section that names no issuers.
    #[error(
        "`audience` applies to this section's issuers, and it names none; \
         set it where the issuers are configured"
    )]
    AudienceWithoutIssuers,
    /// `[ledger] backend = "redis"` without a `url`.
    #[error("a redis ledger needs a `url`")]
    LedgerUrlMissing,
    /// `[ledger] backend = "redis"` in a build without the `redis` feature.
    #[error("a redis ledger needs this crate's `redis` feature")]
    LedgerNeedsRedisFeature,
    /// A license key or revocation file named by `[license]` could not be
    /// loaded.
    #[error("{0}")]
    LicenseFile(#[source] LicenseConfigError),
    /// An IP-to-country file named by `[network]` could not be loaded.
    #[error("{0}")]
    IpTableFile(#[source] IpTableError),
}
