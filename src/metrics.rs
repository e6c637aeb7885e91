//! The names of the counters and histograms the gate records through the
//! [`metrics`](https://docs.rs/metrics) facade when the `metrics` feature
//! is on (install any exporter, e.g. `metrics-exporter-prometheus`, before
//! serving). Without the feature nothing is recorded and nothing is
//! compiled in.
//!
//! Labels take values only from closed sets (outcomes, reason codes,
//! accelerator classes, rule ids of the policy in force, fixed operation
//! names), never from a client-supplied string, so clients cannot grow the
//! set of series.

use std::time::Duration;

use crate::verdict::Verdict;

/// `export_control_decisions_total{outcome, reason, class, rule}`.
pub const DECISIONS: &str = "export_control_decisions_total";
/// `export_control_decision_duration_seconds`: reading the request's facts
/// and deciding, without the time a body takes to arrive.
pub const DECISION_DURATION: &str = "export_control_decision_duration_seconds";
/// `export_control_license_checks_total{result}`: `granted` or the reason
/// code of the refusal.
pub const LICENSE_CHECKS: &str = "export_control_license_checks_total";
/// `export_control_license_cache_hits_total`.
pub const LICENSE_CACHE_HITS: &str = "export_control_license_cache_hits_total";
/// `export_control_policy_reloads_total{result}`: `ok` or `error`.
pub const POLICY_RELOADS: &str = "export_control_policy_reloads_total";
/// `export_control_audit_records_dropped_total`.
pub const AUDIT_DROPPED: &str = "export_control_audit_records_dropped_total";
/// `export_control_refreshes_total{source, result}`: background fetches of
/// issuer keys (`jwks`) and revocation lists (`revocations`).
pub const REFRESHES: &str = "export_control_refreshes_total";
/// `export_control_ledger_operations_total{operation, result}`.
pub const LEDGER_OPERATIONS: &str = "export_control_ledger_operations_total";
/// `export_control_ledger_duration_seconds{operation}`.
pub const LEDGER_DURATION: &str = "export_control_ledger_duration_seconds";

#[cfg(feature = "metrics")]
mod on {
    use super::*;
    use crate::verdict::LicenseCheck;

    pub(crate) fn decision(verdict: &Verdict, took: Option<Duration>) {
        let outcome = verdict.outcome().as_str();
        let reason = verdict.reason().map_or("none", |r| r.as_str());
        let class = verdict.accelerator_class().map_or("none", |c| c.as_str());
        // Rule ids come from the policy in force: a closed set. One rule
        // (the usual case) is shared, not copied.
        let rule: ::metrics::SharedString = match verdict.single_rule() {
            Some(shared) => shared.into(),
            None => {
                let ids: Vec<&str> = verdict.rules().collect();
                if ids.is_empty() {
                    "none".into()
                } else {
                    ids.join(",").into()
                }
            }
        };
        ::metrics::counter!(DECISIONS, "outcome" => outcome, "reason" => reason, "class" => class, "rule" => rule)
            .increment(1);
        if let Some(took) = took {
            ::metrics::histogram!(DECISION_DURATION).record(took.as_secs_f64());
        }
        let result = match verdict.license() {
            LicenseCheck::NotRequired | LicenseCheck::Missing => return,
            LicenseCheck::Granted(_) => "granted",
            LicenseCheck::Refused(d) => d.reason().as_str(),
        };
        ::metrics::counter!(LICENSE_CHECKS, "result" => result).increment(1);
    }

    pub(crate) fn license_cache_hit() {
        ::metrics::counter!(LICENSE_CACHE_HITS).increment(1);
    }

    pub(crate) fn policy_reload(ok: bool) {
        let result = if ok { "ok" } else { "error" };
        ::metrics::counter!(POLICY_RELOADS, "result" => result).increment(1);
    }

    pub(crate) fn audit_dropped() {
        ::metrics::counter!(AUDIT_DROPPED).increment(1);
    }

    pub(crate) fn refresh(source: &'static str, ok: bool) {
        let result = if ok { "ok" } else { "error" };
        ::metrics::counter!(REFRESHES, "source" => source, "result" => result).increment(1);
    }

    pub(crate) fn ledger(operation: &'static str, result: &'static str, took: Duration) {
        ::metrics::counter!(LEDGER_OPERATIONS, "operation" => operation, "result" => result)
            .increment(1);
        ::metrics::histogram!(LEDGER_DURATION, "operation" => operation).record(took.as_secs_f64());
    }

    /// Whether timings are worth taking.
    pub(crate) const fn timed() -> bool {
        true
    }
}

#[cfg(not(feature = "metrics"))]
mod on {
    use super::*;

    pub(crate) fn decision(_: &Verdict, _: Option<Duration>) {}
    pub(crate) fn license_cache_hit() {}
    pub(crate) fn policy_reload(_: bool) {}
    pub(crate) fn audit_dropped() {}
    pub(crate) fn refresh(_: &'static str, _: bool) {}
    pub(crate) fn ledger(_: &'static str, _: &'static str, _: Duration) {}
    pub(crate) const fn timed() -> bool {
        false
    }
}

#[allow(unused_imports)] // recorded by the key refreshers
pub(crate) use on::refresh;
pub(crate) use on::{audit_dropped, decision, ledger, license_cache_hit, policy_reload, timed};
