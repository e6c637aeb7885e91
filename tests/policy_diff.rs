//! The policy impact diff on small policies with known differences, and
//! `export-control diff` through the binary.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;
use tower_export_control::policy::Action;
use tower_export_control::policy::diff::{ImpactOptions, Scope, impact};
use tower_export_control::{AcceleratorClass, CountryCode, Policy, ReasonCode};

/// A small policy: an embargo on `E:1`, a license for 3A090 to `D:5`
/// (CN, RU; HK counts as CN), an optional headquarters rule, three chips
/// (one cut below the 2022 interconnect threshold) and a CPU-only pattern.
fn policy(regime: &str, embargoed: &str, headquarters_rule: bool) -> Policy {
    let hq = if headquarters_rule {
        r#"
[[rules]]
id = "hq"
headquarters_groups = ["D:5"]
except_countries = ["US"]
accelerator_classes = ["3A090.a", "3A090.b"]
action = "require-license"
"#
    } else {
        ""
    };
    let text = format!(
        r#"
[policy]
name = "small"
country_lists_as_of = "2026-01-01"
regime = "{regime}"

[country_groups]
"E:1" = [{embargoed}]
"D:5" = ["CN", "RU"]

[country_aliases]
HK = "CN"

[[rules]]
id = "embargo"
groups = ["E:1"]
action = "deny"

[[rules]]
id = "dest"
groups = ["D:5"]
accelerator_classes = ["3A090.a", "3A090.b"]
action = "require-license"
{hq}
[[chips]] # H100-like: 3A090.a under both regimes
name = "BIG"
datacenter = true
dense_tops = {{ 8 = 1979 }}
die_area_mm2 = 814
interconnect_gbps = 900

[[chips]] # A800-like: interconnect cut to 400 GB/s, outside the 2022 rule
name = "CUT"
datacenter = true
dense_tops = {{ 8 = 624 }}
die_area_mm2 = 826
interconnect_gbps = 400

[[chips]] # T4-like: below both
name = "SMALL"
datacenter = true
dense_tops = {{ 8 = 130 }}
die_area_mm2 = 545
interconnect_gbps = 32

[[instance_types]]
name = "big.1"
chip = "BIG"
chips = 1
[[instance_types]]
name = "big.8"
chip = "BIG"
chips = 8
[[instance_types]]
name = "cut.8"
chip = "CUT"
chips = 8
[[instance_types]]
name = "small.1"
chip = "SMALL"
chips = 1
[[instance_types]]
name = "cpu.*"
"#
    );
    Policy::from_toml(&text, "small.toml", None).unwrap()
}

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

fn options() -> ImpactOptions {
    ImpactOptions::new(SystemTime::UNIX_EPOCH)
}

#[test]
fn identical_policies_change_nothing() {
    let p = policy("ear-2023-10", r#""IR""#, true);
    let report = impact(&p, &policy("ear-2023-10", r#""IR""#, true), &options());
    assert!(report.is_empty(), "{report}");
    assert!(report.reclassified.is_empty());
    assert_eq!(report.instance_types_checked, 5);
    assert_eq!(report.countries_checked, 249);
    assert_eq!(report.headquarters_location, Some(cc("AD")));
    assert!(report.to_string().contains("no decision changes"));
}

#[test]
fn a_country_added_to_an_embargo_group_is_denied_everything() {
    let old = policy("ear-2023-10", r#""IR""#, true);
    let new = policy("ear-2023-10", r#""IR", "VE""#, true);
    let report = impact(&old, &new, &options());
    assert_eq!(report.changes.len(), 1, "{report}");
    let change = &report.changes[0];
    assert_eq!(change.scope, Scope::Declared);
    assert_eq!(change.countries, [cc("VE")]);
    assert_eq!(change.transitions.len(), 1);
    let t = &change.transitions[0];
    assert_eq!((t.old.action, t.old.reason), (Action::Allow, None));
    assert_eq!(
        (t.new.action, t.new.reason),
        (Action::Deny, Some(ReasonCode::Embargoed))
    );
    // Every entry, the CPU-only pattern as written, and unknown ones.
    let types = &t.instance_types;
    assert!(types.unknown_instance_types);
    let names: Vec<&str> = types
        .chips
        .iter()
        .flat_map(|c| c.instance_types.iter().map(String::as_str))
        .collect();
    assert_eq!(names, ["big.1", "big.8", "cut.8", "small.1", "cpu.*"]);
    assert!(types.chips.iter().all(|c| c.every_instance_type));
    assert_eq!(
        types.summary,
        "every instance type (5); instance types neither catalog names"
    );
    let text = report.to_string();
    assert!(text.contains("VE "), "{text}");
    assert!(text.contains("allow → deny"), "{text}");
}

#[test]
fn a_chip_crossing_a_threshold_with_the_regime_is_named() {
    let old = policy("ear-2022-10", r#""IR""#, false);
    let new = policy("ear-2023-10", r#""IR""#, false);
    let report = impact(&old, &new, &options());
    assert_eq!(report.reclassified.len(), 1, "{report}");
    let r = &report.reclassified[0];
    assert_eq!(r.chip, "CUT");
    assert_eq!(
        (r.old, r.new),
        (
            AcceleratorClass::BelowThreshold,
            AcceleratorClass::Eccn3A090a
        )
    );

    assert_eq!(report.changes.len(), 1, "{report}");
    let change = &report.changes[0];
    assert_eq!(change.scope, Scope::Declared);
    // HK counts as CN through its alias.
    assert_eq!(change.countries, [cc("CN"), cc("HK"), cc("RU")]);
    let [t] = &change.transitions[..] else {
        panic!("{report}")
    };
    assert_eq!(t.old.action, Action::Allow);
    assert_eq!(
        (t.new.action, t.new.reason),
        (Action::RequireLicense, Some(ReasonCode::LicenseRequired))
    );
    assert_eq!(t.instance_types.summary, "CUT instance types (cut.8)");
    assert!(!t.instance_types.unknown_instance_types);
    assert!(report.to_string().contains("CN, HK, RU"));
}

#[test]
fn a_headquarters_rule_removed_shows_under_headquarters_only() {
    let old = policy("ear-2023-10", r#""IR""#, true);
    let new = policy("ear-2023-10", r#""IR""#, false);
    let report = impact(&old, &new, &options());
    assert_eq!(report.headquarters_location, Some(cc("AD")));
    assert_eq!(report.changes.len(), 1, "{report}");
    let change = &report.changes[0];
    assert_eq!(change.scope, Scope::Headquarters);
    assert_eq!(change.countries, [cc("CN"), cc("HK"), cc("RU")]);
    // Known instance types, and unknown ones (assumed 3A090.a, so with
    // their own reason).
    let [known, unknown] = &change.transitions[..] else {
        panic!("{report}")
    };
    assert_eq!(
        (known.old.action, known.new.action),
        (Action::RequireLicense, Action::Allow)
    );
    let chips: Vec<_> = known
        .instance_types
        .chips
        .iter()
        .map(|c| c.chip.as_deref())
        .collect();
    assert_eq!(chips, [Some("BIG"), Some("CUT")]);
    assert!(!known.instance_types.unknown_instance_types);
    assert_eq!(unknown.old.reason, Some(ReasonCode::InstanceTypeUnknown));
    assert_eq!(unknown.new.action, Action::Allow);
    assert!(unknown.instance_types.unknown_instance_types);
    assert!(unknown.instance_types.chips.is_empty());
    let text = report.to_string();
    assert!(
        text.contains("headquartered in a country, declaring AD"),
        "{text}"
    );
    assert!(text.contains("require-license → allow"), "{text}");

    // Located in the US the rule never applied, so nothing changes there.
    let in_us = impact(&old, &new, &options().headquarters_location(cc("US")));
    assert!(in_us.is_empty(), "{in_us}");
}

#[test]
fn the_report_serializes() {
    let old = policy("ear-2023-10", r#""IR""#, true);
    let new = policy("ear-2023-10", r#""IR", "VE""#, true);
    let json = serde_json::to_value(impact(&old, &new, &options())).unwrap();
    let change = &json["changes"][0];
    assert_eq!(change["scope"], "declared");
    assert_eq!(change["countries"], serde_json::json!(["VE"]));
    assert_eq!(change["transitions"][0]["old"]["action"], "allow");
    assert_eq!(change["transitions"][0]["new"]["action"], "deny");
    assert_eq!(change["transitions"][0]["new"]["reason"], "embargoed");
    assert_eq!(json["headquarters_location"], "AD");
}

fn diff_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_export-control"))
        .arg("diff")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn cli_diff_of_the_2022_rule_and_the_default() {
    let (code, out, err) = diff_cli(&[
        "policies/ear-2022-10.toml",
        "policies/default.toml",
        "--json",
    ]);
    assert_eq!(code, 1, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["old"]["regime"], "ear-2022-10");
    assert_eq!(json["new"]["regime"], "ear-2023-10");
    let reclassified: Vec<&str> = json["reclassified"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["chip"].as_str().unwrap())
        .collect();
    assert!(reclassified.contains(&"A800") && reclassified.contains(&"H800-SXM"));
    // China, Hong Kong and Macau were already licensed for H100-class
    // chips; the 2023 rule adds the chips it reclassified, such as the L4.
    let changes = json["changes"].as_array().unwrap();
    let china = changes
        .iter()
        .find(|c| {
            c["scope"] == "declared" && c["countries"] == serde_json::json!(["CN", "HK", "MO"])
        })
        .unwrap_or_else(|| panic!("{out}"));
    let chips: Vec<&str> = china["transitions"][0]["instance_types"]["chips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["chip"].as_str().unwrap())
        .collect();
    assert!(
        chips.contains(&"L4") && !chips.contains(&"H100-SXM"),
        "{chips:?}"
    );
    // The headquarters rule is new in 2023.
    assert!(changes.iter().any(|c| c["scope"] == "headquarters"));

    let (code, text, _) = diff_cli(&["policies/ear-2022-10.toml", "policies/default.toml"]);
    assert_eq!(code, 1);
    assert!(text.contains("CN, HK, MO"), "{text}");
    assert!(text.contains("allow → require-license"), "{text}");

    // Located in the US, the 2023 headquarters rule does not apply.
    let (code, out, err) = diff_cli(&[
        "policies/ear-2022-10.toml",
        "policies/default.toml",
        "--json",
        "--located-in",
        "us",
        "--at",
        "2026-08-01T00:00:00Z",
    ]);
    assert_eq!(code, 1, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["headquarters_location"], "US");
    let changes = json["changes"].as_array().unwrap();
    assert!(changes.iter().all(|c| c["scope"] == "declared"), "{out}");
}

#[test]
fn cli_diff_exit_codes() {
    let (code, out, _) = diff_cli(&["policies/default.toml", "policies/default.toml"]);
    assert_eq!(code, 0);
    assert!(out.contains("no decision changes"), "{out}");
    let (code, _, err) = diff_cli(&["policies/default.toml", "policies/missing.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("export-control diff:"), "{err}");
}
