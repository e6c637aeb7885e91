//! The decision: a pure function of a policy, the facts of one request and
//! the time.

use std::time::{SystemTime, UNIX_EPOCH};

use super::rule::{Action, Countries, Triggers};
use super::{Mode, Policy, UnknownInstanceType};
use crate::accelerator::{Chip, InstanceInfo};
use crate::jurisdiction::GroupSet;
use crate::license::{LicenseRequirement, RequiredCountry};
use crate::{AcceleratorClass, CountryCode, ReasonCode};

/// What is known about one request, as read from it. Build it with
/// [`Facts::new`] and the `with_…` methods.
///
/// ```
/// use tower_export_control::{CountryCode, Facts};
/// let cn = CountryCode::parse("CN").unwrap();
/// let facts = Facts::new().with_declared_country(cn).with_instance_type("p5.48xlarge");
/// assert_eq!(facts.instance_count, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Facts<'a> {
    /// The country the customer declares (`x-customer-country`).
    pub declared_country: Option<CountryCode>,
    /// The country the customer is headquartered in
    /// (`x-customer-headquarters`).
    pub headquarters: Option<CountryCode>,
    /// The country the customer's ultimate parent is headquartered in
    /// (`x-customer-parent-country`).
    pub parent_country: Option<CountryCode>,
    /// The country of the client IP address.
    pub network_country: Option<CountryCode>,
    /// The requested instance type, if the request names one.
    pub instance_type: Option<&'a str>,
    /// The number of instances requested (1 unless the request says).
    pub instance_count: u32,
    /// The customer id (`x-customer-id`), which a license must name.
    pub customer_id: Option<&'a str>,
}

impl<'a> Facts<'a> {
    /// No country, no instance type, one instance, no customer id.
    pub const fn new() -> Self {
        Self {
            declared_country: None,
            headquarters: None,
            parent_country: None,
            network_country: None,
            instance_type: None,
            instance_count: 1,
            customer_id: None,
        }
    }

    /// With the declared country.
    #[must_use]
    pub const fn with_declared_country(mut self, country: CountryCode) -> Self {
        self.declared_country = Some(country);
        self
    }

    /// With the headquarters country.
    #[must_use]
    pub const fn with_headquarters(mut self, country: CountryCode) -> Self {
        self.headquarters = Some(country);
        self
    }

    /// With the headquarters country of the customer's ultimate parent.
    #[must_use]
    pub const fn with_parent_country(mut self, country: CountryCode) -> Self {
        self.parent_country = Some(country);
        self
    }

    /// With the country of the client address.
    #[must_use]
    pub const fn with_network_country(mut self, country: CountryCode) -> Self {
        self.network_country = Some(country);
        self
    }

    /// With the instance type.
    #[must_use]
    pub const fn with_instance_type(mut self, instance_type: &'a str) -> Self {
        self.instance_type = Some(instance_type);
        self
    }

    /// With the number of instances.
    #[must_use]
    pub const fn with_instance_count(mut self, count: u32) -> Self {
        self.instance_count = count;
        self
    }

    /// With the customer id.
    #[must_use]
    pub const fn with_customer_id(mut self, customer_id: &'a str) -> Self {
        self.customer_id = Some(customer_id);
        self
    }
}

impl Default for Facts<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// A policy default that took part in a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefaultRule {
    /// `defaults.unknown_jurisdiction`: no country was known.
    UnknownJurisdiction,
    /// `defaults.unknown_instance_type`: the catalog does not know the
    /// instance type.
    UnknownInstanceType,
}

impl DefaultRule {
    /// The name it is reported under.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::UnknownJurisdiction => "defaults.unknown_jurisdiction",
            Self::UnknownInstanceType => "defaults.unknown_instance_type",
        }
    }
}

/// The most rules a policy may have (the decision keeps them as bits).
pub const MAX_RULES: usize = 256;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct RuleBits([u64; MAX_RULES / 64]);

impl RuleBits {
    fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }

    fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
}

/// The accelerators a request asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Accelerators<'a> {
    /// The instance type, if the request names one.
    pub instance_type: Option<&'a str>,
    /// The catalog entry it matched, if any.
    pub instance: Option<InstanceInfo<'a>>,
    /// The class from the catalog (`unknown` when it does not know the
    /// instance type, `none` when the request names none).
    pub class: AcceleratorClass,
    /// The class the rules were evaluated with: `class`, or the class
    /// `defaults.unknown_instance_type` assumes for unknown instance types.
    pub evaluated_class: AcceleratorClass,
    /// Instances requested.
    pub instance_count: u32,
}

impl<'a> Accelerators<'a> {
    /// The chip, if known.
    pub fn chip(&self) -> Option<&'a Chip> {
        self.instance.and_then(|i| i.chip)
    }

    /// Accelerators per instance (0 for CPU-only and when the request names
    /// no instance type; `None` when the instance type is unknown).
    pub fn chips_per_instance(&self) -> Option<u32> {
        match (self.instance_type, self.instance) {
            (None, _) => Some(0),
            (Some(_), info) => info.map(|i| i.chips_per_instance),
        }
    }

    /// Instance count × accelerators per instance: 0 when the request names
    /// no instance type; `u64::MAX` when the instance type is unknown, so no
    /// quantity-limited license covers it.
    pub fn total(&self) -> u64 {
        self.chips_per_instance()
            .map_or(u64::MAX, |n| u64::from(n) * u64::from(self.instance_count))
    }
}

/// The rules (and policy default) that decided, as a compact `Copy` set;
/// [`DecidingRules::ids`] names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DecidingRules {
    rules: RuleBits,
    default_rule: Option<DefaultRule>,
}

impl DecidingRules {
    /// The ids of the rules, then the default, as `policy` names them (the
    /// policy the decision was made with).
    pub fn ids<'p>(&self, policy: &'p Policy) -> impl Iterator<Item = &'p str> + use<'p> {
        let rules = self.rules;
        policy
            .rules
            .iter()
            .enumerate()
            .filter(move |(i, _)| rules.contains(*i))
            .map(|(_, r)| r.id())
            .chain(self.default_rule.map(DefaultRule::as_str))
    }

    /// The one rule that decided, shared, when exactly one rule (and no
    /// default) did: a metrics label without a copy.
    #[cfg(feature = "metrics")]
    pub(crate) fn single_rule(&self, policy: &Policy) -> Option<std::sync::Arc<str>> {
        if self.default_rule.is_some() {
            return None;
        }
        let mut found = None;
        for (i, r) in policy.rules.iter().enumerate() {
            if self.rules.contains(i) {
                if found.is_some() {
                    return None;
                }
                found = Some(&r.id);
            }
        }
        found.cloned()
    }

    /// Whether no rule and no default decided.
    pub fn is_empty(&self) -> bool {
        self.rules == RuleBits::default() && self.default_rule.is_none()
    }
}

/// What [`decide`] concluded from the rules, and why. A
/// [`Verdict`](crate::Verdict) adds the license check and report-only mode.
#[derive(Clone, Copy, Debug)]
pub struct Decision<'a> {
    policy: &'a Policy,
    facts: Facts<'a>,
    action: Action,
    reason: Option<ReasonCode>,
    rules: RuleBits,
    default_rule: Option<DefaultRule>,
    triggers: Triggers,
    accelerators: Accelerators<'a>,
    groups: [GroupSet; 4],
}

impl<'a> Decision<'a> {
    /// The action of the most restrictive matching rule (or policy
    /// default): allow, require a license, or deny. In report-only mode this
    /// is still what enforcement would do; see [`Decision::report_only`].
    pub fn action(&self) -> Action {
        self.action
    }

    /// Why, for `require-license` and `deny`: `license_required`,
    /// `embargoed`, `jurisdiction_unknown`, `instance_type_unknown`, or the
    /// reason a deny rule names.
    pub fn reason(&self) -> Option<ReasonCode> {
        self.reason
    }

    /// Whether the policy runs in report-only mode (would-be denials are
    /// passed on and recorded).
    pub fn report_only(&self) -> bool {
        self.policy.mode == Mode::ReportOnly
    }

    /// The facts decided on.
    pub fn facts(&self) -> &Facts<'a> {
        &self.facts
    }

    /// The policy decided by.
    pub fn policy(&self) -> &'a Policy {
        self.policy
    }

    /// The ids of the rules (and policy defaults) that decided: those whose
    /// action is the outcome. Empty when nothing matched.
    pub fn deciding_rules(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.deciding_rule_set().ids(self.policy)
    }

    /// The deciding rules as a compact set, to keep beyond the decision.
    pub fn deciding_rule_set(&self) -> DecidingRules {
        DecidingRules {
            rules: self.rules,
            default_rule: self.default_rule,
        }
    }

    /// The policy default that decided, if one did.
    pub fn default_rule(&self) -> Option<DefaultRule> {
        self.default_rule
    }

    /// The accelerators asked for.
    pub fn accelerators(&self) -> &Accelerators<'a> {
        &self.accelerators
    }

    /// Groups of the declared country.
    pub fn declared_groups(&self) -> GroupSet {
        self.groups[0]
    }

    /// Groups of the network country.
    pub fn network_groups(&self) -> GroupSet {
        self.groups[1]
    }

    /// Groups of the headquarters country.
    pub fn headquarters_groups(&self) -> GroupSet {
        self.groups[2]
    }

    /// Groups of the ultimate parent's headquarters country.
    pub fn parent_groups(&self) -> GroupSet {
        self.groups[3]
    }

    /// Groups of the declared and network countries together.
    pub fn location_groups(&self) -> GroupSet {
        self.groups[0].union(self.groups[1])
    }

    /// What a license must cover, for `require-license` decisions.
    pub fn license_requirement(&self) -> Option<LicenseRequirement<'a>> {
        if self.action != Action::RequireLicense {
            return None;
        }
        let acc = &self.accelerators;
        let mut req = LicenseRequirement::new(acc.evaluated_class, acc.instance_type, acc.total());
        let f = &self.facts;
        let t = self.triggers;
        let known = [
            f.declared_country,
            f.network_country,
            f.headquarters,
            f.parent_country,
        ];
        // The countries that made a rule match. When none did (a rule on
        // the class alone, or the location is unknown), every country known
        // of the customer; when none is known, a requirement no license
        // covers.
        let triggered = [t.declared, t.network, t.headquarters, t.parent];
        let any_triggered = triggered
            .iter()
            .zip(known)
            .any(|(hit, c)| *hit && c.is_some());
        for (hit, country) in triggered.into_iter().zip(known) {
            if let (true, Some(country)) = (hit || !any_triggered, country) {
                let alias_of = self.policy.groups.alias_of(country);
                req = req.with_country(RequiredCountry { country, alias_of });
            }
        }
        Some(req)
    }
}

/// Decides a request: all matching rules apply and the most restrictive
/// action wins (`deny` > `require-license` > `allow`); no matching rule
/// allows. Pure: no I/O, no clock reads, no allocation.
///
/// ```
/// use std::time::SystemTime;
/// use tower_export_control::policy::Action;
/// use tower_export_control::{decide, CountryCode, Facts, Policy};
///
/// let policy = Policy::embedded_default();
/// let facts = Facts::new()
///     .with_declared_country(CountryCode::parse("CN").unwrap())
///     .with_instance_type("p5.48xlarge");
/// let decision = decide(&policy, &facts, SystemTime::now());
/// assert_eq!(decision.action(), Action::RequireLicense);
/// assert_eq!(decision.accelerators().class.as_str(), "3A090.a");
/// ```
pub fn decide<'a>(policy: &'a Policy, facts: &Facts<'a>, now: SystemTime) -> Decision<'a> {
    let now = unix_seconds(now);
    let instance = facts.instance_type.and_then(|t| policy.catalog.lookup(t));
    let class = match (facts.instance_type, instance) {
        (None, _) => AcceleratorClass::None,
        (Some(_), None) => AcceleratorClass::Unknown,
        (Some(_), Some(info)) => info.class(),
    };
    let evaluated_class = match (class, policy.defaults.unknown_instance_type) {
        (AcceleratorClass::Unknown, UnknownInstanceType::Assume(c)) => c,
        _ => class,
    };
    let countries = Countries {
        declared: facts.declared_country,
        network: facts.network_country,
        headquarters: facts.headquarters,
        parent: facts.parent_country,
    };
    let groups = [
        facts.declared_country,
        facts.network_country,
        facts.headquarters,
        facts.parent_country,
    ]
    .map(|c| c.map(|c| policy.groups.groups_of(c)).unwrap_or_default());

    let mut best = Action::Allow;
    let mut rules = RuleBits::default();
    let mut triggers = Triggers::default();
    let mut deny_reason: Option<ReasonCode> = None;
    for (i, rule) in policy.rules.iter().enumerate() {
        let Some(hit) = rule.matches(&policy.groups, countries, evaluated_class, now) else {
            continue;
        };
        if rule.action > best {
            best = rule.action;
            rules = RuleBits::default();
            triggers = Triggers::default();
            deny_reason = None;
        }
        if rule.action == best {
            rules.insert(i);
            triggers = triggers.union(hit);
            if best == Action::Deny {
                // Order of rules never matters: the reason listed first in
                // ReasonCode::ALL wins among deny rules.
                deny_reason = Some(match deny_reason {
                    Some(r) if rank(r) <= rank(rule.reason) => r,
                    _ => rule.reason,
                });
            }
        }
    }

    let mut default_rule = None;
    let mut apply_default = |action: Action, which: DefaultRule, reason: ReasonCode| {
        if action > best {
            best = action;
            rules = RuleBits::default();
            triggers = Triggers::default();
            deny_reason = (action == Action::Deny).then_some(reason);
            default_rule = Some(which);
        } else if action == best && action != Action::Allow && default_rule.is_none() {
            default_rule = Some(which);
        }
    };
    if class == AcceleratorClass::Unknown
        && policy.defaults.unknown_instance_type == UnknownInstanceType::Deny
    {
        apply_default(
            Action::Deny,
            DefaultRule::UnknownInstanceType,
            ReasonCode::InstanceTypeUnknown,
        );
    }
    let location_unknown = facts.declared_country.is_none() && facts.network_country.is_none();
    if location_unknown && policy.defaults.controlled_classes.contains(evaluated_class) {
        apply_default(
            policy.defaults.unknown_jurisdiction,
            DefaultRule::UnknownJurisdiction,
            ReasonCode::JurisdictionUnknown,
        );
    }

    let reason = match best {
        Action::Allow => None,
        Action::Deny => Some(deny_reason.unwrap_or(ReasonCode::Embargoed)),
        Action::RequireLicense => {
            let reason = if rules == RuleBits::default()
                && default_rule == Some(DefaultRule::UnknownJurisdiction)
            {
                ReasonCode::JurisdictionUnknown
            } else if class == AcceleratorClass::Unknown {
                ReasonCode::InstanceTypeUnknown
            } else {
                ReasonCode::LicenseRequired
            };
            Some(reason)
        }
    };
    if best != Action::Allow && class == AcceleratorClass::Unknown && default_rule.is_none() {
        default_rule = Some(DefaultRule::UnknownInstanceType);
    }

    Decision {
        policy,
        facts: *facts,
        action: best,
        reason,
        rules,
        default_rule,
        triggers,
        accelerators: Accelerators {
            instance_type: facts.instance_type,
            instance,
            class,
            evaluated_class,
            instance_count: facts.instance_count,
        },
        groups,
    }
}

fn rank(r: ReasonCode) -> usize {
    ReasonCode::ALL
        .iter()
        .position(|x| *x == r)
        .unwrap_or(usize::MAX)
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
