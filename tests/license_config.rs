//! Building a verifier from configuration: each bad file fails construction
//! with an error naming it.
// Test code: a panic is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod license_support;

use std::path::Path;

use license_support::*;
use serde_json::json;
use tower_export_control::license::{LicenseConfig, LicenseConfigError};

fn config_with(issuer: tower_export_control::license::IssuerConfig) -> LicenseConfig {
    {
        let mut f = LicenseConfig::default();
        f.issuers = vec![issuer];
        f
    }
}

/// Builds from `config` in `dir`, expecting an error whose message names
/// `file` and contains `detail`.
fn expect_error(
    dir: &Path,
    config: &LicenseConfig,
    file: &str,
    detail: &str,
) -> LicenseConfigError {
    let error = Checker::from_config(config, dir).unwrap_err();
    let message = error.to_string();
    assert!(message.contains(file), "`{message}` does not name `{file}`");
    assert!(
        message.contains(detail),
        "`{message}` does not say `{detail}`"
    );
    error
}

fn with_jwks(name: &str, jwks: &str) -> (std::path::PathBuf, LicenseConfig) {
    let dir = scratch(name);
    std::fs::write(dir.join("keys.jwks.json"), jwks).unwrap();
    let mut a = issuer(ISSUER_A);
    a.jwks_file = Some("keys.jwks.json".into());
    (dir, config_with(a))
}

#[test]
fn standard_config_loads() {
    let verifier = standard_verifier("config_ok");
    let debug = format!("{verifier:?}");
    for kid in [
        "a1", "a2", "a-es", "a-rs", "b1", "p-ed", "p-es", "p-rs", "h-ed",
    ] {
        assert!(
            debug.contains(&format!("\"{kid}\"")),
            "{kid} missing from {debug}"
        );
    }
}

#[test]
fn missing_key_files() {
    let dir = scratch("config_missing");
    let mut a = issuer(ISSUER_A);
    a.jwks_file = Some("nowhere.jwks.json".into());
    let error = expect_error(
        &dir,
        &config_with(a),
        "nowhere.jwks.json",
        "cannot read JWKS",
    );
    assert!(matches!(error, LicenseConfigError::Read { .. }));

    let mut b = issuer(ISSUER_B);
    b.pem_keys = vec![pem_key("b1", Path::new("keys/missing.pem"), "EdDSA")];
    expect_error(
        &dir,
        &config_with(b),
        "keys/missing.pem",
        "cannot read PEM key",
    );

    let mut h = issuer(ISSUER_HS);
    h.hs256_secret_file = Some("missing.secret".into());
    expect_error(
        &dir,
        &config_with(h),
        "missing.secret",
        "cannot read HS256 secret",
    );

    let mut config = standard_config(&dir);
    config.revoked_file = Some("missing-revocations.txt".into());
    expect_error(
        &dir,
        &config,
        "missing-revocations.txt",
        "cannot read revocation list",
    );
}

#[test]
fn paths_resolve_against_the_base_directory() {
    let dir = scratch("config_base");
    std::fs::create_dir_all(dir.join("keys")).unwrap();
    std::fs::copy(data("ed25519-b1.pub.pem"), dir.join("keys/b1.pem")).unwrap();
    let mut b = issuer(ISSUER_B);
    b.pem_keys = vec![pem_key("b1", Path::new("keys/b1.pem"), "EdDSA")];
    let config = config_with(b);
    Checker::from_config(&config, &dir).unwrap();
    // The same relative path from elsewhere is not found.
    expect_error(&dir.join("keys"), &config, "keys/b1.pem", "cannot read");
}

#[test]
fn malformed_jwks() {
    let cases = [
        (
            "not JSON",
            "{ keys: nope".to_owned(),
            "key must be a string",
        ),
        (
            "no keys member",
            json!({ "kes": [] }).to_string(),
            "missing field `keys`",
        ),
        (
            "key not an object",
            json!({ "keys": [7] }).to_string(),
            "key #0: not a JSON object",
        ),
        (
            "no kid",
            edit_first_key(jwks(&[("a1", "ed25519-a1.pub.pem")]), |k| {
                k.remove("kid");
            }),
            "no `kid`",
        ),
        (
            "private key material",
            {
                let mut v: serde_json::Value =
                    serde_json::from_str(&jwks(&[("a1", "ed25519-a1.pub.pem")])).unwrap();
                v["keys"][0]["d"] = json!("c2VjcmV0");
                v.to_string()
            },
            "key #0 (kid `a1`): holds private key material",
        ),
        (
            "symmetric key",
            json!({ "keys": [{ "kty": "oct", "kid": "s", "k": "c2VjcmV0" }] }).to_string(),
            "use hs256_secret_file",
        ),
        (
            "unknown key type",
            json!({ "keys": [{ "kty": "XYZ", "kid": "x" }] }).to_string(),
            "unsupported key type `XYZ`",
        ),
        (
            "unsupported curve",
            json!({ "keys": [{ "kty": "EC", "kid": "p384", "crv": "P-384",
                "x": "AAAA", "y": "AAAA" }] })
            .to_string(),
            "unsupported EC curve",
        ),
        (
            "alg not matching the key",
            edit_first_key(jwks(&[("a1", "ed25519-a1.pub.pem")]), |k| {
                k.insert("alg".into(), "RS256".into());
            }),
            "`alg` is `RS256`",
        ),
        (
            "short Ed25519 key",
            json!({ "keys": [{ "kty": "OKP", "kid": "e", "crv": "Ed25519", "x": "AAAA" }] })
                .to_string(),
            "32 bytes",
        ),
        (
            "P-256 point not on the curve",
            {
                let jwks = jwks(&[("a-es", "es256-a.pub.pem")]);
                let v: serde_json::Value = serde_json::from_str(&jwks).unwrap();
                let x = v["keys"][0]["x"].as_str().unwrap().to_owned();
                let y = v["keys"][0]["y"].as_str().unwrap().to_owned();
                jwks.replace(&y, &x)
            },
            "not a valid P-256 public key",
        ),
        (
            "bad base64 in x",
            json!({ "keys": [{ "kty": "OKP", "kid": "e", "crv": "Ed25519", "x": "!!!" }] })
                .to_string(),
            "key #0 (kid `e`)",
        ),
        (
            "duplicate kid",
            jwks(&[("a1", "ed25519-a1.pub.pem"), ("a1", "ed25519-a2.pub.pem")]),
            "key id `a1` is defined twice",
        ),
    ];
    for (name, jwks, detail) in cases {
        let (dir, config) = with_jwks(&format!("jwks_{}", name.replace(' ', "_")), &jwks);
        let error = Checker::from_config(&config, &dir).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("keys.jwks.json"), "{name}: `{message}`");
        assert!(
            message.contains(detail),
            "{name}: `{message}` does not say `{detail}`"
        );
    }
}

#[test]
fn encryption_keys_in_a_jwks_are_skipped() {
    let mut v: serde_json::Value = serde_json::from_str(&jwks(&[
        ("a1", "ed25519-a1.pub.pem"),
        ("a2", "ed25519-a2.pub.pem"),
    ]))
    .unwrap();
    v["keys"][1]["use"] = json!("enc");
    let (dir, config) = with_jwks("jwks_enc", &v.to_string());
    let verifier = Checker::from_config(&config, &dir).unwrap();
    let reason = |signer: Signer| {
        verifier
            .verify(&signer.sign(&claims(ISSUER_A)), now())
            .map(|_| ())
            .map_err(|d| d.reason())
    };
    assert_eq!(reason(ed_a1()), Ok(()));
    assert_eq!(
        reason(ed_a2()),
        Err(tower_export_control::ReasonCode::LicenseInvalid)
    );
}

#[test]
fn malformed_pem() {
    let dir = scratch("config_pem");
    std::fs::write(
        dir.join("garbage.pem"),
        "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
    )
    .unwrap();
    std::fs::write(dir.join("empty.pem"), "").unwrap();
    let cases = [
        (
            "garbage.pem".to_owned(),
            "EdDSA",
            "not a PEM Ed25519 public key",
        ),
        (
            "empty.pem".to_owned(),
            "ES256",
            "not a PEM P-256 public key",
        ),
        (
            data("es256-a.pub.pem").display().to_string(),
            "EdDSA",
            "not a PEM Ed25519 public key",
        ),
        (
            data("ed25519-a1.pub.pem").display().to_string(),
            "RS256",
            "not a PEM RSA public key",
        ),
        (
            data("ed25519-a1.key.pem").display().to_string(),
            "EdDSA",
            "holds a private key",
        ),
        (
            data("rs256-a.key.pem").display().to_string(),
            "RS256",
            "holds a private key",
        ),
        (
            data("es384-x.pub.pem").display().to_string(),
            "ES256",
            "not a valid P-256 public key",
        ),
    ];
    for (file, algorithm, detail) in cases {
        let mut b = issuer(ISSUER_B);
        b.pem_keys = vec![pem_key("k1", Path::new(&file), algorithm)];
        let error = expect_error(&dir, &config_with(b), &file, detail);
        assert!(
            matches!(error, LicenseConfigError::Pem { ref kid, .. } if kid == "k1"),
            "{error}"
        );
    }
}

#[test]
fn unknown_algorithm() {
    let dir = scratch("config_alg");
    for algorithm in ["HS256", "PS256", "ES384", "none", "eddsa", ""] {
        let mut b = issuer(ISSUER_B);
        b.pem_keys = vec![pem_key("b1", &data("ed25519-b1.pub.pem"), algorithm)];
        let error = expect_error(
            &dir,
            &config_with(b),
            "ed25519-b1.pub.pem",
            "unknown algorithm",
        );
        assert!(
            error.to_string().contains(&format!("`{algorithm}`")),
            "{error}"
        );
    }
}

#[test]
fn short_hs256_secret() {
    let dir = scratch("config_hs");
    std::fs::write(dir.join("short.secret"), "too short\n").unwrap();
    let mut h = issuer(ISSUER_HS);
    h.hs256_secret_file = Some("short.secret".into());
    let error = expect_error(&dir, &config_with(h), "short.secret", "9 bytes");
    assert!(!error.to_string().contains("too short"));
}

#[test]
fn inconsistent_issuers() {
    let dir = scratch("config_issuers");
    let error = expect_error(
        &dir,
        &config_with(issuer(ISSUER_A)),
        ISSUER_A,
        "has no keys",
    );
    assert!(matches!(error, LicenseConfigError::NoKeys { .. }));

    let mut b = issuer(ISSUER_B);
    b.pem_keys = vec![pem_key("b1", &data("ed25519-b1.pub.pem"), "EdDSA")];
    let config = {
        let mut f = LicenseConfig::default();
        f.issuers = vec![b.clone(), b.clone()];
        f
    };
    expect_error(&dir, &config, ISSUER_B, "configured twice");

    // The same kid in a JWKS and a PEM key of one issuer.
    std::fs::write(
        dir.join("b.jwks.json"),
        jwks(&[("b1", "ed25519-b1.pub.pem")]),
    )
    .unwrap();
    b.jwks_file = Some("b.jwks.json".into());
    let error = expect_error(
        &dir,
        &config_with(b),
        "b.jwks.json",
        "key id `b1` is defined twice",
    );
    assert!(error.to_string().contains("ed25519-b1.pub.pem"));

    // The same kid under two issuers is fine: keys are looked up per issuer.
    let mut a = issuer(ISSUER_A);
    a.pem_keys = vec![pem_key("k", &data("ed25519-a1.pub.pem"), "EdDSA")];
    let mut b = issuer(ISSUER_B);
    b.pem_keys = vec![pem_key("k", &data("ed25519-b1.pub.pem"), "EdDSA")];
    let verifier = Checker::from_config(
        &{
            let mut f = LicenseConfig::default();
            f.issuers = vec![a, b];
            f
        },
        &dir,
    )
    .unwrap();
    let token = Signer::new(jsonwebtoken::Algorithm::EdDSA, "k", "ed25519-b1.key.pem")
        .sign(&claims(ISSUER_B));
    verifier.verify(&token, now()).unwrap();
    let token = Signer::new(jsonwebtoken::Algorithm::EdDSA, "k", "ed25519-b1.key.pem")
        .sign(&claims(ISSUER_A));
    assert!(verifier.verify(&token, now()).is_err());
}

#[test]
fn toml_files() {
    let dir = scratch("config_toml");
    std::fs::copy(data("ed25519-b1.pub.pem"), dir.join("b1.pem")).unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };

    // A standalone file, and a whole policy file with other tables.
    let standalone = write(
        "license.toml",
        &format!(
            "[license]\nleeway_seconds = 5\n\n[[license.issuers]]\nissuer = \"{ISSUER_B}\"\n\
             pem_keys = [{{ kid = \"b1\", path = \"b1.pem\", algorithm = \"EdDSA\" }}]\n"
        ),
    );
    let policy = write(
        "policy.toml",
        &format!(
            "name = \"test\"\n[rules]\nx = 1\n[license]\n[[license.issuers]]\nissuer = \"{ISSUER_B}\"\n\
             pem_keys = [{{ kid = \"b1\", path = \"b1.pem\", algorithm = \"EdDSA\" }}]\n"
        ),
    );
    let token = Signer::new(jsonwebtoken::Algorithm::EdDSA, "b1", "ed25519-b1.key.pem")
        .sign(&claims(ISSUER_B));
    for path in [&standalone, &policy] {
        let verifier = Checker::from_toml_path(path).unwrap();
        verifier.verify(&token, now()).unwrap();
    }

    let cases = [
        ("no-license.toml", "[other]\nx = 1\n", "no [license] table"),
        ("broken.toml", "[license\n", "invalid license configuration"),
        (
            "typo.toml",
            "[license]\nleway_seconds = 5\n",
            "leway_seconds",
        ),
        (
            "bad-alg.toml",
            "[[license.issuers]]\nissuer = \"x\"\npem_keys = [{ kid = \"b1\", path = \"b1.pem\", algorithm = \"HS512\" }]\n",
            "b1.pem",
        ),
    ];
    for (name, text, detail) in cases {
        let path = write(name, text);
        let message = Checker::from_toml_path(&path).unwrap_err().to_string();
        assert!(message.contains(detail), "{name}: `{message}`");
        if detail != "b1.pem" {
            assert!(message.contains(name), "{name}: `{message}`");
        }
    }
    let message = Checker::from_toml_path(dir.join("absent.toml"))
        .unwrap_err()
        .to_string();
    assert!(message.contains("absent.toml"), "{message}");
}

/// The fixture `rs256-a` JWK, to be altered.
fn rs_jwk() -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&jwks(&[("a-rs", "rs256-a.pub.pem")])).unwrap();
    v["keys"][0].clone()
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

/// The DER body of a fixture PEM file.
fn pem_der(file: &str) -> Vec<u8> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(data(file)).unwrap();
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap()
}

#[test]
fn short_rsa_keys_fail_the_load() {
    let dir = scratch("config_rsa_short");
    // SPKI (`BEGIN PUBLIC KEY`) and PKCS#1 (`BEGIN RSA PUBLIC KEY`).
    for file in ["rs1024-x.pub.pem", "rs1024-x.pkcs1.pem"] {
        let mut b = issuer(ISSUER_B);
        b.pem_keys = vec![pem_key("weak", &data(file), "RS256")];
        let error = expect_error(&dir, &config_with(b), file, "1024 bits");
        assert!(
            matches!(&error, LicenseConfigError::RsaKeyTooShort { kid, bits: 1024, .. } if kid == "weak"),
            "{error}"
        );
        let message = error.to_string();
        assert!(message.contains("kid `weak`"), "{message}");
        assert!(message.contains("at least 2048"), "{message}");
    }

    // In a JWKS: the 1024-bit key (by hand: jwt-simple will not export
    // it), and a 2048-bit key's modulus cut short.
    let der = pem_der("rs1024-x.pkcs1.pem");
    let weak = <rsa::pkcs1::RsaPublicKey as rsa::pkcs1::der::Decode>::from_der(&der).unwrap();
    let weak = json!({ "keys": [{
        "kty": "RSA", "kid": "weak", "alg": "RS256", "use": "sig",
        "n": b64(weak.modulus.as_bytes()), "e": b64(weak.public_exponent.as_bytes()),
    }] });
    let mut cut = rs_jwk();
    let n = unb64(cut["n"].as_str().unwrap());
    cut["n"] = json!(b64(&n[128..]));
    let cases = [
        (weak.to_string(), "kid `weak`", "1024 bits"),
        (
            json!({ "keys": [cut] }).to_string(),
            "kid `a-rs`",
            "1024 bits",
        ),
    ];
    for (i, (jwks, kid, detail)) in cases.into_iter().enumerate() {
        let (dir, config) = with_jwks(&format!("jwks_rsa_short_{i}"), &jwks);
        let error = expect_error(&dir, &config, "keys.jwks.json", detail);
        assert!(matches!(
            error,
            LicenseConfigError::RsaKeyTooShort { bits: 1024, .. }
        ));
        let message = error.to_string();
        assert!(message.contains(kid), "{message}");
    }
}

#[test]
fn rsa_keys_the_verifier_cannot_use_fail_the_load() {
    let n = unb64(rs_jwk()["n"].as_str().unwrap());
    let with = |n: &[u8], e: &[u8]| {
        let mut jwk = rs_jwk();
        jwk["n"] = json!(b64(n));
        jwk["e"] = json!(b64(e));
        json!({ "keys": [jwk] }).to_string()
    };
    // 8192 bits, odd: larger than the backend verifies.
    let huge = [n.as_slice(), &n, &n, &n].concat();
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    let cases = [
        ("too large", with(&huge, &[1, 0, 1]), "4096"),
        ("exponent 1", with(&n, &[1]), "exponent"),
        ("even exponent", with(&n, &[1, 0, 0]), "exponent"),
        ("exponent over 2^33", with(&n, &[3, 0, 0, 0, 1]), "exponent"),
        ("even modulus", with(&even, &[1, 0, 1]), "modulus"),
    ];
    for (name, jwks, detail) in cases {
        let (dir, config) = with_jwks(&format!("jwks_rsa_{}", name.replace(' ', "_")), &jwks);
        let error = Checker::from_config(&config, &dir).map(|_| ());
        let message = error.unwrap_err().to_string();
        assert!(message.contains("keys.jwks.json"), "{name}: `{message}`");
        assert!(message.contains("kid `a-rs`"), "{name}: `{message}`");
        assert!(
            message.contains(detail),
            "{name}: `{message}` does not say `{detail}`"
        );
    }

    // A PEM public key whose body is not an RSA key.
    let dir = scratch("config_rsa_pem");
    let der = pem_der("rs256-a.pub.pem");
    // Inside the BIT STRING, which the PEM decoder does not look into, the
    // exponent's INTEGER tag (five bytes from the end) becomes NULL's.
    let mut broken = der.clone();
    let len = broken.len();
    broken[len - 5] = 0x05;
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &broken)
    );
    std::fs::write(dir.join("broken.pem"), pem).unwrap();
    let mut b = issuer(ISSUER_B);
    b.pem_keys = vec![pem_key("k1", Path::new("broken.pem"), "RS256")];
    let error = expect_error(&dir, &config_with(b), "broken.pem", "RSA");
    assert!(error.to_string().contains("kid `k1`"), "{error}");
}

#[test]
fn rsa_keys_of_2048_to_4096_bits_load_and_verify() {
    let dir = scratch("config_rsa_ok");
    std::fs::write(
        dir.join("rs.jwks.json"),
        jwks(&[("j2048", "rs256-a.pub.pem"), ("j4096", "rs4096-a.pub.pem")]),
    )
    .unwrap();
    let mut a = issuer(ISSUER_A);
    a.jwks_file = Some("rs.jwks.json".into());
    a.pem_keys = vec![
        pem_key("p2048", &data("rs256-a.pub.pem"), "RS256"),
        pem_key("p4096", &data("rs4096-a.pub.pem"), "RS256"),
    ];
    let verifier = Checker::from_config(&config_with(a), &dir).unwrap();
    for (kid, file) in [
        ("j2048", "rs256-a.key.pem"),
        ("p2048", "rs256-a.key.pem"),
        ("j4096", "rs4096-a.key.pem"),
        ("p4096", "rs4096-a.key.pem"),
    ] {
        let token = Signer::new(jsonwebtoken::Algorithm::RS256, kid, file).sign(&claims(ISSUER_A));
        verifier.verify(&token, now()).unwrap();
    }
}

/// A JWKS document with its first key changed by `edit` (edited as JSON,
/// whatever order serde_json writes members in).
fn edit_first_key(
    jwks: String,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(&jwks).unwrap();
    let key = doc["keys"][0].as_object_mut().unwrap();
    assert!(key.contains_key("kid") && key.contains_key("alg"));
    edit(key);
    doc.to_string()
}
