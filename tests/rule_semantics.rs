//! Rules, on a small policy: every matching rule applies and the most
//! restrictive action wins; rule order changes nothing; no matching rule
//! allows; `except_groups`; effective dates; which deny reason is given;
//! the accelerators a request without an instance type asks for; and
//! report-only mode, which changes no outcome.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used)]

mod decide_support;

use std::collections::BTreeSet;
use std::time::UNIX_EPOCH;

use decide_support::*;
use tower_export_control::policy::{Action, Mode};
use tower_export_control::{AcceleratorClass, Policy, ReasonCode, decide};

fn small_classes() {
    let p = small("");
    let class = |t| p.catalog().lookup(t).unwrap().class();
    assert_eq!(class("a"), AcceleratorClass::Eccn3A090a);
    assert_eq!(class("b"), AcceleratorClass::Eccn3A090b);
    assert_eq!(class("low"), AcceleratorClass::BelowThreshold);
    assert_eq!(class("cpu"), AcceleratorClass::None);
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
    assert_eq!(d.action(), Action::RequireLicense);
    assert_eq!(rules_of(&d), ["license-g1"]);
    // CN CPU-only: only allow-cn matches; it is the deciding rule.
    let d = decide(&p, &facts(Some("CN"), None, None, Some("cpu"), 1), now());
    assert_eq!(d.action(), Action::Allow);
    assert_eq!(rules_of(&d), ["allow-cn"]);
    assert_eq!(d.reason(), None);
    // RU: license-g1 and deny-ex match; deny wins, with the default reason.
    let d = decide(&p, &facts(Some("RU"), None, None, Some("a"), 1), now());
    assert_eq!(d.action(), Action::Deny);
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
        assert_eq!(d.action(), Action::Allow, "{c:?} {it:?}");
        assert_eq!(rules_of(&d), Vec::<String>::new());
        assert_eq!(d.reason(), None);
        assert!(d.license_requirement().is_none());
    }
    // A policy with no rules at all allows every located request.
    let empty = small("");
    assert!(empty.rules().is_empty());
    assert_eq!(outcome(&empty, Some("KP"), Some("a")), Action::Allow);
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
    assert_eq!(outcome(&p, Some("CN"), Some("cpu")), Action::Deny);
    assert_eq!(outcome(&p, Some("RU"), Some("cpu")), Action::Allow);
    assert_eq!(outcome(&p, Some("US"), Some("cpu")), Action::Allow);
    // No countries or groups but except_groups: every country not excepted.
    assert_eq!(outcome(&p, Some("US"), Some("b")), Action::RequireLicense);
    assert_eq!(outcome(&p, Some("IR"), Some("b")), Action::Allow);
    assert_eq!(outcome(&p, Some("RU"), Some("b")), Action::Allow);
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
    assert_eq!(d.action(), Action::Deny);
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
    let o = |c, t| decide(&p, &facts(Some(c), None, None, Some("a"), 1), t).action();
    use Action::*;
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
        ("RU", Action::Deny),
        ("CN", Action::RequireLicense),
        ("US", Action::Allow),
    ] {
        let d = decide(&p, &facts(Some(c), None, None, Some("a"), 1), now());
        // The outcome is still what enforcement would do.
        assert_eq!(d.action(), want, "{c}");
        assert!(d.report_only(), "{c}");
    }
    let p = p.with_mode(Mode::Enforce);
    assert!(!decide(&p, &facts(Some("RU"), None, None, Some("a"), 1), now()).report_only());
    let p = Policy::embedded_default().with_mode(Mode::ReportOnly);
    let d = decide(&p, &facts(Some("IR"), None, None, None, 1), now());
    assert!(d.report_only());
    assert_eq!(d.action(), Action::Deny);
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
    assert_eq!(d.action(), Action::RequireLicense);
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
        assert_eq!(d.action(), Action::Deny);
        // license_required comes first in ReasonCode::ALL.
        assert_eq!(d.reason(), Some(ReasonCode::LicenseRequired));
        let mut rules = rules_of(&d);
        rules.sort();
        assert_eq!(rules, ["deny-license", "deny-unknown-reason"]);
    }
}
