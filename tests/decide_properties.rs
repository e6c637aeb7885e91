//! Properties of `decide`, on policies drawn from a fixed pool of rules
//! that covers every kind of condition and action: no subset of the pool
//! decides differently in another order; `decide` never panics, whatever
//! the facts and the time; and the embedded default finds an instance type
//! exactly when its catalog does.

// Fixture helpers outside `#[test]` functions fail loudly, like the tests.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

mod decide_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use decide_support::*;
use proptest::prelude::*;
use tower_export_control::policy::Action;
use tower_export_control::{AcceleratorClass, CountryCode, Facts, Policy, decide};

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
        let f = { let mut f = Facts::new(); f.declared_country = declared; f.network_country = network; f.headquarters = headquarters; f.instance_type = it; f.instance_count = count; f };
        let d1 = decide(&p1, &f, t);
        let d2 = decide(&p2, &f, t);
        prop_assert_eq!(summary(&d1), summary(&d2));
        // Whatever the order, the deciding rules all carry the outcome's action.
        for id in d1.deciding_rules() {
            if let Some(rule) = p1.rules().iter().find(|r| r.id() == id) {
                prop_assert_eq!(rule.action().as_str(), d1.action().as_str());
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
        let f = { let mut f = Facts::new(); f.declared_country = declared; f.network_country = network; f.headquarters = headquarters; f.instance_type = it.as_deref(); f.instance_count = count; f };
        let d = decide(&policy, &f, t);
        // Touch everything a caller reads.
        let _ = (d.action(), d.reason(), d.default_rule(), d.report_only());
        let _ = d.deciding_rules().count();
        let _ = d.accelerators().total();
        if let Some(r) = d.license_requirement() {
            let _ = r.countries().count();
        }
        prop_assert_eq!(d.license_requirement().is_some(), d.action() == Action::RequireLicense);
        prop_assert_eq!(d.reason().is_some(), d.action() != Action::Allow);
    }

    #[test]
    fn embedded_default_never_panics_on_strange_instance_types(
        declared in country(),
        it in "[ -~]{0,40}|[a-z0-9.*?]{0,12}|\\PC{0,20}",
    ) {
        let policy = Policy::embedded_default();
        let f = { let mut f = Facts::new(); f.declared_country = declared; f.instance_type = Some(&it); f };
        let d = decide(&policy, &f, now());
        let known = policy.catalog().lookup(&it);
        prop_assert_eq!(known, d.accelerators().instance);
        prop_assert_eq!(known.is_none(), d.accelerators().class == AcceleratorClass::Unknown);
    }
}
