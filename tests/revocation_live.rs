//! Revocation lists that change while serving: a license id written into
//! `revoked_file` (or served by `revoked_url`) is refused within one
//! refresh interval, without a reload; revocations made with
//! `Gate::revoke` stay in force across both and across reloads.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod license_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use license_support::{CUSTOMER, T0, at, claims_with, ed_a1, scratch};
use serde_json::json;
use tower_export_control::policy::DEFAULT_POLICY_TOML;
use tower_export_control::{CountryCode, Facts, Gate, Outcome, Policy, ReasonCode};

const ISSUER: &str = "https://issuer-a.example";

/// The default policy trusting issuer A's Ed25519 key `a1` (from a PEM
/// file), with `revocations` (TOML lines) in its `[license]` section.
fn policy_file(dir: &Path, revocations: &str) -> PathBuf {
    let pem = license_support::data("ed25519-a1.pub.pem");
    let path = dir.join("policy.toml");
    let text = format!(
        "{DEFAULT_POLICY_TOML}\n[license]\n{revocations}\n\n[[license.issuers]]\nissuer = \"{ISSUER}\"\npem_keys = [{{ kid = \"a1\", path = \"{}\", algorithm = \"EdDSA\" }}]\n",
        pem.display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn decide(gate: &Gate, token: &str) -> (Outcome, Option<ReasonCode>, String) {
    let mut facts = Facts::new()
        .with_declared_country(CountryCode::parse("CN").unwrap())
        .with_instance_type("p5.48xlarge");
    facts.customer_id = Some(CUSTOMER);
    let verdict = gate.evaluate(&facts, Some(token), at(T0));
    (
        verdict.outcome(),
        verdict.reason(),
        verdict.detail().unwrap_or_default().to_owned(),
    )
}

fn license(jti: &str) -> String {
    ed_a1().sign(&claims_with(ISSUER, json!({ "jti": jti })))
}

/// Waits (up to 10 s) until `condition` holds.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("not within 10 s: {what}");
}

#[test]
fn a_license_written_into_revoked_file_is_refused_without_a_reload() {
    let dir = scratch("revocation-live-file");
    let list = dir.join("revoked.txt");
    std::fs::write(&list, "# revoked licenses\nLIC-OLD\n").unwrap();
    let path = policy_file(
        &dir,
        &format!(
            "revoked_file = \"{}\"\nrevoked_refresh_seconds = 1",
            list.display()
        ),
    );
    let gate = Gate::new(Policy::from_path(&path).unwrap());
    let token = license("LIC-2027-0001");
    assert_eq!(decide(&gate, &token).0, Outcome::AllowLicensed);
    assert_eq!(
        decide(&gate, &license("LIC-OLD")).1,
        Some(ReasonCode::LicenseRevoked)
    );

    std::fs::write(&list, "# revoked licenses\nLIC-OLD\nLIC-2027-0001\n").unwrap();
    eventually("the newly listed license is refused", || {
        decide(&gate, &token).1 == Some(ReasonCode::LicenseRevoked)
    });

    // A run-time revocation and a reload: both lists stay in force.
    gate.revoke("LIC-RUNTIME");
    gate.reload_from_path(&path).unwrap();
    assert_eq!(decide(&gate, &token).1, Some(ReasonCode::LicenseRevoked));
    assert_eq!(
        decide(&gate, &license("LIC-RUNTIME")).1,
        Some(ReasonCode::LicenseRevoked)
    );

    // Taken off the file: accepted again, while the run-time revocation
    // (which no file lists) holds.
    std::fs::write(&list, "LIC-OLD\n").unwrap();
    eventually("the unlisted license is accepted again", || {
        decide(&gate, &token).0 == Outcome::AllowLicensed
    });
    assert_eq!(
        decide(&gate, &license("LIC-RUNTIME")).1,
        Some(ReasonCode::LicenseRevoked)
    );
}

#[test]
fn a_revoked_file_that_disappears_keeps_its_last_copy_until_too_stale() {
    let dir = scratch("revocation-live-file-gone");
    let list = dir.join("revoked.txt");
    std::fs::write(&list, "LIC-OLD\n").unwrap();
    let path = policy_file(
        &dir,
        &format!(
            "revoked_file = \"{}\"\nrevoked_refresh_seconds = 1\nrevoked_max_stale_seconds = 2",
            list.display()
        ),
    );
    let gate = Gate::new(Policy::from_path(&path).unwrap());
    let token = license("LIC-2027-0001");
    assert_eq!(decide(&gate, &token).0, Outcome::AllowLicensed);

    std::fs::remove_file(&list).unwrap();
    // The last copy still revokes what it listed, then every license fails
    // closed once it is older than the limit.
    assert_eq!(
        decide(&gate, &license("LIC-OLD")).1,
        Some(ReasonCode::LicenseRevoked)
    );
    eventually("licenses fail closed", || {
        let (outcome, reason, detail) = decide(&gate, &token);
        outcome == Outcome::Deny
            && reason == Some(ReasonCode::LicenseInvalid)
            && detail.contains("revocation list is stale")
    });
    std::fs::write(&list, "LIC-OLD\n").unwrap();
    eventually("accepted again once the file is back", || {
        decide(&gate, &token).0 == Outcome::AllowLicensed
    });
}

#[test]
fn a_missing_revoked_file_fails_the_load() {
    let dir = scratch("revocation-live-missing");
    let path = policy_file(&dir, "revoked_file = \"no-such-list.txt\"");
    let err = Policy::from_path(&path).unwrap_err().to_string();
    assert!(
        err.contains("revoked_file") && err.contains("no-such-list.txt"),
        "{err}"
    );
}

#[test]
fn a_revoked_url_over_plain_http_to_a_remote_host_is_refused_at_load() {
    let dir = scratch("revocation-live-plain-http");
    let path = policy_file(
        &dir,
        "revoked_url = \"http://licensing.example.com/revoked.txt\"",
    );
    let err = Policy::from_path(&path).unwrap_err().to_string();
    assert!(
        err.contains("revoked_url") && err.contains("loopback"),
        "{err}"
    );
}

#[cfg(feature = "remote-jwks")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_license_served_by_revoked_url_is_refused_within_one_interval() {
    use std::sync::{Arc, Mutex};

    let served = Arc::new(Mutex::new(String::from("# none yet\n")));
    let app = axum::Router::new()
        .route(
            "/revoked.txt",
            axum::routing::get(
                |axum::extract::State(s): axum::extract::State<Arc<Mutex<String>>>| async move {
                    s.lock().unwrap().clone()
                },
            ),
        )
        .with_state(Arc::clone(&served));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/revoked.txt", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = scratch("revocation-live-url");
    let path = policy_file(
        &dir,
        &format!("revoked_url = \"{url}\"\nrevoked_refresh_seconds = 1"),
    );
    let gate = Gate::new(Policy::from_path(&path).unwrap());
    let token = license("LIC-2027-0001");
    // Until the list is first fetched, licenses fail closed.
    let mut accepted = false;
    for _ in 0..500 {
        if decide(&gate, &token).0 == Outcome::AllowLicensed {
            accepted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(accepted, "accepted once the list is fetched");

    *served.lock().unwrap() = "LIC-2027-0001\n".into();
    let mut refused = false;
    for _ in 0..500 {
        if decide(&gate, &token).1 == Some(ReasonCode::LicenseRevoked) {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "refused once the served list names it");
    gate.reload_from_path(&path).unwrap();
    assert_eq!(
        decide(&gate, &token).1,
        Some(ReasonCode::LicenseRevoked),
        "a reload keeps the fetched list"
    );
}
