//! Compiled rules and their conditions.

use std::fmt;

use crate::jurisdiction::{CODE_SPACE, CountryCode, CountryGroups, GroupSet};
use crate::{AcceleratorClass, ReasonCode};

/// What a matching rule does. Ordered by restrictiveness.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Let the request through.
    Allow,
    /// Let it through only with a license token that covers it.
    RequireLicense,
    /// Refuse it.
    Deny,
}

impl Action {
    /// `allow`, `require-license` or `deny`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::RequireLicense => "require-license",
            Self::Deny => "deny",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [Self::Allow, Self::RequireLicense, Self::Deny]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of countries, one bit per two-letter code.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CountrySet([u64; CODE_SPACE.div_ceil(64)]);

impl CountrySet {
    pub(crate) fn insert(&mut self, c: CountryCode) {
        let i = c.index();
        if let Some(word) = self.0.get_mut(i / 64) {
            *word |= 1 << (i % 64);
        }
    }

    pub(crate) fn contains(&self, c: CountryCode) -> bool {
        let i = c.index();
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

/// A set of accelerator classes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ClassSet(u8);

impl ClassSet {
    pub(crate) fn insert(&mut self, c: AcceleratorClass) {
        self.0 |= c.bit();
    }

    pub(crate) fn contains(self, c: AcceleratorClass) -> bool {
        self.0 & c.bit() != 0
    }

    pub(crate) fn iter(self) -> impl Iterator<Item = AcceleratorClass> {
        AcceleratorClass::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

/// A condition on one country: in `countries` or in one of `groups`, and
/// neither in one of `except` nor in `except_countries`. With neither
/// `countries` nor `groups`, any country not excepted meets it.
#[derive(Clone, Copy, Default)]
pub(crate) struct CountryCondition {
    pub(crate) countries: CountrySet,
    pub(crate) groups: GroupSet,
    pub(crate) except: GroupSet,
    pub(crate) except_countries: CountrySet,
}

impl CountryCondition {
    fn met_by(&self, country: CountryCode, groups: &CountryGroups) -> bool {
        let member = groups.groups_of(country);
        let alias = groups.alias_of(country);
        let included = (self.countries.is_empty() && self.groups.is_empty())
            || self.countries.contains(country)
            || alias.is_some_and(|a| self.countries.contains(a))
            || member.intersects(self.groups);
        let excepted = member.intersects(self.except)
            || self.except_countries.contains(country)
            || alias.is_some_and(|a| self.except_countries.contains(a));
        included && !excepted
    }
}

/// A validated rule.
#[derive(Clone)]
pub struct Rule {
    pub(crate) id: std::sync::Arc<str>,
    pub(crate) description: String,
    /// On the declared or the network country.
    pub(crate) location: Option<CountryCondition>,
    /// On the headquarters country of the customer or of its ultimate
    /// parent.
    pub(crate) headquarters: Option<CountryCondition>,
    pub(crate) classes: Option<ClassSet>,
    pub(crate) action: Action,
    pub(crate) reason: ReasonCode,
    /// Seconds since the Unix epoch, inclusive / exclusive.
    pub(crate) effective_from: Option<i64>,
    pub(crate) effective_until: Option<i64>,
}

/// Which of the customer's countries met a rule's conditions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Triggers {
    pub(crate) declared: bool,
    pub(crate) network: bool,
    pub(crate) headquarters: bool,
    pub(crate) parent: bool,
}

impl Triggers {
    pub(crate) fn union(self, o: Triggers) -> Triggers {
        Triggers {
            declared: self.declared || o.declared,
            network: self.network || o.network,
            headquarters: self.headquarters || o.headquarters,
            parent: self.parent || o.parent,
        }
    }
}

/// The customer's countries a rule is matched against.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Countries {
    pub(crate) declared: Option<CountryCode>,
    pub(crate) network: Option<CountryCode>,
    pub(crate) headquarters: Option<CountryCode>,
    pub(crate) parent: Option<CountryCode>,
}

impl Rule {
    /// The rule's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Its action.
    pub fn action(&self) -> Action {
        self.action
    }

    /// The reason a `deny` gives (`embargoed` unless the rule says
    /// otherwise); `license_required` for `require-license`.
    pub fn reason(&self) -> ReasonCode {
        self.reason
    }

    /// Whether the rule matches, and which countries made it match. Every
    /// condition must hold: a location condition by the declared or the
    /// network country, a headquarters condition by the customer's
    /// headquarters or its ultimate parent's.
    pub(crate) fn matches(
        &self,
        groups: &CountryGroups,
        countries: Countries,
        class: AcceleratorClass,
        now: i64,
    ) -> Option<Triggers> {
        let Countries {
            declared,
            network,
            headquarters,
            parent,
        } = countries;
        if self.effective_from.is_some_and(|t| now < t)
            || self.effective_until.is_some_and(|t| now >= t)
        {
            return None;
        }
        if self.classes.is_some_and(|set| !set.contains(class)) {
            return None;
        }
        let mut triggers = Triggers::default();
        if let Some(cond) = &self.location {
            let by_declared = declared.is_some_and(|c| cond.met_by(c, groups));
            let by_network = network.is_some_and(|c| cond.met_by(c, groups));
            if !(by_declared || by_network) {
                return None;
            }
            // A condition that only excepts ("outside the United States")
            // scopes the rule: the countries it lets through did not
            // trigger it, and a license need not name them.
            if !(cond.countries.is_empty() && cond.groups.is_empty()) {
                triggers.declared = by_declared;
                triggers.network = by_network;
            }
        }
        if let Some(cond) = &self.headquarters {
            triggers.headquarters = headquarters.is_some_and(|c| cond.met_by(c, groups));
            triggers.parent = parent.is_some_and(|c| cond.met_by(c, groups));
            if !(triggers.headquarters || triggers.parent) {
                return None;
            }
        }
        Some(triggers)
    }
}

impl fmt::Debug for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rule")
            .field("id", &self.id)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}
