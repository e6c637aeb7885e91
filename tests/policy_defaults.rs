//! A policy's `[defaults]`, on a small policy: what applies when no country
//! is known (`unknown_jurisdiction`) or the catalog does not know the
//! instance type (`unknown_instance_type`), and the classes those defaults
//! cover (`controlled_classes`).

mod decide_support;

use decide_support::*;
use tower_export_control::policy::{Action, DefaultRule};
use tower_export_control::{AcceleratorClass, Decision, Policy, ReasonCode, decide};

#[test]
fn unknown_jurisdiction_default() {
    fn nobody<'a>(p: &'a Policy, it: &'a str) -> Decision<'a> {
        decide(p, &facts(None, None, None, Some(it), 1), now())
    }
    // require-license is the default.
    let p = small("");
    let d = nobody(&p, "a");
    assert_eq!(d.action(), Action::RequireLicense);
    assert_eq!(d.reason(), Some(ReasonCode::JurisdictionUnknown));
    assert_eq!(rules_of(&d), [UNKNOWN_J]);

    let p = small("[defaults]\nunknown_jurisdiction = \"deny\"\n");
    for it in ["a", "b", "zz"] {
        let d = nobody(&p, it);
        assert_eq!(d.action(), Action::Deny, "{it}");
        assert_eq!(d.reason(), Some(ReasonCode::JurisdictionUnknown));
        assert_eq!(rules_of(&d), [UNKNOWN_J]);
        assert_eq!(d.default_rule(), Some(DefaultRule::UnknownJurisdiction));
    }
    for it in ["low", "cpu"] {
        assert_eq!(nobody(&p, it).action(), Action::Allow, "{it}");
    }
    // A known network country is a known jurisdiction.
    let d = decide(&p, &facts(None, Some("US"), None, Some("a"), 1), now());
    assert_eq!(d.action(), Action::Allow);

    let p = small("[defaults]\nunknown_jurisdiction = \"allow\"\n");
    for it in ["a", "b", "zz", "low", "cpu"] {
        let d = nobody(&p, it);
        assert_eq!(d.action(), Action::Allow, "{it}");
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
        assert_eq!(d.action(), Action::Deny, "{c:?}");
        assert_eq!(d.reason(), Some(ReasonCode::InstanceTypeUnknown), "{c:?}");
        assert_eq!(rules_of(&d), [UNKNOWN_IT], "{c:?}");
        assert_eq!(d.accelerators().evaluated_class, AcceleratorClass::Unknown);
    }
    // Known types are unaffected.
    assert_eq!(outcome(&p, Some("US"), Some("a")), Action::Allow);
    assert_eq!(outcome(&p, Some("CN"), Some("a")), Action::RequireLicense);
    assert_eq!(outcome(&p, Some("CN"), None), Action::Allow);

    // An assumed class: the rules see 3A090.b.
    let p = small(&format!(
        "[defaults]\nunknown_instance_type = \"3A090.b\"\n{rule}"
    ));
    let d = decide(&p, &facts(Some("CN"), None, None, Some("zz"), 1), now());
    assert_eq!(d.action(), Action::RequireLicense);
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
    assert_eq!(outcome(&p, Some("US"), Some("zz")), Action::Allow);

    // Assumed below-threshold: no rule and no default applies.
    let p = small(&format!(
        "[defaults]\nunknown_instance_type = \"below-threshold\"\n{rule}"
    ));
    assert_eq!(outcome(&p, Some("CN"), Some("zz")), Action::Allow);
    assert_eq!(outcome(&p, None, Some("zz")), Action::Allow);
}

#[test]
fn controlled_classes() {
    let p = small("[defaults]\ncontrolled_classes = [\"3A090.a\"]\n");
    assert_eq!(
        p.defaults().controlled_classes().collect::<Vec<_>>(),
        [AcceleratorClass::Eccn3A090a]
    );
    assert_eq!(outcome(&p, None, Some("a")), Action::RequireLicense);
    assert_eq!(outcome(&p, None, Some("b")), Action::Allow);
    assert_eq!(outcome(&p, None, Some("low")), Action::Allow);

    let p = small("[defaults]\ncontrolled_classes = [\"below-threshold\", \"none\"]\n");
    assert_eq!(outcome(&p, None, Some("a")), Action::Allow);
    assert_eq!(outcome(&p, None, Some("low")), Action::RequireLicense);
    assert_eq!(outcome(&p, None, Some("cpu")), Action::RequireLicense);
    assert_eq!(outcome(&p, None, None), Action::RequireLicense);

    let p = small("[defaults]\ncontrolled_classes = []\n");
    assert_eq!(outcome(&p, None, Some("a")), Action::Allow);
}
