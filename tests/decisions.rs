//! Decisions: the default policy's decision table, the derived set of
//! licensed destinations, policy semantics on small policies, and
//! properties (rule order never matters; `decide` never panics).

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use tower_export_control::policy::{DEFAULT_POLICY_TOML, DefaultRule, Mode};
use tower_export_control::{
    AcceleratorClass, CountryCode, Decision, Facts, Outcome, Policy, ReasonCode, decide,
};

/// 2026-07-08 00:00:00 UTC, the date of the default policy's country lists.
fn now() -> SystemTime {
    at("2026-07-08")
}

/// Midnight UTC of a `YYYY-MM-DD` date, plus `secs`.
fn at_plus(date: &str, secs: i64) -> SystemTime {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(date, format).unwrap();
    let t = date.midnight().assume_utc().unix_timestamp() + secs;
    if t >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
    }
}

fn at(date: &str) -> SystemTime {
    at_plus(date, 0)
}

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

fn facts<'a>(
    declared: Option<&str>,
    network: Option<&str>,
    hq: Option<&str>,
    instance_type: Option<&'a str>,
    instance_count: u32,
) -> Facts<'a> {
    Facts {
        declared_country: declared.map(cc),
        network_country: network.map(cc),
        headquarters: hq.map(cc),
        instance_type,
        instance_count,
    }
}

fn rules_of(d: &Decision<'_>) -> Vec<String> {
    d.deciding_rules().map(str::to_owned).collect()
}

/// `(country, alias_of)` pairs.
type Countries = Vec<(String, Option<String>)>;

/// (country, alias_of) pairs of the license requirement, in order.
fn required(d: &Decision<'_>) -> Countries {
    d.license_requirement()
        .map(|r| {
            r.countries()
                .map(|c| (c.country.to_string(), c.alias_of.map(|a| a.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// The default policy's decision table
// ---------------------------------------------------------------------------

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

const DEST: &str = "3a090-destination";
const HQ: &str = "3a090-headquarters";
const EMBARGO: &str = "embargo-e1-e2";
const UNKNOWN_J: &str = "defaults.unknown_jurisdiction";
const UNKNOWN_IT: &str = "defaults.unknown_instance_type";

struct Row {
    name: &'static str,
    declared: Option<&'static str>,
    network: Option<&'static str>,
    hq: Option<&'static str>,
    instance_type: Option<&'static str>,
    count: u32,
    outcome: Outcome,
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
        outcome: Outcome::Allow,
        reason: None,
        rules: &[],
        countries: &[],
        accelerators: None,
    }
}

fn deny(name: &'static str, who: Who, it: Option<&'static str>) -> Row {
    Row {
        outcome: Outcome::Deny,
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
        outcome: Outcome::RequireLicense,
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

const P5: &str = "p5.48xlarge";

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
        // Headquarters: D:5 or Macau, wherever located.
        license("HQ CN, declared US", (Some("US"), None, Some("CN")), P5, &[HQ], cn, 8),
        license("HQ MO, declared JP", (Some("JP"), None, Some("MO")), "g6e.xlarge", &[HQ], &[("MO", None)], 1),
        license("HQ HK (alias of CN, D:5)", (Some("DE"), None, Some("HK")), P5, &[HQ], &[("HK", Some("CN"))], 8),
        allow("HQ KH (not D:5 since 2026)", (Some("US"), None, Some("KH")), Some(P5)),
        license("located and HQ in KH", (Some("KH"), None, Some("KH")), P5, &[DEST], &[("KH", None)], 8),
        allow("HQ AE (D:4, not D:5)", (Some("US"), None, Some("AE")), Some(P5)),
        license("HQ IR, located in US", (Some("US"), None, Some("IR")), P5, &[HQ], &[("IR", None)], 8),
        allow("HQ IR, CPU-only", (Some("US"), None, Some("IR")), Some("m7i.large")),
        license("CN located and HQ: one country", (Some("CN"), None, Some("CN")), P5, &[DEST, HQ], cn, 8),
        license("three countries", (Some("US"), Some("CN"), Some("MO")), P5, &[DEST, HQ], &[("CN", None), ("MO", None)], 8),
        // Unknown jurisdiction.
        Row { reason: Some("jurisdiction_unknown"), ..license("no country, p5", nobody, P5, &[UNKNOWN_J], &[], 8) },
        Row { reason: Some("jurisdiction_unknown"), ..license("no country, 3A090.b", nobody, "test.l40", &[UNKNOWN_J], &[], 4) },
        allow("no country, CPU-only", nobody, Some("m7i.large")),
        allow("no country, below-threshold", nobody, Some("g5.xlarge")),
        allow("no country, nothing asked", nobody, None),
        license("no location, HQ CN", (None, None, Some("CN")), "g6.xlarge", &[HQ, UNKNOWN_J], cn, 1),
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
    assert_eq!(d.outcome(), r.outcome, "{name}: outcome");
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
    assert_eq!(
        req.is_some(),
        r.outcome == Outcome::RequireLicense,
        "{name}"
    );
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

#[test]
fn decision_details() {
    let policy = Policy::embedded_default();
    let names = |set| {
        policy
            .country_groups()
            .names(set)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };

    // HK gets CN's groups.
    let hk = decide(&policy, &facts(Some("HK"), None, None, Some(P5), 1), now());
    let cn = decide(&policy, &facts(Some("CN"), None, None, Some(P5), 1), now());
    assert_eq!(names(hk.declared_groups()), ["D:1", "D:3", "D:4", "D:5"]);
    assert_eq!(hk.declared_groups(), cn.declared_groups());
    assert_eq!(policy.country_groups().alias_of(cc("HK")), Some(cc("CN")));
    assert_eq!(policy.country_groups().alias_of(cc("CN")), None);
    assert_eq!(policy.country_groups().alias_of(cc("MO")), None);

    // KH: D:1 only.
    let kh = decide(&policy, &facts(Some("KH"), None, None, Some(P5), 1), now());
    assert_eq!(names(kh.declared_groups()), ["D:1"]);
    // MO: D:1, D:3, D:4, not D:5.
    let mo = decide(&policy, &facts(None, Some("MO"), None, Some(P5), 1), now());
    assert_eq!(names(mo.network_groups()), ["D:1", "D:3", "D:4"]);
    assert_eq!(mo.location_groups(), mo.network_groups());
    // IL: in D and A groups.
    let il = decide(
        &policy,
        &facts(Some("IL"), None, Some("CN"), Some(P5), 1),
        now(),
    );
    assert_eq!(names(il.declared_groups()), ["A:6", "D:2", "D:3", "D:4"]);
    assert_eq!(
        names(il.headquarters_groups()),
        ["D:1", "D:3", "D:4", "D:5"]
    );
    // Location groups are the union of declared and network.
    let both = decide(
        &policy,
        &facts(Some("US"), Some("CU"), None, None, 1),
        now(),
    );
    assert_eq!(names(both.location_groups()), ["D:2", "D:3", "D:5", "E:2"]);
    assert!(both.declared_groups().is_empty());

    // Accelerators.
    let acc = cn.accelerators();
    assert_eq!(acc.class, AcceleratorClass::Eccn3A090a);
    assert_eq!(acc.evaluated_class, AcceleratorClass::Eccn3A090a);
    assert_eq!(acc.chip().map(|c| c.name()), Some("H100-SXM"));
    assert_eq!(acc.chips_per_instance(), Some(8));
    assert_eq!(acc.total(), 8);
    let unknown = decide(
        &policy,
        &facts(Some("US"), None, None, Some("zz.1"), 4),
        now(),
    );
    let acc = unknown.accelerators();
    assert_eq!(acc.class, AcceleratorClass::Unknown);
    assert_eq!(acc.evaluated_class, AcceleratorClass::Eccn3A090a);
    assert_eq!(acc.chips_per_instance(), None);
    assert_eq!(acc.total(), u64::MAX);
    let none = decide(&policy, &facts(Some("US"), None, None, None, 1), now());
    assert_eq!(none.accelerators().class, AcceleratorClass::None);
    assert_eq!(none.accelerators().total(), 0);
    let cpu = decide(
        &policy,
        &facts(Some("US"), None, None, Some("m7i.large"), 5),
        now(),
    );
    assert_eq!(cpu.accelerators().class, AcceleratorClass::None);
    assert_eq!(cpu.accelerators().chips_per_instance(), Some(0));
    assert_eq!(cpu.accelerators().instance.unwrap().entry, "m7i.*");

    // Default rules.
    let unknown_cn = decide(
        &policy,
        &facts(Some("CN"), None, None, Some("zz.1"), 1),
        now(),
    );
    assert_eq!(
        unknown_cn.default_rule(),
        Some(DefaultRule::UnknownInstanceType)
    );
    let no_country = decide(&policy, &facts(None, None, None, Some(P5), 1), now());
    assert_eq!(
        no_country.default_rule(),
        Some(DefaultRule::UnknownJurisdiction)
    );
    assert_eq!(
        no_country
            .license_requirement()
            .unwrap()
            .countries()
            .count(),
        0
    );
    assert_eq!(cn.default_rule(), None);
    assert_eq!(cn.policy().digest(), policy.digest());
    assert_eq!(Outcome::RequireLicense.as_str(), "require-license");
}

// ---------------------------------------------------------------------------
// The derived set: every assigned code as the declared country
// ---------------------------------------------------------------------------

/// regulatory-facts §2.2: (D:1 ∪ D:4 ∪ D:5 ∪ {MO}) − (A:5 ∪ A:6), 46 codes.
const DERIVED_46: &str = "AE AF AM AZ BH BY CD CF CN CU EG ER GE HT IQ IR JO KG KH KP KW KZ LA LB \
                          LY MD MM MN MO NI OM PK QA RU SA SD SO SS SY TJ TM UZ VE VN YE ZW";

/// E:1 ∪ E:2: denied as embargoed, which is more restrictive than the
/// license requirement they would otherwise get (all four are in D:4 or
/// D:5, so they are in the 46).
const EMBARGOED: &str = "CU IR KP SY";

fn set(s: &str) -> BTreeSet<CountryCode> {
    s.split_whitespace().map(cc).collect()
}

#[test]
fn the_derived_set_of_licensed_destinations() {
    let policy = Policy::embedded_default();
    let derived = set(DERIVED_46);
    assert_eq!(derived.len(), 46);
    let embargoed = set(EMBARGOED);
    assert!(embargoed.is_subset(&derived));

    let mut licensed = BTreeSet::new();
    let mut denied = BTreeSet::new();
    let mut allowed = BTreeSet::new();
    for c in CountryCode::all() {
        let f = Facts {
            declared_country: Some(c),
            instance_type: Some(P5),
            ..Facts::default()
        };
        let d = decide(&policy, &f, now());
        match d.outcome() {
            Outcome::RequireLicense => {
                assert_eq!(d.reason(), Some(ReasonCode::LicenseRequired), "{c}");
                assert_eq!(rules_of(&d), [DEST], "{c}");
                licensed.insert(c)
            }
            Outcome::Deny => {
                assert_eq!(d.reason(), Some(ReasonCode::Embargoed), "{c}");
                assert_eq!(rules_of(&d), [EMBARGO], "{c}");
                denied.insert(c)
            }
            Outcome::Allow => allowed.insert(c),
        };
    }
    // Counted as: licensed = the 46 + HK − the 4 embargoed (43 codes);
    // denied = the 4 embargoed; licensed ∪ denied = the 46 + HK.
    let mut want_licensed: BTreeSet<_> = derived.difference(&embargoed).copied().collect();
    want_licensed.insert(cc("HK"));
    assert_eq!(licensed, want_licensed);
    assert_eq!(licensed.len(), 43);
    assert_eq!(denied, embargoed);
    let mut restricted: BTreeSet<_> = licensed.union(&denied).copied().collect();
    restricted.remove(&cc("HK"));
    assert_eq!(restricted, derived);
    assert_eq!(allowed.len(), 249 - 47);
    assert!(allowed.contains(&cc("IL")));

    // Headquarters rule: D:5 ∪ {MO} ∪ {HK via CN}, located in the US.
    let d5_mo = set("AF BY CD CF CN CU ER HT IQ IR KP LB LY MM NI RU SD SO SS SY VE ZW MO HK");
    let hq: BTreeSet<_> = CountryCode::all()
        .filter(|c| {
            let f = Facts {
                declared_country: Some(cc("US")),
                headquarters: Some(*c),
                instance_type: Some(P5),
                ..Facts::default()
            };
            decide(&policy, &f, now()).outcome() == Outcome::RequireLicense
        })
        .collect();
    assert_eq!(hq, d5_mo);
}

// ---------------------------------------------------------------------------
// Policy semantics on small policies
// ---------------------------------------------------------------------------

/// A small policy: groups G1 = {CN, RU}, G2 = {RU, IR}, EX = {RU};
/// instance types `a` (3A090.a), `b` (3A090.b), `low` (below-threshold),
/// `cpu` (none); then `extra` (defaults, rules, aliases...).
fn small(extra: &str) -> Policy {
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

fn small_classes() {
    let p = small("");
    let class = |t| p.catalog().lookup(t).unwrap().class();
    assert_eq!(class("a"), AcceleratorClass::Eccn3A090a);
    assert_eq!(class("b"), AcceleratorClass::Eccn3A090b);
    assert_eq!(class("low"), AcceleratorClass::BelowThreshold);
    assert_eq!(class("cpu"), AcceleratorClass::None);
}

fn outcome(p: &Policy, declared: Option<&str>, it: Option<&str>) -> Outcome {
    decide(p, &facts(declared, None, None, it, 1), now()).outcome()
}

#[test]
fn the_small_policy_has_the_intended_classes() {
    small_classes();
}

const THREE_RULES: [&str; 3] = [
    r#"
[[rules]]
id = "allow-cn"
countries = ["CN"]
action = "allow"
"#,
    r#"
[[rules]]
id = "license-g1"
groups = ["G1"]
accelerator_classes = ["3A090.a", "3A090.b"]
action = "require-license"
"#,
    r#"
[[rules]]
id = "deny-ex"
groups = ["EX"]
action = "deny"
"#,
];

#[test]
fn all_matching_rules_apply_and_the_most_restrictive_wins() {
    let p = small(&THREE_RULES.concat());
    // CN: allow-cn and license-g1 match; require-license wins.
    let d = decide(&p, &facts(Some("CN"), None, None, Some("a"), 1), now());
    assert_eq!(d.outcome(), Outcome::RequireLicense);
    assert_eq!(rules_of(&d), ["license-g1"]);
    // CN CPU-only: only allow-cn matches; it is the deciding rule.
    let d = decide(&p, &facts(Some("CN"), None, None, Some("cpu"), 1), now());
    assert_eq!(d.outcome(), Outcome::Allow);
    assert_eq!(rules_of(&d), ["allow-cn"]);
    assert_eq!(d.reason(), None);
    // RU: license-g1 and deny-ex match; deny wins, with the default reason.
    let d = decide(&p, &facts(Some("RU"), None, None, Some("a"), 1), now());
    assert_eq!(d.outcome(), Outcome::Deny);
    assert_eq!(d.reason(), Some(ReasonCode::Embargoed));
    assert_eq!(rules_of(&d), ["deny-ex"]);
    assert!(d.license_requirement().is_none());
    // Two rules with the same winning action are both reported.
    let p = small(&format!(
        "{}{}",
        THREE_RULES.concat(),
        r#"
[[rules]]
id = "license-cn-a"
countries = ["CN"]
accelerator_classes = ["3A090.a"]
action = "require-license"
"#
    ));
    let d = decide(&p, &facts(Some("CN"), None, None, Some("a"), 1), now());
    assert_eq!(rules_of(&d), ["license-g1", "license-cn-a"]);
    let d = decide(&p, &facts(Some("CN"), None, None, Some("b"), 1), now());
    assert_eq!(rules_of(&d), ["license-g1"]);
}

#[test]
fn rule_order_does_not_matter() {
    let perms: [[usize; 3]; 6] = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    let policies: Vec<Policy> = perms
        .iter()
        .map(|perm| small(&perm.iter().map(|&i| THREE_RULES[i]).collect::<String>()))
        .collect();
    let countries = [None, Some("CN"), Some("RU"), Some("IR"), Some("US")];
    let types = [
        None,
        Some("a"),
        Some("b"),
        Some("low"),
        Some("cpu"),
        Some("zz"),
    ];
    let mut seen = BTreeSet::new();
    for declared in countries {
        for network in countries {
            for it in types {
                let f = facts(declared, network, None, it, 1);
                let first = summary(&decide(&policies[0], &f, now()));
                for p in &policies[1..] {
                    assert_eq!(summary(&decide(p, &f, now())), first, "{f:?}");
                }
                seen.insert(first.outcome.as_str());
            }
        }
    }
    assert_eq!(seen.len(), 3, "the grid reaches every outcome");
}

#[test]
fn no_matching_rule_allows() {
    let p = small(THREE_RULES[2]);
    for (c, it) in [
        (Some("US"), Some("a")),
        (Some("CN"), Some("a")),
        (Some("IR"), Some("zz")),
        (None, Some("cpu")),
    ] {
        let d = decide(&p, &facts(c, None, None, it, 1), now());
        assert_eq!(d.outcome(), Outcome::Allow, "{c:?} {it:?}");
        assert_eq!(rules_of(&d), Vec::<String>::new());
        assert_eq!(d.reason(), None);
        assert!(d.license_requirement().is_none());
    }
    // A policy with no rules at all allows every located request.
    let empty = small("");
    assert!(empty.rules().is_empty());
    assert_eq!(outcome(&empty, Some("KP"), Some("a")), Outcome::Allow);
}

#[test]
fn except_groups() {
    let p = small(
        r#"
[[rules]]
id = "g1-but-not-ex"
groups = ["G1"]
except_groups = ["EX"]
action = "deny"

[[rules]]
id = "anyone-but-g2"
except_groups = ["G2"]
accelerator_classes = ["3A090.b"]
action = "require-license"
"#,
    );
    assert_eq!(outcome(&p, Some("CN"), Some("cpu")), Outcome::Deny);
    assert_eq!(outcome(&p, Some("RU"), Some("cpu")), Outcome::Allow);
    assert_eq!(outcome(&p, Some("US"), Some("cpu")), Outcome::Allow);
    // No countries or groups but except_groups: every country not excepted.
    assert_eq!(outcome(&p, Some("US"), Some("b")), Outcome::RequireLicense);
    assert_eq!(outcome(&p, Some("IR"), Some("b")), Outcome::Allow);
    assert_eq!(outcome(&p, Some("RU"), Some("b")), Outcome::Allow);
    // ... but a location condition needs a location.
    let d = decide(&p, &facts(None, None, Some("US"), Some("b"), 1), now());
    assert_eq!(rules_of(&d), [UNKNOWN_J]);
    // The exception applies per country: declared RU is excepted, but the
    // network country CN still meets the rule.
    let d = decide(
        &p,
        &facts(Some("RU"), Some("CN"), None, Some("cpu"), 1),
        now(),
    );
    assert_eq!(d.outcome(), Outcome::Deny);
}

#[test]
fn effective_dates() {
    let p = small(
        r#"
[[rules]]
id = "window"
countries = ["CN"]
action = "deny"
effective_from = "2026-01-01"
effective_until = "2026-07-01"

[[rules]]
id = "from-only"
countries = ["US"]
accelerator_classes = ["3A090.a"]
action = "require-license"
effective_from = "2030-02-28"

[[rules]]
id = "until-only"
countries = ["DE"]
accelerator_classes = ["3A090.a"]
action = "require-license"
effective_until = "2024-02-29"
"#,
    );
    let o = |c, t| decide(&p, &facts(Some(c), None, None, Some("a"), 1), t).outcome();
    use Outcome::*;
    for (c, t, want) in [
        ("CN", at_plus("2026-01-01", -1), Allow),
        ("CN", at("2026-01-01"), Deny), // from is inclusive
        ("CN", at("2026-03-15"), Deny),
        ("CN", at_plus("2026-07-01", -1), Deny),
        ("CN", at("2026-07-01"), Allow), // until is exclusive
        ("CN", at("2027-01-01"), Allow),
        ("US", at_plus("2030-02-28", -1), Allow),
        ("US", at("2030-02-28"), RequireLicense),
        ("US", at("2100-01-01"), RequireLicense),
        ("DE", UNIX_EPOCH, RequireLicense),
        ("DE", at("1969-07-20"), RequireLicense), // before the epoch
        ("DE", at_plus("2024-02-29", -1), RequireLicense),
        ("DE", at("2024-02-29"), Allow),
    ] {
        assert_eq!(o(c, t), want, "{c} at {t:?}");
    }
}

#[test]
fn unknown_jurisdiction_default() {
    fn nobody<'a>(p: &'a Policy, it: &'a str) -> Decision<'a> {
        decide(p, &facts(None, None, None, Some(it), 1), now())
    }
    // require-license is the default.
    let p = small("");
    let d = nobody(&p, "a");
    assert_eq!(d.outcome(), Outcome::RequireLicense);
    assert_eq!(d.reason(), Some(ReasonCode::JurisdictionUnknown));
    assert_eq!(rules_of(&d), [UNKNOWN_J]);

    let p = small("[defaults]\nunknown_jurisdiction = \"deny\"\n");
    for it in ["a", "b", "zz"] {
        let d = nobody(&p, it);
        assert_eq!(d.outcome(), Outcome::Deny, "{it}");
        assert_eq!(d.reason(), Some(ReasonCode::JurisdictionUnknown));
        assert_eq!(rules_of(&d), [UNKNOWN_J]);
        assert_eq!(d.default_rule(), Some(DefaultRule::UnknownJurisdiction));
    }
    for it in ["low", "cpu"] {
        assert_eq!(nobody(&p, it).outcome(), Outcome::Allow, "{it}");
    }
    // A known network country is a known jurisdiction.
    let d = decide(&p, &facts(None, Some("US"), None, Some("a"), 1), now());
    assert_eq!(d.outcome(), Outcome::Allow);

    let p = small("[defaults]\nunknown_jurisdiction = \"allow\"\n");
    for it in ["a", "b", "zz", "low", "cpu"] {
        let d = nobody(&p, it);
        assert_eq!(d.outcome(), Outcome::Allow, "{it}");
        assert_eq!(d.default_rule(), None);
        assert_eq!(rules_of(&d), Vec::<String>::new());
    }
}

#[test]
fn unknown_instance_type_default() {
    let rule = r#"
[[rules]]
id = "license-cn-a"
countries = ["CN"]
accelerator_classes = ["3A090.a"]
action = "require-license"

[[rules]]
id = "license-cn-b"
countries = ["CN"]
accelerator_classes = ["3A090.b"]
action = "require-license"
"#;
    // deny: for everyone, with instance_type_unknown.
    let p = small(&format!(
        "[defaults]\nunknown_instance_type = \"deny\"\n{rule}"
    ));
    for c in [Some("CN"), Some("US"), None] {
        let d = decide(&p, &facts(c, None, None, Some("zz"), 1), now());
        assert_eq!(d.outcome(), Outcome::Deny, "{c:?}");
        assert_eq!(d.reason(), Some(ReasonCode::InstanceTypeUnknown), "{c:?}");
        assert_eq!(rules_of(&d), [UNKNOWN_IT], "{c:?}");
        assert_eq!(d.accelerators().evaluated_class, AcceleratorClass::Unknown);
    }
    // Known types are unaffected.
    assert_eq!(outcome(&p, Some("US"), Some("a")), Outcome::Allow);
    assert_eq!(outcome(&p, Some("CN"), Some("a")), Outcome::RequireLicense);
    assert_eq!(outcome(&p, Some("CN"), None), Outcome::Allow);

    // An assumed class: the rules see 3A090.b.
    let p = small(&format!(
        "[defaults]\nunknown_instance_type = \"3A090.b\"\n{rule}"
    ));
    let d = decide(&p, &facts(Some("CN"), None, None, Some("zz"), 1), now());
    assert_eq!(d.outcome(), Outcome::RequireLicense);
    assert_eq!(d.reason(), Some(ReasonCode::InstanceTypeUnknown));
    assert_eq!(rules_of(&d), ["license-cn-b", UNKNOWN_IT]);
    assert_eq!(d.accelerators().class, AcceleratorClass::Unknown);
    assert_eq!(
        d.accelerators().evaluated_class,
        AcceleratorClass::Eccn3A090b
    );
    assert_eq!(
        d.license_requirement().unwrap().class,
        AcceleratorClass::Eccn3A090b
    );
    assert_eq!(d.license_requirement().unwrap().accelerators, u64::MAX);
    assert_eq!(outcome(&p, Some("US"), Some("zz")), Outcome::Allow);

    // Assumed below-threshold: no rule and no default applies.
    let p = small(&format!(
        "[defaults]\nunknown_instance_type = \"below-threshold\"\n{rule}"
    ));
    assert_eq!(outcome(&p, Some("CN"), Some("zz")), Outcome::Allow);
    assert_eq!(outcome(&p, None, Some("zz")), Outcome::Allow);
}

#[test]
fn controlled_classes() {
    let p = small("[defaults]\ncontrolled_classes = [\"3A090.a\"]\n");
    assert_eq!(
        p.defaults().controlled_classes().collect::<Vec<_>>(),
        [AcceleratorClass::Eccn3A090a]
    );
    assert_eq!(outcome(&p, None, Some("a")), Outcome::RequireLicense);
    assert_eq!(outcome(&p, None, Some("b")), Outcome::Allow);
    assert_eq!(outcome(&p, None, Some("low")), Outcome::Allow);

    let p = small("[defaults]\ncontrolled_classes = [\"below-threshold\", \"none\"]\n");
    assert_eq!(outcome(&p, None, Some("a")), Outcome::Allow);
    assert_eq!(outcome(&p, None, Some("low")), Outcome::RequireLicense);
    assert_eq!(outcome(&p, None, Some("cpu")), Outcome::RequireLicense);
    assert_eq!(outcome(&p, None, None), Outcome::RequireLicense);

    let p = small("[defaults]\ncontrolled_classes = []\n");
    assert_eq!(outcome(&p, None, Some("a")), Outcome::Allow);
}

#[test]
fn report_only_mode() {
    let rules = THREE_RULES.concat();
    let p = small(&rules);
    assert_eq!(p.mode(), Mode::Enforce);
    let d = decide(&p, &facts(Some("RU"), None, None, Some("a"), 1), now());
    assert!(!d.report_only());

    let p =
        Policy::from_toml(&small_text_with_mode("report-only", &rules), "r.toml", None).unwrap();
    assert_eq!(p.mode(), Mode::ReportOnly);
    for (c, want) in [
        ("RU", Outcome::Deny),
        ("CN", Outcome::RequireLicense),
        ("US", Outcome::Allow),
    ] {
        let d = decide(&p, &facts(Some(c), None, None, Some("a"), 1), now());
        // The outcome is still what enforcement would do.
        assert_eq!(d.outcome(), want, "{c}");
        assert!(d.report_only(), "{c}");
    }
    let p = p.with_mode(Mode::Enforce);
    assert!(!decide(&p, &facts(Some("RU"), None, None, Some("a"), 1), now()).report_only());
    let p = Policy::embedded_default().with_mode(Mode::ReportOnly);
    let d = decide(&p, &facts(Some("IR"), None, None, None, 1), now());
    assert!(d.report_only());
    assert_eq!(d.outcome(), Outcome::Deny);
    assert_eq!(Mode::ReportOnly.as_str(), "report-only");
}

fn small_text_with_mode(mode: &str, rules: &str) -> String {
    format!(
        r#"
[policy]
name = "r"
country_lists_as_of = "2026-07-08"
mode = "{mode}"

[country_groups]
G1 = ["CN", "RU"]
EX = ["RU"]

[[chips]]
name = "A"
datacenter = true
dense_tops = {{ 8 = 1000 }}

[[instance_types]]
name = "a"
chip = "A"
chips = 1
{rules}
"#
    )
}

#[test]
fn user_defined_groups() {
    let text = r#"
[policy]
name = "u"
country_lists_as_of = "2026-07-08"

[country_groups]
"partners-2027" = ["FR", "BR"]
"watch list" = ["BR", "ZA"]

[[chips]]
name = "A"
datacenter = true
dense_tops = { 8 = 1000 }

[[instance_types]]
name = "a"
chip = "A"
chips = 1

[[rules]]
id = "watch"
groups = ["watch list"]
except_groups = ["partners-2027"]
action = "deny"
reason = "license_required"

[[rules]]
id = "hq-watch"
headquarters_groups = ["watch list"]
headquarters_countries = ["MX"]
accelerator_classes = ["3A090.a"]
action = "require-license"

[[rules]]
id = "located-fr-hq-za"
countries = ["FR"]
headquarters_countries = ["ZA"]
action = "deny"
"#;
    let p = Policy::from_toml(text, "u.toml", None).unwrap();
    let g = p.country_groups();
    assert_eq!(
        g.all_names().collect::<Vec<_>>(),
        ["partners-2027", "watch list"]
    );
    let watch = g.id("watch list").unwrap();
    assert_eq!(
        g.members(watch).map(|c| c.to_string()).collect::<Vec<_>>(),
        ["BR", "ZA"]
    );
    assert!(g.id("D:5").is_none());

    let d = |dc: Option<&str>, hq: Option<&str>, it: &'static str| {
        decide(&p, &facts(dc, None, hq, Some(it), 1), now())
    };
    // ZA in the watch list, not a partner: denied with the rule's reason.
    let z = d(Some("ZA"), None, "a");
    assert_eq!(z.outcome(), Outcome::Deny);
    assert_eq!(z.reason(), Some(ReasonCode::LicenseRequired));
    assert_eq!(rules_of(&z), ["watch"]);
    // BR is excepted as a partner.
    assert_eq!(d(Some("BR"), None, "a").outcome(), Outcome::Allow);
    // Headquarters conditions: groups or countries.
    for hq in ["BR", "ZA", "MX"] {
        let x = d(Some("US"), Some(hq), "a");
        assert_eq!(x.outcome(), Outcome::RequireLicense, "{hq}");
        assert_eq!(required(&x), [(hq.to_owned(), None)]);
        assert_eq!(rules_of(&x), ["hq-watch"]);
    }
    assert_eq!(d(Some("US"), Some("US"), "a").outcome(), Outcome::Allow);
    assert_eq!(d(Some("US"), None, "a").outcome(), Outcome::Allow);
    // Both conditions of one rule must hold.
    let both = d(Some("FR"), Some("ZA"), "a");
    assert_eq!(both.outcome(), Outcome::Deny);
    assert_eq!(rules_of(&both), ["located-fr-hq-za"]);
    assert_eq!(d(Some("FR"), Some("US"), "a").outcome(), Outcome::Allow);
    assert_eq!(
        d(Some("DE"), Some("ZA"), "a").outcome(),
        Outcome::RequireLicense
    );
}

#[test]
fn a_request_without_instance_type_asks_for_no_accelerators() {
    // A rule on all classes (none included) can require a license for a
    // request that names no instance type; the license must then cover zero
    // accelerators, not "unknown" (u64::MAX), or no quantity-limited license
    // could ever cover it.
    let p = small(
        r#"
[[rules]]
id = "everything-in-cn"
countries = ["CN"]
action = "require-license"
"#,
    );
    let d = decide(&p, &facts(Some("CN"), None, None, None, 1), now());
    assert_eq!(d.outcome(), Outcome::RequireLicense);
    assert_eq!(d.accelerators().class, AcceleratorClass::None);
    assert_eq!(d.accelerators().chips_per_instance(), Some(0));
    assert_eq!(d.accelerators().total(), 0);
    let req = d.license_requirement().unwrap();
    assert_eq!(req.accelerators, 0);
    assert_eq!(req.class, AcceleratorClass::None);
    assert_eq!(req.instance_type, None);
    // CPU-only: zero as well; an unknown type: unbounded.
    let cpu = decide(&p, &facts(Some("CN"), None, None, Some("cpu"), 7), now());
    assert_eq!(cpu.license_requirement().unwrap().accelerators, 0);
    let zz = decide(&p, &facts(Some("CN"), None, None, Some("zz"), 7), now());
    assert_eq!(zz.license_requirement().unwrap().accelerators, u64::MAX);
    let a = decide(&p, &facts(Some("CN"), None, None, Some("a"), 7), now());
    assert_eq!(a.license_requirement().unwrap().accelerators, 14);
}

#[test]
fn deny_reason_does_not_depend_on_rule_order() {
    let r1 = r#"
[[rules]]
id = "deny-unknown-reason"
countries = ["CN"]
action = "deny"
reason = "instance_type_unknown"
"#;
    let r2 = r#"
[[rules]]
id = "deny-license"
groups = ["G1"]
action = "deny"
reason = "license_required"
"#;
    for text in [format!("{r1}{r2}"), format!("{r2}{r1}")] {
        let p = small(&text);
        let d = decide(&p, &facts(Some("CN"), None, None, None, 1), now());
        assert_eq!(d.outcome(), Outcome::Deny);
        // license_required comes first in ReasonCode::ALL.
        assert_eq!(d.reason(), Some(ReasonCode::LicenseRequired));
        let mut rules = rules_of(&d);
        rules.sort();
        assert_eq!(rules, ["deny-license", "deny-unknown-reason"]);
    }
}

#[test]
fn aliases() {
    // Without [country_aliases], HK is a country of its own: allowed.
    let alias_block = "[country_aliases]\nHK = \"CN\"\n";
    assert_eq!(DEFAULT_POLICY_TOML.matches(alias_block).count(), 1);
    let text = DEFAULT_POLICY_TOML.replace(alias_block, "");
    let p = Policy::from_toml(&text, "no-alias.toml", None).unwrap();
    assert_eq!(p.country_groups().alias_of(cc("HK")), None);
    let hk = decide(&p, &facts(Some("HK"), None, None, Some(P5), 1), now());
    assert_eq!(hk.outcome(), Outcome::Allow);
    assert!(hk.declared_groups().is_empty());
    let hq = decide(&p, &facts(Some("US"), None, Some("HK"), Some(P5), 1), now());
    assert_eq!(hq.outcome(), Outcome::Allow);
    // CN is unchanged.
    assert_eq!(outcome(&p, Some("CN"), Some(P5)), Outcome::RequireLicense);
    // With the alias (the default), HK requires a license.
    let default = Policy::embedded_default();
    assert_eq!(
        outcome(&default, Some("HK"), Some(P5)),
        Outcome::RequireLicense
    );

    // An alias also makes `countries = ["CN"]` cover HK, not the reverse.
    let p = small(
        r#"
[country_aliases]
HK = "CN"

[[rules]]
id = "cn"
countries = ["CN"]
action = "deny"

[[rules]]
id = "hk"
countries = ["HK"]
accelerator_classes = ["3A090.a"]
action = "require-license"
"#,
    );
    assert_eq!(outcome(&p, Some("HK"), Some("cpu")), Outcome::Deny);
    assert_eq!(outcome(&p, Some("CN"), Some("cpu")), Outcome::Deny);
    let d = decide(
        &p,
        &facts(Some("US"), Some("HK"), None, Some("a"), 1),
        now(),
    );
    assert_eq!(d.outcome(), Outcome::Deny);
    assert_eq!(rules_of(&d), ["cn"]);
    // HK inherits G1 through CN.
    let g1 = p.country_groups().id("G1").unwrap();
    assert!(p.country_groups().groups_of(cc("HK")).contains(g1));
    assert!(!p.country_groups().members(g1).any(|c| c == cc("HK")));
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// What must not depend on rule order.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    outcome: Outcome,
    reason: Option<ReasonCode>,
    rules: BTreeSet<String>,
    default_rule: Option<DefaultRule>,
    requirement: Option<(Countries, AcceleratorClass, u64)>,
    evaluated_class: AcceleratorClass,
}

fn summary(d: &Decision<'_>) -> Summary {
    Summary {
        outcome: d.outcome(),
        reason: d.reason(),
        rules: d.deciding_rules().map(str::to_owned).collect(),
        default_rule: d.default_rule(),
        requirement: d
            .license_requirement()
            .map(|r| (required(d), r.class, r.accelerators)),
        evaluated_class: d.accelerators().evaluated_class,
    }
}

/// A fixed pool of rules covering every kind of condition and action.
const POOL: &[&str] = &[
    r#"
[[rules]]
id = "p-embargo"
groups = ["E"]
action = "deny"
"#,
    r#"
[[rules]]
id = "p-dest"
groups = ["D"]
countries = ["MO"]
except_groups = ["A"]
accelerator_classes = ["3A090.a", "3A090.b"]
action = "require-license"
"#,
    r#"
[[rules]]
id = "p-hq"
headquarters_groups = ["D"]
accelerator_classes = ["3A090.a"]
action = "require-license"
"#,
    r#"
[[rules]]
id = "p-allow-us"
countries = ["US"]
action = "allow"
"#,
    r#"
[[rules]]
id = "p-deny-unknown"
accelerator_classes = ["unknown"]
action = "deny"
reason = "instance_type_unknown"
"#,
    r#"
[[rules]]
id = "p-window"
countries = ["CN", "RU"]
action = "deny"
reason = "license_required"
effective_from = "2026-01-01"
effective_until = "2026-07-01"
"#,
    r#"
[[rules]]
id = "p-everyone-b"
accelerator_classes = ["3A090.b"]
action = "require-license"
"#,
    r#"
[[rules]]
id = "p-hk"
countries = ["HK"]
headquarters_countries = ["US", "CN"]
action = "deny"
"#,
    r#"
[[rules]]
id = "p-allow-a"
groups = ["A"]
accelerator_classes = ["3A090.a"]
action = "allow"
"#,
    r#"
[[rules]]
id = "p-il"
countries = ["IL"]
action = "require-license"
"#,
];

fn pool_policy(defaults: &str, rules: &[usize]) -> Policy {
    let mut text = format!(
        r#"
[policy]
name = "pool"
country_lists_as_of = "2026-07-08"

{defaults}

[country_groups]
A = ["DE", "IL", "JP"]
D = ["CN", "RU", "IL", "IR", "KP"]
E = ["IR", "KP"]

[country_aliases]
HK = "CN"

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

[[instance_types]]
name = "a"
chip = "A"
chips = 2
[[instance_types]]
name = "b*"
chip = "B"
chips = 3
[[instance_types]]
name = "cpu"
"#
    );
    for &i in rules {
        text.push_str(POOL[i]);
    }
    Policy::from_toml(&text, "pool.toml", None).unwrap()
}

const POOL_DEFAULTS: &[&str] = &[
    "",
    "[defaults]\nunknown_jurisdiction = \"deny\"\nunknown_instance_type = \"deny\"",
    "[defaults]\nunknown_instance_type = \"3A090.b\"\ncontrolled_classes = [\"3A090.b\", \"none\"]",
];

/// Countries that meet some pool condition, plus any assigned code.
fn country() -> impl Strategy<Value = Option<CountryCode>> {
    let all: Vec<CountryCode> = CountryCode::all().collect();
    let named = ["CN", "HK", "MO", "RU", "IR", "KP", "IL", "DE", "US"].map(cc);
    prop_oneof![
        Just(None),
        proptest::sample::select(named.to_vec()).prop_map(Some),
        proptest::sample::select(all).prop_map(Some),
    ]
}

fn time() -> impl Strategy<Value = SystemTime> {
    prop_oneof![
        Just(at_plus("2026-01-01", -1)),
        Just(at("2026-01-01")),
        Just(at("2026-03-01")),
        Just(at("2026-07-01")),
        (-4_000_000_000i64..8_000_000_000).prop_map(|s| at_plus("1970-01-01", s)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decisions_never_depend_on_rule_order(
        (picked, shuffled) in proptest::sample::subsequence((0..POOL.len()).collect::<Vec<_>>(), 0..=POOL.len())
            .prop_flat_map(|s| (Just(s.clone()), Just(s).prop_shuffle())),
        defaults in 0..POOL_DEFAULTS.len(),
        declared in country(),
        network in country(),
        headquarters in country(),
        it in proptest::option::of(proptest::sample::select(vec!["a", "b", "b7", "cpu", "zz"])),
        count in 1u32..10,
        t in time(),
    ) {
        let p1 = pool_policy(POOL_DEFAULTS[defaults], &picked);
        let p2 = pool_policy(POOL_DEFAULTS[defaults], &shuffled);
        let f = Facts { declared_country: declared, network_country: network, headquarters, instance_type: it, instance_count: count };
        let d1 = decide(&p1, &f, t);
        let d2 = decide(&p2, &f, t);
        prop_assert_eq!(summary(&d1), summary(&d2));
        // Whatever the order, the deciding rules all carry the outcome's action.
        for id in d1.deciding_rules() {
            if let Some(rule) = p1.rules().iter().find(|r| r.id() == id) {
                prop_assert_eq!(rule.action().as_str(), d1.outcome().as_str());
            }
        }
    }

    #[test]
    fn decide_never_panics(
        declared in country(),
        network in country(),
        headquarters in country(),
        it in proptest::option::of(any::<String>()),
        count in any::<u32>(),
        secs in any::<i64>(),
        which in 0..3usize,
    ) {
        let policy = match which {
            0 => Policy::embedded_default(),
            1 => pool_policy(POOL_DEFAULTS[1], &(0..POOL.len()).collect::<Vec<_>>()),
            _ => pool_policy(POOL_DEFAULTS[2], &(0..POOL.len()).rev().collect::<Vec<_>>()),
        };
        let t = UNIX_EPOCH
            .checked_add(Duration::from_secs(secs.unsigned_abs()))
            .filter(|_| secs >= 0)
            .or_else(|| UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs())))
            .unwrap_or(UNIX_EPOCH);
        let f = Facts { declared_country: declared, network_country: network, headquarters, instance_type: it.as_deref(), instance_count: count };
        let d = decide(&policy, &f, t);
        // Touch everything a caller reads.
        let _ = (d.outcome(), d.reason(), d.default_rule(), d.report_only());
        let _ = d.deciding_rules().count();
        let _ = d.accelerators().total();
        if let Some(r) = d.license_requirement() {
            let _ = r.countries().count();
        }
        prop_assert_eq!(d.license_requirement().is_some(), d.outcome() == Outcome::RequireLicense);
        prop_assert_eq!(d.reason().is_some(), d.outcome() != Outcome::Allow);
    }

    #[test]
    fn embedded_default_never_panics_on_strange_instance_types(
        declared in country(),
        it in "[ -~]{0,40}|[a-z0-9.*?]{0,12}|\\PC{0,20}",
    ) {
        let policy = Policy::embedded_default();
        let f = Facts { declared_country: declared, instance_type: Some(&it), ..Facts::default() };
        let d = decide(&policy, &f, now());
        let known = policy.catalog().lookup(&it);
        prop_assert_eq!(known, d.accelerators().instance);
        prop_assert_eq!(known.is_none(), d.accelerators().class == AcceleratorClass::Unknown);
    }
}

#[test]
fn an_aliased_country_listed_in_a_group_is_a_member() {
    let text = r#"
[policy]
name = "members"
country_lists_as_of = "2026-07-08"

[country_groups]
"X" = ["CN"]
"Y" = ["HK", "MO"]

[country_aliases]
HK = "CN"
"#;
    let p = Policy::from_toml(text, "members.toml", None).unwrap();
    let g = p.country_groups();
    let (x, y) = (g.id("X").unwrap(), g.id("Y").unwrap());
    let names = |id| g.members(id).map(|c| c.to_string()).collect::<Vec<_>>();
    assert_eq!(names(y), ["HK", "MO"]);
    assert_eq!(names(x), ["CN"]);
    assert!(g.groups_of(cc("HK")).contains(x) && g.groups_of(cc("HK")).contains(y));
}
