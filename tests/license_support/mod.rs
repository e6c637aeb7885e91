//! Shared fixtures for the license tests: fixture keys, issuer
//! configurations written to scratch directories, and token builders.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwt_simple::prelude::*;
use serde_json::{Value, json};
use tower_export_control::license::{
    IssuerConfig, LicenseClaims, LicenseConfig, LicenseConfigError, LicenseDenial, LicenseGrant,
    LicenseRequirement, LicenseTrust, LicenseVerifier, PemKeyConfig, RequiredCountry,
};
use tower_export_control::{AcceleratorClass, CountryCode};

/// The time every test runs at (2027-01-15T08:00:00Z).
pub const T0: u64 = 1_800_000_000;

pub const ISSUER_A: &str = "https://issuer-a.example";
pub const ISSUER_B: &str = "https://issuer-b.example";
pub const ISSUER_PEM: &str = "https://issuer-pem.example";
pub const ISSUER_HS: &str = "https://issuer-hs.example";
pub const CUSTOMER: &str = "cust-42";
pub const AUDIENCE: &str = "provisioning.example";

pub fn now() -> SystemTime {
    at(T0)
}

pub fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

pub fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/license")
        .join(file)
}

pub fn read(file: &str) -> Vec<u8> {
    std::fs::read(data(file)).unwrap()
}

pub fn read_str(file: &str) -> String {
    String::from_utf8(read(file)).unwrap()
}

/// A fresh, empty directory for one test's configuration files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("license")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A JWKS document built by jwt-simple (an independent implementation)
/// from fixture public keys: `(kid, file)`, the algorithm taken from the
/// file name prefix.
pub fn jwks(keys: &[(&str, &str)]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|(kid, file)| {
            let pem = read_str(file);
            let jwk = if file.starts_with("ed25519") {
                Ed25519PublicKey::from_pem(&pem)
                    .unwrap()
                    .with_key_id(kid)
                    .to_jwk()
            } else if file.starts_with("es256") {
                ES256PublicKey::from_pem(&pem)
                    .unwrap()
                    .with_key_id(kid)
                    .to_jwk()
            } else {
                RS256PublicKey::from_pem(&pem)
                    .unwrap()
                    .with_key_id(kid)
                    .to_jwk()
            };
            serde_json::from_str(&jwk).unwrap()
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

pub fn pem_key(kid: &str, path: &Path, algorithm: &str) -> PemKeyConfig {
    PemKeyConfig::new(kid, path.to_str().unwrap(), algorithm)
}

pub fn issuer(name: &str) -> IssuerConfig {
    IssuerConfig::new(name)
}

/// The standard configuration:
/// - issuer A: JWKS with Ed25519 `a1` (old) and `a2` (new), P-256 `a-es`
///   and RSA `a-rs`;
/// - issuer B: Ed25519 `b1` from PEM;
/// - issuer PEM: the same three algorithms from PEM files (`p-ed`, `p-es`,
///   `p-rs`);
/// - issuer HS: an HS256 secret and Ed25519 `h-ed` from PEM;
/// - revoked: `LIC-REVOKED` in the list, `LIC-FILE-REVOKED` in a file.
pub fn standard_config(dir: &Path) -> LicenseConfig {
    std::fs::write(
        dir.join("a.jwks.json"),
        jwks(&[
            ("a1", "ed25519-a1.pub.pem"),
            ("a2", "ed25519-a2.pub.pem"),
            ("a-es", "es256-a.pub.pem"),
            ("a-rs", "rs256-a.pub.pem"),
        ]),
    )
    .unwrap();
    std::fs::write(
        dir.join("revoked.txt"),
        "# revoked after audit\nLIC-FILE-REVOKED\n\n",
    )
    .unwrap();
    let mut a = issuer(ISSUER_A);
    a.jwks_file = Some("a.jwks.json".into());
    let mut b = issuer(ISSUER_B);
    b.pem_keys = vec![pem_key("b1", &data("ed25519-b1.pub.pem"), "EdDSA")];
    let mut p = issuer(ISSUER_PEM);
    p.pem_keys = vec![
        pem_key("p-ed", &data("ed25519-a1.pub.pem"), "EdDSA"),
        pem_key("p-es", &data("es256-a.pub.pem"), "ES256"),
        pem_key("p-rs", &data("rs256-a.pub.pem"), "RS256"),
    ];
    let mut h = issuer(ISSUER_HS);
    h.hs256_secret_file = Some(data("hs256-a.secret").to_str().unwrap().into());
    h.pem_keys = vec![pem_key("h-ed", &data("ed25519-b1.pub.pem"), "EdDSA")];
    {
        let mut f = LicenseConfig::default();
        f.issuers = vec![a, b, p, h];
        f.revoked = vec!["LIC-REVOKED".into()];
        f.revoked_file = Some("revoked.txt".into());
        f
    }
}

/// A trust and the run-time verifier that checks tokens against it, as a
/// [`Gate`](tower_export_control::Gate) pairs them.
#[derive(Debug)]
pub struct Checker {
    pub trust: LicenseTrust,
    pub verifier: LicenseVerifier,
}

impl Checker {
    pub fn new(trust: LicenseTrust) -> Self {
        let verifier = LicenseVerifier::new(trust.cache_entries());
        Self { trust, verifier }
    }

    pub fn trust_none() -> Self {
        Self::new(LicenseTrust::none())
    }

    pub fn from_config(config: &LicenseConfig, dir: &Path) -> Result<Self, LicenseConfigError> {
        LicenseTrust::from_config(config, dir).map(Self::new)
    }

    pub fn from_toml_path(path: impl AsRef<Path>) -> Result<Self, LicenseConfigError> {
        LicenseTrust::from_toml_path(path).map(Self::new)
    }

    pub fn check(
        &self,
        token: &str,
        customer: Option<&str>,
        requirement: &LicenseRequirement<'_>,
        now: SystemTime,
    ) -> Result<LicenseGrant, LicenseDenial> {
        self.verifier
            .check(&self.trust, token, customer, requirement, now)
    }

    pub fn verify(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Arc<LicenseClaims>, LicenseDenial> {
        self.verifier.verify(&self.trust, token, now)
    }

    pub fn revoke(&self, jti: &str) {
        self.verifier.revoke(jti);
    }

    pub fn cache_len(&self) -> usize {
        self.verifier.cache_len()
    }
}

pub fn standard_verifier(test: &str) -> Checker {
    let dir = scratch(test);
    Checker::from_config(&standard_config(&dir), &dir).unwrap()
}

/// Claims that cover [`requirement`] for [`CUSTOMER`] at [`T0`].
pub fn claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "sub": CUSTOMER,
        "jti": "LIC-2027-0001",
        "iat": T0 - 3600,
        "nbf": T0 - 3600,
        "exp": T0 + 3600,
        "countries": ["CN", "MO"],
        "accelerator_classes": ["3A090.a", "3A090.b"],
        "instance_types": ["p5.48xlarge", "a3-highgpu-8g"],
        "max_accelerators": 64,
    })
}

/// Claims with `changes` merged in (`null` removes a claim).
pub fn claims_with(iss: &str, changes: Value) -> Value {
    let mut claims = claims(iss);
    let object = claims.as_object_mut().unwrap();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            object.remove(name);
        } else {
            object.insert(name.clone(), value.clone());
        }
    }
    claims
}

/// A fixture signing key and the `kid` tokens name it by.
pub struct Signer {
    pub alg: Algorithm,
    pub kid: String,
    pub key: EncodingKey,
}

impl Signer {
    pub fn new(alg: Algorithm, kid: &str, file: &str) -> Self {
        let pem = read(file);
        let key = match alg {
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
            _ => Ok(EncodingKey::from_secret(&pem)),
        }
        .unwrap();
        Self {
            alg,
            kid: kid.into(),
            key,
        }
    }

    /// Signs `claims` with jsonwebtoken's encoder.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key).unwrap()
    }
}

pub fn ed_a1() -> Signer {
    Signer::new(Algorithm::EdDSA, "a1", "ed25519-a1.key.pem")
}

pub fn ed_a2() -> Signer {
    Signer::new(Algorithm::EdDSA, "a2", "ed25519-a2.key.pem")
}

pub fn es_a() -> Signer {
    Signer::new(Algorithm::ES256, "a-es", "es256-a.key.pem")
}

pub fn rs_a() -> Signer {
    Signer::new(Algorithm::RS256, "a-rs", "rs256-a.key.pem")
}

/// The fixture HS256 secret, as the verifier reads it (newline stripped).
pub fn hs256_secret() -> Vec<u8> {
    let mut secret = read("hs256-a.secret");
    while secret.last() == Some(&b'\n') {
        secret.pop();
    }
    secret
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token assembled from raw parts, for shapes no encoder produces.
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(claims.to_string()),
        b64(signature)
    )
}

/// What [`claims`] covers: CN, class 3A090.a, `p5.48xlarge`, 16 chips.
pub fn requirement() -> LicenseRequirement<'static> {
    requirement_for(country("CN"), None)
}

pub fn requirement_for(
    country: CountryCode,
    alias_of: Option<CountryCode>,
) -> LicenseRequirement<'static> {
    LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("p5.48xlarge"), 16)
        .with_country(RequiredCountry { country, alias_of })
}

pub fn country(code: &str) -> CountryCode {
    code.parse().unwrap()
}
