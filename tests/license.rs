//! License token verification through the public API: a table of token
//! cases (one or more per reason code), then rotation, revocation, cache
//! behaviour and what the verifier prints.
// Test code: a panic is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod license_support;

use std::collections::HashSet;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use license_support::*;
use serde_json::{Value, json};
use tower_export_control::license::{
    LicenseConfig, LicenseRequirement, LicenseVerifier, RequiredCountry,
};
use tower_export_control::{AcceleratorClass, ReasonCode};

struct Case {
    name: &'static str,
    token: String,
    customer: Option<&'static str>,
    requirement: LicenseRequirement<'static>,
    expect: Result<(), ReasonCode>,
}

fn case(name: &'static str, token: String, expect: Result<(), ReasonCode>) -> Case {
    Case {
        name,
        token,
        customer: Some(CUSTOMER),
        requirement: requirement(),
        expect,
    }
}

fn for_customer(mut case: Case, customer: Option<&'static str>) -> Case {
    case.customer = customer;
    case
}

fn needing(mut case: Case, requirement: LicenseRequirement<'static>) -> Case {
    case.requirement = requirement;
    case
}

/// Replaces the signature (the part after the last `.`).
fn with_signature(token: &str, signature: &str) -> String {
    let (input, _) = token.rsplit_once('.').unwrap();
    format!("{input}.{signature}")
}

/// Changes one character of the signature (not the last, whose low bits
/// may be padding that the decoder ignores).
fn flip_signature(token: &str) -> String {
    let (input, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = signature.as_bytes().to_vec();
    bytes[4] = if bytes[4] == b'A' { b'B' } else { b'A' };
    format!("{input}.{}", String::from_utf8(bytes).unwrap())
}

/// A token signed by `signer` whose length is exactly `len` bytes, padded
/// with an ignored claim (and an ignored header, since base64url lengths of
/// one part alone skip every fourth value).
fn token_of_len(signer: &Signer, len: usize) -> String {
    let sign = |cty: Option<&str>, pad: usize| {
        let mut header = Header::new(signer.alg);
        header.kid = Some(signer.kid.clone());
        header.cty = cty.map(str::to_owned);
        let claims = claims_with(ISSUER_A, json!({ "pad": "p".repeat(pad) }));
        jsonwebtoken::encode(&header, &claims, &signer.key).unwrap()
    };
    for cty in [None, Some("a"), Some("ab"), Some("abc")] {
        let base = sign(cty, 0).len();
        let estimate = (len - base) * 3 / 4;
        for pad in estimate.saturating_sub(4)..estimate + 4 {
            let token = sign(cty, pad);
            if token.len() == len {
                return token;
            }
        }
    }
    panic!("no padding gives a {len}-byte token")
}

fn cases() -> Vec<Case> {
    use ReasonCode::*;
    let a1 = ed_a1();
    let a2 = ed_a2();
    let good = a1.sign(&claims(ISSUER_A));
    let (good_input, good_signature) = good.rsplit_once('.').unwrap();
    let (good_header, _) = good_input.split_once('.').unwrap();
    let pem_ed = Signer::new(Algorithm::EdDSA, "p-ed", "ed25519-a1.key.pem");
    let pem_es = Signer::new(Algorithm::ES256, "p-es", "es256-a.key.pem");
    let pem_rs = Signer::new(Algorithm::RS256, "p-rs", "rs256-a.key.pem");
    let hs = |kid: &str, secret: &[u8], iss: &str| {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims(iss), &EncodingKey::from_secret(secret)).unwrap()
    };
    let ed_public_raw = {
        let jwks: Value = serde_json::from_str(&jwks(&[("a1", "ed25519-a1.pub.pem")])).unwrap();
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jwks["keys"][0]["x"].as_str().unwrap(),
        )
        .unwrap()
    };
    let es384 = Signer::new(Algorithm::ES384, "a-es", "es384-x.key.pem");
    let cn = country("CN");

    vec![
        // Accepted, for every algorithm and key source.
        case("EdDSA from JWKS", good.clone(), Ok(())),
        case(
            "EdDSA, second key in JWKS",
            a2.sign(&claims(ISSUER_A)),
            Ok(()),
        ),
        case("ES256 from JWKS", es_a().sign(&claims(ISSUER_A)), Ok(())),
        case("RS256 from JWKS", rs_a().sign(&claims(ISSUER_A)), Ok(())),
        case("EdDSA from PEM", pem_ed.sign(&claims(ISSUER_PEM)), Ok(())),
        case("ES256 from PEM", pem_es.sign(&claims(ISSUER_PEM)), Ok(())),
        case("RS256 from PEM", pem_rs.sign(&claims(ISSUER_PEM)), Ok(())),
        case(
            "HS256 where configured",
            hs("", &hs256_secret(), ISSUER_HS),
            Ok(()),
        ),
        case(
            "exactly 8 KiB",
            token_of_len(&a1, LicenseVerifier::MAX_TOKEN_LEN),
            Ok(()),
        ),
        case(
            "aud present but not configured",
            a1.sign(&claims_with(ISSUER_A, json!({ "aud": "anyone" }))),
            Ok(()),
        ),
        case(
            "accelerator_classes absent covers all",
            a1.sign(&claims_with(
                ISSUER_A,
                json!({ "accelerator_classes": null }),
            )),
            Ok(()),
        ),
        case(
            "fractional NumericDate",
            a1.sign(&claims_with(
                ISSUER_A,
                json!({ "exp": (T0 + 3600) as f64 + 0.5 }),
            )),
            Ok(()),
        ),
        // license_required
        case("empty token", String::new(), Err(LicenseRequired)),
        // license_invalid: structure
        case(
            "truncated token",
            good[..good.len() - 10].to_owned(),
            Err(LicenseInvalid),
        ),
        case("two parts", good_input.to_owned(), Err(LicenseInvalid)),
        case(
            "four parts",
            format!("{good}.{good_signature}"),
            Err(LicenseInvalid),
        ),
        case(
            "non-base64 bytes",
            "ey@@.$$$$.%%%%".into(),
            Err(LicenseInvalid),
        ),
        case(
            "payload not base64url",
            format!("{good_header}.not*base64.{good_signature}"),
            Err(LicenseInvalid),
        ),
        case(
            "payload not JSON",
            format!("{good_header}.{}.{good_signature}", b64("not json")),
            Err(LicenseInvalid),
        ),
        case(
            "8 KiB + 1",
            token_of_len(&a1, LicenseVerifier::MAX_TOKEN_LEN + 1),
            Err(LicenseInvalid),
        ),
        case(
            "garbage over 8 KiB",
            "a".repeat(LicenseVerifier::MAX_TOKEN_LEN + 1),
            Err(LicenseInvalid),
        ),
        // license_invalid: algorithm
        case(
            "alg none",
            raw_token(
                &json!({ "alg": "none", "typ": "JWT" }),
                &claims(ISSUER_A),
                b"",
            ),
            Err(LicenseInvalid),
        ),
        case(
            "alg none with kid",
            raw_token(
                &json!({ "alg": "none", "kid": "a1" }),
                &claims(ISSUER_A),
                b"",
            ),
            Err(LicenseInvalid),
        ),
        case(
            "alg confusion: HS256 keyed with the Ed25519 public PEM",
            hs("a1", &read("ed25519-a1.pub.pem"), ISSUER_A),
            Err(LicenseInvalid),
        ),
        case(
            "alg confusion: HS256 keyed with the raw Ed25519 public key",
            hs("a1", &ed_public_raw, ISSUER_A),
            Err(LicenseInvalid),
        ),
        case(
            "alg confusion: HS256 keyed with the RSA public PEM",
            hs("a-rs", &read("rs256-a.pub.pem"), ISSUER_A),
            Err(LicenseInvalid),
        ),
        case(
            "alg confusion where HS256 is configured",
            hs("h-ed", &read("ed25519-b1.pub.pem"), ISSUER_HS),
            Err(LicenseInvalid),
        ),
        case(
            "HS256 not configured for the issuer",
            hs("", &hs256_secret(), ISSUER_A),
            Err(LicenseInvalid),
        ),
        case(
            "ES384 token naming the ES256 key",
            es384.sign(&claims(ISSUER_A)),
            Err(LicenseInvalid),
        ),
        case(
            "RS256 token naming an EdDSA key",
            Signer::new(Algorithm::RS256, "a1", "rs256-a.key.pem").sign(&claims(ISSUER_A)),
            Err(LicenseInvalid),
        ),
        case(
            "alg header other than the key's, signed by the right key",
            {
                let header = json!({ "alg": "ES256", "kid": "a1", "typ": "JWT" });
                let input = format!(
                    "{}.{}",
                    b64(header.to_string()),
                    b64(claims(ISSUER_A).to_string())
                );
                let signature =
                    jsonwebtoken::crypto::sign(input.as_bytes(), &a1.key, Algorithm::EdDSA)
                        .unwrap();
                format!("{input}.{signature}")
            },
            Err(LicenseInvalid),
        ),
        case(
            "critical header extension",
            {
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some("a1".into());
                header.crit = Some(vec!["exp-ext".into()]);
                jsonwebtoken::encode(&header, &claims(ISSUER_A), &a1.key).unwrap()
            },
            Err(LicenseInvalid),
        ),
        // license_invalid: keys and issuers
        case(
            "unknown kid",
            Signer::new(Algorithm::EdDSA, "a9", "ed25519-a1.key.pem").sign(&claims(ISSUER_A)),
            Err(LicenseInvalid),
        ),
        case(
            "no kid",
            {
                let header = Header::new(Algorithm::EdDSA);
                jsonwebtoken::encode(&header, &claims(ISSUER_A), &a1.key).unwrap()
            },
            Err(LicenseInvalid),
        ),
        case(
            "untrusted issuer",
            a1.sign(&claims("https://evil.example")),
            Err(LicenseInvalid),
        ),
        case(
            "key of issuer A, token claims issuer B",
            a1.sign(&claims(ISSUER_B)),
            Err(LicenseInvalid),
        ),
        case(
            "key of issuer B named under issuer A",
            Signer::new(Algorithm::EdDSA, "b1", "ed25519-b1.key.pem").sign(&claims(ISSUER_A)),
            Err(LicenseInvalid),
        ),
        case(
            "signed by a key not in the JWKS",
            Signer::new(Algorithm::EdDSA, "a1", "ed25519-b1.key.pem").sign(&claims(ISSUER_A)),
            Err(LicenseInvalid),
        ),
        // license_invalid: integrity
        case(
            "tampered payload",
            {
                let forged = claims_with(ISSUER_A, json!({ "max_accelerators": 100000 }));
                format!("{good_header}.{}.{good_signature}", b64(forged.to_string()))
            },
            Err(LicenseInvalid),
        ),
        case(
            "tampered signature",
            flip_signature(&good),
            Err(LicenseInvalid),
        ),
        case(
            "signature of another token",
            with_signature(
                &good,
                a1.sign(&claims_with(ISSUER_A, json!({ "jti": "LIC-OTHER" })))
                    .rsplit_once('.')
                    .unwrap()
                    .1,
            ),
            Err(LicenseInvalid),
        ),
        case(
            "empty signature",
            with_signature(&good, ""),
            Err(LicenseInvalid),
        ),
        // license_invalid: claims
        case(
            "countries as a string",
            a1.sign(&claims_with(ISSUER_A, json!({ "countries": "CN" }))),
            Err(LicenseInvalid),
        ),
        case(
            "exp as a string",
            a1.sign(&claims_with(
                ISSUER_A,
                json!({ "exp": (T0 + 3600).to_string() }),
            )),
            Err(LicenseInvalid),
        ),
        case(
            "negative exp",
            a1.sign(&claims_with(ISSUER_A, json!({ "exp": -1 }))),
            Err(LicenseInvalid),
        ),
        case(
            "max_accelerators as a string",
            a1.sign(&claims_with(ISSUER_A, json!({ "max_accelerators": "64" }))),
            Err(LicenseInvalid),
        ),
        case(
            "unassigned country code",
            a1.sign(&claims_with(ISSUER_A, json!({ "countries": ["CN", "XK"] }))),
            Err(LicenseInvalid),
        ),
        case(
            "unknown accelerator class",
            a1.sign(&claims_with(
                ISSUER_A,
                json!({ "accelerator_classes": ["4A090"] }),
            )),
            Err(LicenseInvalid),
        ),
        case(
            "missing exp",
            a1.sign(&claims_with(ISSUER_A, json!({ "exp": null }))),
            Err(LicenseInvalid),
        ),
        case(
            "missing jti",
            a1.sign(&claims_with(ISSUER_A, json!({ "jti": null }))),
            Err(LicenseInvalid),
        ),
        case(
            "empty jti",
            a1.sign(&claims_with(ISSUER_A, json!({ "jti": "" }))),
            Err(LicenseInvalid),
        ),
        case(
            "missing sub",
            a1.sign(&claims_with(ISSUER_A, json!({ "sub": null }))),
            Err(LicenseInvalid),
        ),
        case(
            "duplicate claim",
            {
                let claims = claims(ISSUER_A).to_string();
                let doubled = claims.replacen("{", r#"{"sub":"someone-else","#, 1);
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some("a1".into());
                let input = format!(
                    "{}.{}",
                    b64(serde_json::to_string(&header).unwrap()),
                    b64(doubled)
                );
                let signature =
                    jsonwebtoken::crypto::sign(input.as_bytes(), &a1.key, Algorithm::EdDSA)
                        .unwrap();
                format!("{input}.{signature}")
            },
            Err(LicenseInvalid),
        ),
        // license_revoked
        case(
            "revoked in the list",
            a1.sign(&claims_with(ISSUER_A, json!({ "jti": "LIC-REVOKED" }))),
            Err(LicenseRevoked),
        ),
        case(
            "revoked in the file",
            a1.sign(&claims_with(ISSUER_A, json!({ "jti": "LIC-FILE-REVOKED" }))),
            Err(LicenseRevoked),
        ),
        case(
            "revoked and expired",
            a1.sign(&claims_with(
                ISSUER_A,
                json!({ "jti": "LIC-REVOKED", "exp": T0 - 7200 }),
            )),
            Err(LicenseRevoked),
        ),
        // license_expired (leeway 60 s)
        case(
            "expired inside the leeway",
            a1.sign(&claims_with(ISSUER_A, json!({ "exp": T0 - 30 }))),
            Ok(()),
        ),
        case(
            "expired outside the leeway",
            a1.sign(&claims_with(ISSUER_A, json!({ "exp": T0 - 120 }))),
            Err(LicenseExpired),
        ),
        case(
            "expired exactly at the leeway",
            a1.sign(&claims_with(ISSUER_A, json!({ "exp": T0 - 60 }))),
            Err(LicenseExpired),
        ),
        case(
            "expired and for another customer",
            a1.sign(&claims_with(
                ISSUER_A,
                json!({ "exp": T0 - 7200, "sub": "x" }),
            )),
            Err(LicenseExpired),
        ),
        // license_not_yet_valid
        case(
            "nbf inside the leeway",
            a1.sign(&claims_with(ISSUER_A, json!({ "nbf": T0 + 30 }))),
            Ok(()),
        ),
        case(
            "nbf outside the leeway",
            a1.sign(&claims_with(ISSUER_A, json!({ "nbf": T0 + 120 }))),
            Err(LicenseNotYetValid),
        ),
        needing(
            case(
                "nbf in the future and country not covered",
                a1.sign(&claims_with(ISSUER_A, json!({ "nbf": T0 + 7200 }))),
                Err(LicenseNotYetValid),
            ),
            requirement_for(country("RU"), None),
        ),
        // license_wrong_customer
        for_customer(
            case("another customer", good.clone(), Err(LicenseWrongCustomer)),
            Some("cust-43"),
        ),
        for_customer(
            case("no customer id", good.clone(), Err(LicenseWrongCustomer)),
            None,
        ),
        needing(
            for_customer(
                case(
                    "wrong customer and country not covered",
                    good.clone(),
                    Err(LicenseWrongCustomer),
                ),
                Some("cust-43"),
            ),
            requirement_for(country("RU"), None),
        ),
        // license_country_not_covered
        needing(
            case(
                "country not covered",
                good.clone(),
                Err(LicenseCountryNotCovered),
            ),
            requirement_for(country("RU"), None),
        ),
        needing(
            case("HK covered by CN as its alias", good.clone(), Ok(())),
            requirement_for(country("HK"), Some(cn)),
        ),
        needing(
            case(
                "HK not covered by CN without the alias",
                good.clone(),
                Err(LicenseCountryNotCovered),
            ),
            requirement_for(country("HK"), None),
        ),
        needing(
            case(
                "one of several countries not covered",
                good.clone(),
                Err(LicenseCountryNotCovered),
            ),
            requirement().with_country(RequiredCountry {
                country: country("IR"),
                alias_of: None,
            }),
        ),
        needing(
            case("all of several countries covered", good.clone(), Ok(())),
            requirement().with_country(RequiredCountry {
                country: country("MO"),
                alias_of: Some(cn),
            }),
        ),
        needing(
            // No country known: no license can be matched to the customer.
            case(
                "no country known",
                good.clone(),
                Err(ReasonCode::JurisdictionUnknown),
            ),
            LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("p5.48xlarge"), 16),
        ),
        // license_class_not_covered
        case(
            "class not covered",
            a1.sign(&claims_with(
                ISSUER_A,
                json!({ "accelerator_classes": ["3A090.b"] }),
            )),
            Err(LicenseClassNotCovered),
        ),
        needing(
            case(
                "class not covered and instance type not covered",
                a1.sign(&claims_with(
                    ISSUER_A,
                    json!({ "accelerator_classes": ["3A090.b"] }),
                )),
                Err(LicenseClassNotCovered),
            ),
            LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("x1.large"), 16)
                .with_country(RequiredCountry {
                    country: cn,
                    alias_of: None,
                }),
        ),
        // license_instance_type_not_covered
        needing(
            case(
                "instance type not covered",
                good.clone(),
                Err(LicenseInstanceTypeNotCovered),
            ),
            LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("x1.large"), 16)
                .with_country(RequiredCountry {
                    country: cn,
                    alias_of: None,
                }),
        ),
        needing(
            case(
                "instance type unknown to the request",
                good.clone(),
                Err(LicenseInstanceTypeNotCovered),
            ),
            LicenseRequirement::new(AcceleratorClass::Eccn3A090a, None, 16).with_country(
                RequiredCountry {
                    country: cn,
                    alias_of: None,
                },
            ),
        ),
        needing(
            case(
                "instance_types absent covers all",
                a1.sign(&claims_with(ISSUER_A, json!({ "instance_types": null }))),
                Ok(()),
            ),
            LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("x1.large"), 16)
                .with_country(RequiredCountry {
                    country: cn,
                    alias_of: None,
                }),
        ),
        // license_quantity_exceeded
        needing(
            case(
                "quantity exceeded",
                good.clone(),
                Err(LicenseQuantityExceeded),
            ),
            LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("p5.48xlarge"), 65)
                .with_country(RequiredCountry {
                    country: cn,
                    alias_of: None,
                }),
        ),
        needing(
            case("quantity at the limit", good.clone(), Ok(())),
            LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("p5.48xlarge"), 64)
                .with_country(RequiredCountry {
                    country: cn,
                    alias_of: None,
                }),
        ),
        needing(
            case(
                "no quantity limit",
                a1.sign(&claims_with(ISSUER_A, json!({ "max_accelerators": null }))),
                Ok(()),
            ),
            LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("p5.48xlarge"), 100_000)
                .with_country(RequiredCountry {
                    country: cn,
                    alias_of: None,
                }),
        ),
    ]
}

#[test]
fn token_table() {
    let verifier = standard_verifier("token_table");
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let got = verifier
            .check(&case.token, case.customer, &case.requirement, now())
            .map(|grant| assert!(!grant.jti().is_empty()))
            .map_err(|denial| denial.reason());
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {got:?}",
                case.name, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // The table keeps covering every license reason code.
    let covered: HashSet<ReasonCode> = cases.iter().filter_map(|c| c.expect.err()).collect();
    // (license_quantity_exhausted comes from a ledger, not a token; see
    // tests/ledger_layer.rs.)
    for reason in ReasonCode::ALL {
        if reason.as_str().starts_with("license_") && reason != ReasonCode::LicenseQuantityExhausted
        {
            assert!(covered.contains(&reason), "no case for {reason}");
        }
    }
    assert!(cases.len() >= 25);
}

#[test]
fn table_results_do_not_depend_on_the_cache() {
    let dir = scratch("table_no_cache");
    let mut config = standard_config(&dir);
    config.cache_entries = 0;
    let uncached = Checker::from_config(&config, &dir).unwrap();
    let cached = standard_verifier("table_cached");
    for case in cases() {
        // Twice, so the second call on `cached` is a hit for accepted tokens.
        for _ in 0..2 {
            let a = cached.check(&case.token, case.customer, &case.requirement, now());
            let b = uncached.check(&case.token, case.customer, &case.requirement, now());
            assert_eq!(
                a.map_err(|d| d.reason()).map(|g| g.jti().to_owned()),
                b.map_err(|d| d.reason()).map(|g| g.jti().to_owned()),
                "{}",
                case.name
            );
        }
    }
    assert!(cached.cache_len() > 0);
    assert_eq!(uncached.cache_len(), 0);
}

#[test]
fn grant_exposes_the_verified_claims() {
    let verifier = standard_verifier("grant");
    let token = ed_a1().sign(&claims(ISSUER_A));
    let grant = verifier
        .check(&token, Some(CUSTOMER), &requirement(), now())
        .unwrap();
    assert_eq!(grant.jti(), "LIC-2027-0001");
    assert_eq!(grant.issuer(), ISSUER_A);
    let claims = grant.claims();
    assert_eq!(claims.sub, CUSTOMER);
    assert_eq!(claims.exp, T0 + 3600);
    assert_eq!(claims.nbf, Some(T0 - 3600));
    assert_eq!(claims.countries, vec![country("CN"), country("MO")]);
    assert_eq!(claims.max_accelerators, Some(64));
    assert_eq!(
        claims.accelerator_classes.as_deref(),
        Some(&[AcceleratorClass::Eccn3A090a, AcceleratorClass::Eccn3A090b][..])
    );
}

#[test]
fn verify_checks_authenticity_and_time_but_not_scope() {
    let verifier = standard_verifier("verify_only");
    let other_customer = ed_a1().sign(&claims_with(ISSUER_A, json!({ "sub": "cust-99" })));
    let claims = verifier.verify(&other_customer, now()).unwrap();
    assert_eq!(claims.sub, "cust-99");
    let expired = ed_a1().sign(&claims_with(ISSUER_A, json!({ "exp": T0 - 3600 })));
    assert_eq!(
        verifier.verify(&expired, now()).unwrap_err().reason(),
        ReasonCode::LicenseExpired
    );
    assert_eq!(
        verifier.verify("", now()).unwrap_err().reason(),
        ReasonCode::LicenseRequired
    );
}

#[test]
fn trust_none_rejects_every_token() {
    let verifier = Checker::trust_none();
    let token = ed_a1().sign(&claims(ISSUER_A));
    let denial = verifier
        .check(&token, Some(CUSTOMER), &requirement(), now())
        .unwrap_err();
    assert_eq!(denial.reason(), ReasonCode::LicenseInvalid);
    assert_eq!(
        verifier
            .check("", Some(CUSTOMER), &requirement(), now())
            .unwrap_err()
            .reason(),
        ReasonCode::LicenseRequired
    );
    assert_eq!(verifier.cache_len(), 0);
}

#[test]
fn audience_is_checked_when_configured() {
    let dir = scratch("audience");
    let mut config = standard_config(&dir);
    config.audience = Some(AUDIENCE.into());
    let verifier = Checker::from_config(&config, &dir).unwrap();
    let a1 = ed_a1();
    let check = |changes: Value| {
        verifier
            .check(
                &a1.sign(&claims_with(ISSUER_A, changes)),
                Some(CUSTOMER),
                &requirement(),
                now(),
            )
            .map(|_| ())
            .map_err(|d| d.reason())
    };
    assert_eq!(check(json!({ "aud": AUDIENCE })), Ok(()));
    assert_eq!(check(json!({ "aud": ["other", AUDIENCE] })), Ok(()));
    assert_eq!(
        check(json!({ "aud": "other" })),
        Err(ReasonCode::LicenseInvalid)
    );
    assert_eq!(
        check(json!({ "aud": ["other"] })),
        Err(ReasonCode::LicenseInvalid)
    );
    assert_eq!(check(json!({})), Err(ReasonCode::LicenseInvalid));
    assert_eq!(check(json!({ "aud": 7 })), Err(ReasonCode::LicenseInvalid));
}

#[test]
fn leeway_is_configurable() {
    let dir = scratch("leeway");
    let mut config = standard_config(&dir);
    config.leeway_seconds = 0;
    let strict = Checker::from_config(&config, &dir).unwrap();
    let a1 = ed_a1();
    let expired_30s_ago = a1.sign(&claims_with(ISSUER_A, json!({ "exp": T0 - 30 })));
    let valid_in_30s = a1.sign(&claims_with(ISSUER_A, json!({ "nbf": T0 + 30 })));
    let reason = |token: &str| {
        strict
            .verify(token, now())
            .map(|_| ())
            .map_err(|d| d.reason())
    };
    assert_eq!(reason(&expired_30s_ago), Err(ReasonCode::LicenseExpired));
    assert_eq!(reason(&valid_in_30s), Err(ReasonCode::LicenseNotYetValid));
    // exp is exclusive, nbf inclusive (RFC 7519 §4.1.4, §4.1.5).
    let exp_now = a1.sign(&claims_with(ISSUER_A, json!({ "exp": T0 })));
    let nbf_now = a1.sign(&claims_with(ISSUER_A, json!({ "nbf": T0 })));
    assert_eq!(reason(&exp_now), Err(ReasonCode::LicenseExpired));
    assert_eq!(reason(&nbf_now), Ok(()));
}

#[test]
fn key_rotation() {
    let a1 = ed_a1().sign(&claims(ISSUER_A));
    let a2 = ed_a2().sign(&claims(ISSUER_A));
    let reason = |v: &Checker, token: &str| {
        v.check(token, Some(CUSTOMER), &requirement(), now())
            .map(|_| ())
            .map_err(|d| d.reason())
    };

    // During rotation the JWKS carries both keys: both verify.
    let both = standard_verifier("rotation_both");
    assert_eq!(reason(&both, &a1), Ok(()));
    assert_eq!(reason(&both, &a2), Ok(()));

    // After it, the old key is gone and its tokens are rejected.
    let dir = scratch("rotation_after");
    let mut config = standard_config(&dir);
    std::fs::write(
        dir.join("a.jwks.json"),
        jwks(&[("a2", "ed25519-a2.pub.pem")]),
    )
    .unwrap();
    config.revoked_file = None;
    let after = Checker::from_config(&config, &dir).unwrap();
    assert_eq!(reason(&after, &a1), Err(ReasonCode::LicenseInvalid));
    assert_eq!(reason(&after, &a2), Ok(()));
}

#[test]
fn revocation_list_and_file() {
    let dir = scratch("revocation");
    let mut config = standard_config(&dir);
    std::fs::write(
        dir.join("revoked.txt"),
        "# one license number a line\n  LIC-A  \n\nLIC-B\n# LIC-C is only mentioned\n",
    )
    .unwrap();
    config.revoked = vec!["LIC-D".into()];
    let verifier = Checker::from_config(&config, &dir).unwrap();
    let a1 = ed_a1();
    for (jti, expect) in [
        ("LIC-A", Err(ReasonCode::LicenseRevoked)),
        ("LIC-B", Err(ReasonCode::LicenseRevoked)),
        ("LIC-C", Ok(())),
        ("# LIC-C is only mentioned", Ok(())),
        ("LIC-D", Err(ReasonCode::LicenseRevoked)),
        ("LIC-E", Ok(())),
    ] {
        let token = a1.sign(&claims_with(ISSUER_A, json!({ "jti": jti })));
        let got = verifier
            .check(&token, Some(CUSTOMER), &requirement(), now())
            .map(|_| ())
            .map_err(|d| d.reason());
        assert_eq!(got, expect, "{jti}");
    }
}

#[test]
fn cached_token_fails_once_expired() {
    let verifier = standard_verifier("cache_expiry");
    let token = ed_a1().sign(&claims(ISSUER_A));
    verifier
        .check(&token, Some(CUSTOMER), &requirement(), now())
        .unwrap();
    assert_eq!(verifier.cache_len(), 1);
    // A hit, still valid.
    verifier
        .check(&token, Some(CUSTOMER), &requirement(), at(T0 + 3000))
        .unwrap();
    assert_eq!(verifier.cache_len(), 1);
    // Inside the leeway after exp: the entry is gone, the token re-verified.
    verifier
        .check(&token, Some(CUSTOMER), &requirement(), at(T0 + 3600 + 30))
        .unwrap();
    assert_eq!(verifier.cache_len(), 0);
    let denial = verifier
        .check(&token, Some(CUSTOMER), &requirement(), at(T0 + 3600 + 61))
        .unwrap_err();
    assert_eq!(denial.reason(), ReasonCode::LicenseExpired);
    assert_eq!(verifier.cache_len(), 0);
}

#[test]
fn cached_token_fails_once_revoked() {
    let verifier = standard_verifier("cache_revoke");
    let token = ed_a1().sign(&claims(ISSUER_A));
    verifier
        .check(&token, Some(CUSTOMER), &requirement(), now())
        .unwrap();
    assert_eq!(verifier.cache_len(), 1);
    verifier.revoke("LIC-2027-0001");
    let denial = verifier
        .check(&token, Some(CUSTOMER), &requirement(), now())
        .unwrap_err();
    assert_eq!(denial.reason(), ReasonCode::LicenseRevoked);
    assert!(denial.detail().contains("LIC-2027-0001"));

    // A verifier built from a configuration that revokes it rejects it too.
    let dir = scratch("cache_revoke_config");
    let mut config = standard_config(&dir);
    config.revoked.push("LIC-2027-0001".into());
    let reloaded = Checker::from_config(&config, &dir).unwrap();
    assert_eq!(
        reloaded
            .check(&token, Some(CUSTOMER), &requirement(), now())
            .unwrap_err()
            .reason(),
        ReasonCode::LicenseRevoked
    );
}

#[test]
fn cached_token_is_rescoped_on_every_call() {
    let verifier = standard_verifier("cache_scope");
    let token = ed_a1().sign(&claims(ISSUER_A));
    verifier
        .check(&token, Some(CUSTOMER), &requirement(), now())
        .unwrap();
    assert_eq!(verifier.cache_len(), 1);
    let reason = |customer, req: &LicenseRequirement<'_>| {
        verifier
            .check(&token, customer, req, now())
            .unwrap_err()
            .reason()
    };
    assert_eq!(
        reason(Some("cust-43"), &requirement()),
        ReasonCode::LicenseWrongCustomer
    );
    assert_eq!(
        reason(Some(CUSTOMER), &requirement_for(country("RU"), None)),
        ReasonCode::LicenseCountryNotCovered
    );
    assert_eq!(
        reason(
            Some(CUSTOMER),
            &LicenseRequirement::new(AcceleratorClass::Eccn3A090a, Some("p5.48xlarge"), 65)
                .with_country(RequiredCountry {
                    country: country("CN"),
                    alias_of: None,
                })
        ),
        ReasonCode::LicenseQuantityExceeded
    );
    assert_eq!(verifier.cache_len(), 1);
}

#[test]
fn failures_are_not_cached() {
    let verifier = standard_verifier("cache_failures");
    let a1 = ed_a1();
    let good = a1.sign(&claims(ISSUER_A));
    for token in [
        flip_signature(&good),
        Signer::new(Algorithm::EdDSA, "a9", "ed25519-a1.key.pem").sign(&claims(ISSUER_A)),
        a1.sign(&claims(ISSUER_B)),
        a1.sign(&claims_with(ISSUER_A, json!({ "countries": "CN" }))),
        a1.sign(&claims_with(ISSUER_A, json!({ "exp": T0 - 3600 }))),
        a1.sign(&claims_with(ISSUER_A, json!({ "nbf": T0 + 3600 }))),
        a1.sign(&claims_with(ISSUER_A, json!({ "jti": "LIC-REVOKED" }))),
    ] {
        // Twice: a failure must not turn into a hit.
        for _ in 0..2 {
            assert!(verifier.verify(&token, now()).is_err());
        }
    }
    assert_eq!(verifier.cache_len(), 0);
    // A scope failure still caches the (authentic, valid) token.
    verifier
        .check(&good, Some("cust-43"), &requirement(), now())
        .unwrap_err();
    assert_eq!(verifier.cache_len(), 1);
}

#[test]
fn cache_is_bounded() {
    let dir = scratch("cache_bound");
    let mut config = standard_config(&dir);
    config.cache_entries = 4;
    let verifier = Checker::from_config(&config, &dir).unwrap();
    let a1 = ed_a1();
    let tokens: Vec<String> = (0..20)
        .map(|i| a1.sign(&claims_with(ISSUER_A, json!({ "jti": format!("LIC-{i}") }))))
        .collect();
    for token in &tokens {
        verifier.verify(token, now()).unwrap();
        assert!(verifier.cache_len() <= 4);
    }
    assert!(verifier.cache_len() >= 1);
    // Evicted or not, every token still verifies.
    for token in &tokens {
        verifier.verify(token, now()).unwrap();
    }
    assert!(verifier.cache_len() <= 4);
}

#[test]
fn cache_can_be_disabled() {
    let dir = scratch("cache_off");
    let mut config = standard_config(&dir);
    config.cache_entries = 0;
    let verifier = Checker::from_config(&config, &dir).unwrap();
    let token = ed_a1().sign(&claims(ISSUER_A));
    for _ in 0..3 {
        verifier.verify(&token, now()).unwrap();
    }
    assert_eq!(verifier.cache_len(), 0);
}

#[test]
fn shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<LicenseVerifier>();

    let verifier = Arc::new(standard_verifier("threads"));
    let a1 = ed_a1();
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..8)
            .map(|i| {
                a1.sign(&claims_with(
                    ISSUER_A,
                    json!({ "jti": format!("LIC-T{i}") }),
                ))
            })
            .collect(),
    );
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let verifier = Arc::clone(&verifier);
            let tokens = Arc::clone(&tokens);
            std::thread::spawn(move || {
                for _ in 0..20 {
                    for token in tokens.iter() {
                        verifier
                            .check(token, Some(CUSTOMER), &requirement(), now())
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(verifier.cache_len(), 8);
}

#[test]
fn nothing_secret_is_printed() {
    let verifier = standard_verifier("debug");
    let debug = format!("{verifier:?}");
    let jwks: Value = serde_json::from_str(&jwks(&[("a1", "ed25519-a1.pub.pem")])).unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let secret = String::from_utf8(hs256_secret()).unwrap();
    assert!(!debug.contains(x), "{debug}");
    assert!(!debug.contains(&secret), "{debug}");
    assert!(debug.contains("a1") && debug.contains(ISSUER_A), "{debug}");

    let token = ed_a1().sign(&claims_with(ISSUER_A, json!({ "exp": T0 - 3600 })));
    let (_, signature) = token.rsplit_once('.').unwrap();
    let denial = verifier.verify(&token, now()).unwrap_err();
    for printed in [format!("{denial}"), format!("{denial:?}")] {
        assert!(!printed.contains(signature), "{printed}");
        assert!(printed.starts_with("license_expired") || printed.contains("LicenseExpired"));
    }
    let tampered = flip_signature(&token);
    let denial = verifier.verify(&tampered, now()).unwrap_err();
    assert!(!format!("{denial} {denial:?}").contains(tampered.rsplit_once('.').unwrap().1));

    let grant = verifier
        .check(
            &ed_a1().sign(&claims(ISSUER_A)),
            Some(CUSTOMER),
            &requirement(),
            now(),
        )
        .unwrap();
    assert!(format!("{grant:?}").contains("LIC-2027-0001"));
}

#[test]
fn denial_details_are_one_short_line() {
    let verifier = standard_verifier("details");
    let a1 = ed_a1();
    let hostile = a1.sign(&claims_with(
        ISSUER_A,
        json!({ "countries": ["CN", format!("X\n{}", "Y".repeat(500))] }),
    ));
    let denial = verifier.verify(&hostile, now()).unwrap_err();
    assert_eq!(denial.reason(), ReasonCode::LicenseInvalid);
    assert!(!denial.detail().contains('\n'), "{}", denial.detail());
    assert!(denial.detail().len() < 300, "{}", denial.detail());
}

#[test]
fn default_config_trusts_nobody() {
    let verifier =
        Checker::from_config(&LicenseConfig::default(), std::path::Path::new(".")).unwrap();
    let token = ed_a1().sign(&claims(ISSUER_A));
    assert_eq!(
        verifier.verify(&token, now()).unwrap_err().reason(),
        ReasonCode::LicenseInvalid
    );
}

#[test]
fn hs256_secret_newline_is_not_part_of_the_secret() {
    let verifier = standard_verifier("hs256_newline");
    assert!(read("hs256-a.secret").ends_with(b"\n"));
    let mut header = Header::new(Algorithm::HS256);
    header.kid = None;
    let with_newline = jsonwebtoken::encode(
        &header,
        &claims(ISSUER_HS),
        &EncodingKey::from_secret(&read("hs256-a.secret")),
    )
    .unwrap();
    assert_eq!(
        verifier.verify(&with_newline, now()).unwrap_err().reason(),
        ReasonCode::LicenseInvalid
    );
    let without = jsonwebtoken::encode(
        &header,
        &claims(ISSUER_HS),
        &EncodingKey::from_secret(&hs256_secret()),
    )
    .unwrap();
    verifier.verify(&without, now()).unwrap();
}
