//! The default policy's decision table: one row a case (declared, network
//! and headquarters countries, instance type and count) with the outcome,
//! reason, deciding rules, license countries and accelerator count it must
//! give. Checked on the default policy plus test instance types, and on the
//! embedded default for the rows that need none of them.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used)]

mod decide_support;

use decide_support::*;
use tower_export_control::policy::{Action, DEFAULT_POLICY_TOML};
use tower_export_control::{Policy, ReasonCode, decide};

/// The default policy plus instance types for chips the default catalog
/// has but no default instance type carries (3A090.b L40 and MI210;
/// below-threshold H20), so the table can cover those classes.
fn table_policy() -> Policy {
    let extra = r#"
[[instance_types]]
name = "test.l40"
chip = "L40"
chips = 4
[[instance_types]]
name = "test.mi210"
chip = "MI210"
chips = 2
[[instance_types]]
name = "test.h20"
chip = "H20"
chips = 8
"#;
    Policy::from_toml(&format!("{DEFAULT_POLICY_TOML}{extra}"), "table.toml", None).unwrap()
}

const HQ: &str = "3a090-headquarters";

struct Row {
    name: &'static str,
    declared: Option<&'static str>,
    network: Option<&'static str>,
    hq: Option<&'static str>,
    instance_type: Option<&'static str>,
    count: u32,
    outcome: Action,
    reason: Option<&'static str>,
    rules: &'static [&'static str],
    /// License requirement countries, `(country, alias_of)`.
    countries: &'static [(&'static str, Option<&'static str>)],
    /// License requirement accelerator total, for require-license rows.
    accelerators: Option<u64>,
}

/// Countries in the order declared, network, headquarters.
type Who = (
    Option<&'static str>,
    Option<&'static str>,
    Option<&'static str>,
);

fn allow(name: &'static str, who: Who, it: Option<&'static str>) -> Row {
    Row {
        name,
        declared: who.0,
        network: who.1,
        hq: who.2,
        instance_type: it,
        count: 1,
        outcome: Action::Allow,
        reason: None,
        rules: &[],
        countries: &[],
        accelerators: None,
    }
}

fn deny(name: &'static str, who: Who, it: Option<&'static str>) -> Row {
    Row {
        outcome: Action::Deny,
        reason: Some("embargoed"),
        rules: &[EMBARGO],
        ..allow(name, who, it)
    }
}

fn license(
    name: &'static str,
    who: Who,
    it: &'static str,
    rules: &'static [&'static str],
    countries: &'static [(&'static str, Option<&'static str>)],
    accelerators: u64,
) -> Row {
    Row {
        outcome: Action::RequireLicense,
        reason: Some("license_required"),
        rules,
        countries,
        accelerators: Some(accelerators),
        ..allow(name, who, Some(it))
    }
}

const fn d(c: &'static str) -> Who {
    (Some(c), None, None)
}

#[rustfmt::skip] // one row a line
fn table() -> Vec<Row> {
    let cn: &[(&str, Option<&str>)] = &[("CN", None)];
    let nobody = (None, None, None);
    let mut rows = vec![
        // Destinations (declared country), 3A090.a
        license("CN p5", d("CN"), P5, &[DEST], cn, 8),
        license("HK is CN", d("HK"), P5, &[DEST], &[("HK", Some("CN"))], 8),
        license("MO by name", d("MO"), P5, &[DEST], &[("MO", None)], 8),
        allow("IL carved out (A:6)", d("IL"), Some(P5)),
        license("KH is D:1", d("KH"), P5, &[DEST], &[("KH", None)], 8),
        license("AE D:4", d("AE"), P5, &[DEST], &[("AE", None)], 8),
        license("SA D:4", d("SA"), P5, &[DEST], &[("SA", None)], 8),
        license("VN D:1", d("VN"), P5, &[DEST], &[("VN", None)], 8),
        license("RU", d("RU"), P5, &[DEST], &[("RU", None)], 8),
        license("BY", d("BY"), "a3-megagpu-8g", &[DEST], &[("BY", None)], 8),
        allow("US", d("US"), Some(P5)),
        allow("DE (A:5)", d("DE"), Some(P5)),
        allow("JP (A:5)", d("JP"), Some(P5)),
        allow("IN (A:5)", d("IN"), Some(P5)),
        allow("TW (D:3 only, A:6)", d("TW"), Some(P5)),
        // Embargoed: everything, even CPU-only and no instance type.
        deny("IR p5", d("IR"), Some(P5)),
        deny("KP CPU-only", d("KP"), Some("m7i.large")),
        deny("SY no instance type", d("SY"), None),
        deny("CU below-threshold", d("CU"), Some("g4dn.xlarge")),
        // The embargo decides; the unknown type is reported as well.
        Row { rules: &[EMBARGO, UNKNOWN_IT], ..deny("IR unknown type", d("IR"), Some("x9.unknown")) },
        deny("network IR, declared US", (Some("US"), Some("IR"), None), Some("m7i.large")),
        deny("network KP only, nothing asked", (None, Some("KP"), None), None),
        // Declared and network countries disagree: either triggers.
        license("declared US from a CN address", (Some("US"), Some("CN"), None), P5, &[DEST], cn, 8),
        license("declared CN from a US address", (Some("CN"), Some("US"), None), P5, &[DEST], cn, 8),
        license("network CN only", (None, Some("CN"), None), P5, &[DEST], cn, 8),
        license("declared CN from HK", (Some("CN"), Some("HK"), None), P5, &[DEST], &[("CN", None), ("HK", Some("CN"))], 8),
        allow("declared US from an IL address", (Some("US"), Some("IL"), None), Some(P5)),
        // Headquarters: D:5 or Macau, located outside the United States.
        allow("HQ CN, located in the US", (Some("US"), None, Some("CN")), Some(P5)),
        license("HQ CN, declared US, connecting from DE", (Some("US"), Some("DE"), Some("CN")), P5, &[HQ], cn, 8),
        license("HQ CN, declared DE", (Some("DE"), None, Some("CN")), P5, &[HQ], cn, 8),
        license("HQ MO, declared JP", (Some("JP"), None, Some("MO")), "g6e.xlarge", &[HQ], &[("MO", None)], 1),
        license("HQ HK (alias of CN, D:5)", (Some("DE"), None, Some("HK")), P5, &[HQ], &[("HK", Some("CN"))], 8),
        allow("HQ KH (not D:5 since 2026)", (Some("US"), None, Some("KH")), Some(P5)),
        license("located and HQ in KH", (Some("KH"), None, Some("KH")), P5, &[DEST], &[("KH", None)], 8),
        allow("HQ AE (D:4, not D:5)", (Some("US"), None, Some("AE")), Some(P5)),
        allow("HQ IR, located in US", (Some("US"), None, Some("IR")), Some(P5)),
        license("HQ IR, located in GB", (Some("GB"), None, Some("IR")), P5, &[HQ], &[("IR", None)], 8),
        allow("HQ IR, CPU-only", (Some("US"), None, Some("IR")), Some("m7i.large")),
        license("CN located and HQ: one country", (Some("CN"), None, Some("CN")), P5, &[DEST, HQ], cn, 8),
        license("three countries", (Some("US"), Some("CN"), Some("MO")), P5, &[DEST, HQ], &[("CN", None), ("MO", None)], 8),
        // Unknown jurisdiction.
        Row { reason: Some("jurisdiction_unknown"), ..license("no country, p5", nobody, P5, &[UNKNOWN_J], &[], 8) },
        Row { reason: Some("jurisdiction_unknown"), ..license("no country, 3A090.b", nobody, "test.l40", &[UNKNOWN_J], &[], 4) },
        allow("no country, CPU-only", nobody, Some("m7i.large")),
        allow("no country, below-threshold", nobody, Some("g5.xlarge")),
        allow("no country, nothing asked", nobody, None),
        // The headquarters rule needs a location outside the US; with none
        // known the default applies, and a license must name the headquarters.
        Row { reason: Some("jurisdiction_unknown"), ..license("no location, HQ CN", (None, None, Some("CN")), "g6.xlarge", &[UNKNOWN_J], cn, 1) },
        allow("no location, HQ US", (None, None, Some("US")), Some("m7i.large")),
        // Unknown instance types: treated as 3A090.a.
        Row { reason: Some("instance_type_unknown"), ..license("CN unknown type", d("CN"), "x9.superchip", &[DEST, UNKNOWN_IT], cn, u64::MAX) },
        allow("US unknown type", d("US"), Some("x9.superchip")),
        Row { reason: Some("jurisdiction_unknown"), ..license("no country, unknown type", nobody, "x9.superchip", &[UNKNOWN_J], &[], u64::MAX) },
        // Classes for CN.
        allow("CN H20 (below)", d("CN"), Some("test.h20")),
        allow("CN A10G (below)", d("CN"), Some("g5.48xlarge")),
        allow("CN T4 (below)", d("CN"), Some("g4dn.xlarge")),
        allow("CN V100 (below)", d("CN"), Some("p3.16xlarge")),
        allow("CN CPU-only", d("CN"), Some("m7i.large")),
        allow("CN nothing asked", d("CN"), None),
        license("CN L40 (3A090.b)", d("CN"), "test.l40", &[DEST], cn, 4),
        license("CN MI210 (3A090.b)", d("CN"), "test.mi210", &[DEST], cn, 2),
        license("CN L4 (3A090.a.2)", d("CN"), "g6.xlarge", &[DEST], cn, 1),
        license("CN Inferentia2", d("CN"), "inf2.48xlarge", &[DEST], cn, 12),
        license("MO MI300X", d("MO"), "Standard_ND96isr_MI300X_v5", &[DEST], &[("MO", None)], 8),
        license("VN GCP A100", d("VN"), "a2-highgpu-1g", &[DEST], &[("VN", None)], 1),
    ];
    // The instance count multiplies the accelerators.
    rows.push(Row { count: 3, ..license("CN p5 × 3", d("CN"), P5, &[DEST], cn, 24) });
    rows.push(Row { count: 100_000, ..license("CN trn1 × 100000", d("CN"), "trn1.32xlarge", &[DEST], cn, 1_600_000) });
    rows
}

fn check_row(policy: &Policy, r: &Row) {
    let f = facts(r.declared, r.network, r.hq, r.instance_type, r.count);
    let d = decide(policy, &f, now());
    let name = r.name;
    assert_eq!(d.action(), r.outcome, "{name}: outcome");
    assert_eq!(
        d.reason().map(ReasonCode::as_str),
        r.reason,
        "{name}: reason"
    );
    assert_eq!(rules_of(&d), r.rules, "{name}: deciding rules");
    let want: Vec<(String, Option<String>)> = r
        .countries
        .iter()
        .map(|(c, a)| ((*c).to_owned(), a.map(str::to_owned)))
        .collect();
    assert_eq!(required(&d), want, "{name}: license countries");
    let req = d.license_requirement();
    assert_eq!(req.is_some(), r.outcome == Action::RequireLicense, "{name}");
    if let Some(req) = req {
        assert_eq!(
            Some(req.accelerators),
            r.accelerators,
            "{name}: accelerators"
        );
        assert_eq!(req.instance_type, r.instance_type, "{name}");
        assert_eq!(req.class, d.accelerators().evaluated_class, "{name}");
    }
    assert!(!d.report_only(), "{name}");
    assert_eq!(d.facts(), &f);
}

#[test]
fn decision_table() {
    let rows = table();
    assert!(rows.len() >= 40, "{} rows", rows.len());
    let policy = table_policy();
    for r in &rows {
        check_row(&policy, r);
    }
    // The embedded default gives the same answers for the rows that use
    // only its own instance types.
    let default = Policy::embedded_default();
    for r in rows
        .iter()
        .filter(|r| !r.instance_type.is_some_and(|t| t.starts_with("test.")))
    {
        check_row(&default, r);
    }
}
