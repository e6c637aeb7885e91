//! The verdict: one evaluation of a request (policy, facts, license, time)
//! and everything that follows from it.
//!
//! [`Gate::evaluate`](crate::Gate::evaluate) and the layer produce a
//! [`Verdict`]; the layer's tags ([`ExportTags`](crate::ExportTags)), its
//! denials ([`Denial`](crate::Denial)), the audit record
//! ([`AuditRecord`](crate::audit::AuditRecord)) and the log line are all
//! read from it, so they cannot disagree.

use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::time::SystemTime;

use crate::audit::DecisionId;
use crate::ledger::{LedgerError, Reservation};
use crate::license::{
    LicenseDenial, LicenseGrant, LicenseRequirement, LicenseTrust, LicenseVerifier, RequiredCountry,
};
use crate::policy::{Action, DecidingRules, Decision, Mode};
use crate::{AcceleratorClass, CountryCode, Facts, Policy, ReasonCode, decide};

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Passed on: no rule required more.
    Allow,
    /// Passed on: a license token covered it.
    AllowLicensed,
    /// Passed on in report-only mode; enforcement would have denied it.
    ReportOnlyDeny,
    /// Denied by the policy (451, or 503 when a dependency failed).
    Deny,
    /// Rejected as malformed (400/413) before a decision.
    Rejected,
}

impl Outcome {
    /// `allow`, `allow-licensed`, `report-only-deny`, `deny` or `rejected`
    /// (the `x-export-decision` tag carries the first three).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::AllowLicensed => "allow-licensed",
            Self::ReportOnlyDeny => "report-only-deny",
            Self::Deny => "deny",
            Self::Rejected => "rejected",
        }
    }

    /// Whether the request goes on to the inner service.
    pub const fn passes(self) -> bool {
        matches!(
            self,
            Self::Allow | Self::AllowLicensed | Self::ReportOnlyDeny
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What became of the license token, for requests that needed one.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LicenseCheck {
    /// The policy did not require a license (or denied outright).
    NotRequired,
    /// A license was required and none was presented.
    Missing,
    /// The token verified and covers the request.
    Granted(LicenseGrant),
    /// The token was presented and refused.
    Refused(LicenseDenial),
}

/// A country and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountrySource {
    /// The `x-customer-country` header.
    Declared,
    /// The `x-customer-headquarters` header.
    Headquarters,
    /// The `x-customer-parent-country` header.
    Parent,
    /// The client IP address.
    Network,
}

/// The outcome of one request and why: the decision of the rules, the
/// license check, the jurisdiction and the accelerators, with the policy
/// that decided. Cheap to clone (it shares the policy).
#[derive(Clone)]
pub struct Verdict {
    id: DecisionId,
    policy: Arc<Policy>,
    outcome: Outcome,
    reason: Option<ReasonCode>,
    detail: Option<String>,
    declared: Option<CountryCode>,
    network: Option<CountryCode>,
    headquarters: Option<CountryCode>,
    parent: Option<CountryCode>,
    /// `None` for requests rejected before a decision.
    classes: Option<Classes>,
    instance_type: Option<String>,
    instance_count: u32,
    accelerators: Option<u64>,
    rules: DecidingRules,
    /// The countries that made the rules require a license.
    required_countries: Option<[Option<RequiredCountry>; 4]>,
    license: LicenseCheck,
    /// The ledger reservation that counted the request.
    reservation: Option<Reservation>,
    /// Why the ledger refused it: the limit, what was in use, what was asked.
    exhausted: Option<Quantity>,
}

/// A license's quantity when a ledger refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Quantity {
    /// The license's `max_accelerators`.
    pub limit: u64,
    /// Accelerators in use (active and pending) across the fleet.
    pub in_use: u64,
    /// Accelerators the request asked for.
    pub requested: u64,
}

#[derive(Clone, Copy, Debug)]
struct Classes {
    catalog: AcceleratorClass,
    evaluated: AcceleratorClass,
}

impl Verdict {
    /// The decision id, as in tags, denial bodies, audit records and logs.
    pub fn decision_id(&self) -> DecisionId {
        self.id
    }

    /// How the request ended.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The reason code: for denials, rejections and report-only would-be
    /// denials; `None` when the request was allowed.
    pub fn reason(&self) -> Option<ReasonCode> {
        self.reason
    }

    /// A sentence for humans on why the request was (or would have been)
    /// refused, e.g. "Instance type p5.48xlarge (8 x H100-SXM, class
    /// 3A090.a) requires an export license for customers in CN (groups D:1,
    /// D:4, D:5)."
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The policy that decided.
    pub fn policy(&self) -> &Arc<Policy> {
        &self.policy
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

    /// The headquarters country of the customer's ultimate parent.
    pub fn parent_country(&self) -> Option<CountryCode> {
        self.parent
    }

    /// The declared country, else the network country (`x-export-country`).
    pub fn country(&self) -> Option<CountryCode> {
        self.declared.or(self.network)
    }

    /// Each known country with its source.
    pub fn countries(&self) -> impl Iterator<Item = (CountryCode, CountrySource)> + '_ {
        [
            (self.declared, CountrySource::Declared),
            (self.network, CountrySource::Network),
            (self.headquarters, CountrySource::Headquarters),
            (self.parent, CountrySource::Parent),
        ]
        .into_iter()
        .filter_map(|(c, s)| c.map(|c| (c, s)))
    }

    /// The groups of the declared and network countries, sorted.
    pub fn country_groups(&self) -> impl Iterator<Item = &str> + '_ {
        let groups = self.policy.country_groups();
        let of = |c: Option<CountryCode>| c.map(|c| groups.groups_of(c)).unwrap_or_default();
        groups.names(of(self.declared).union(of(self.network)))
    }

    /// The groups of the ultimate parent's headquarters country, sorted.
    pub fn parent_groups(&self) -> impl Iterator<Item = &str> + '_ {
        let groups = self.policy.country_groups();
        let set = self.parent.map(|c| groups.groups_of(c)).unwrap_or_default();
        groups.names(set)
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

    /// The class the catalog gives the instance type: `none` when the
    /// request names none, `unknown` when the catalog does not know it.
    /// `None` for requests rejected before a decision.
    pub fn accelerator_class(&self) -> Option<AcceleratorClass> {
        self.classes.map(|c| c.catalog)
    }

    /// The class the rules were evaluated with: the catalog's, or for an
    /// unknown instance type the one `defaults.unknown_instance_type`
    /// assumes.
    pub fn evaluated_class(&self) -> Option<AcceleratorClass> {
        self.classes.map(|c| c.evaluated)
    }

    /// The instance type, if the request named one.
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

    /// The ids of the rules (and policy defaults) that decided.
    pub fn rules(&self) -> impl Iterator<Item = &str> + '_ {
        self.rules.ids(&self.policy)
    }

    #[cfg(feature = "metrics")]
    pub(crate) fn single_rule(&self) -> Option<Arc<str>> {
        self.rules.single_rule(&self.policy)
    }

    /// What a license must cover, when the rules required one.
    pub fn license_requirement(&self) -> Option<LicenseRequirement<'_>> {
        let countries = self.required_countries?;
        let class = self.evaluated_class()?;
        let accelerators = self.accelerators.unwrap_or(u64::MAX);
        let requirement = LicenseRequirement::new(class, self.instance_type(), accelerators);
        Some(
            countries
                .into_iter()
                .flatten()
                .fold(requirement, |r, c| r.with_country(c)),
        )
    }

    /// The ledger reservation that counted the request, when a ledger
    /// counts the license's quantity.
    pub fn reservation(&self) -> Option<&Reservation> {
        self.reservation.as_ref()
    }

    /// For `license_quantity_exhausted`: the limit, what was in use and
    /// what was asked.
    pub fn exhausted(&self) -> Option<Quantity> {
        self.exhausted
    }

    /// What a ledger must count before the request passes: the license's
    /// limit and the accelerators asked for, when the request is allowed by
    /// a license with `max_accelerators` and the count is known.
    pub(crate) fn to_count(&self) -> Option<(&str, u64, u64)> {
        let LicenseCheck::Granted(grant) = &self.license else {
            return None;
        };
        let limit = grant.claims().max_accelerators?;
        Some((grant.jti(), limit, self.accelerators?))
    }

    /// Counted by the ledger.
    pub(crate) fn reserved(mut self, reservation: Reservation) -> Self {
        self.reservation = Some(reservation);
        self
    }

    /// Refused by the ledger: the license's quantity is used up.
    pub(crate) fn quantity_exhausted(self, quantity: Quantity) -> Self {
        let detail = format!(
            "The license's quantity is used up: it allows {} accelerators, {} are in use \
             across the fleet, and this request asks for {}.",
            quantity.limit, quantity.in_use, quantity.requested
        );
        let mut v = self.refused(ReasonCode::LicenseQuantityExhausted, detail);
        v.exhausted = Some(quantity);
        v
    }

    /// Refused because the ledger could not count it: never passed on
    /// uncounted.
    pub(crate) fn ledger_unavailable(self, error: &LedgerError) -> Self {
        let detail = format!(
            "The license ledger could not count this request ({error}); try again shortly."
        );
        self.refused(ReasonCode::LedgerUnavailable, detail)
    }

    fn refused(mut self, reason: ReasonCode, detail: String) -> Self {
        self.outcome = match self.policy.mode() {
            Mode::Enforce => Outcome::Deny,
            Mode::ReportOnly => Outcome::ReportOnlyDeny,
        };
        self.reason = Some(reason);
        self.detail = Some(detail);
        self
    }

    /// What became of the license token.
    pub fn license(&self) -> &LicenseCheck {
        &self.license
    }

    /// The `jti` of the license that let the request through.
    pub fn license_id(&self) -> Option<&str> {
        match &self.license {
            LicenseCheck::Granted(grant) => Some(grant.jti()),
            _ => None,
        }
    }

    /// A request rejected as malformed before any decision; `facts` holds
    /// what was read before the problem was found.
    pub(crate) fn rejected(
        policy: Arc<Policy>,
        reason: ReasonCode,
        detail: &str,
        facts: &Facts<'_>,
    ) -> Self {
        Self {
            id: DecisionId::next(),
            policy,
            outcome: Outcome::Rejected,
            reason: Some(reason),
            detail: Some(detail.to_owned()),
            declared: facts.declared_country,
            network: facts.network_country,
            headquarters: facts.headquarters,
            parent: facts.parent_country,
            classes: None,
            instance_type: facts.instance_type.map(str::to_owned),
            instance_count: facts.instance_count,
            accelerators: None,
            rules: DecidingRules::default(),
            required_countries: None,
            license: LicenseCheck::NotRequired,
            reservation: None,
            exhausted: None,
        }
    }
}

impl fmt::Debug for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verdict")
            .field("decision_id", &self.id)
            .field("outcome", &self.outcome)
            .field("reason", &self.reason)
            .field("countries", &self.countries().collect::<Vec<_>>())
            .field("country_groups", &self.country_groups().collect::<Vec<_>>())
            .field("accelerator_class", &self.accelerator_class())
            .field("instance_type", &self.instance_type)
            .field("instance_count", &self.instance_count)
            .field("rules", &self.rules().collect::<Vec<_>>())
            .field("license", &self.license)
            .field("policy", &self.policy.digest())
            .finish()
    }
}

/// Evaluates a request: the policy's rules ([`decide`]), then, when they
/// require a license, the token; then report-only mode. `now` is called
/// only when something needs the time (dated rules, a license check).
pub(crate) fn evaluate(
    policy: &Arc<Policy>,
    trust: &dyn Fn() -> Arc<LicenseTrust>,
    verifier: &LicenseVerifier,
    facts: &Facts<'_>,
    license: Option<&str>,
    now: &mut dyn FnMut() -> SystemTime,
) -> Verdict {
    // Only rules with effective dates read the time: any instant gives the
    // same decision otherwise.
    let decided_at = if policy.has_dated_rules() {
        now()
    } else {
        SystemTime::UNIX_EPOCH
    };
    let d = decide(policy, facts, decided_at);
    let (outcome, reason, license) = match d.action() {
        Action::Allow => (Outcome::Allow, None, LicenseCheck::NotRequired),
        Action::Deny => (
            Outcome::Deny,
            Some(d.reason().unwrap_or(ReasonCode::Embargoed)),
            LicenseCheck::NotRequired,
        ),
        Action::RequireLicense => {
            let required = d.reason().unwrap_or(ReasonCode::LicenseRequired);
            match (license, d.license_requirement()) {
                (Some(token), Some(requirement)) => {
                    let checked = verifier
                        .check(&trust(), token, facts.customer_id, &requirement, now())
                        .and_then(|grant| revoked_by_policy(policy, grant));
                    match checked {
                        Ok(grant) => (Outcome::AllowLicensed, None, LicenseCheck::Granted(grant)),
                        Err(denial) => (
                            Outcome::Deny,
                            Some(denial.reason()),
                            LicenseCheck::Refused(denial),
                        ),
                    }
                }
                _ => (Outcome::Deny, Some(required), LicenseCheck::Missing),
            }
        }
    };
    let (outcome, detail) = if outcome == Outcome::Deny {
        let mut detail = explain(&d, d.reason().unwrap_or(ReasonCode::LicenseRequired));
        if let LicenseCheck::Refused(denial) = &license {
            let _ = write!(
                detail,
                " The license presented was not accepted: {}.",
                denial.detail()
            );
        }
        let outcome = match policy.mode() {
            Mode::Enforce => Outcome::Deny,
            Mode::ReportOnly => Outcome::ReportOnlyDeny,
        };
        (outcome, Some(detail))
    } else {
        (outcome, None)
    };
    let acc = d.accelerators();
    let required_countries = d.license_requirement().map(|r| {
        let mut countries = [None; 4];
        for (slot, c) in countries.iter_mut().zip(r.countries()) {
            *slot = Some(c);
        }
        countries
    });
    Verdict {
        id: DecisionId::next(),
        policy: Arc::clone(policy),
        outcome,
        reason,
        detail,
        declared: facts.declared_country,
        network: facts.network_country,
        headquarters: facts.headquarters,
        parent: facts.parent_country,
        classes: Some(Classes {
            catalog: acc.class,
            evaluated: acc.evaluated_class,
        }),
        instance_type: acc.instance_type.map(str::to_owned),
        instance_count: acc.instance_count,
        accelerators: acc.chips_per_instance().map(|_| acc.total()),
        rules: d.deciding_rule_set(),
        required_countries,
        license,
        reservation: None,
        exhausted: None,
    }
}

/// The policy's own revocation list holds even when the gate supplies the
/// issuers (a policy that names none).
fn revoked_by_policy(policy: &Policy, grant: LicenseGrant) -> Result<LicenseGrant, LicenseDenial> {
    policy.license_trust().check_revocation(grant.jti())?;
    Ok(grant)
}

/// A sentence explaining a decision, e.g. "Instance type p5.48xlarge
/// (8 x H100-SXM, class 3A090.a) requires an export license for customers
/// in CN (groups D:1, D:4, D:5)."
fn explain(d: &Decision<'_>, reason: ReasonCode) -> String {
    let acc = d.accelerators();
    let groups = d.policy().country_groups();
    let mut what = match (acc.instance_type, acc.instance) {
        (Some(t), Some(i)) => match i.chip {
            Some(chip) => format!(
                "Instance type {t} ({} x {}, class {})",
                i.chips_per_instance,
                chip.name(),
                chip.class()
            ),
            None => format!("Instance type {t} (no accelerator)"),
        },
        (Some(t), None) => format!(
            "Instance type {t} (not in the catalog, treated as {})",
            acc.evaluated_class
        ),
        (None, _) => "This request".to_owned(),
    };
    let mut whom = String::new();
    let f = d.facts();
    let mut seen = Vec::with_capacity(4);
    for (label, c) in [
        ("in", f.declared_country),
        ("connecting from", f.network_country),
        ("headquartered in", f.headquarters),
        (
            "whose ultimate parent is headquartered in",
            f.parent_country,
        ),
    ] {
        let Some(c) = c else { continue };
        if seen.contains(&(label, c)) {
            continue;
        }
        seen.push((label, c));
        let g: Vec<&str> = groups.names(groups.groups_of(c)).collect();
        let sep = if whom.is_empty() { "" } else { ", " };
        let _ = if g.is_empty() {
            write!(whom, "{sep}{label} {c}")
        } else {
            write!(whom, "{sep}{label} {c} (groups {})", g.join(", "))
        };
    }
    if whom.is_empty() {
        whom.push_str("whose country is unknown");
    }
    match reason {
        ReasonCode::Embargoed => format!("Provisioning is not available to customers {whom}."),
        ReasonCode::JurisdictionUnknown if acc.instance_type.is_none() => {
            format!("{what} requires a known customer country; none was given or found.")
        }
        _ => {
            let _ = write!(what, " requires an export license for customers {whom}.");
            what
        }
    }
}
