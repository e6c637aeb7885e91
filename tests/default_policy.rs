//! The default policy's facts: the country groups HK, KH, MO and IL fall
//! in, the accelerators of an instance type, which default rule decides;
//! and the destinations it licenses, derived from its country groups by
//! trying every assigned code as the declared country, then as the
//! headquarters.

mod decide_support;

use std::collections::BTreeSet;

use decide_support::*;
use tower_export_control::policy::{Action, DefaultRule};
use tower_export_control::{AcceleratorClass, CountryCode, Facts, Policy, ReasonCode, decide};

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
    assert_eq!(Action::RequireLicense.as_str(), "require-license");
}

// ---------------------------------------------------------------------------
// The derived set: every assigned code as the declared country
// ---------------------------------------------------------------------------

/// The destinations of 15 CFR 742.6(a)(6)(iii) (88 FR 73458, Oct. 25,
/// 2023): (D:1 ∪ D:4 ∪ D:5 ∪ {MO}) − (A:5 ∪ A:6), with the default policy's
/// country groups (15 CFR part 740, Supplement No. 1); 46 codes.
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
        let f = {
            let mut f = Facts::new();
            f.declared_country = Some(c);
            f.instance_type = Some(P5);
            f
        };
        let d = decide(&policy, &f, now());
        match d.action() {
            Action::RequireLicense => {
                assert_eq!(d.reason(), Some(ReasonCode::LicenseRequired), "{c}");
                assert_eq!(rules_of(&d), [DEST], "{c}");
                licensed.insert(c)
            }
            Action::Deny => {
                assert_eq!(d.reason(), Some(ReasonCode::Embargoed), "{c}");
                assert_eq!(rules_of(&d), [EMBARGO], "{c}");
                denied.insert(c)
            }
            Action::Allow => allowed.insert(c),
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

    // Headquarters rule: D:5 ∪ {MO} ∪ {HK via CN}, for the customer's own
    // headquarters or its ultimate parent's, when located outside the US
    // (here in GB, which no destination rule covers); never in the US.
    let d5_mo = set("AF BY CD CF CN CU ER HT IQ IR KP LB LY MM NI RU SD SO SS SY VE ZW MO HK");
    let licensed_when = |located: &str, hq: Option<CountryCode>, parent: Option<CountryCode>| {
        let mut f = Facts::new()
            .with_declared_country(cc(located))
            .with_instance_type(P5);
        f.headquarters = hq;
        f.parent_country = parent;
        decide(&policy, &f, now()).action() == Action::RequireLicense
    };
    let by_hq: BTreeSet<_> = CountryCode::all()
        .filter(|c| licensed_when("GB", Some(*c), None))
        .collect();
    assert_eq!(by_hq, d5_mo);
    let by_parent: BTreeSet<_> = CountryCode::all()
        .filter(|c| licensed_when("GB", Some(cc("GB")), Some(*c)))
        .collect();
    assert_eq!(by_parent, d5_mo);
    let in_us: BTreeSet<_> = CountryCode::all()
        .filter(|c| licensed_when("US", Some(*c), Some(*c)))
        .collect();
    assert!(in_us.is_empty(), "{in_us:?}");
}
