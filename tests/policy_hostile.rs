//! Hostile policy files: whatever the text, loading returns a policy or an
//! error that points into the file, and never panics.

use proptest::prelude::*;
use std::time::SystemTime;

use tower_export_control::policy::{Action, DEFAULT_POLICY_TOML};
use tower_export_control::{CountryCode, Facts, Policy, decide};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The default policy with a few bytes changed, removed or repeated.
    #[test]
    fn mutated_default_policies_load_or_fail_cleanly(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let mut bytes = DEFAULT_POLICY_TOML.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => {
                    let end = (i + 40).min(bytes.len());
                    let copy = bytes[i..end].to_vec();
                    bytes.splice(i..i, copy);
                }
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        match Policy::from_toml(&text, "mutated.toml", None) {
            // A mutation the validator accepts is a valid policy: deciding
            // with it works, and a decision that is not `allow` names what
            // decided it.
            Ok(policy) => {
                let facts = { let mut f = Facts::new(); f.declared_country = CountryCode::parse("CN").ok(); f.instance_type = Some("p5.48xlarge"); f };
                let d = decide(&policy, &facts, SystemTime::UNIX_EPOCH);
                if d.action() != Action::Allow {
                    prop_assert!(d.deciding_rules().count() > 0);
                    prop_assert!(d.reason().is_some());
                }
            }
            Err(e) => {
                let message = e.to_string();
                prop_assert!(message.starts_with("mutated.toml:"), "{}", message);
            }
        }
    }

    /// Arbitrary text.
    #[test]
    fn arbitrary_text_fails_cleanly(text in ".{0,400}") {
        if let Err(e) = Policy::from_toml(&text, "any.toml", None) {
            prop_assert!(e.to_string().starts_with("any.toml:"), "{}", e);
        }
    }
}
