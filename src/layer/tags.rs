//! Tags: the typed extension and `x-export-*` headers on requests passed on.

use std::fmt::Write as _;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::audit::DecisionId;
use crate::policy::Decision;
use crate::{AcceleratorClass, CountryCode, ReasonCode};

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
/// `x-export-decision-id`: the id of the decision, as in the audit record.
pub const DECISION_ID: HeaderName = HeaderName::from_static("x-export-decision-id");

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
/// passes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportTags {
    /// The decision id, as in the audit record.
    pub decision_id: DecisionId,
    /// Each known country with its source.
    pub countries: Vec<(CountryCode, CountrySource)>,
    /// The groups of the declared and network countries, sorted.
    pub country_groups: Vec<String>,
    /// The groups of the headquarters country, sorted.
    pub headquarters_groups: Vec<String>,
    /// The accelerator class (`none` when the request names no instance type).
    pub accelerator_class: AcceleratorClass,
    /// The instance type, if named.
    pub instance_type: Option<String>,
    /// Instances requested.
    pub instance_count: u32,
    /// Accelerators requested (count × per instance), when known.
    pub accelerators: Option<u64>,
    /// How it was decided.
    pub decision: TagDecision,
    /// The reason it would have been denied (report-only), if any.
    pub reason: Option<ReasonCode>,
    /// The rules that decided.
    pub rules: Vec<String>,
    /// The `jti` of the license used.
    pub license_id: Option<String>,
    /// The policy digest (`sha256:…`).
    pub policy: String,
}

impl ExportTags {
    pub(crate) fn new(
        decision_id: DecisionId,
        d: &Decision<'_>,
        decision: TagDecision,
        reason: Option<ReasonCode>,
        license_id: Option<String>,
    ) -> Self {
        let f = d.facts();
        let groups = d.policy().country_groups();
        let countries = [
            (f.declared_country, CountrySource::Declared),
            (f.network_country, CountrySource::Network),
            (f.headquarters, CountrySource::Headquarters),
        ]
        .into_iter()
        .filter_map(|(c, s)| c.map(|c| (c, s)))
        .collect();
        let acc = d.accelerators();
        Self {
            decision_id,
            countries,
            country_groups: groups
                .names(d.location_groups())
                .map(str::to_owned)
                .collect(),
            headquarters_groups: groups
                .names(d.headquarters_groups())
                .map(str::to_owned)
                .collect(),
            accelerator_class: acc.class,
            instance_type: acc.instance_type.map(str::to_owned),
            instance_count: acc.instance_count,
            accelerators: acc.chips_per_instance().map(|_| acc.total()),
            decision,
            reason,
            rules: d.deciding_rules().map(str::to_owned).collect(),
            license_id,
            policy: d.policy().digest().to_owned(),
        }
    }

    /// The country for `x-export-country`: declared, else network.
    pub fn country(&self) -> Option<CountryCode> {
        let find = |src| {
            self.countries
                .iter()
                .find(|(_, s)| *s == src)
                .map(|(c, _)| *c)
        };
        find(CountrySource::Declared).or_else(|| find(CountrySource::Network))
    }

    /// Writes the `x-export-*` headers.
    pub(crate) fn write_headers(&self, headers: &mut HeaderMap) {
        let country = self.country();
        let country = country.as_ref().map_or("unknown", CountryCode::as_str);
        headers.insert(
            COUNTRY,
            HeaderValue::from_str(country).unwrap_or(HeaderValue::from_static("unknown")),
        );
        let mut groups = String::new();
        for (i, g) in self.country_groups.iter().enumerate() {
            if i > 0 {
                groups.push(',');
            }
            let _ = write!(groups, "{g}");
        }
        if let Ok(v) = HeaderValue::from_str(&groups) {
            headers.insert(COUNTRY_GROUPS, v);
        }
        headers.insert(
            ACCELERATOR_CLASS,
            HeaderValue::from_static(self.accelerator_class.as_str()),
        );
        headers.insert(DECISION, HeaderValue::from_static(self.decision.as_str()));
        if let Ok(v) = HeaderValue::from_str(&self.decision_id.to_string()) {
            headers.insert(DECISION_ID, v);
        }
        if let Some(v) = self
            .license_id
            .as_deref()
            .and_then(|j| HeaderValue::from_str(j).ok())
        {
            headers.insert(LICENSE_ID, v);
        }
    }
}
