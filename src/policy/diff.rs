//! What a policy change does to customers: the decisions that differ
//! between two policies, grouped so a compliance officer reads them in a
//! minute.
//!
//! [`impact`] decides, under both policies, every instance type either
//! catalog names for
//!
//! - every assigned country as the **declared** country, with no other
//!   fact (no headquarters, no ultimate parent, no network country);
//! - every assigned country as the **headquarters** country of a customer
//!   declared in one *location* country. The location is
//!   [`ImpactOptions::headquarters_location`], or else the first country in
//!   alphabetical order that neither policy restricts for any instance type
//!   when declared alone (`AD` for the policies in this crate). Not the US:
//!   headquarters rules usually apply to customers located outside the
//!   United States, so located there they would show nothing. The ultimate
//!   parent's country meets the same rule conditions as the headquarters,
//!   so it is not enumerated separately.
//!
//! A decision is its action and reason ([`Decision::action`],
//! [`Decision::reason`]); a change of either is a change. Which rules
//! decided is not compared (renaming a rule changes nothing for a
//! customer). License checks are not part of it: `require-license` is one
//! outcome whatever licenses exist.
//!
//! Instance types are the names both catalogs list, exact names and glob
//! patterns alike. A pattern (`m7i.*`) stands for the instance types it
//! matches and is decided as the name it is written as: in a catalog that
//! has the same pattern it finds that entry, in one that does not it is
//! looked up like any requested name (another pattern may match it, or it is
//! unknown). One more subject, *instance types neither catalog names*,
//! shows changes to `defaults.unknown_instance_type`.
//!
//! Countries whose decisions change identically (the same old → new
//! outcomes for the same instance types) are merged into one [`Change`],
//! with one [`Transition`] per old → new outcome. An instance-type set
//! names chips rather than instance types where it holds every instance
//! type of a chip, and classes where it holds every instance type of some
//! classes. [`ImpactReport`] prints as a table (`Display`) and serializes
//! to the same as JSON.
//!
//! ```
//! use tower_export_control::Policy;
//! use tower_export_control::policy::diff::{impact, ImpactOptions};
//! let policy = Policy::embedded_default();
//! let report = impact(&policy, &policy, &ImpactOptions::new(std::time::SystemTime::now()));
//! assert!(report.is_empty());
//! ```
//!
//! [`Decision::action`]: super::Decision::action
//! [`Decision::reason`]: super::Decision::reason

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::{Action, Facts, Policy, decide};
use crate::{AcceleratorClass, CountryCode, ReasonCode};

/// The instance-type name decided for "instance types neither catalog
/// names": a space is in no real instance type name.
const UNKNOWN_PROBE: &str = " (an instance type neither catalog names)";

/// How [`impact`] compares.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ImpactOptions {
    /// The time both policies decide at (rules with effective dates).
    pub at: SystemTime,
    /// Where the customer of a headquarters line is located (declared
    /// country); `None` picks the first country neither policy restricts.
    pub headquarters_location: Option<CountryCode>,
}

impl ImpactOptions {
    /// Decide at `at` (the time matters to rules with effective dates),
    /// headquarters customers located in the first country neither policy
    /// restricts.
    pub fn new(at: SystemTime) -> Self {
        Self {
            at,
            headquarters_location: None,
        }
    }

    /// Locate headquarters customers in `country`.
    #[must_use]
    pub fn headquarters_location(mut self, country: CountryCode) -> Self {
        self.headquarters_location = Some(country);
        self
    }
}

/// One outcome of [`decide`]: its action and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Decided {
    /// `allow`, `require-license` or `deny`.
    #[serde(serialize_with = "action_str")]
    pub action: Action,
    /// Why, for everything but `allow`.
    pub reason: Option<ReasonCode>,
}

impl Decided {
    /// Sorts by action, then by the reason's place in [`ReasonCode::ALL`].
    fn key(&self) -> (Action, Option<usize>) {
        let rank = |r: ReasonCode| ReasonCode::ALL.iter().position(|x| *x == r);
        (self.action, self.reason.and_then(rank))
    }
}

impl PartialOrd for Decided {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decided {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

fn action_str<S: serde::Serializer>(a: &Action, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(a.as_str())
}

impl fmt::Display for Decided {
    /// The action, and the reason when it is not the usual one for it
    /// (`license_required` for `require-license`, `embargoed` for `deny`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.action.as_str())?;
        let usual = match self.action {
            Action::Allow => None,
            Action::RequireLicense => Some(ReasonCode::LicenseRequired),
            Action::Deny => Some(ReasonCode::Embargoed),
        };
        match self.reason {
            Some(r) if Some(r) != usual => write!(f, " ({r})"),
            _ => Ok(()),
        }
    }
}

/// Whose decisions a [`Change`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Customers declaring these countries.
    Declared,
    /// Customers headquartered in these countries, located in
    /// [`ImpactReport::headquarters_location`].
    Headquarters,
}

/// The instance types of one chip in a [`Change`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChipInstances {
    /// The chip (the new catalog's, else the old's); `None` for CPU-only
    /// instance types.
    pub chip: Option<String>,
    /// Whether these are all the instance types of the chip.
    pub every_instance_type: bool,
    /// The instance types (catalog entries, patterns as written).
    pub instance_types: Vec<String>,
}

/// A set of instance types, by chip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstanceTypes {
    /// One line for people.
    pub summary: String,
    /// By chip, in name order (CPU-only last).
    pub chips: Vec<ChipInstances>,
    /// Whether instance types neither catalog names are in the set.
    pub unknown_instance_types: bool,
}

/// One way decisions changed: from `old` to `new` for `instance_types`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Transition {
    /// The decision under the old policy.
    pub old: Decided,
    /// The decision under the new policy.
    pub new: Decided,
    /// The instance types whose decision changed so.
    pub instance_types: InstanceTypes,
}

/// Countries whose decisions change in exactly the same ways.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Declared or headquarters countries.
    pub scope: Scope,
    /// The countries, sorted.
    pub countries: Vec<CountryCode>,
    /// What changes for each of them, by old and new decision.
    pub transitions: Vec<Transition>,
}

/// A chip whose class differs between the two catalogs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reclassified {
    /// The chip name.
    pub chip: String,
    /// Its class under the old policy.
    pub old: AcceleratorClass,
    /// Its class under the new policy.
    pub new: AcceleratorClass,
}

/// The policy a side of the comparison is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicySummary {
    /// Its name.
    pub name: String,
    /// The file it was loaded from.
    pub source: String,
    /// Its digest.
    pub digest: String,
    /// Its classification regime.
    pub regime: &'static str,
    /// The date of its country lists.
    pub country_lists_as_of: String,
    /// `enforce` or `report-only`.
    pub mode: &'static str,
}

impl PolicySummary {
    fn of(p: &Policy) -> Self {
        Self {
            name: p.name().to_owned(),
            source: p.source().to_owned(),
            digest: p.digest().to_owned(),
            regime: p.regime().name(),
            country_lists_as_of: p.country_lists_as_of().to_owned(),
            mode: p.mode().as_str(),
        }
    }
}

/// What changing from one policy to another does: see the
/// [module documentation](self). `Display` is a table for a terminal;
/// `Serialize` gives the same as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImpactReport {
    /// The policy in force.
    pub old: PolicySummary,
    /// The policy replacing it.
    pub new: PolicySummary,
    /// The time both decided at, in seconds since the Unix epoch.
    pub at_unix_seconds: i64,
    /// Catalog entries compared (the union of both catalogs).
    pub instance_types_checked: usize,
    /// Countries compared, as declared and as headquarters countries.
    pub countries_checked: usize,
    /// Where headquarters customers were located; `None` when every
    /// country is restricted for some instance type, and headquarters were
    /// not compared.
    pub headquarters_location: Option<CountryCode>,
    /// Chips whose class changed.
    pub reclassified: Vec<Reclassified>,
    /// The changed decisions, declared countries first.
    pub changes: Vec<Change>,
}

impl ImpactReport {
    /// Whether no decision changes.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// A catalog entry (or the unknown probe) with its chip for grouping.
struct Subject {
    name: String,
    chip: Option<String>,
    class: AcceleratorClass,
    unknown: bool,
}

/// Compares `old` and `new`: see the [module documentation](self). Pure:
/// no I/O, no clock reads.
pub fn impact(old: &Policy, new: &Policy, options: &ImpactOptions) -> ImpactReport {
    let subjects = subjects(old, new);
    let at = options.at;
    let decided = |p: &Policy, facts: &Facts<'_>| {
        let d = decide(p, facts, at);
        Decided {
            action: d.action(),
            reason: d.reason(),
        }
    };
    // (scope, every (old, new, subject indices)) → countries.
    type ChangeSet = Vec<(Decided, Decided, Vec<usize>)>;
    let mut groups: BTreeMap<(Scope, ChangeSet), Vec<CountryCode>> = BTreeMap::new();
    let mut collect = |scope: Scope, country: CountryCode, facts: &dyn Fn(&str) -> Facts<'_>| {
        let mut by_change: BTreeMap<(Decided, Decided), Vec<usize>> = BTreeMap::new();
        for (i, s) in subjects.iter().enumerate() {
            let f = facts(&s.name);
            let (o, n) = (decided(old, &f), decided(new, &f));
            if o != n {
                by_change.entry((o, n)).or_default().push(i);
            }
        }
        if !by_change.is_empty() {
            let set = by_change.into_iter().map(|((o, n), i)| (o, n, i)).collect();
            groups.entry((scope, set)).or_default().push(country);
        }
    };

    for c in CountryCode::all() {
        collect(Scope::Declared, c, &|t| {
            Facts::new().with_declared_country(c).with_instance_type(t)
        });
    }
    let location = options.headquarters_location.or_else(|| {
        CountryCode::all().find(|&c| {
            subjects.iter().all(|s| {
                let f = Facts::new()
                    .with_declared_country(c)
                    .with_instance_type(&s.name);
                decided(old, &f).action == Action::Allow && decided(new, &f).action == Action::Allow
            })
        })
    });
    if let Some(located) = location {
        for c in CountryCode::all() {
            collect(Scope::Headquarters, c, &|t| {
                Facts::new()
                    .with_declared_country(located)
                    .with_headquarters(c)
                    .with_instance_type(t)
            });
        }
    }

    let mut changes: Vec<Change> = groups
        .into_iter()
        .map(|((scope, set), countries)| Change {
            scope,
            countries,
            transitions: set
                .into_iter()
                .map(|(old, new, set)| Transition {
                    old,
                    new,
                    instance_types: describe(&subjects, &set),
                })
                .collect(),
        })
        .collect();
    changes.sort_by(|a, b| (a.scope, a.countries.first()).cmp(&(b.scope, b.countries.first())));

    ImpactReport {
        old: PolicySummary::of(old),
        new: PolicySummary::of(new),
        at_unix_seconds: unix_seconds(at),
        instance_types_checked: subjects.iter().filter(|s| !s.unknown).count(),
        countries_checked: CountryCode::all().count(),
        headquarters_location: location,
        reclassified: reclassified(old, new),
        changes,
    }
}

/// The union of both catalogs' entries, sorted, then the unknown probe.
fn subjects(old: &Policy, new: &Policy) -> Vec<Subject> {
    let names: BTreeSet<&str> = [old, new]
        .iter()
        .flat_map(|p| p.catalog().instance_types().into_iter().map(|i| i.entry))
        .collect();
    let mut out: Vec<Subject> = names
        .into_iter()
        .map(|name| {
            let info = new
                .catalog()
                .lookup(name)
                .or_else(|| old.catalog().lookup(name));
            Subject {
                name: name.to_owned(),
                chip: info.and_then(|i| i.chip).map(|c| c.name().to_owned()),
                class: info.map_or(AcceleratorClass::Unknown, |i| i.class()),
                unknown: false,
            }
        })
        .collect();
    out.push(Subject {
        name: UNKNOWN_PROBE.to_owned(),
        chip: None,
        class: AcceleratorClass::Unknown,
        unknown: true,
    });
    out
}

fn reclassified(old: &Policy, new: &Policy) -> Vec<Reclassified> {
    let mut out: Vec<Reclassified> = new
        .catalog()
        .chips()
        .iter()
        .filter_map(|n| {
            let o = old.catalog().chip(n.name())?;
            (o.class() != n.class()).then(|| Reclassified {
                chip: n.name().to_owned(),
                old: o.class(),
                new: n.class(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.chip.cmp(&b.chip));
    out
}

/// The set `set` (indices into `subjects`) by chip, with a summary.
fn describe(subjects: &[Subject], set: &[usize]) -> InstanceTypes {
    let known: Vec<&Subject> = subjects.iter().filter(|s| !s.unknown).collect();
    let members: Vec<&Subject> = set.iter().filter_map(|&i| subjects.get(i)).collect();
    let unknown = members.iter().any(|s| s.unknown);
    let members: Vec<&Subject> = members.into_iter().filter(|s| !s.unknown).collect();

    // Chip name order, CPU-only (None) last.
    let mut by_chip: BTreeMap<(bool, Option<&str>), Vec<&str>> = BTreeMap::new();
    for s in &members {
        by_chip
            .entry((s.chip.is_none(), s.chip.as_deref()))
            .or_default()
            .push(&s.name);
    }
    let chips: Vec<ChipInstances> = by_chip
        .into_iter()
        .map(|((_, chip), names)| {
            let of_chip = known.iter().filter(|s| s.chip.as_deref() == chip).count();
            ChipInstances {
                chip: chip.map(str::to_owned),
                every_instance_type: names.len() == of_chip,
                instance_types: names.into_iter().map(str::to_owned).collect(),
            }
        })
        .collect();

    let summary = summary(&known, &members, &chips, unknown);
    InstanceTypes {
        summary,
        chips,
        unknown_instance_types: unknown,
    }
}

fn summary(
    known: &[&Subject],
    members: &[&Subject],
    chips: &[ChipInstances],
    unknown: bool,
) -> String {
    let mut parts: Vec<String> = Vec::new();
    let classes: BTreeSet<AcceleratorClass> = members.iter().map(|s| s.class).collect();
    let whole_classes =
        known.iter().filter(|s| classes.contains(&s.class)).count() == members.len();
    if !members.is_empty() && members.len() == known.len() {
        parts.push(format!("every instance type ({})", members.len()));
    } else if whole_classes && chips.len() > 3 {
        let names: Vec<&str> = classes.iter().map(|c| c.as_str()).collect();
        parts.push(format!(
            "every {} instance type ({})",
            join_or(&names),
            members.len()
        ));
    } else {
        let (whole, partial): (Vec<&ChipInstances>, Vec<&ChipInstances>) =
            chips.iter().partition(|c| c.every_instance_type);
        if !whole.is_empty() {
            let names: Vec<&str> = whole
                .iter()
                .map(|c| c.chip.as_deref().unwrap_or("CPU-only"))
                .collect();
            let types: Vec<&str> = whole
                .iter()
                .flat_map(|c| c.instance_types.iter().map(String::as_str))
                .collect();
            parts.push(format!(
                "{} instance types ({})",
                join_and(&names),
                abbreviate(&types, 3)
            ));
        }
        for c in partial {
            let types: Vec<&str> = c.instance_types.iter().map(String::as_str).collect();
            parts.push(format!(
                "{} ({})",
                abbreviate(&types, 3),
                c.chip.as_deref().unwrap_or("CPU-only")
            ));
        }
    }
    if unknown {
        parts.push("instance types neither catalog names".to_owned());
    }
    parts.join("; ")
}

fn join_with(items: &[&str], last: &str) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., tail] => format!("{} {last} {tail}", init.join(", ")),
    }
}

fn join_and(items: &[&str]) -> String {
    join_with(items, "and")
}

fn join_or(items: &[&str]) -> String {
    join_with(items, "or")
}

/// The first `n` items, then how many more.
fn abbreviate(items: &[&str], n: usize) -> String {
    if items.len() <= n + 1 {
        return items.join(", ");
    }
    let shown: Vec<&str> = items.iter().take(n).copied().collect();
    format!("{}, … {} in all", shown.join(", "), items.len())
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

/// Column widths of the terminal table.
const WHO: usize = 28;
const WHAT: usize = 50;

impl fmt::Display for ImpactReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (label, p) in [("old", &self.old), ("new", &self.new)] {
            writeln!(
                f,
                "{label}: {} `{}` ({}, country lists {}, {}) {}",
                p.source, p.name, p.regime, p.country_lists_as_of, p.mode, p.digest
            )?;
        }
        write!(
            f,
            "compared: {} instance types and unknown ones, for each of {} countries declared",
            self.instance_types_checked, self.countries_checked
        )?;
        match self.headquarters_location {
            Some(at) => writeln!(f, " and as headquarters of a customer located in {at}")?,
            None => writeln!(
                f,
                "; headquarters not compared (no country is unrestricted under both)"
            )?,
        }
        if !self.reclassified.is_empty() {
            writeln!(f, "\nchips reclassified:")?;
            for r in &self.reclassified {
                writeln!(f, "  {:<14} {} → {}", r.chip, r.old, r.new)?;
            }
        }
        if self.changes.is_empty() {
            return writeln!(f, "\nno decision changes");
        }
        let lines: usize = self.changes.iter().map(|c| c.transitions.len()).sum();
        let groups = self.changes.len();
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        writeln!(
            f,
            "\n{lines} change{}, for {groups} group{} of countries",
            plural(lines),
            plural(groups)
        )?;
        for (scope, heading) in [
            (
                Scope::Declared,
                "customers declaring a country (and nothing else):".to_owned(),
            ),
            (
                Scope::Headquarters,
                format!(
                    "customers headquartered in a country, declaring {}:",
                    self.headquarters_location
                        .as_ref()
                        .map_or("?", CountryCode::as_str)
                ),
            ),
        ] {
            let mut changes = self.changes.iter().filter(|c| c.scope == scope).peekable();
            if changes.peek().is_none() {
                continue;
            }
            writeln!(f, "\n{heading}")?;
            row(f, "COUNTRIES", "INSTANCE TYPES", "OLD → NEW")?;
            for c in changes {
                let mut who = countries(c);
                for t in &c.transitions {
                    let change = format!("{} → {}", t.old, t.new);
                    row(f, &who, &t.instance_types.summary, &change)?;
                    who.clear();
                }
            }
        }
        Ok(())
    }
}

fn countries(c: &Change) -> String {
    let mut s = String::new();
    for (i, country) in c.countries.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(country.as_str());
    }
    if c.countries.len() > 3 {
        let _ = write!(s, " ({})", c.countries.len());
    }
    s
}

/// One table row, its first two cells wrapped to their column width.
fn row(f: &mut fmt::Formatter<'_>, who: &str, what: &str, change: &str) -> fmt::Result {
    let (who, what) = (wrap(who, WHO), wrap(what, WHAT));
    for i in 0..who.len().max(what.len()) {
        let a = who.get(i).map_or("", String::as_str);
        let b = what.get(i).map_or("", String::as_str);
        let c = if i == 0 { change } else { "" };
        let line = format!("{a:<WHO$}  {b:<WHAT$}  {c}");
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Splits `text` at spaces into lines of at most `width` characters (a
/// longer word gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let len = lines.last().map_or(0, |l| l.chars().count());
        match lines.last_mut() {
            Some(line) if len == 0 => line.push_str(word),
            Some(line) if len + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}
