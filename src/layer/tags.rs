//! Tags: the typed extension and `x-export-*` headers on requests passed on.

use std::fmt;
use std::sync::Arc;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::audit::DecisionId;
use crate::jurisdiction::{CODE_SPACE, CountryGroups, GroupSet};
use crate::policy::{DecidingRules, Decision};
use crate::{AcceleratorClass, CountryCode, Policy, ReasonCode};

/// `x-export-country`: the declared country, else the network country, else
/// `unknown`.
pub const COUNTRY: HeaderName = HeaderName::from_static("x-export-country");
/// `x-export-country-groups`: the groups of the declared and network
/// countries, sorted, comma-separated.
pub const COUNTRY_GROUPS: HeaderName = HeaderName::from_static("x-export-country-groups");
/// `x-export-accelerator-class`.
pub const ACCELERATOR_CLASS: HeaderName = HeaderName::from_static("x-export-accelerator-class");
/// `x-export-decision`: `allow`, `allow-licensed` or `report-only-deny`.
pub const DECISION: HeaderName = HeaderName::from_static("x-export-decision");
/// `x-export-license-id`: the `jti` of the license used.
pub const LICENSE_ID: HeaderName = HeaderName::from_static("x-export-license-id");

/// How a request that was passed on was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TagDecision {
    /// Allowed by the policy.
    Allow,
    /// Allowed because a license token covers it.
    AllowLicensed,
    /// Would have been denied; passed on because the policy is report-only.
    ReportOnlyDeny,
}

impl TagDecision {
    /// `allow`, `allow-licensed` or `report-only-deny`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::AllowLicensed => "allow-licensed",
            Self::ReportOnlyDeny => "report-only-deny",
        }
    }
}

/// A country and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountrySource {
    /// The `x-customer-country` header.
    Declared,
    /// The `x-customer-headquarters` header.
    Headquarters,
    /// The client IP address.
    Network,
}

/// The typed tags the layer puts into the extensions of every request it
/// passes on. Cheap to make: it shares the policy's strings rather than
/// copying them.
#[derive(Clone)]
pub struct ExportTags {
    decision_id: DecisionId,
    policy: Arc<Policy>,
    declared: Option<CountryCode>,
    network: Option<CountryCode>,
    headquarters: Option<CountryCode>,
    accelerator_class: AcceleratorClass,
    instance_type: Option<String>,
    instance_count: u32,
    accelerators: Option<u64>,
    decision: TagDecision,
    reason: Option<ReasonCode>,
    rules: DecidingRules,
    license_id: Option<String>,
}

impl ExportTags {
    pub(crate) fn new(
        decision_id: DecisionId,
        policy: &Arc<Policy>,
        d: &Decision<'_>,
        decision: TagDecision,
        reason: Option<ReasonCode>,
        license_id: Option<String>,
    ) -> Self {
        let f = d.facts();
        let acc = d.accelerators();
        Self {
            decision_id,
            policy: Arc::clone(policy),
            declared: f.declared_country,
            network: f.network_country,
            headquarters: f.headquarters,
            accelerator_class: acc.class,
            instance_type: acc.instance_type.map(str::to_owned),
            instance_count: acc.instance_count,
            accelerators: acc.chips_per_instance().map(|_| acc.total()),
            decision,
            reason,
            rules: d.deciding_rule_set(),
            license_id,
        }
    }

    /// The decision id, as in the audit record and the log.
    pub fn decision_id(&self) -> DecisionId {
        self.decision_id
    }

    /// How the request was decided.
    pub fn decision(&self) -> TagDecision {
        self.decision
    }

    /// The reason it would have been denied (report-only), if any.
    pub fn reason(&self) -> Option<ReasonCode> {
        self.reason
    }

    /// The country for `x-export-country`: declared, else network.
    pub fn country(&self) -> Option<CountryCode> {
        self.declared.or(self.network)
    }

    /// The declared country.
    pub fn declared_country(&self) -> Option<CountryCode> {
        self.declared
    }

    /// The country of the client address.
    pub fn network_country(&self) -> Option<CountryCode> {
        self.network
    }

    /// The headquarters country.
    pub fn headquarters(&self) -> Option<CountryCode> {
        self.headquarters
    }

    /// Each known country with its source.
    pub fn countries(&self) -> impl Iterator<Item = (CountryCode, CountrySource)> + '_ {
        [
            (self.declared, CountrySource::Declared),
            (self.network, CountrySource::Network),
            (self.headquarters, CountrySource::Headquarters),
        ]
        .into_iter()
        .filter_map(|(c, s)| c.map(|c| (c, s)))
    }

    /// The groups of the declared and network countries, sorted.
    pub fn country_groups(&self) -> impl Iterator<Item = &str> + '_ {
        let groups = self.policy.country_groups();
        groups.names(self.location_groups())
    }

    /// The groups of the headquarters country, sorted.
    pub fn headquarters_groups(&self) -> impl Iterator<Item = &str> + '_ {
        let groups = self.policy.country_groups();
        let set = self
            .headquarters
            .map(|c| groups.groups_of(c))
            .unwrap_or_default();
        groups.names(set)
    }

    fn location_groups(&self) -> GroupSet {
        let groups = self.policy.country_groups();
        let of = |c: Option<CountryCode>| c.map(|c| groups.groups_of(c)).unwrap_or_default();
        of(self.declared).union(of(self.network))
    }

    /// The accelerator class (`none` when the request names no instance
    /// type, `unknown` when the catalog does not know it).
    pub fn accelerator_class(&self) -> AcceleratorClass {
        self.accelerator_class
    }

    /// The instance type, if named.
    pub fn instance_type(&self) -> Option<&str> {
        self.instance_type.as_deref()
    }

    /// Instances requested.
    pub fn instance_count(&self) -> u32 {
        self.instance_count
    }

    /// Accelerators requested (count × per instance), when known.
    pub fn accelerators(&self) -> Option<u64> {
        self.accelerators
    }

    /// The rules (and policy defaults) that decided.
    pub fn rules(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.ids(&self.policy)
    }

    /// The `jti` of the license used.
    pub fn license_id(&self) -> Option<&str> {
        self.license_id.as_deref()
    }

    /// The policy decided by.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
    }

    /// Writes the `x-export-*` headers.
    pub(crate) fn write_headers(&self, headers: &mut HeaderMap) {
        headers.reserve(5);
        let values = &self.policy.tag_values;
        let country = self.country();
        headers.insert(COUNTRY, values.country(country));
        let groups = match (self.declared, self.network) {
            (Some(a), Some(b)) if a != b => {
                let names: Vec<&str> = self.country_groups().collect();
                HeaderValue::from_str(&names.join(",")).ok()
            }
            _ => Some(values.groups(country)),
        };
        if let Some(v) = groups {
            headers.insert(COUNTRY_GROUPS, v);
        }
        headers.insert(
            ACCELERATOR_CLASS,
            HeaderValue::from_static(self.accelerator_class.as_str()),
        );
        headers.insert(DECISION, HeaderValue::from_static(self.decision.as_str()));
        if let Some(v) = self
            .license_id
            .as_deref()
            .and_then(|j| HeaderValue::from_str(j).ok())
        {
            headers.insert(LICENSE_ID, v);
        }
    }
}

impl fmt::Debug for ExportTags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExportTags")
            .field("decision_id", &self.decision_id)
            .field("decision", &self.decision)
            .field("reason", &self.reason)
            .field("countries", &self.countries().collect::<Vec<_>>())
            .field("country_groups", &self.country_groups().collect::<Vec<_>>())
            .field("accelerator_class", &self.accelerator_class)
            .field("instance_type", &self.instance_type)
            .field("instance_count", &self.instance_count)
            .field("rules", &self.rules().collect::<Vec<_>>())
            .field("license_id", &self.license_id)
            .field("policy", &self.policy.digest())
            .finish()
    }
}

/// Header values that depend only on the policy, made once per policy so
/// tagging a request copies no strings: per country, its code and the
/// names of its groups.
#[derive(Clone, Debug)]
pub(crate) struct TagValues {
    country: Vec<HeaderValue>,
    groups: Vec<HeaderValue>,
}

impl TagValues {
    pub(crate) fn new(groups: &CountryGroups) -> Self {
        let mut country = vec![HeaderValue::from_static("unknown"); CODE_SPACE];
        let mut names = vec![HeaderValue::from_static(""); CODE_SPACE];
        for c in CountryCode::all() {
            if let (Some(slot), Ok(v)) = (
                country.get_mut(c.index()),
                HeaderValue::from_str(c.as_str()),
            ) {
                *slot = v;
            }
            let joined: Vec<&str> = groups.names(groups.groups_of(c)).collect();
            if let (Some(slot), Ok(v)) = (
                names.get_mut(c.index()),
                HeaderValue::from_str(&joined.join(",")),
            ) {
                *slot = v;
            }
        }
        Self {
            country,
            groups: names,
        }
    }

    fn country(&self, c: Option<CountryCode>) -> HeaderValue {
        c.and_then(|c| self.country.get(c.index()))
            .cloned()
            .unwrap_or(HeaderValue::from_static("unknown"))
    }

    fn groups(&self, c: Option<CountryCode>) -> HeaderValue {
        c.and_then(|c| self.groups.get(c.index()))
            .cloned()
            .unwrap_or(HeaderValue::from_static(""))
    }
}
