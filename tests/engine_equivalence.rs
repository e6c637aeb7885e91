//! The default policy written in Cedar and in Rego (`benches/engines/`)
//! decides as `decide` does, request by request: the premise of comparing
//! their speed in `benches/engines.rs`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "engines_support/mod.rs"]
mod engines_support;

use std::time::{Duration, UNIX_EPOCH};

use engines_support::{
    Cedar, Rego, RegoVm, catalog_class, instance_type_names, known_countries, rego_input,
};
use tower_export_control::policy::Action;
use tower_export_control::{CountryCode, Facts, Policy, decide};

const DEFAULT_TOML: &str = include_str!("../policies/default.toml");

fn cc(s: &str) -> CountryCode {
    CountryCode::parse(s).unwrap()
}

/// The requests compared:
/// - every instance type of the default catalog, and one it does not know,
///   with each country the policy names (and US) as the declared country,
///   and with no country at all (defaults.unknown_jurisdiction);
/// - one instance type of each class with each of those countries as the
///   network country alone, and as the headquarters, and as the ultimate
///   parent's country, of a customer declaring US (the headquarters rule
///   scopes to outside the United States) or GB (where it applies).
///
/// The class is all the rules see of an instance type, so one of each
/// class covers the location and headquarters conditions.
fn requests<'a>(policy: &Policy, names: &'a [String]) -> Vec<Facts<'a>> {
    let mut countries = known_countries(policy);
    countries.push(cc("US"));
    let mut instance_types: Vec<&'a str> = names.iter().map(String::as_str).collect();
    instance_types.push("x9.superchip");

    let mut all = Vec::new();
    for &t in &instance_types {
        let base = Facts::new().with_instance_type(t);
        all.push(base);
        all.extend(countries.iter().map(|&c| base.with_declared_country(c)));
    }
    let mut classes = Vec::new();
    for &t in &instance_types {
        let class = catalog_class(policy, t);
        if classes.contains(&class) {
            continue;
        }
        classes.push(class);
        let base = Facts::new().with_instance_type(t);
        for &c in &countries {
            all.push(base.with_network_country(c));
            for located in [cc("US"), cc("GB")] {
                let here = base.with_declared_country(located);
                all.push(here.with_headquarters(c));
                all.push(here.with_parent_country(c));
            }
        }
    }
    // With the default catalog: 3A090.a, below-threshold, none and unknown
    // (it has no 3A090.b instance type; a test adds one).
    assert!(!classes.is_empty());
    all
}

/// Each request on which an engine disagrees with `decide`, as
/// (facts, ours, Cedar's, Rego's interpreter's, Rego's VM's).
type Disagreement<'a> = (Facts<'a>, Action, Action, Action, Action);

fn disagreements<'a>(
    ours: &'a Policy,
    theirs: &Policy,
    requests: &[Facts<'a>],
) -> (Vec<Disagreement<'a>>, [usize; 3]) {
    let names = instance_type_names(theirs);
    let cedar = Cedar::new(theirs, &names);
    let mut rego = Rego::new(theirs, &names);
    let mut vm = RegoVm::new(theirs, &names);
    // 2026-07-08 00:00:00 UTC: the default policy has no dated rules.
    let now = UNIX_EPOCH + Duration::from_secs(1_783_468_800);

    let mut differ = Vec::new();
    let mut seen = [0usize; 3];
    for facts in requests {
        let want = decide(ours, facts, now).action();
        seen[want as usize] += 1;
        let response = cedar.respond(&cedar.request(facts));
        let errors: Vec<_> = response.diagnostics().errors().collect();
        assert!(errors.is_empty(), "Cedar errors on {facts:?}: {errors:?}");
        let got = (
            cedar.action(&response),
            rego.decide(rego_input(facts)),
            vm.decide(rego_input(facts)),
        );
        if got != (want, want, want) {
            differ.push((*facts, want, got.0, got.1, got.2));
        }
    }
    (differ, seen)
}

#[test]
fn cedar_and_rego_decide_as_decide_on_the_default_catalog_and_every_country() {
    let policy = Policy::embedded_default();
    let names = instance_type_names(&policy);
    let requests = requests(&policy, &names);
    let (differ, seen) = disagreements(&policy, &policy, &requests);
    assert!(
        differ.is_empty(),
        "{} of {} requests decided differently, first: {:?}",
        differ.len(),
        requests.len(),
        &differ[..differ.len().min(5)]
    );
    // Not vacuous: every action occurs, each many times.
    let [allow, license, deny] = seen;
    assert!(
        allow > 1000 && license > 500 && deny > 100,
        "allow {allow}, require-license {license}, deny {deny}"
    );
}

#[test]
fn cedar_and_rego_decide_as_decide_on_a_3a090b_instance_type() {
    // The L40 is 3A090.b; no instance type of the default catalog carries it.
    let toml = format!(
        "{DEFAULT_TOML}\n[[instance_types]]\nname = \"x.l40\"\nchip = \"L40\"\nchips = 1\n"
    );
    let policy = Policy::from_toml(&toml, "with-l40.toml", None).unwrap();
    assert_eq!(catalog_class(&policy, "x.l40"), Some("3A090.b"));
    let names = vec!["x.l40".to_owned()];
    let requests = requests(&policy, &names);
    let (differ, seen) = disagreements(&policy, &policy, &requests);
    assert!(differ.is_empty(), "{:?}", &differ[..differ.len().min(5)]);
    assert!(seen.iter().all(|n| *n > 10), "{seen:?}");
}

#[test]
fn a_country_moved_between_groups_shows_up_as_a_difference() {
    // The engines get Israel out of A:6, so the carve-out no longer spares
    // it; `decide` keeps the default. The comparison must notice.
    let moved = DEFAULT_TOML.replacen(
        r#""A:6" = ["AL", "BR", "CY", "IL","#,
        r#""A:6" = ["AL", "BR", "CY","#,
        1,
    );
    assert_ne!(moved, DEFAULT_TOML);
    let theirs = Policy::from_toml(&moved, "moved.toml", None).unwrap();
    let ours = Policy::embedded_default();
    let il = cc("IL");
    let requests: Vec<Facts<'static>> = ["p5.48xlarge", "m7i.large", "x9.superchip"]
        .into_iter()
        .map(|t| Facts::new().with_instance_type(t).with_declared_country(il))
        .collect();
    let (differ, _) = disagreements(&ours, &theirs, &requests);
    let expected: Vec<Disagreement> = ["p5.48xlarge", "x9.superchip"]
        .into_iter()
        .map(|t| {
            let f = Facts::new().with_instance_type(t).with_declared_country(il);
            (
                f,
                Action::Allow,
                Action::RequireLicense,
                Action::RequireLicense,
                Action::RequireLicense,
            )
        })
        .collect();
    assert_eq!(differ, expected);
}

#[test]
fn the_mapping_reads_each_outcome() {
    // One request per outcome, through each engine, with the reasons the
    // mapping depends on: Cedar's determining forbid policies.
    let policy = Policy::embedded_default();
    let names = instance_type_names(&policy);
    let cedar = Cedar::new(&policy, &names);
    let mut rego = Rego::new(&policy, &names);
    let cases = [
        ("US", "p5.48xlarge", Action::Allow),
        ("CN", "p5.48xlarge", Action::RequireLicense),
        ("HK", "p5.48xlarge", Action::RequireLicense),
        ("CN", "m7i.large", Action::Allow),
        ("IR", "m7i.large", Action::Deny),
        ("KP", "p5.48xlarge", Action::Deny),
    ];
    for (country, instance_type, want) in cases {
        let facts = Facts::new()
            .with_declared_country(cc(country))
            .with_instance_type(instance_type);
        assert_eq!(
            cedar.decide(&cedar.request(&facts)),
            want,
            "{country} {instance_type}"
        );
        assert_eq!(
            rego.decide(rego_input(&facts)),
            want,
            "{country} {instance_type}"
        );
    }
}
