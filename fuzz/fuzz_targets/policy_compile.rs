//! Arbitrary text as a policy file: no panic; an error lists at least one
//! diagnostic, each pointing inside the text; a policy that loads decides a
//! few requests without panicking.
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use tower_export_control::{CountryCode, Facts, Gate, Policy, PolicyError, decide};

const FILE: &str = "fuzz.toml";

/// Where a location may point: a line of the text, or just past its end.
fn check_error(text: &str, e: &PolicyError) -> Result<(), String> {
    let diagnostics = e.diagnostics();
    if diagnostics.is_empty() {
        return Err(format!("an error without diagnostics: {e}"));
    }
    let lines: Vec<&str> = text.split('\n').collect();
    for d in diagnostics {
        let l = d.location();
        if l.file != FILE {
            return Err(format!("diagnostic names file {:?}: {d}", l.file));
        }
        let Some(line) = l.line.checked_sub(1).and_then(|i| lines.get(i)) else {
            return Err(format!(
                "line {} outside the text ({} lines): {d}",
                l.line,
                lines.len()
            ));
        };
        if l.column == 0 || l.column > line.chars().count() + 1 {
            return Err(format!("column {} outside line {:?}: {d}", l.column, line));
        }
    }
    if e.location() != diagnostics.first().map(|d| d.location()) {
        return Err("location() is not the first diagnostic's".into());
    }
    // Display must not panic either.
    let _ = e.to_string();
    Ok(())
}

fn exercise(policy: Policy) {
    let now = UNIX_EPOCH + Duration::from_secs(1_780_000_000);
    let gate = Gate::new(policy);
    let policy = gate.policy();
    for (country, instance) in [
        (Some("CN"), Some("p5.48xlarge")),
        (Some("US"), Some("m7i.large")),
        (None, Some("unknown.type")),
        (Some("IR"), None),
    ] {
        let mut facts = Facts::new()
            .with_instance_count(3)
            .with_customer_id("acme-cn");
        if let Some(c) = country.and_then(|c| CountryCode::parse(c).ok()) {
            facts = facts.with_declared_country(c).with_headquarters(c);
        }
        if let Some(t) = instance {
            facts = facts.with_instance_type(t);
        }
        let d = decide(&policy, &facts, now);
        let _ = d.action();
        let _ = d.license_requirement();
        let v = gate.evaluate(&facts, Some("a.b.c"), SystemTime::now());
        let _ = format!("{v:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Policy::from_toml(&text, FILE, None) {
        Ok(policy) => exercise(policy),
        Err(e) => {
            if let Err(problem) = check_error(&text, &e) {
                panic!("{problem}\ntext: {text:?}");
            }
        }
    }
});
