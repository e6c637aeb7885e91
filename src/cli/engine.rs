//! Every call the tool makes into the decision API: loading a policy into
//! a gate, building the facts of a request, evaluating it and reading the
//! verdict, the same evaluation the layer makes. Kept together so that a
//! change to that API touches this file only.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Value, json};

use crate::jurisdiction::IpTable;
use crate::license::LicenseTrust;
use crate::verdict::LicenseCheck;
use crate::{CountryCode, Facts, Gate, Outcome, Policy, PolicyError, ReasonCode, Verdict};

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

/// A gate on the policy in `file`, or on the embedded default; with
/// `ip_tables` for a policy that names none.
///
/// The embedded default trusts no license issuer. With `demo_issuer` the
/// gate trusts the demo issuer of `examples/demo-issuer/` for policies that
/// name no issuer, so that tokens minted with its key can be tried out.
pub(super) fn load_gate(
    file: Option<&Path>,
    ip_tables: &[PathBuf],
    demo_issuer: bool,
) -> Result<Gate, String> {
    let policy = match file {
        Some(path) => read_policy(path).map_err(|e| e.to_string())?,
        None => Policy::embedded_default(),
    };
    let mut gate = Gate::new(policy);
    if file.is_none() && demo_issuer {
        let trust = LicenseTrust::from_toml_path(DEMO_ISSUER).map_err(|e| {
            format!("the demo license issuer is not available ({e}); pass --policy")
        })?;
        gate = gate.with_license_trust(trust);
    }
    if !ip_tables.is_empty() {
        let table = IpTable::from_paths(ip_tables).map_err(|e| e.to_string())?;
        gate = gate.with_ip_table(table);
    }
    Ok(gate)
}

/// One request, as the command line describes it.
#[derive(Debug)]
pub(super) struct Request<'a> {
    pub(super) country: Option<CountryCode>,
    pub(super) headquarters: Option<CountryCode>,
    pub(super) parent: Option<CountryCode>,
    pub(super) ip: Option<IpAddr>,
    pub(super) instance_type: &'a str,
    pub(super) count: u32,
    pub(super) customer: Option<&'a str>,
    pub(super) license: Option<&'a str>,
}

/// What the gate is told: the countries (the IP address's from the IP
/// table in use), the instance type and count, and the customer.
fn facts<'a>(gate: &Gate, policy: &Policy, request: &Request<'a>) -> Facts<'a> {
    let mut facts = Facts::new()
        .with_instance_type(request.instance_type)
        .with_instance_count(request.count);
    facts.declared_country = request.country;
    facts.headquarters = request.headquarters;
    facts.parent_country = request.parent;
    facts.network_country = request.ip.and_then(|ip| gate.network_country(policy, ip));
    facts.customer_id = request.customer;
    facts
}

/// What `explain` prints, in reading order.
#[derive(Debug, Serialize)]
pub(super) struct Explanation {
    decision: &'static str,
    reason: Option<&'static str>,
    rules: Vec<String>,
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

/// Evaluates `request` at `now` as the layer would, and says why. The
/// decision is what enforcement does: `require-license` when a license was
/// needed and none was given (also in report-only mode, which
/// `report_only` tells).
pub(super) fn explain(gate: &Gate, request: &Request<'_>, now: SystemTime) -> Explanation {
    let policy = gate.policy();
    let facts = facts(gate, &policy, request);
    let v = gate.evaluate(&facts, request.license, now);
    let decision = match (v.outcome(), v.license()) {
        (Outcome::Allow, _) => "allow",
        (Outcome::AllowLicensed, _) => "allow-licensed",
        (_, LicenseCheck::Missing) => "require-license",
        _ => "deny",
    };
    let license = match (v.license(), request.license) {
        (LicenseCheck::Granted(grant), _) => {
            json!({"result": "allow-licensed", "jti": grant.jti(), "issuer": grant.issuer()})
        }
        (LicenseCheck::Refused(denial), _) => {
            json!({"result": denial.reason().as_str(), "detail": denial.detail()})
        }
        (_, Some(_)) => json!({"result": "not needed"}),
        _ => Value::Null,
    };
    Explanation {
        decision,
        reason: v.reason().map(ReasonCode::as_str),
        rules: v.rules().map(str::to_owned).collect(),
        report_only: v.outcome() == Outcome::ReportOnlyDeny,
        accelerator: accelerator_json(&v),
        jurisdiction: jurisdiction_json(&v, request.ip),
        license_requirement: v.license_requirement().map(|r| {
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
        allowed: matches!(v.outcome(), Outcome::Allow | Outcome::AllowLicensed),
    }
}

fn accelerator_json(v: &Verdict) -> Value {
    let info = v
        .instance_type()
        .and_then(|t| v.policy().catalog().lookup(t));
    let chip = info.and_then(|i| i.chip);
    json!({
        "instance_type": v.instance_type(),
        "catalog_entry": info.map(|i| i.entry),
        "class": v.accelerator_class(),
        "evaluated_class": v.evaluated_class(),
        "chip": chip.map(|c| c.name()),
        "chips_per_instance": info.map(|i| i.chips_per_instance),
        "instance_count": v.instance_count(),
        "accelerators": v.accelerators(),
        "tpp": chip.map(|c| round(c.tpp())),
        "performance_density": chip.and_then(|c| c.performance_density()).map(round),
    })
}

fn jurisdiction_json(v: &Verdict, ip: Option<IpAddr>) -> Value {
    json!({
        "declared": country_json(v.policy(), v.declared_country()),
        "network": country_json(v.policy(), v.network_country()),
        "network_ip": ip,
        "headquarters": country_json(v.policy(), v.headquarters()),
        "parent": country_json(v.policy(), v.parent_country()),
    })
}

fn country_json(policy: &Policy, country: Option<CountryCode>) -> Value {
    let groups = policy.country_groups();
    match country {
        None => Value::Null,
        Some(c) => json!({
            "country": c,
            "alias_of": groups.alias_of(c),
            "groups": groups.names(groups.groups_of(c)).collect::<Vec<_>>(),
        }),
    }
}

/// Three decimals: enough to compare with datasheets, short to read.
fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
