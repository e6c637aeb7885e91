//! License token verification cost: cold checks (no cache) next to the raw
//! signature verification of the same signature by the underlying crypto
//! crate, and cache hits.
//!
//! `cargo bench --bench license`; figures are recorded in BENCHMARKS.md.
// Benchmark setup: a panic is a broken benchmark.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{BatchSize, Criterion, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Value, json};
use tower_export_control::AcceleratorClass;
use tower_export_control::license::{
    IssuerConfig, LicenseConfig, LicenseRequirement, LicenseTrust, LicenseVerifier, PemKeyConfig,
    RequiredCountry,
};

const T0: u64 = 1_800_000_000;
const ISSUER: &str = "https://licensing.example.com";
const CUSTOMER: &str = "cust-42";

fn key_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/license")
        .join(name)
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0)
}

fn claims(jti: &str) -> Value {
    json!({
        "iss": ISSUER,
        "sub": CUSTOMER,
        "jti": jti,
        "iat": T0 - 3600,
        "nbf": T0 - 3600,
        "exp": T0 + 30 * 24 * 3600,
        "countries": ["CN", "MO"],
        "accelerator_classes": ["3A090.a", "3A090.b"],
        "instance_types": ["p5.48xlarge", "a3-highgpu-8g"],
        "max_accelerators": 512,
    })
}

fn requirement() -> LicenseRequirement<'static> {
    LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("p5.48xlarge"), 64).with_country(
        RequiredCountry {
            country: "HK".parse().unwrap(),
            alias_of: Some("CN".parse().unwrap()),
        },
    )
}

/// A verifier trusting the fixture Ed25519 (`ed`) and P-256 (`es`) keys.
fn verifier(cache_entries: usize) -> (LicenseTrust, LicenseVerifier) {
    let pem = |kid: &str, file: &str, algorithm: &str| {
        PemKeyConfig::new(kid, key_file(file).to_str().unwrap(), algorithm)
    };
    let config = {
        let mut f = LicenseConfig::default();
        f.issuers = vec![{
            let mut f = IssuerConfig::new(ISSUER);
            f.pem_keys = vec![
                pem("ed", "ed25519-a1.pub.pem", "EdDSA"),
                pem("es", "es256-a.pub.pem", "ES256"),
            ];
            f
        }];
        f.revoked = vec!["LIC-REVOKED".into()];
        f.cache_entries = cache_entries;
        f
    };
    let trust = LicenseTrust::from_config(&config, Path::new(".")).unwrap();
    (trust, LicenseVerifier::new(cache_entries))
}

struct Minter {
    alg: Algorithm,
    kid: &'static str,
    key: EncodingKey,
}

impl Minter {
    fn new(alg: Algorithm, kid: &'static str, file: &str) -> Self {
        let pem = std::fs::read(key_file(file)).unwrap();
        let key = match alg {
            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
            _ => EncodingKey::from_ec_pem(&pem),
        }
        .unwrap();
        Self { alg, kid, key }
    }

    fn mint(&self, jti: &str) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.into());
        jsonwebtoken::encode(&header, &claims(jti), &self.key).unwrap()
    }
}

/// The signing input and the decoded signature of a token.
fn split(token: &str) -> (Vec<u8>, Vec<u8>) {
    let (input, signature) = token.rsplit_once('.').unwrap();
    (
        input.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(signature).unwrap(),
    )
}

fn public_key(file: &str, alg: Algorithm) -> Vec<u8> {
    let pem = std::fs::read(key_file(file)).unwrap();
    let key = match alg {
        Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
        _ => DecodingKey::from_ec_pem(&pem),
    };
    key.unwrap().as_bytes().to_vec()
}

/// Cold paths: `cold` has its cache disabled, so every call does the whole
/// verification; the `miss` variants use a cache but a token never seen.
fn cold(c: &mut Criterion, name: &str, minter: &Minter, raw: &dyn Fn(&[u8], &[u8]) -> bool) {
    let (cold_trust, cold) = verifier(0);
    let token = minter.mint("LIC-BENCH-1");
    let (input, signature) = split(&token);
    assert!(raw(&input, &signature));
    cold.check(&cold_trust, &token, Some(CUSTOMER), &requirement(), now())
        .unwrap();

    let requirement = requirement();
    let mut group = c.benchmark_group(format!("license/{name}"));
    group.bench_function("raw signature verify", |b| {
        b.iter(|| assert!(raw(black_box(&input), black_box(&signature))));
    });
    group.bench_function("cold check", |b| {
        b.iter(|| {
            cold.check(
                &cold_trust,
                black_box(&token),
                Some(CUSTOMER),
                &requirement,
                now(),
            )
            .unwrap()
        });
    });
    let (cached_trust, cached) = verifier(10_000);
    let mut n = 0u64;
    group.bench_function("cache miss check (fresh token)", |b| {
        b.iter_batched(
            || {
                n += 1;
                minter.mint(&format!("LIC-BENCH-MISS-{n}"))
            },
            |token| {
                cached
                    .check(&cached_trust, &token, Some(CUSTOMER), &requirement, now())
                    .unwrap()
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
    // Really cold: nothing was cached.
    assert_eq!(cold.cache_len(), 0);
}

fn license(c: &mut Criterion) {
    let ed = Minter::new(Algorithm::EdDSA, "ed", "ed25519-a1.key.pem");
    let ed_key = ed25519_dalek::VerifyingKey::from_bytes(
        &public_key("ed25519-a1.pub.pem", Algorithm::EdDSA)
            .try_into()
            .unwrap(),
    )
    .unwrap();
    cold(c, "EdDSA", &ed, &|input, signature| {
        use ed25519_dalek::Verifier as _;
        let signature = ed25519_dalek::Signature::from_slice(signature).unwrap();
        ed_key.verify(input, &signature).is_ok()
    });

    let es = Minter::new(Algorithm::ES256, "es", "es256-a.key.pem");
    let es_key = p256::ecdsa::VerifyingKey::from_sec1_bytes(&public_key(
        "es256-a.pub.pem",
        Algorithm::ES256,
    ))
    .unwrap();
    cold(c, "ES256", &es, &|input, signature| {
        use p256::ecdsa::signature::Verifier as _;
        let signature = p256::ecdsa::Signature::from_slice(signature).unwrap();
        es_key.verify(input, &signature).is_ok()
    });

    let (hot_trust, hot) = verifier(10_000);
    let token = ed.mint("LIC-BENCH-HOT");
    hot.check(&hot_trust, &token, Some(CUSTOMER), &requirement(), now())
        .unwrap();
    let requirement = requirement();
    let mut group = c.benchmark_group("license/cache");
    group.bench_function("hit check", |b| {
        b.iter(|| {
            hot.check(
                &hot_trust,
                black_box(&token),
                Some(CUSTOMER),
                &requirement,
                now(),
            )
            .unwrap()
        });
    });
    group.finish();
    assert_eq!(hot.cache_len(), 1);
}

/// `criterion_group!` generates an undocumented public function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::license);
}

criterion_main!(group::benches);
