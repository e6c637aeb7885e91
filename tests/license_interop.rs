//! Interoperability with an independent JWT implementation (jwt-simple):
//! its tokens verify with ours, and tokens minted with jsonwebtoken's
//! encoder (as the development tool does) verify with it.
// Test code: a panic is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod license_support;

use std::collections::HashSet;

use jwt_simple::prelude::*;
use license_support::*;
use serde_json::json;
use tower_export_control::ReasonCode;

/// The license claims beyond the registered ones.
#[derive(Serialize, Deserialize)]
struct Scope {
    countries: Vec<String>,
    accelerator_classes: Vec<String>,
    max_accelerators: u64,
}

fn scope() -> Scope {
    Scope {
        countries: vec!["CN".into(), "MO".into()],
        accelerator_classes: vec!["3A090.a".into()],
        max_accelerators: 64,
    }
}

fn their_claims(iss: &str) -> JWTClaims<Scope> {
    let mut claims = Claims::with_custom_claims(scope(), Duration::from_hours(1))
        .with_issuer(iss)
        .with_subject(CUSTOMER)
        .with_jwt_id("LIC-JS-1");
    // jwt-simple stamps the wall clock; pin the times to the test's clock.
    claims.issued_at = Some(Duration::from_secs(T0 - 60));
    claims.invalid_before = Some(Duration::from_secs(T0 - 60));
    claims.expires_at = Some(Duration::from_secs(T0 + 3600));
    claims
}

fn ours_accepts(verifier: &Checker, token: &str) {
    let requirement = requirement_for(country("MO"), None);
    let grant = verifier
        .check(token, Some(CUSTOMER), &requirement, now())
        .unwrap_or_else(|denial| panic!("{denial}: {token}"));
    assert_eq!(grant.jti(), "LIC-JS-1");
    assert_eq!(grant.claims().max_accelerators, Some(64));
}

#[test]
fn their_tokens_verify_with_ours() {
    let verifier = standard_verifier("interop_theirs");
    let ed = Ed25519KeyPair::from_pem(&read_str("ed25519-a1.key.pem"))
        .unwrap()
        .with_key_id("a1");
    ours_accepts(&verifier, &ed.sign(their_claims(ISSUER_A)).unwrap());

    let es = ES256KeyPair::from_pem(&read_str("es256-a.key.pem"))
        .unwrap()
        .with_key_id("a-es");
    ours_accepts(&verifier, &es.sign(their_claims(ISSUER_A)).unwrap());

    let rs = RS256KeyPair::from_pem(&read_str("rs256-a.key.pem"))
        .unwrap()
        .with_key_id("p-rs");
    ours_accepts(&verifier, &rs.sign(their_claims(ISSUER_PEM)).unwrap());

    let hs = HS256Key::from_bytes(&hs256_secret());
    ours_accepts(
        &verifier,
        &hs.authenticate(their_claims(ISSUER_HS)).unwrap(),
    );

    // And their tokens are still held to our checks.
    let expired = {
        let mut claims = their_claims(ISSUER_A);
        claims.expires_at = Some(Duration::from_secs(T0 - 3600));
        ed.sign(claims).unwrap()
    };
    assert_eq!(
        verifier.verify(&expired, now()).unwrap_err().reason(),
        ReasonCode::LicenseExpired
    );
}

fn their_options() -> VerificationOptions {
    VerificationOptions {
        artificial_time: Some(Duration::from_secs(T0)),
        allowed_issuers: Some(HashSet::from_strings(&[ISSUER_A])),
        required_subject: Some(CUSTOMER.into()),
        ..VerificationOptions::default()
    }
}

#[test]
fn our_tokens_verify_with_theirs() {
    let claims = claims(ISSUER_A);

    let token = ed_a1().sign(&claims);
    let key = Ed25519PublicKey::from_pem(&read_str("ed25519-a1.pub.pem")).unwrap();
    let verified = key
        .verify_token::<Scope>(&token, Some(their_options()))
        .unwrap();
    assert_eq!(verified.custom.countries, vec!["CN", "MO"]);
    assert_eq!(verified.jwt_id.as_deref(), Some("LIC-2027-0001"));

    let token = es_a().sign(&claims);
    let key = ES256PublicKey::from_pem(&read_str("es256-a.pub.pem")).unwrap();
    let verified = key
        .verify_token::<Scope>(&token, Some(their_options()))
        .unwrap();
    assert_eq!(verified.custom.max_accelerators, 64);

    let token = rs_a().sign(&claims);
    let key = RS256PublicKey::from_pem(&read_str("rs256-a.pub.pem")).unwrap();
    key.verify_token::<Scope>(&token, Some(their_options()))
        .unwrap();

    // A tampered token is rejected by them as well as by us.
    let tampered = {
        let (input, _) = token.rsplit_once('.').unwrap();
        let other = rs_a().sign(&claims_with(ISSUER_A, json!({ "jti": "LIC-X" })));
        format!("{input}.{}", other.rsplit_once('.').unwrap().1)
    };
    assert!(
        key.verify_token::<Scope>(&tampered, Some(their_options()))
            .is_err()
    );
}

#[test]
fn demo_issuer_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo-issuer");
    let verifier = Checker::from_toml_path(dir.join("license.toml")).unwrap();
    let demo = Signer::new(
        jsonwebtoken::Algorithm::EdDSA,
        "demo-2026",
        "../../../examples/demo-issuer/demo-issuer.key.pem",
    );
    let token = demo.sign(&claims_with(
        "https://demo-licensing.invalid",
        json!({ "jti": "LIC-JS-1" }),
    ));
    ours_accepts(&verifier, &token);

    // The JWKS the development tool wrote is readable by jwt-simple too.
    let jwks: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("demo-issuer.jwks.json")).unwrap()).unwrap();
    let jwk = jwks["keys"][0].to_string();
    let key = Ed25519PublicKey::from_jwk(&jwk).unwrap();
    let options = VerificationOptions {
        allowed_issuers: Some(HashSet::from_strings(&["https://demo-licensing.invalid"])),
        ..their_options()
    };
    key.verify_token::<Scope>(&token, Some(options)).unwrap();
}
