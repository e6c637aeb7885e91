//! The policy: country groups, rules, the accelerator catalog, license and
//! HTTP settings, loaded from TOML and validated as a whole before use; and
//! [`decide`], the decision.

mod compile;
mod date;
mod decide;
pub mod diff;
mod error;
mod http;
mod model;
mod rule;
mod suggest;
mod syntax;
mod tag_values;
pub(crate) use tag_values::TagValues;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ipnetwork::IpNetwork;

pub use decide::{Accelerators, DecidingRules, Decision, DefaultRule, Facts, MAX_RULES, decide};
pub use error::{Diagnostic, Diagnostics, Location, PolicyError, Problem};
pub(crate) use http::PointerTokens;
pub use http::{HttpConfig, ProvisioningRoute, RouteBody};
pub use rule::{Action, Rule};

use crate::AcceleratorClass;
use crate::accelerator::{Catalog, Regime};
use crate::jurisdiction::{CountryGroups, IpTable};
use crate::ledger::LedgerConfig;
use crate::license::{LicenseConfig, LicenseTrust};
use rule::ClassSet;

/// The text of the embedded default policy (`policies/default.toml`).
pub const DEFAULT_POLICY_TOML: &str = include_str!("../../policies/default.toml");

/// Enforce decisions, or only report what would be denied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Deny what the policy denies.
    #[default]
    Enforce,
    /// Pass would-be denials on, tagged `report-only-deny`, and record them.
    ReportOnly,
}

impl Mode {
    /// `enforce` or `report-only`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Enforce => "enforce",
            Self::ReportOnly => "report-only",
        }
    }
}

/// What to do with an instance type the catalog does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnknownInstanceType {
    /// Evaluate the rules as if it had this class (default `3A090.a`).
    Assume(AcceleratorClass),
    /// Deny it, with `instance_type_unknown`.
    Deny,
}

/// The policy's fail-closed defaults.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Defaults {
    /// Applied to controlled classes when no country is known.
    pub unknown_jurisdiction: Action,
    /// Applied when the catalog does not know the instance type.
    pub unknown_instance_type: UnknownInstanceType,
    pub(crate) controlled_classes: ClassSet,
}

impl Defaults {
    /// The classes `unknown_jurisdiction` applies to.
    pub fn controlled_classes(&self) -> impl Iterator<Item = AcceleratorClass> {
        self.controlled_classes.iter()
    }
}

/// A validated policy: what a policy file describes (rules, country
/// groups, chips and catalog, trusted license issuers, network and HTTP
/// settings). Build it with [`Policy::embedded_default`],
/// [`Policy::from_path`] or [`Policy::from_toml`]; share it behind an `Arc`.
///
/// A policy is immutable. What changes while serving (licenses revoked at
/// run time, the verified-token cache, an IP table set in code) lives in a
/// [`Gate`](crate::Gate), which a reload leaves in place.
pub struct Policy {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) source: String,
    pub(crate) digest: String,
    pub(crate) country_lists_as_of: String,
    pub(crate) mode: Mode,
    pub(crate) defaults: Defaults,
    pub(crate) groups: CountryGroups,
    pub(crate) rules: Vec<Rule>,
    pub(crate) dated_rules: bool,
    pub(crate) catalog: Catalog,
    pub(crate) license: LicenseConfig,
    pub(crate) license_trust: Arc<LicenseTrust>,
    pub(crate) base_dir: Option<PathBuf>,
    pub(crate) trusted_proxies: Vec<IpNetwork>,
    pub(crate) ip_table_files: Vec<PathBuf>,
    pub(crate) ip_table: Option<Arc<IpTable>>,
    pub(crate) http: HttpConfig,
    pub(crate) ledger: Option<LedgerConfig>,
    pub(crate) revision: u64,
    /// Made on first use by the layer.
    pub(crate) tag_values: OnceLock<tag_values::TagValues>,
}

/// A number no other policy loaded by this process has.
pub(crate) fn next_revision() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl Policy {
    /// The policy compiled into the crate: the October 2023 rule with the
    /// 2026 country lists (see `policies/default.toml`). An example to
    /// adapt, not legal advice.
    pub fn embedded_default() -> Self {
        match Self::from_toml(DEFAULT_POLICY_TOML, "<embedded default policy>", None) {
            Ok(p) => p,
            // A test loads the embedded file, so this cannot happen in a
            // released build.
            Err(e) => unreachable!("embedded default policy is invalid: {e}"),
        }
    }

    /// Loads and validates a policy file. Relative paths inside it (key
    /// files, IP tables) are resolved against its directory.
    ///
    /// # Errors
    /// [`PolicyError`] listing every problem in the file, each naming the
    /// file, line, column, entry and field.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, PolicyError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            file: file.clone(),
            source,
        })?;
        let base = path.parent().map(Path::to_path_buf);
        Self::from_toml(&text, &file, base)
    }

    /// Parses and validates policy text; `source` names it in errors;
    /// `base_dir` resolves relative paths (the current directory if `None`).
    ///
    /// # Errors
    /// [`PolicyError`] listing every problem, each naming its place.
    pub fn from_toml(
        text: &str,
        source: &str,
        base_dir: Option<PathBuf>,
    ) -> Result<Self, PolicyError> {
        compile::compile(text, source, base_dir)
    }

    /// The policy's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The file (or `<embedded default policy>`) it was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `sha256:` and the hex SHA-256 of the policy text, for audit records.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The date of the country lists it reproduces.
    pub fn country_lists_as_of(&self) -> &str {
        &self.country_lists_as_of
    }

    /// Enforce or report-only.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The same policy in another mode.
    #[must_use]
    pub fn with_mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether any rule has an effective date, so that decisions depend on
    /// the time.
    pub fn has_dated_rules(&self) -> bool {
        self.dated_rules
    }

    /// The fail-closed defaults.
    pub fn defaults(&self) -> &Defaults {
        &self.defaults
    }

    /// The classification regime.
    pub fn regime(&self) -> Regime {
        self.catalog.regime()
    }

    /// Country groups and aliases.
    pub fn country_groups(&self) -> &CountryGroups {
        &self.groups
    }

    /// The rules, in file order (order does not change decisions).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Chips and instance types.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The `[license]` settings.
    pub fn license_config(&self) -> &LicenseConfig {
        &self.license
    }

    /// The trusted license issuers and their keys, from the `[license]`
    /// section (trusts no issuer when it names none).
    pub fn license_trust(&self) -> &Arc<LicenseTrust> {
        &self.license_trust
    }

    /// The directory relative paths in the policy resolve against.
    pub fn base_dir(&self) -> Option<&Path> {
        self.base_dir.as_deref()
    }

    /// Proxies whose `x-forwarded-for` is believed.
    pub fn trusted_proxies(&self) -> &[IpNetwork] {
        &self.trusted_proxies
    }

    /// IP-to-country files the policy names, resolved.
    pub fn ip_table_files(&self) -> &[PathBuf] {
        &self.ip_table_files
    }

    /// The IP-to-country table loaded from the files the policy names,
    /// if it names any.
    pub fn ip_table(&self) -> Option<&Arc<IpTable>> {
        self.ip_table.as_ref()
    }

    /// The `[ledger]` section: which ledger counts license quantities.
    pub fn ledger_config(&self) -> Option<&LedgerConfig> {
        self.ledger.as_ref()
    }

    /// A number that identifies this policy among all loaded by the
    /// process; a reloaded file gets a new one.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The tag header values of this policy, made on first use.
    pub(crate) fn tag_values(&self) -> &tag_values::TagValues {
        self.tag_values
            .get_or_init(|| tag_values::TagValues::new(&self.groups, &self.digest))
    }

    /// Header names, provisioning routes and body limits.
    pub fn http(&self) -> &HttpConfig {
        &self.http
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("digest", &self.digest)
            .field("revision", &self.revision)
            .field("mode", &self.mode)
            .field("regime", &self.catalog.regime())
            .field("rules", &self.rules.len())
            .field("chips", &self.catalog.chips().len())
            .field("ip_table", &self.ip_table)
            .finish_non_exhaustive()
    }
}
