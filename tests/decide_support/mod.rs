//! Shared fixtures for the decision tests: dates, facts, what a decision
//! is compared by, the default policy's rule ids, and a small policy.
//!
//! Each test file is a crate of its own and uses only part of this module:
//! items that some of them do not use carry `#[allow(dead_code)]`.
// Fixture helpers fail loudly, like the tests that call them.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tower_export_control::policy::{Action, DefaultRule};
use tower_export_control::{
    AcceleratorClass, CountryCode, Decision, Facts, Policy, ReasonCode, decide,
};

/// 2026-07-08 00:00:00 UTC, the date of the default policy's country lists.
pub(crate) fn now() -> SystemTime {
    at("2026-07-08")
}

/// Midnight UTC of a `YYYY-MM-DD` date, plus `secs`.
pub(crate) fn at_plus(date: &str, secs: i64) -> SystemTime {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(date, format).unwrap();
    let t = date.midnight().assume_utc().unix_timestamp() + secs;
    if t >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
    }
}

pub(crate) fn at(date: &str) -> SystemTime {
    at_plus(date, 0)
}

pub(crate) fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

/// Facts from country codes (declared, network, headquarters), an instance
/// type and an instance count.
#[allow(dead_code)]
pub(crate) fn facts<'a>(
    declared: Option<&str>,
    network: Option<&str>,
    hq: Option<&str>,
    instance_type: Option<&'a str>,
    instance_count: u32,
) -> Facts<'a> {
    {
        let mut f = Facts::new();
        f.declared_country = declared.map(cc);
        f.network_country = network.map(cc);
        f.headquarters = hq.map(cc);
        f.instance_type = instance_type;
        f.instance_count = instance_count;
        f
    }
}

/// The ids of the deciding rules, in order.
#[allow(dead_code)]
pub(crate) fn rules_of(d: &Decision<'_>) -> Vec<String> {
    d.deciding_rules().map(str::to_owned).collect()
}

/// `(country, alias_of)` pairs.
pub(crate) type Countries = Vec<(String, Option<String>)>;

/// (country, alias_of) pairs of the license requirement, in order.
#[allow(dead_code)]
pub(crate) fn required(d: &Decision<'_>) -> Countries {
    d.license_requirement()
        .map(|r| {
            r.countries()
                .map(|c| (c.country.to_string(), c.alias_of.map(|a| a.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// What must not depend on rule order.
#[allow(dead_code)]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) outcome: Action,
    pub(crate) reason: Option<ReasonCode>,
    pub(crate) rules: BTreeSet<String>,
    pub(crate) default_rule: Option<DefaultRule>,
    pub(crate) requirement: Option<(Countries, AcceleratorClass, u64)>,
    pub(crate) evaluated_class: AcceleratorClass,
}

/// The parts of a decision that must not depend on rule order.
#[allow(dead_code)]
pub(crate) fn summary(d: &Decision<'_>) -> Summary {
    Summary {
        outcome: d.action(),
        reason: d.reason(),
        rules: d.deciding_rules().map(str::to_owned).collect(),
        default_rule: d.default_rule(),
        requirement: d
            .license_requirement()
            .map(|r| (required(d), r.class, r.accelerators)),
        evaluated_class: d.accelerators().evaluated_class,
    }
}

// ---------------------------------------------------------------------------
// Names in the default policy, and the ids of the defaults
// ---------------------------------------------------------------------------

/// The default policy's instance type with eight H100-SXM.
#[allow(dead_code)]
pub(crate) const P5: &str = "p5.48xlarge";

// The ids of the default policy's rules.
#[allow(dead_code)]
pub(crate) const DEST: &str = "3a090-destination";
#[allow(dead_code)]
pub(crate) const EMBARGO: &str = "embargo-e1-e2";
// The deciding-rule ids of the two defaults, in any policy.
#[allow(dead_code)]
pub(crate) const UNKNOWN_J: &str = "defaults.unknown_jurisdiction";
#[allow(dead_code)]
pub(crate) const UNKNOWN_IT: &str = "defaults.unknown_instance_type";

// ---------------------------------------------------------------------------
// A small policy
// ---------------------------------------------------------------------------

/// A small policy: groups G1 = {CN, RU}, G2 = {RU, IR}, EX = {RU};
/// instance types `a` (3A090.a), `b` (3A090.b), `low` (below-threshold),
/// `cpu` (none); then `extra` (defaults, rules, aliases...).
#[allow(dead_code)]
pub(crate) fn small(extra: &str) -> Policy {
    let text = format!(
        r#"
[policy]
name = "small"
country_lists_as_of = "2026-07-08"

[country_groups]
G1 = ["CN", "RU"]
G2 = ["RU", "IR"]
EX = ["RU"]

[[chips]]
name = "A"
datacenter = true
dense_tops = {{ 8 = 1000 }}
die_area_mm2 = 800

[[chips]]
name = "B"
datacenter = true
dense_tops = {{ 8 = 400 }}
die_area_mm2 = 800

[[chips]]
name = "LOW"
datacenter = true
dense_tops = {{ 8 = 100 }}
die_area_mm2 = 800

[[instance_types]]
name = "a"
chip = "A"
chips = 2
[[instance_types]]
name = "b"
chip = "B"
chips = 1
[[instance_types]]
name = "low"
chip = "LOW"
chips = 1
[[instance_types]]
name = "cpu"

{extra}
"#
    );
    match Policy::from_toml(&text, "small.toml", None) {
        Ok(p) => p,
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// The outcome for a declared country and an instance type.
#[allow(dead_code)]
pub(crate) fn outcome(p: &Policy, declared: Option<&str>, it: Option<&str>) -> Action {
    decide(p, &facts(declared, None, None, it, 1), now()).action()
}
