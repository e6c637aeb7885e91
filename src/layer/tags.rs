//! Tags: the typed extension and `x-export-*` headers on requests passed on.

use std::fmt;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::policy::TagValues;
use crate::verdict::{Outcome, Verdict};
use crate::{AcceleratorClass, CountryCode};

/// `x-export-country`: the declared country, else the network country, else
/// `unknown`.
pub const TAG_COUNTRY: HeaderName = HeaderName::from_static("x-export-country");
/// `x-export-country-groups`: the groups of the declared and network
/// countries, sorted, comma-separated.
pub const TAG_COUNTRY_GROUPS: HeaderName = HeaderName::from_static("x-export-country-groups");
/// `x-export-accelerator-class`.
pub const TAG_ACCELERATOR_CLASS: HeaderName = HeaderName::from_static("x-export-accelerator-class");
/// `x-export-decision`: `allow`, `allow-licensed` or `report-only-deny`.
pub const TAG_DECISION: HeaderName = HeaderName::from_static("x-export-decision");
/// `x-export-license-id`: the `jti` of the license used.
pub const TAG_LICENSE_ID: HeaderName = HeaderName::from_static("x-export-license-id");
/// `x-export-reservation`: the id of the ledger reservation that counted
/// the request; store it with the instance, and release it on termination.
pub const TAG_RESERVATION: HeaderName = HeaderName::from_static("x-export-reservation");
/// `x-export-policy`: the digest of the policy that decided
/// (`sha256:` and 64 hex digits), as in denials and audit records.
pub const TAG_POLICY: HeaderName = HeaderName::from_static("x-export-policy");

/// The typed tags the layer puts into the extensions of every request it
/// passes on: the [`Verdict`] that let it through.
///
/// The handler behind the layer must provision only what the tags name:
/// the instance type and count the layer judged.
#[derive(Clone)]
pub struct ExportTags {
    verdict: Verdict,
}

impl ExportTags {
    pub(crate) fn new(verdict: Verdict) -> Self {
        Self { verdict }
    }

    /// The whole verdict: countries, groups, rules, license, policy.
    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    /// The decision id, as in the audit record and the log.
    pub fn decision_id(&self) -> crate::audit::DecisionId {
        self.verdict.decision_id()
    }

    /// `allow`, `allow-licensed` or `report-only-deny`.
    pub fn outcome(&self) -> Outcome {
        self.verdict.outcome()
    }

    /// The declared country, else the network country.
    pub fn country(&self) -> Option<CountryCode> {
        self.verdict.country()
    }

    /// The accelerator class the catalog gives the instance type (`none`
    /// when the request names none, `unknown` when the catalog does not
    /// know it).
    pub fn accelerator_class(&self) -> AcceleratorClass {
        self.verdict
            .accelerator_class()
            .unwrap_or(AcceleratorClass::None)
    }

    /// The instance type the layer judged, if the request named one.
    pub fn instance_type(&self) -> Option<&str> {
        self.verdict.instance_type()
    }

    /// Instances requested.
    pub fn instance_count(&self) -> u32 {
        self.verdict.instance_count()
    }

    /// The `jti` of the license used.
    pub fn license_id(&self) -> Option<&str> {
        self.verdict.license_id()
    }

    /// The ledger reservation that counted the request: store its id with
    /// the instance and release it through the ledger on termination.
    pub fn reservation(&self) -> Option<&crate::ledger::Reservation> {
        self.verdict.reservation()
    }

    /// Writes the `x-export-*` headers.
    pub(crate) fn write_headers(&self, values: &TagValues, headers: &mut HeaderMap) {
        let v = &self.verdict;
        headers.reserve(6);
        let country = v.country();
        headers.insert(TAG_COUNTRY, values.country(country));
        let groups = match (v.declared_country(), v.network_country()) {
            (Some(a), Some(b)) if a != b => {
                let names: Vec<&str> = v.country_groups().collect();
                HeaderValue::from_str(&names.join(",")).ok()
            }
            _ => Some(values.groups(country)),
        };
        if let Some(g) = groups {
            headers.insert(TAG_COUNTRY_GROUPS, g);
        }
        headers.insert(
            TAG_ACCELERATOR_CLASS,
            HeaderValue::from_static(self.accelerator_class().as_str()),
        );
        headers.insert(TAG_DECISION, HeaderValue::from_static(v.outcome().as_str()));
        headers.insert(TAG_POLICY, values.policy.clone());
        if let Some(id) = v.license_id().and_then(|j| HeaderValue::from_str(j).ok()) {
            headers.insert(TAG_LICENSE_ID, id);
        }
        if let Some(r) = v
            .reservation()
            .and_then(|r| HeaderValue::from_str(r.id.as_str()).ok())
        {
            headers.insert(TAG_RESERVATION, r);
        }
    }
}

impl fmt::Debug for ExportTags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ExportTags").field(&self.verdict).finish()
    }
}
