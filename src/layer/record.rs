//! Turning a request's outcome into an [`AuditRecord`].

use std::net::IpAddr;
use std::time::SystemTime;

use super::denial::Denial;
use super::read::HeaderFacts;
use super::tags::{ExportTags, TagDecision};
use crate::audit::{AuditOutcome, AuditRecord, unix_ms};

pub(crate) fn passed(
    tags: &ExportTags,
    facts: &HeaderFacts,
    client: Option<IpAddr>,
    now: SystemTime,
) -> AuditRecord {
    AuditRecord {
        decision_id: tags.decision_id(),
        time_unix_ms: unix_ms(now),
        outcome: match tags.decision() {
            TagDecision::Allow => AuditOutcome::Allow,
            TagDecision::AllowLicensed => AuditOutcome::AllowLicensed,
            TagDecision::ReportOnlyDeny => AuditOutcome::ReportOnlyDeny,
        },
        reason: tags.reason(),
        customer_id: facts.customer_id().map(str::to_owned),
        country: tags.declared_country(),
        headquarters: tags.headquarters(),
        network_country: tags.network_country(),
        client_ip: client,
        instance_type: tags.instance_type().map(str::to_owned),
        instance_count: Some(tags.instance_count()),
        accelerator_class: Some(tags.accelerator_class()),
        rules: tags.rules().map(str::to_owned).collect(),
        license_id: tags.license_id().map(str::to_owned),
        policy: tags.policy().digest().to_owned(),
    }
}

pub(crate) fn denied(
    denial: &Denial,
    facts: Option<&HeaderFacts>,
    client: Option<IpAddr>,
    now: SystemTime,
) -> AuditRecord {
    let outcome = if denial.reason.is_bad_input() {
        AuditOutcome::Rejected
    } else {
        AuditOutcome::Deny
    };
    AuditRecord {
        decision_id: denial.decision_id,
        time_unix_ms: unix_ms(now),
        outcome,
        reason: Some(denial.reason),
        customer_id: facts.and_then(|f| f.customer_id()).map(str::to_owned),
        country: denial.country.or_else(|| facts.and_then(|f| f.declared)),
        headquarters: denial
            .headquarters
            .or_else(|| facts.and_then(|f| f.headquarters)),
        network_country: denial.network_country,
        client_ip: client,
        instance_type: denial
            .instance_type
            .clone()
            .or_else(|| facts.and_then(|f| f.instance_type.clone())),
        instance_count: facts.map(|f| f.count.unwrap_or(1)),
        accelerator_class: denial.accelerator_class,
        rules: denial.rules.clone(),
        license_id: None,
        policy: denial.policy.clone(),
    }
}
