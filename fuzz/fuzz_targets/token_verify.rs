//! License tokens against the demo issuer's trust, for a request that needs
//! a license (CN, `p5.48xlarge`, customer `acme-cn`). The first input byte
//! picks a mode:
//!
//! - 0: the rest, as text, is the token;
//! - 1: a genuine token signed at start-up with the demo key, changed by
//!   the rest read as 4-byte edits `[op, position (2 bytes), byte]`;
//! - 2: the rest split at `\n` into header, claims and signature, each
//!   base64url-encoded (so JSON reaches the claim parser).
//!
//! No panic, and a token is accepted (`AllowLicensed`) only if it is the
//! genuine token byte for byte: the fuzzer cannot forge a signature.
#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use tower_export_control::{CountryCode, Facts, Gate, Outcome, Policy};

struct Setup {
    gate: Gate,
    genuine: String,
    now: SystemTime,
}

const CUSTOMER: &str = "acme-cn";

fn facts() -> Facts<'static> {
    Facts::new()
        .with_declared_country(CountryCode::parse("CN").unwrap())
        .with_instance_type("p5.48xlarge")
        .with_customer_id(CUSTOMER)
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let gate = Gate::new(Policy::embedded_default()).with_license_trust(fuzz_support::demo_trust());
    let now = SystemTime::now();
    let secs = now.duration_since(UNIX_EPOCH).unwrap().as_secs();
    let pem = std::fs::read(fuzz_support::demo_issuer_dir().join("demo-issuer.key.pem")).unwrap();
    let key = jsonwebtoken::EncodingKey::from_ed_pem(&pem).unwrap();
    let claims = serde_json::json!({
        "iss": "https://demo-licensing.invalid",
        "sub": CUSTOMER,
        "jti": "LIC-FUZZ-0001",
        "iat": secs,
        "nbf": secs - 60,
        "exp": secs + 86_400,
        "countries": ["CN"],
        "accelerator_classes": ["3A090.a"],
        "max_accelerators": 64,
    });
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("demo-2026".to_owned());
    let genuine = jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let verdict = gate.evaluate(&facts(), Some(&genuine), now);
    assert_eq!(
        verdict.outcome(),
        Outcome::AllowLicensed,
        "set-up: the genuine token is not accepted: {verdict:?}"
    );
    Setup { gate, genuine, now }
});

/// Applies 4-byte edits to `token`.
fn mutate(token: &[u8], edits: &[u8]) -> Vec<u8> {
    let mut t = token.to_vec();
    for e in edits.chunks_exact(4) {
        let (op, at, byte) = (e[0], usize::from(u16::from_be_bytes([e[1], e[2]])), e[3]);
        let len = t.len();
        match op % 6 {
            0 if len > 0 => t[at % len] = byte,
            1 if len > 0 => t[at % len] ^= byte,
            2 => t.insert(at % (len + 1), byte),
            3 if len > 0 => {
                t.remove(at % len);
            }
            4 => t.truncate(at % (len + 1)),
            5 if len > 0 => {
                // Swap two bytes.
                let other = usize::from(byte) % len;
                t.swap(at % len, other);
            }
            _ => {}
        }
    }
    t
}

fuzz_target!(|data: &[u8]| {
    let setup = &*SETUP;
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token: Vec<u8> = match mode % 3 {
        0 => rest.to_vec(),
        1 => mutate(setup.genuine.as_bytes(), rest),
        _ => {
            let mut parts = rest.splitn(3, |&b| b == b'\n');
            let mut encode = || URL_SAFE_NO_PAD.encode(parts.next().unwrap_or_default());
            let (h, p, s) = (encode(), encode(), encode());
            format!("{h}.{p}.{s}").into_bytes()
        }
    };
    let text = String::from_utf8_lossy(&token);
    let verdict = setup.gate.evaluate(&facts(), Some(&text), setup.now);
    if verdict.outcome() == Outcome::AllowLicensed && text != setup.genuine {
        panic!(
            "accepted a token that is not the genuine one\n token: {text:?}\ngenuine: {:?}\nverdict: {verdict:?}",
            setup.genuine
        );
    }
});
