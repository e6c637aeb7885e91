//! Country groups and aliases: user-defined group names in location and
//! headquarters conditions; an alias (HK → CN) that takes its target's
//! groups and rule countries, in the default policy and a small one; and
//! the members of a group that lists an aliased country.

mod decide_support;

use decide_support::*;
use tower_export_control::policy::{Action, DEFAULT_POLICY_TOML};
use tower_export_control::{Policy, ReasonCode, decide};

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
    assert_eq!(z.action(), Action::Deny);
    assert_eq!(z.reason(), Some(ReasonCode::LicenseRequired));
    assert_eq!(rules_of(&z), ["watch"]);
    // BR is excepted as a partner.
    assert_eq!(d(Some("BR"), None, "a").action(), Action::Allow);
    // Headquarters conditions: groups or countries.
    for hq in ["BR", "ZA", "MX"] {
        let x = d(Some("US"), Some(hq), "a");
        assert_eq!(x.action(), Action::RequireLicense, "{hq}");
        assert_eq!(required(&x), [(hq.to_owned(), None)]);
        assert_eq!(rules_of(&x), ["hq-watch"]);
    }
    assert_eq!(d(Some("US"), Some("US"), "a").action(), Action::Allow);
    assert_eq!(d(Some("US"), None, "a").action(), Action::Allow);
    // Both conditions of one rule must hold.
    let both = d(Some("FR"), Some("ZA"), "a");
    assert_eq!(both.action(), Action::Deny);
    assert_eq!(rules_of(&both), ["located-fr-hq-za"]);
    assert_eq!(d(Some("FR"), Some("US"), "a").action(), Action::Allow);
    assert_eq!(
        d(Some("DE"), Some("ZA"), "a").action(),
        Action::RequireLicense
    );
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
    assert_eq!(hk.action(), Action::Allow);
    assert!(hk.declared_groups().is_empty());
    let hq = decide(&p, &facts(Some("US"), None, Some("HK"), Some(P5), 1), now());
    assert_eq!(hq.action(), Action::Allow);
    // CN is unchanged.
    assert_eq!(outcome(&p, Some("CN"), Some(P5)), Action::RequireLicense);
    // With the alias (the default), HK requires a license.
    let default = Policy::embedded_default();
    assert_eq!(
        outcome(&default, Some("HK"), Some(P5)),
        Action::RequireLicense
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
    assert_eq!(outcome(&p, Some("HK"), Some("cpu")), Action::Deny);
    assert_eq!(outcome(&p, Some("CN"), Some("cpu")), Action::Deny);
    let d = decide(
        &p,
        &facts(Some("US"), Some("HK"), None, Some("a"), 1),
        now(),
    );
    assert_eq!(d.action(), Action::Deny);
    assert_eq!(rules_of(&d), ["cn"]);
    // HK inherits G1 through CN.
    let g1 = p.country_groups().id("G1").unwrap();
    assert!(p.country_groups().groups_of(cc("HK")).contains(g1));
    assert!(!p.country_groups().members(g1).any(|c| c == cc("HK")));
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
