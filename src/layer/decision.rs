//! From facts to "pass on, tagged" or "deny": calls `decide` and the
//! license check, and records the outcome.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use super::denial::Denial;
use super::read::HeaderFacts;
use super::tags::{ExportTags, TagDecision};
use crate::audit::DecisionId;
use crate::policy::{Decision, Outcome};
use crate::{Facts, Policy, ReasonCode, decide};

/// Decides a request whose facts were read; `Ok` carries the tags of a
/// request to pass on.
pub(crate) fn evaluate(
    id: DecisionId,
    policy: &Arc<Policy>,
    facts: &HeaderFacts,
    client: Option<IpAddr>,
    now: &mut dyn FnMut() -> SystemTime,
    grpc: bool,
) -> Result<ExportTags, Box<Denial>> {
    let network_country = client.and_then(|ip| policy.ip_table().lookup(ip));
    let f = Facts {
        declared_country: facts.declared,
        headquarters: facts.headquarters,
        network_country,
        instance_type: facts.instance_type.as_deref(),
        instance_count: facts.count.unwrap_or(1),
    };
    // Only rules with effective dates read the time: spare the clock
    // otherwise (any instant gives the same decision).
    let decided_at = if policy.has_dated_rules() {
        now()
    } else {
        SystemTime::UNIX_EPOCH
    };
    let d = decide(policy, &f, decided_at);
    match d.outcome() {
        Outcome::Allow => {
            record(id, &d, "allow", None);
            Ok(ExportTags::new(
                id,
                policy,
                &d,
                TagDecision::Allow,
                None,
                None,
            ))
        }
        Outcome::Deny => {
            let reason = d.reason().unwrap_or(ReasonCode::Embargoed);
            block(id, policy, &d, reason, detail(&d, reason), grpc)
        }
        Outcome::RequireLicense => {
            let reason = d.reason().unwrap_or(ReasonCode::LicenseRequired);
            let (Some(token), Some(requirement)) = (facts.license(), d.license_requirement())
            else {
                return block(id, policy, &d, reason, detail(&d, reason), grpc);
            };
            let customer = facts.customer_id();
            match policy
                .license_verifier()
                .check(token, customer, &requirement, now())
            {
                Ok(grant) => {
                    let jti = grant.jti().to_owned();
                    record(id, &d, "allow-licensed", Some(&jti));
                    Ok(ExportTags::new(
                        id,
                        policy,
                        &d,
                        TagDecision::AllowLicensed,
                        None,
                        Some(jti),
                    ))
                }
                Err(denial) => {
                    let why = format!(
                        "{} The license presented was not accepted: {}.",
                        detail(&d, reason),
                        denial.detail()
                    );
                    block(id, policy, &d, denial.reason(), why, grpc)
                }
            }
        }
    }
}

/// Denies, or in report-only mode passes on tagged `report-only-deny`.
fn block(
    id: DecisionId,
    policy: &Arc<Policy>,
    d: &Decision<'_>,
    reason: ReasonCode,
    detail: String,
    grpc: bool,
) -> Result<ExportTags, Box<Denial>> {
    if d.report_only() {
        tracing::warn!(
            target: "tower_export_control::audit",
            decision_id = %id,
            reason = reason.as_str(),
            rules = %RuleList(d),
            policy = d.policy().digest(),
            "would deny: {detail}"
        );
        return Ok(ExportTags::new(
            id,
            policy,
            d,
            TagDecision::ReportOnlyDeny,
            Some(reason),
            None,
        ));
    }
    record(id, d, "deny", None);
    Err(Box::new(Denial::blocked(id, d, reason, detail, grpc)))
}

fn record(id: DecisionId, d: &Decision<'_>, outcome: &str, license: Option<&str>) {
    let f = d.facts();
    tracing::info!(
        target: "tower_export_control::audit",
        decision_id = %id,
        outcome,
        reason = d.reason().map(ReasonCode::as_str),
        country = f.declared_country.as_ref().map(|c| c.as_str()),
        network_country = f.network_country.as_ref().map(|c| c.as_str()),
        headquarters = f.headquarters.as_ref().map(|c| c.as_str()),
        instance_type = f.instance_type,
        class = d.accelerators().evaluated_class.as_str(),
        rules = %RuleList(d),
        license,
        policy = d.policy().digest(),
        "export decision"
    );
}

struct RuleList<'d, 'a>(&'d Decision<'a>);

impl std::fmt::Display for RuleList<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, r) in self.0.deciding_rules().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(r)?;
        }
        Ok(())
    }
}

/// A sentence explaining a decision, e.g. "Instance type p5.48xlarge
/// (8 x H100-SXM, class 3A090.a) requires an export license for customers
/// in CN (groups D:1, D:4, D:5)."
pub(crate) fn detail(d: &Decision<'_>, reason: ReasonCode) -> String {
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
    let mut seen = Vec::with_capacity(3);
    for (label, c) in [
        ("in", f.declared_country),
        ("connecting from", f.network_country),
        ("headquartered in", f.headquarters),
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
