//! Issuer keys fetched from a `jwks_url` while serving, against a real JWKS
//! server on 127.0.0.1: a served key is accepted; a rotated key is picked
//! up by a rate-limited refetch; a failing server leaves the last good keys
//! in use until they are too stale, then the issuer's tokens fail closed;
//! `Cache-Control: max-age` shortens the refresh; a reload naming the same
//! URL keeps the fetched keys. Without the `remote-jwks` feature, a policy
//! naming a `jwks_url` does not load.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod license_support;

use std::path::{Path, PathBuf};

use license_support::scratch;
use tower_export_control::Policy;
use tower_export_control::policy::DEFAULT_POLICY_TOML;

const ISSUER: &str = "https://licensing.example";

/// A policy file: the default policy with one issuer whose keys come from
/// `url`, with `settings` (TOML lines) added to the issuer.
fn policy_file(dir: &Path, url: &str, settings: &str) -> PathBuf {
    let path = dir.join("policy.toml");
    let text = format!(
        "{DEFAULT_POLICY_TOML}\n[license]\n\n[[license.issuers]]\nissuer = \"{ISSUER}\"\njwks_url = \"{url}\"\n{settings}\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[cfg(not(feature = "remote-jwks"))]
#[test]
fn without_the_feature_a_jwks_url_names_the_feature_to_enable() {
    let dir = scratch("remote-jwks-disabled");
    let path = policy_file(&dir, "https://keys.example.com/jwks.json", "");
    let err = Policy::from_path(&path).unwrap_err().to_string();
    assert!(err.contains("remote-jwks"), "{err}");
    assert!(err.contains("jwks_url") && err.contains(ISSUER), "{err}");
}

#[test]
fn plain_http_to_a_remote_host_is_refused_at_load() {
    let dir = scratch("remote-jwks-plain-http");
    for url in [
        "http://keys.example.com/jwks.json",
        "http://192.0.2.7/jwks.json",
    ] {
        let path = policy_file(&dir, url, "");
        let err = Policy::from_path(&path).unwrap_err().to_string();
        assert!(err.contains("jwks_url") && err.contains(ISSUER), "{err}");
        assert!(err.contains("loopback"), "{err}");
    }
    let path = policy_file(
        &dir,
        "https://keys.example.com/jwks.json",
        "jwks_refresh_seconds = 0",
    );
    let err = Policy::from_path(&path).unwrap_err().to_string();
    assert!(err.contains("jwks_refresh_seconds"), "{err}");
}

#[cfg(feature = "remote-jwks")]
mod live {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::*;
    use axum::extract::State;
    use axum::response::{IntoResponse, Response};
    use http::{StatusCode, header};
    use license_support::{Signer, T0, at, claims, claims_with, ed_a1, ed_a2, es_a, jwks, rs_a};
    use serde_json::json;
    use tower_export_control::{CountryCode, Facts, Gate, Outcome, ReasonCode};

    /// Outcome, reason and detail of a licensed CN request for `p5.48xlarge`.
    fn decide(gate: &Gate, token: &str) -> (Outcome, Option<ReasonCode>, String) {
        let mut facts = Facts::new()
            .with_declared_country(CountryCode::parse("CN").unwrap())
            .with_instance_type("p5.48xlarge");
        facts.customer_id = Some(license_support::CUSTOMER);
        let verdict = gate.evaluate(&facts, Some(token), at(T0));
        (
            verdict.outcome(),
            verdict.reason(),
            verdict.detail().unwrap_or_default().to_owned(),
        )
    }

    /// What the JWKS server serves, and how often it was asked.
    #[derive(Default)]
    struct Served {
        body: String,
        max_age: Option<u64>,
        failing: bool,
        hits: usize,
    }

    #[derive(Clone)]
    struct Server {
        state: Arc<Mutex<Served>>,
        url: String,
    }

    impl Server {
        async fn start(body: String) -> Self {
            let state = Arc::new(Mutex::new(Served {
                body,
                ..Served::default()
            }));
            let app = axum::Router::new()
                .route("/jwks.json", axum::routing::get(serve))
                .with_state(Arc::clone(&state));
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
            Self { state, url }
        }

        fn set(&self, change: impl FnOnce(&mut Served)) {
            change(&mut self.state.lock().unwrap());
        }

        fn hits(&self) -> usize {
            self.state.lock().unwrap().hits
        }
    }

    async fn serve(State(state): State<Arc<Mutex<Served>>>) -> Response {
        let mut served = state.lock().unwrap();
        served.hits += 1;
        if served.failing {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        let mut response = served.body.clone().into_response();
        if let Some(age) = served.max_age {
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                format!("public, max-age={age}").parse().unwrap(),
            );
        }
        response
    }

    /// Waits (up to 10 s) until `condition` holds.
    async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
        for _ in 0..500 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("not within 10 s: {what}");
    }

    fn token(signer: &Signer) -> String {
        signer.sign(&claims(ISSUER))
    }

    fn accepted(gate: &Gate, token: &str) -> bool {
        decide(gate, token).0 == Outcome::AllowLicensed
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tokens_signed_with_served_keys_are_accepted() {
        // Alongside the three usable keys: an encryption key and a key of
        // an unsupported type, skipped without failing the set.
        let mut document: serde_json::Value = serde_json::from_str(&jwks(&[
            ("a1", "ed25519-a1.pub.pem"),
            ("a-es", "es256-a.pub.pem"),
            ("a-rs", "rs256-a.pub.pem"),
        ]))
        .unwrap();
        let keys = document["keys"].as_array_mut().unwrap();
        let mut enc = keys[0].clone();
        enc["kid"] = json!("a1-enc");
        enc["use"] = json!("enc");
        keys.push(enc);
        keys.push(json!({ "kty": "XYZ", "kid": "odd" }));
        let server = Server::start(document.to_string()).await;
        let dir = scratch("remote-jwks-accepted");
        let gate = Gate::new(Policy::from_path(policy_file(&dir, &server.url, "")).unwrap());

        let ed = token(&ed_a1());
        eventually("the EdDSA token is accepted", || accepted(&gate, &ed)).await;
        assert!(accepted(&gate, &token(&es_a())));
        assert!(accepted(&gate, &token(&rs_a())));
        // A token signed with a key the set does not serve.
        let (outcome, reason, _) = decide(&gate, &token(&ed_a2()));
        assert_eq!(
            (outcome, reason),
            (Outcome::Deny, Some(ReasonCode::LicenseInvalid))
        );
        // The issuer's other license checks still apply.
        let other = ed_a1().sign(&claims_with(ISSUER, json!({ "sub": "someone-else" })));
        assert_eq!(
            decide(&gate, &other).1,
            Some(ReasonCode::LicenseWrongCustomer)
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_rotated_key_is_accepted_after_one_rate_limited_refetch() {
        let server = Server::start(jwks(&[("a1", "ed25519-a1.pub.pem")])).await;
        let dir = scratch("remote-jwks-rotation");
        let settings = "jwks_refresh_seconds = 3600\njwks_min_refetch_seconds = 3600";
        let gate = Gate::new(Policy::from_path(policy_file(&dir, &server.url, settings)).unwrap());
        let old = token(&ed_a1());
        eventually("the first key set is fetched", || accepted(&gate, &old)).await;
        assert_eq!(server.hits(), 1);

        // The issuer rotates: the server now serves a2 beside a1.
        server.set(|s| {
            s.body = jwks(&[("a1", "ed25519-a1.pub.pem"), ("a2", "ed25519-a2.pub.pem")]);
        });
        let new = token(&ed_a2());
        let (outcome, reason, detail) = decide(&gate, &new);
        assert_eq!(
            (outcome, reason),
            (Outcome::Deny, Some(ReasonCode::LicenseInvalid)),
            "a kid not seen yet is refused: {detail}"
        );
        eventually("the new key is accepted without a restart", || {
            accepted(&gate, &new)
        })
        .await;
        assert_eq!(server.hits(), 2);

        // More unknown kids within jwks_min_refetch_seconds: refused, and
        // no more fetches.
        let unknown = Signer::new(jsonwebtoken::Algorithm::EdDSA, "a3", "ed25519-a2.key.pem");
        for _ in 0..25 {
            assert_eq!(
                decide(&gate, &token(&unknown)).1,
                Some(ReasonCode::LicenseInvalid)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            server.hits(),
            2,
            "unknown kids are refetched at most once per interval"
        );
        assert!(accepted(&gate, &old));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_server_leaves_the_last_good_keys_in_use() {
        let server = Server::start(jwks(&[("a1", "ed25519-a1.pub.pem")])).await;
        let dir = scratch("remote-jwks-down");
        let settings = "jwks_refresh_seconds = 1\njwks_max_stale_seconds = 3600";
        let gate = Gate::new(Policy::from_path(policy_file(&dir, &server.url, settings)).unwrap());
        let good = token(&ed_a1());
        eventually("the key set is fetched", || accepted(&gate, &good)).await;

        server.set(|s| s.failing = true);
        let failed_from = server.hits();
        eventually("two refreshes fail", || server.hits() >= failed_from + 2).await;
        assert!(
            accepted(&gate, &good),
            "the last good key set is still used"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_stale_past_the_limit_fail_closed_until_a_fetch_succeeds() {
        let server = Server::start(jwks(&[("a1", "ed25519-a1.pub.pem")])).await;
        let dir = scratch("remote-jwks-stale");
        let settings = "jwks_refresh_seconds = 1\njwks_max_stale_seconds = 2";
        let gate = Gate::new(Policy::from_path(policy_file(&dir, &server.url, settings)).unwrap());
        let good = token(&ed_a1());
        eventually("the key set is fetched", || accepted(&gate, &good)).await;

        server.set(|s| s.failing = true);
        eventually("the issuer's tokens fail closed", || {
            let (outcome, reason, detail) = decide(&gate, &good);
            outcome == Outcome::Deny
                && reason == Some(ReasonCode::LicenseInvalid)
                && detail.contains("stale")
        })
        .await;

        server.set(|s| s.failing = false);
        eventually("accepted again once a fetch succeeds", || {
            accepted(&gate, &good)
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cache_control_max_age_shortens_the_refresh() {
        let server = Server::start(jwks(&[("a1", "ed25519-a1.pub.pem")])).await;
        server.set(|s| s.max_age = Some(1));
        let dir = scratch("remote-jwks-max-age");
        let settings = "jwks_refresh_seconds = 3600\njwks_min_refetch_seconds = 1";
        let gate = Gate::new(Policy::from_path(policy_file(&dir, &server.url, settings)).unwrap());
        let old = token(&ed_a1());
        eventually("the key set is fetched", || accepted(&gate, &old)).await;

        // The issuer withdraws a1. No token names an unknown kid, so only
        // the server's max-age brings the change in before the hour is up;
        // the token verified (and cached) under a1 is dropped with the key.
        server.set(|s| s.body = jwks(&[("a2", "ed25519-a2.pub.pem")]));
        eventually("the withdrawn key is refused", || {
            decide(&gate, &old).1 == Some(ReasonCode::LicenseInvalid)
        })
        .await;
        assert!(accepted(&gate, &token(&ed_a2())));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reload_naming_the_same_url_keeps_the_fetched_keys() {
        let server = Server::start(jwks(&[("a1", "ed25519-a1.pub.pem")])).await;
        let dir = scratch("remote-jwks-reload");
        let settings = "jwks_refresh_seconds = 3600";
        let path = policy_file(&dir, &server.url, settings);
        let gate = Gate::new(Policy::from_path(&path).unwrap());
        let good = token(&ed_a1());
        eventually("the key set is fetched", || accepted(&gate, &good)).await;

        for _ in 0..20 {
            gate.reload_from_path(&path).unwrap();
            // At once: the new policy's issuer uses the keys already held.
            assert!(accepted(&gate, &good));
        }
        assert_eq!(server.hits(), 1, "reloads do not refetch");
        assert_eq!(gate.license_verifier().cache_len(), 1);

        // A reload that drops the URL drops its keys.
        std::fs::write(&path, DEFAULT_POLICY_TOML).unwrap();
        gate.reload_from_path(&path).unwrap();
        assert_eq!(decide(&gate, &good).1, Some(ReasonCode::LicenseInvalid));
    }
}
