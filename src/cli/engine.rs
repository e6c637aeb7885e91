//! Every call the tool makes into the policy's decision API: loading a
//! policy, building the facts of a request, deciding, checking a license
//! and reading the decision. Kept together so that a change to that API
//! touches this file only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Value, json};

use crate::jurisdiction::{GroupSet, IpTable};
use crate::license::{LicenseRequirement, LicenseVerifier};
use crate::{CountryCode, Decision, Facts, Outcome, Policy, PolicyError, decide};

/// The demo license issuer's configuration, in the crate's sources. Its
/// private key is public: development only.
const DEMO_ISSUER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/demo-issuer/license.toml"
);

/// Loads and validates one policy file.
pub(super) fn read_policy(path: &Path) -> Result<Policy, PolicyError> {
    Policy::from_path(path)
}

/// The policy in `file`, or the embedded default; with `ip_tables` in
/// place of its own IP table when any are given.
///
/// The embedded default trusts no license issuer. With `demo_issuer` it
/// trusts the demo issuer of `examples/demo-issuer/` instead, so that
/// tokens minted with its key can be tried out.
pub(super) fn load_policy(
    file: Option<&Path>,
    ip_tables: &[PathBuf],
    demo_issuer: bool,
) -> Result<Policy, String> {
    let mut policy = match file {
        Some(path) => read_policy(path).map_err(|e| e.to_string())?,
        None if demo_issuer => {
            let verifier = LicenseVerifier::from_toml_path(DEMO_ISSUER).map_err(|e| {
                format!("the demo license issuer is not available ({e}); pass --policy")
            })?;
            Policy::embedded_default().with_license_verifier(verifier)
        }
        None => Policy::embedded_default(),
    };
    if !ip_tables.is_empty() {
        let table = IpTable::from_paths(ip_tables).map_err(|e| e.to_string())?;
        policy = policy.with_ip_table(table);
    }
    Ok(policy)
}

/// One request, as the command line describes it.
#[derive(Debug)]
pub(super) struct Request<'a> {
    pub(super) country: Option<CountryCode>,
    pub(super) headquarters: Option<CountryCode>,
    pub(super) ip: Option<IpAddr>,
    pub(super) instance_type: &'a str,
    pub(super) count: u32,
    pub(super) customer: Option<&'a str>,
    pub(super) license: Option<&'a str>,
}

/// What `decide` is told: the countries, the instance type and count, and
/// the country of the IP address in the policy's IP table.
fn facts<'a>(policy: &Policy, request: &Request<'a>) -> Facts<'a> {
    Facts {
        declared_country: request.country,
        headquarters: request.headquarters,
        network_country: request.ip.and_then(|ip| policy.ip_table().lookup(ip)),
        instance_type: Some(request.instance_type),
        instance_count: request.count,
    }
}

/// The result of checking a license token against what a request needs.
struct LicenseCheck {
    /// Whether the license covers the request.
    granted: bool,
    /// Why not, when it does not.
    reason: Option<&'static str>,
    /// The `license` member of the explanation.
    json: Value,
}

fn check_license(
    policy: &Policy,
    token: &str,
    customer: Option<&str>,
    requirement: &LicenseRequirement<'_>,
    now: SystemTime,
) -> LicenseCheck {
    match policy
        .license_verifier()
        .check(token, customer, requirement, now)
    {
        Ok(grant) => LicenseCheck {
            granted: true,
            reason: None,
            json: json!({"result": "allow-licensed", "jti": grant.jti(), "issuer": grant.issuer()}),
        },
        Err(denial) => LicenseCheck {
            granted: false,
            reason: Some(denial.reason().as_str()),
            json: json!({"result": denial.reason().as_str(), "detail": denial.detail()}),
        },
    }
}

/// What `explain` prints, in reading order.
#[derive(Debug, Serialize)]
pub(super) struct Explanation<'a> {
    decision: &'static str,
    reason: Option<&'static str>,
    rules: Vec<&'a str>,
    report_only: bool,
    accelerator: Value,
    jurisdiction: Value,
    license_requirement: Option<Value>,
    license: Value,
    policy: Value,
    /// Whether the request would go through (not printed).
    #[serde(skip)]
    pub(super) allowed: bool,
}

/// Decides `request` at `now`, checks its license token if it has one and
/// the decision asks for one, and says why.
pub(super) fn explain<'a>(
    policy: &'a Policy,
    request: &Request<'a>,
    now: SystemTime,
) -> Explanation<'a> {
    let facts = facts(policy, request);
    let d = decide(policy, &facts, now);
    let requirement = d.license_requirement();
    let mut decision = d.outcome().as_str();
    let mut allowed = d.outcome() == Outcome::Allow;
    let mut reason = d.reason().map(|r| r.as_str());
    let license = match (&requirement, request.license) {
        (Some(req), Some(token)) => {
            let check = check_license(policy, token, request.customer, req, now);
            allowed = check.granted;
            decision = if check.granted {
                "allow-licensed"
            } else {
                "deny"
            };
            reason = check.reason;
            check.json
        }
        (None, Some(_)) => json!({"result": "not needed"}),
        _ => Value::Null,
    };
    Explanation {
        decision,
        reason,
        rules: d.deciding_rules().collect(),
        report_only: d.report_only(),
        accelerator: accelerator_json(&d),
        jurisdiction: jurisdiction_json(policy, &d, request.ip),
        license_requirement: requirement.map(|r| {
            json!({
                "countries": r.countries().map(|c| c.country).collect::<Vec<_>>(),
                "also_covered_by": r.countries().filter_map(|c| c.alias_of).collect::<Vec<_>>(),
                "class": r.class,
                "instance_type": r.instance_type,
                "accelerators": (r.accelerators != u64::MAX).then_some(r.accelerators),
            })
        }),
        license,
        policy: json!({
            "name": policy.name(),
            "source": policy.source(),
            "digest": policy.digest(),
            "regime": policy.regime().name(),
            "country_lists_as_of": policy.country_lists_as_of(),
        }),
        allowed,
    }
}

fn accelerator_json(d: &Decision<'_>) -> Value {
    let acc = d.accelerators();
    let chip = acc.chip();
    json!({
        "instance_type": acc.instance_type,
        "catalog_entry": acc.instance.map(|i| i.entry),
        "class": acc.class,
        "evaluated_class": acc.evaluated_class,
        "chip": chip.map(|c| c.name()),
        "chips_per_instance": acc.chips_per_instance(),
        "instance_count": acc.instance_count,
        "accelerators": acc.chips_per_instance().map(|_| acc.total()),
        "tpp": chip.map(|c| round(c.tpp())),
        "performance_density": chip.and_then(|c| c.performance_density()).map(round),
    })
}

fn jurisdiction_json(policy: &Policy, d: &Decision<'_>, ip: Option<IpAddr>) -> Value {
    let f = d.facts();
    json!({
        "declared": country_json(policy, f.declared_country, d.declared_groups()),
        "network": country_json(policy, f.network_country, d.network_groups()),
        "network_ip": ip,
        "headquarters": country_json(policy, f.headquarters, d.headquarters_groups()),
    })
}

fn country_json(policy: &Policy, country: Option<CountryCode>, groups: GroupSet) -> Value {
    match country {
        None => Value::Null,
        Some(c) => json!({
            "country": c,
            "alias_of": policy.country_groups().alias_of(c),
            "groups": policy.country_groups().names(groups).collect::<Vec<_>>(),
        }),
    }
}

/// Three decimals: enough to compare with datasheets, short to read.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
